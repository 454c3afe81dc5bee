"""The benchmark's synthetic closure, built by the real Nix client as input-addressed store paths.

Like a package with its libraries and documentation: 60 % compressible text (Zipf-distributed words in
code-like lines, unique throughout: xz and zstd shrink it about as much as source code, to a fifth and a
quarter) and 40 % incompressible random bytes; many small files (docs of 1-40 KB, assets of 1-16 KB)
and a few large ones (a manual and blobs). A root path refers to all the others, so realising it
substitutes the whole closure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from components.nix_text import nix_string

#: The builder: run by Nix (no sandbox) as ``python -c GENERATOR kind bytes files seed``, output at $out.
GENERATOR = """
import os, random, sys
kind, total, files, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
out = os.environ["out"]
rng = random.Random(seed + os.path.basename(out))
os.makedirs(out)
if kind == "root":
    with open(os.path.join(out, "closure"), "w") as f:
        f.write(os.environ["deps"].replace(" ", "\\n") + "\\n")
    sys.exit(0)
letters = "etaoinshrdlcumwfgypbvkjxqz_"
vocabulary = ["".join(rng.choices(letters, k=rng.randint(2, 12))) for _ in range(4000)]
weights, acc = [], 0.0
for rank in range(1, len(vocabulary) + 1):
    acc += 1.0 / rank**1.1
    weights.append(acc)
def text(size):
    words = rng.choices(vocabulary, cum_weights=weights, k=size // 6 + 1)
    lines, line = [], []
    for word in words:
        line.append(word)
        if len(line) >= rng.randint(4, 14):
            end = rng.choice([";", ":", ",", ".", " {", ")"])
            lines.append("    " * rng.randint(0, 3) + " ".join(line) + end)
            line = []
    return ("\\n".join(lines) + "\\n").encode()[:size]
sizes = [total // files] * files
if kind.endswith("-small"):
    sizes = [rng.randint(1024, 2 * (total // files) - 1024) for _ in range(files)]
for number, size in enumerate(sizes):
    folder = os.path.join(out, "share", "%03d" % (number // 100))
    os.makedirs(folder, exist_ok=True)
    data = text(size) if kind.startswith("text") else rng.randbytes(size)
    suffix = ".txt" if kind.startswith("text") else ".bin"
    with open(os.path.join(folder, "file-%05d%s" % (number, suffix)), "wb") as f:
        f.write(data)
"""

#: (name, kind, share of the total, average file size in bytes; 0: the share in two large files)
PARTS = [
    *((f"docs-{n}", "text-small", 0.10, 20_000) for n in range(4)),
    ("manual", "text-large", 0.20, 0),
    ("assets", "random-small", 0.05, 8_000),
    *((f"blobs-{n}", "random-large", 0.175, 0) for n in range(2)),
]
SIZES = {"small": 4_000_000, "full": 200_000_000}


@dataclass(frozen=True)
class Closure:
    root: str
    paths: tuple[str, ...]
    nar_bytes: int
    files: int
    text_share: float


def expression(size: str, seed: str = "nix-cache-bench-1") -> str:
    """The closure as one Nix expression: one derivation per part, and the root that refers to them."""
    total = SIZES[size]
    python = os.path.realpath(sys.executable)

    def derivation(name: str, kind: str, part_bytes: int, files: int, extra: str = "") -> str:
        args = " ".join(nix_string(a) for a in ("-c", GENERATOR, kind, str(part_bytes), str(files), seed))
        return (
            f'(builtins.derivation {{ name = "nix-cache-bench-{name}-{size}"; '
            f"system = builtins.currentSystem; builder = {nix_string(python)}; args = [ {args} ]; {extra}}})"
        )

    parts = []
    for name, kind, share, average in PARTS:
        part_bytes = int(total * share)
        files = max(1, part_bytes // average) if average else 2
        parts.append(derivation(name, kind, part_bytes, files))
    return derivation("root", "root", 0, 0, f"deps = [ {' '.join(parts)} ]; ")


def build(size: str, env: dict[str, str]) -> Closure:
    """Build (or find, when built before) the closure of ``size``, and describe it."""
    built = subprocess.run(
        ["nix-build", "--no-out-link", "--max-jobs", "2", "-E", expression(size)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    root = built.stdout.strip().splitlines()[-1]
    info = json.loads(
        subprocess.run(
            ["nix", "path-info", "--json", "--recursive", root], env=env, capture_output=True, check=True
        ).stdout
    )
    paths = tuple(sorted(entry["path"] for entry in info))
    files = sum(len(names) for path in paths for _, _, names in os.walk(path))
    text = sum(
        p.stat().st_size for path in paths for p in Path(path).rglob("*.txt") if "nix-cache-bench" in path
    )
    nar_bytes = sum(int(entry["narSize"]) for entry in info)
    return Closure(root=root, paths=paths, nar_bytes=nar_bytes, files=files, text_share=text / nar_bytes)
