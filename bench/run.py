"""``make bench``: the cache's speed against the manual recipe, side by side in one run; writes BENCH.md.

On a MinIO started for the run (loopback, four erasure-coded drives, like ``make local-up``):

1. Push: the synthetic closure (``bench.closure``) copied with ``nix copy`` and uploaded as the writer.
   Debian's Nix has no S3 store, so every variant goes through ``file://`` and the same upload step
   (``devtools/s3.upload_file_cache``: NARs first, narinfos last): the recipe (Nix's defaults: xz),
   the program's push URL settings (zstd, parallel compression), and no compression at all.
2. Substitution: a fresh store realises the closure from the bucket over HTTP (the substituter URL,
   anonymously), from the xz cache and from the zstd cache; against a plain ``cp -r`` of the closure's
   store paths and a raw HTTP fetch of the zstd cache's objects.
3. The program itself, on live stacks of this project: cold ``pulumi up`` with 0 and 188 lifecycle rules
   (``nix-cache:expireDays`` 0 and 30), and no-op ``preview``, ``preview --refresh``,
   ``preview --refresh=false`` and ``up`` against an empty Python Pulumi program on the same venv.

Every figure is a ratio of two times taken in the same round, given as min/median/max over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.agent import HOOK_BUILDS, AgentBench, agent_why
from bench.closure import Closure, build
from components.nix_keys import generate_key_pair
from components.nix_text import CACHE_INFO_CONTENT_TYPE, nix_cache_info
from devtools import s3
from devtools.cache_on_minio import DocumentCache, create_document_cache
from devtools.minio_server import MinioServer, RootCredentials, free_port
from devtools.nix_client import NIX_CONFIG
from devtools.provider_classes import provider_module_names
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import ROOT, Toolchain, ensure_tools

TIMES = "\u00d7"
#: The figures of ``bench.agent``, explained there when missed.
AGENT_FIGURES = {"push_agent", "hook_cost", "hook_stopped", "many_push", "many_again", "many_big"}
#: Imports timed in a fresh interpreter, to show what the program's processes start with.
IMPORTS = {
    "the empty program (pulumi)": "pulumi",
    "the program (components.cache)": "components.cache",
    "its dynamic providers' host (pulumi.dynamic, dill, providers)": ", ".join(
        ["pulumi.dynamic", "dill", *provider_module_names()]
    ),
    "the MinIO SDK alone (minio, minio.minioadmin)": "minio, minio.minioadmin",
}
#: Push variants: the ``file://`` store settings of each.
PUSH = {
    "recipe (xz)": "",
    "program (zstd)": "compression=zstd&parallel-compression=true",
    "uncompressed": "compression=none",
}


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    #: The two measurements (rows of Times) whose ratio, round by round, is the figure.
    numerator: str
    denominator: str
    goal: str = "-"
    #: True when the ratio should be at least ``limit``, False when at most.
    at_least: bool | None = None
    limit: float = 0.0


def _goal(at_least: bool, limit: float) -> dict[str, Any]:
    return {"goal": f"{'≥' if at_least else '≤'} {limit:g}{TIMES}", "at_least": at_least, "limit": limit}


#: Every figure BENCH.md reports, in order; the CI test checks that each has min/median/max.
FIGURES = [
    Figure(
        "push_recipe", "push: recipe (xz) ÷ program (zstd)",
        "push recipe (xz)", "push program (zstd)", **_goal(True, 20),
    ),
    Figure(
        "push_none", "push: program (zstd) ÷ uncompressed",
        "push program (zstd)", "push uncompressed", **_goal(False, 3),
    ),
    Figure(
        "push_agent", "push: the upload agent ÷ program (zstd) via file:// and one PUT at a time",
        "push agent (zstd)", "push program (zstd)", **_goal(False, 1.2),
    ),
    Figure(
        "hook_cost", "hook's cost per build: uploading ÷ queueing (each over a no-op hook)",
        "hook cost per build: uploading", "hook cost per build: queueing", **_goal(True, 10),
    ),
    Figure(
        "hook_stopped", "hook's cost per build: queueing with MinIO stopped ÷ running",
        "hook cost per build: queueing, MinIO stopped", "hook cost per build: queueing", **_goal(False, 1.2),
    ),
    Figure(
        "many_push", "many small paths: agent push ÷ (nix copy to file:// + eight-thread PUT)",
        "many: agent push", "many: file:// + eight-thread PUT", **_goal(False, 1.3),
    ),
    Figure(
        "many_before", "many small paths: file:// + one PUT at a time (before the agent) ÷ agent push",
        "many: file:// + one PUT at a time", "many: agent push",
    ),
    Figure(
        "many_again", "many small paths: agent push again, all there and fresh ÷ first push",
        "many: agent push again", "many: agent push", **_goal(False, 0.2),
    ),
    Figure(
        "many_big", "many small paths: push again into a cache of other objects ÷ into an empty one",
        "many: agent push again, big cache", "many: agent push again", **_goal(False, 1.3),
    ),
    Figure(
        "subst_recipe", "substitution: recipe (xz) ÷ program (zstd)",
        "substitute recipe (xz)", "substitute program (zstd)", **_goal(True, 3),
    ),
    Figure(
        "subst_disk", "substitution: program (zstd) ÷ disk copy (cp -r)",
        "substitute program (zstd)", "disk copy (cp -r)", **_goal(False, 2),
    ),
    Figure(
        "subst_http", "substitution: program (zstd) ÷ raw HTTP fetch of its objects",
        "substitute program (zstd)", "raw HTTP fetch",
    ),
    Figure(
        "preview", "`pulumi preview` (refresh: always) ÷ empty program's",
        "program: preview", "empty: preview", **_goal(False, 1.5),
    ),
    Figure(
        "preview_refresh", "`pulumi preview --refresh` ÷ empty program's",
        "program: preview --refresh", "empty: preview --refresh", **_goal(False, 2.5),
    ),
    Figure(
        "preview_norefresh", "`pulumi preview --refresh=false` ÷ empty program's",
        "program: preview --refresh=false", "empty: preview --refresh=false",
    ),
    Figure(
        "preview_run_program", "`pulumi preview --run-program` (refresh in the program's pass) ÷ empty's",
        "program: preview --run-program", "empty: preview --run-program",
    ),
    Figure("up_noop", "no-op `pulumi up` ÷ empty program's", "program: up", "empty: up"),
    Figure(
        "cold_rules", "cold `pulumi up`, 188 lifecycle rules ÷ 0 rules",
        "cold up, 188 rules", "cold up, 0 rules",
    ),
]  # fmt: skip


def rotated(variants: dict[str, str], round_: int) -> list[str]:
    """The variants in another order each round, so that none always runs first (or last)."""
    names = list(variants)
    shift = round_ % len(names)
    return names[shift:] + names[:shift]


@dataclass
class Results:
    """Seconds per measurement, one value per round; ratios are taken round by round."""

    times: dict[str, list[float]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def ratio(self, numerator: str, denominator: str) -> list[float]:
        pairs = zip(self.times[numerator], self.times[denominator], strict=True)
        return [a / b for a, b in pairs]


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action`` takes, starting with no dirty pages: earlier rounds' writes would slow it."""
    os.sync()
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class Bench:
    def __init__(self, toolchain: Toolchain, workdir: Path, runs: int) -> None:
        self.toolchain, self.workdir, self.runs = toolchain, workdir, runs
        self.results = Results()
        self.env = {**os.environ, "NIX_CONFIG": NIX_CONFIG, "XDG_CACHE_HOME": str(workdir / "xdg")}
        self.minio = MinioServer(
            minio_binary=toolchain.tool("minio"),
            home=workdir / "minio",
            port=free_port(),
            console_port=free_port(),
            credentials=RootCredentials.generate(),
        )

    def command(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run ``args`` (nix, cp, python) to the end; its output, or an error with its stderr."""
        result = subprocess.run(args, env=env or self.env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout

    # 1. Push --------------------------------------------------------------------------------------

    def push(self, closure: Closure, cache: DocumentCache) -> dict[str, str]:
        """Each round pushes every variant to a new prefix; returns the last round's prefix of each."""
        writer = s3.client(self.minio.endpoint_url, cache.writer, cache.writer_secret)
        admin = s3.client(
            self.minio.endpoint_url, self.minio.credentials.user, self.minio.credentials.password
        )
        prefixes: dict[str, str] = {}
        for round_ in range(self.runs):
            for variant in rotated(PUSH, round_):
                prefix = f"{variant.split()[0]}-{variant.split()[-1].strip('()')}-{round_}"
                staging = self.workdir / "push" / f"{round_}-{prefix}"
                (staging / prefix).mkdir(parents=True)
                # Each cache is its own prefix of the bucket: its nix-cache-info is set up, not timed.
                info = nix_cache_info("/nix/store", True, 40).encode()
                admin.put_object(
                    Bucket=cache.bucket,
                    Key=f"{prefix}/nix-cache-info",
                    Body=info,
                    ContentType=CACHE_INFO_CONTENT_TYPE,
                )
                settings = PUSH[variant]
                url = f"file://{staging / prefix}" + (f"?{settings}" if settings else "")
                copy = timed(partial(self.command, "nix", "copy", "--to", url, closure.root))
                keys: list[str] = []
                upload = timed(partial(self._upload, writer, cache, staging, keys))
                self.results.add(f"push {variant}", copy + upload)
                self.results.add(f"push {variant}: nix copy", copy)
                self.results.add(f"push {variant}: upload", upload)
                stored = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
                self.results.facts[f"bytes {variant}"] = stored
                self.results.facts[f"keys {variant}"] = keys
                prefixes[variant] = prefix
            say(f"push round {round_ + 1}/{self.runs} done")
        return prefixes

    def _upload(self, writer: Any, cache: DocumentCache, staging: Path, keys: list[str]) -> None:
        keys.extend(s3.upload_file_cache(writer, cache.bucket, staging))

    # 2. Substitution ------------------------------------------------------------------------------

    def substitute(
        self, closure: Closure, cache: DocumentCache, prefixes: dict[str, str], public_key: str
    ) -> None:
        """Each round: a fresh store from each cache, then the disk copy and the raw HTTP fetch."""
        for round_ in range(self.runs):
            for variant in rotated(PUSH, round_):
                url = f"{cache.substituter_url}/{prefixes[variant]}"
                fresh = self.workdir / "stores" / f"{round_}-{prefixes[variant]}"
                env = {**self.env, "XDG_CACHE_HOME": f"{fresh}-xdg"}
                command = (
                    "nix-store", "--store", f"local?root={fresh}", "--realise", closure.root,
                    "--option", "substituters", url, "--option", "trusted-public-keys", public_key,
                )  # fmt: skip
                seconds = timed(partial(self.command, *command, env=env))
                self.results.add(f"substitute {variant}", seconds)
                if not (fresh / closure.root.lstrip("/") / "closure").exists():
                    raise RuntimeError(f"substitution from {url} did not bring {closure.root}")
            disk = self.workdir / f"disk-copy-{round_}"
            disk.mkdir()
            copy = ("cp", "-r", *closure.paths, str(disk))
            self.results.add("disk copy (cp -r)", timed(partial(self.command, *copy)))
            keys = self.results.facts["keys program (zstd)"]
            self.results.add("raw HTTP fetch", timed(partial(self._fetch, cache, keys)))
            say(f"substitution round {round_ + 1}/{self.runs} done")

    def _fetch(self, cache: DocumentCache, keys: list[str]) -> None:
        """GET every object the zstd push wrote, anonymously, one after the other, reading to the end."""
        fetched = 0
        for key in keys:
            url = f"{cache.substituter_url}/{key}"
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"not an HTTP URL: {url}")
            with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (http only, checked above)
                while chunk := answer.read(1 << 20):
                    fetched += len(chunk)
        self.results.facts["fetched"] = fetched

    # 3. The program -------------------------------------------------------------------------------

    def stack(self, name: str, project_dir: Path = ROOT) -> PulumiStack:
        state = self.workdir / "pulumi" / name
        stack = PulumiStack(
            toolchain=self.toolchain,
            state_dir=state,
            stack=name,
            config_file=state / f"Pulumi.{name}.yaml",
            project_dir=project_dir,
        )
        stack.init()
        return stack

    def program(self) -> None:
        empty_dir = self.workdir / "empty-program"
        empty_dir.mkdir()
        (empty_dir / "Pulumi.yaml").write_text(
            "name: empty\nruntime:\n  name: python\n  options:\n    toolchain: pip\n"
            f"    virtualenv: {ROOT / '.venv'}\n"
        )
        (empty_dir / "__main__.py").write_text(
            '"""An empty Pulumi program."""\n\nimport pulumi  # noqa: F401\n'
        )
        empty = self.stack("bench-empty", empty_dir)
        empty.up()
        live: PulumiStack | None = None
        for round_ in range(self.runs):
            for days, rules in ((0, 0), (30, 188)):
                name = f"bench-{days}d-{round_}-{secrets.token_hex(2)}"
                stack = self.stack(name)
                stack.use_minio(self.minio)
                stack.set_config("nix-cache:bucket", name)
                stack.set_config("nix-cache:writer", f"w-{name}")
                stack.set_config("nix-cache:expireDays", str(days))
                self.results.add(f"cold up, {rules} rules", timed(stack.up))
                if rules:
                    live = stack
            say(f"cold up round {round_ + 1}/{self.runs} done")
        if live is None:
            raise RuntimeError("no stack with lifecycle rules was made")
        commands: dict[str, Callable[[PulumiStack], object]] = {
            "preview": lambda s: s.preview(),
            "preview --refresh": lambda s: s.preview("--refresh"),
            "preview --refresh=false": lambda s: s.preview("--refresh=false"),
            "preview --run-program": lambda s: s.preview("--run-program"),
            "up": lambda s: s.up(),
        }
        for round_ in range(self.runs):
            for command, run in commands.items():
                self.results.add(f"program: {command}", timed(partial(run, live)))
                self.results.add(f"empty: {command}", timed(partial(run, empty)))
            say(f"program round {round_ + 1}/{self.runs} done")
        changed = live.preview("--expect-no-changes", check=False)
        self.results.facts["no-op"] = changed.returncode == 0
        state = json.loads(live.export_state())
        self.results.facts["resources"] = len(state["deployment"]["resources"])

    def load(self, part: str) -> None:
        """The 1-minute load average as a part starts: anything else running on the machine shows here."""
        self.results.facts.setdefault("load", []).append(f"{part} {os.getloadavg()[0]:.2f}")

    def imports(self) -> None:
        """What each Python process pays before any work: the empty program, the program, its providers."""
        python = str(ROOT / ".venv" / "bin" / "python")
        for name, modules in IMPORTS.items():
            for _ in range(5):
                seconds = timed(
                    partial(self.command, python, "-c", f"import {modules}", env=dict(os.environ))
                )
                self.results.add(f"python -c 'import …': {name}", seconds)

    def run(self, size: str) -> None:
        self.minio.start()
        try:
            say(f"building the {size} closure with Nix")
            closure = build(size, self.env)
            self.results.facts["closure"] = closure
            key = generate_key_pair("bench-1")
            key_file = self.workdir / "bench-1.sec"
            key_file.write_text(key.secret_key)
            self.command("nix", "store", "sign", "--recursive", "--key-file", str(key_file), closure.root)
            for path in closure.paths:  # read once, so that every round starts from the page cache
                for file in Path(path).rglob("*"):
                    if file.is_file():
                        file.read_bytes()
            cache = create_document_cache(self.minio, "bench-cache", "benchwriter")
            self.load("push")
            prefixes = self.push(closure, cache)
            self.load("substitution")
            self.substitute(closure, cache, prefixes, key.public_key)
            self.load("agent")
            agent = AgentBench(self, size)
            agent.large(closure.root)
            agent.hooks()
            agent.many()
            self.load("program")
            self.program()
            self.load("end")
            self.imports()
        finally:
            self.minio.stop()


# The report -------------------------------------------------------------------------------------------


def ratios(results: Results) -> dict[str, list[float]]:
    return {f.key: results.ratio(f.numerator, f.denominator) for f in FIGURES}


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        memory_kib = int(next(line.split()[1] for line in info if line.startswith("MemTotal")))
    memory = f"{memory_kib / 1024 / 1024:.1f} GiB memory"
    return f"{cpu}, {os.cpu_count()} cores (`nproc`), {memory}, {platform.machine()}"


def version(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]


def report(results: Results, size: str, runs: int, toolchain: Toolchain, seconds: float) -> str:
    closure: Closure = results.facts["closure"]
    figures = ratios(results)
    mb = 1_000_000
    lines = [
        "# Benchmark: the cache against the manual recipe",
        "",
        f"Written by `make bench` (`python -m bench.run --size {size} --runs {runs}`) on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {seconds:.0f} s.",
        "",
        f"- Machine: {machine()}.",
        f"- Tools: {version(['nix', '--version'])}; {version([toolchain.tool('minio'), '--version'])}; "
        f"Pulumi {version([toolchain.tool('pulumi'), 'version'])}.",
        f"- Closure: {len(closure.paths)} input-addressed store paths built by Nix, {closure.files} files, "
        f"{closure.nar_bytes / mb:.1f} MB of NARs, {closure.text_share:.0%} text, the rest random bytes "
        "(`bench/closure.py`).",
        f"- Many small paths: a closure of {results.facts['many paths']} input-addressed paths of a few "
        f"bytes each; the cache of other objects holds {results.facts['other objects']:,} "
        "(`bench/agent.py`).",
        f"- MinIO: one server on loopback, 4 erasure-coded drives on this machine's disk. "
        f"Each figure is a ratio of two times from the same round; min/median/max over {runs} "
        f"round{'s' if runs != 1 else ''}, and round 1 alone. A goal is met when the median and round 1 "
        "both meet it.",
        "",
        "## Figures",
        "",
        "| figure | goal | min | median | max | round 1 | goal met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for figure in FIGURES:
        values = figures[figure.key]
        met = "-" if figure.at_least is None else "yes" if met_by(figure, values) else "**no**"
        shown = (min(values), statistics.median(values), max(values), values[0])
        spread = " | ".join(f"{value:.2f}{TIMES}" for value in shown)
        lines.append(f"| {figure.label} | {figure.goal} | {spread} | {met} |")
    lines += ["", "## Times", "", "| measurement | median s | min s | max s |", "| --- | --- | --- | --- |"]
    for name, values in results.times.items():
        lines.append(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    stored = {v: results.facts[f"bytes {v}"] / mb for v in PUSH}
    lines += [
        "",
        "Bytes each push stores: " + ", ".join(f"{v} {b:.1f} MB" for v, b in stored.items()) + "; "
        f"the raw HTTP fetch read {results.facts['fetched'] / mb:.1f} MB.",
        f"The program's no-op preview proposed no change: {'yes' if results.facts['no-op'] else '**no**'}.",
        "Load average (1 min) as each part started: " + ", ".join(results.facts["load"]) + " (2 cores; "
        "other work on the machine slows both sides of a ratio and pulls it towards 1).",
        "",
        "## How it was measured",
        "",
        "- **Push** is `nix copy --to file://…` plus the upload of what it wrote as the writer "
        "(`devtools/s3.upload_file_cache`: one PUT per object, NARs first, narinfos last). Debian's Nix "
        "2.8 has no S3 store, so the recipe (`nix copy` with Nix's defaults: xz), the program's push URL "
        "settings (`compression=zstd&parallel-compression=true`) and `compression=none` all go through "
        "`file://` and this same upload step. The times of the two steps are in the table.",
        "- **The upload agent** (`agent/nix_cache_agent.py`, run as `agent/bin/nix-cache-agent push`, "
        "a new Python process each time) pushes into a new empty bucket each round. Its first push looks "
        "up every narinfo of the closure (concurrent HEADs), stages the missing paths with `nix copy "
        "--no-recursive --to file://` (zstd) and PUTs them from eight threads, NARs first and each "
        "narinfo after its references'. The baseline is `nix copy --to file://` of the same closure plus "
        "a plain eight-thread PUT of what it wrote, in no order; before the agent, the same `file://` "
        "copy was uploaded one PUT at a time (`devtools/s3.upload_file_cache`). The push again finds "
        "everything there and fresh: only the look-ups. The cache of other objects is filled before the "
        "rounds (not timed) and holds the closure from one untimed push.",
        f"- **The hook's cost** is the time of {HOOK_BUILDS} new small builds (one `nix-build`, the hook "
        "run by Nix after each) with the hook, less the same with a no-op hook, per build. The queueing "
        "hook is `builderModule`'s (bash writing one queue file); the uploading hook pushes the build's "
        "outputs before it returns, as `builderModule` did before the agent (Debian's Nix has no S3 "
        "store, so its upload is the agent's push). The queueing hook runs once more with MinIO stopped.",
        "- **Substitution** is `nix-store --store local?root=<new dir> --realise <root>` with the bucket's "
        "HTTP URL as the only substituter (anonymous, as clients read it), signatures checked; the disk copy "
        "is `cp -r` of the closure's store paths to a new directory on the same disk (each timed step starts "
        "after `sync`, and the order of the three caches turns from round to round); the raw HTTP fetch "
        "GETs every object of the zstd cache in turn and reads it to the end, without unpacking.",
        "- **Nothing is deleted until the run ends** (it needs about 8 GB free in the temp dir): on this "
        "machine's disk (ext4 mounted with `discard`), deleting a few hundred MB slows the writes that "
        "follow for seconds, and deleting each round's stores made later rounds several times slower.",
        "- **The program** runs on stacks of this project against the same MinIO (file backend, passphrase "
        "secrets). `Pulumi.yaml` sets `refresh: always`, so its plain `pulumi preview` and `pulumi up` "
        "already read every resource back from MinIO: the `preview` figure compares a refreshing preview "
        "with the empty program's plain one, which has nothing to refresh. `preview --refresh=false` is "
        "the program's preview without the refresh, and `preview --run-program` does the refresh within "
        "the program's pass instead of a pass of its own. `up` is `pulumi up --yes --skip-preview` on a "
        "converged stack. Cold `up` creates a new "
        "cache (bucket, policy, lifecycle, nix-cache-info, writer, key, served check) on a new stack, with "
        "`nix-cache:expireDays` 0 (no rules) and 30 (188 rules).",
    ]
    missed = [f for f in FIGURES if f.at_least is not None and not met_by(f, figures[f.key])]
    if missed:
        lines += ["", "## Goals missed, and why", ""]
        for f in missed:
            values = figures[f.key]
            median, first = statistics.median(values), values[0]
            caveat = ""
            if meets(f, median):
                caveat = f"met by the median ({median:.2f}{TIMES}) but not in round 1 ({first:.2f}{TIMES}). "
            same = f.key == "preview_refresh" and any(m.key == "preview" for m in missed)
            why = (
                "It is the same refreshing preview as the figure above, with the same costs."
                if same
                else why_missed(f.key, results)
            )
            lines.append(f"- **{f.label}**: {caveat}{why}")
    return "\n".join(lines) + "\n"


def meets(figure: Figure, value: float) -> bool:
    return value >= figure.limit if figure.at_least else value <= figure.limit


def met_by(figure: Figure, values: list[float]) -> bool:
    """Met by the median and by round 1 (the first round, before any round's files were written)."""
    return meets(figure, statistics.median(values)) and meets(figure, values[0])


def why_missed(key: str, results: Results) -> str:
    """What stands in the way of a missed goal, with this run's own numbers (found by measuring)."""

    def med(name: str) -> float:
        return statistics.median(results.times[name])

    xz, zstd, none = (med(f"substitute {v}") for v in PUSH)
    disk = med("disk copy (cp -r)")
    copy_xz, copy_zstd = med("push recipe (xz): nix copy"), med("push program (zstd): nix copy")
    empty, plain = med("empty: preview"), med("program: preview --refresh=false")
    # The fastest of the runs: an import's time has a floor, and noise only ever adds to it.
    imports = {name: min(results.times[f"python -c 'import …': {name}"]) for name in IMPORTS}
    pulumi_imports, program_imports, host, sdk = imports.values()
    overhead = (
        f"Even without the refresh the program's preview takes {plain:.2f} s against the empty "
        f"program's {empty:.2f} s. Importing the program takes at best {program_imports:.2f} s against "
        f"{pulumi_imports:.2f} s for `pulumi` alone (without the MinIO SDK, {sdk:.2f} s, which only "
        "the providers' host loads: `providers/sdk.py`). The rest is the dynamic providers: Pulumi "
        "starts a second Python process for them when the first resource registers, which imports "
        f"`pulumi.dynamic`, dill and the providers ({host:.2f} s) before it answers, then the MinIO SDK "
        f"on the first call; and the engine calls Check and Diff on each of the "
        f"{results.facts['resources']} resources in the state, one gRPC round trip each. "
    )
    own_layer = (
        "No setting of the program removes these costs: they are the price of the MinIO layer as the "
        "project's own dynamic providers (README, \"No provider plugins\"), whose host process is Pulumi's."
    )
    if key in AGENT_FIGURES:
        return agent_why(key, results)
    texts = {
        "push_recipe": f"xz's `nix copy` takes {copy_xz:.1f} s against zstd's {copy_zstd:.2f} s; what both "
        f"share (serialising and hashing the NARs, and the upload, {med('push program (zstd): upload'):.2f} "
        "s) bounds the ratio.",
        "push_none": f"zstd's `nix copy` ({copy_zstd:.2f} s) against no compression's "
        f"({med('push uncompressed: nix copy'):.2f} s): on loopback, compressing costs more than the "
        "smaller upload saves; over a real network the smaller upload wins.",
        "subst_recipe": f"substituting the *uncompressed* cache takes {none:.2f} s, {none / zstd:.0%} of the "
        f"zstd substitution ({zstd:.2f} s): that is Nix's own work per path (fetching the narinfo, checking "
        "the signature, unpacking the NAR while hashing it, registering the path in the new store), which "
        f"no compression setting changes. xz adds {xz - none:.2f} s of decompression to it, so on this CPU "
        f"even a cache without compression would be only {xz / none:.1f}{TIMES} faster than the "
        "recipe's. "
        + (
            f"For scale: the recipe's substitution takes {xz / disk:.1f}{TIMES} as long as a plain `cp -r` "
            f"of the closure, so even a substitution at disk-copy speed would not be 3{TIMES} faster."
            if xz / disk < 3
            else f"The disk is not what stands in the way: a plain `cp -r` of the closure takes {disk:.2f} s."
        )
        + " The ratio grows where decompression weighs more against that work, as on a Raspberry Pi's "
        "slow cores.",
        "subst_disk": "in round 1, substituting even the uncompressed cache takes "
        f"{results.times['substitute uncompressed'][0]:.2f} s against "
        f"{results.times['disk copy (cp -r)'][0]:.2f} s for `cp -r`, and the raw HTTP fetch of the zstd "
        f"cache takes {results.times['raw HTTP fetch'][0]:.2f} s: the cost is Nix's own work per path "
        "(narinfo, signature, unpacking while hashing, registration with fsync in the new store's "
        "database), not MinIO or the network.",
        "preview": f"`Pulumi.yaml` sets `refresh: always`, so that every preview shows hand-made changes: "
        f"it reads each resource back from MinIO ({med('program: preview') - plain:+.2f} s against "
        "`--refresh=false`). Pulumi does the refresh as a pass of its own before the program runs, with "
        "its own providers' host, which it stops and starts again for the program: `--run-program`, "
        "which refreshes each resource within the program's pass, takes "
        f"{med('program: preview --run-program'):.2f} s. " + overhead + own_layer,
        "preview_refresh": overhead + own_layer,
    }
    return texts[key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", choices=["small", "full"], default="full")
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCH.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    toolchain = ensure_tools()
    with tempfile.TemporaryDirectory(prefix="nix-cache-bench-") as workdir:
        bench = Bench(toolchain, Path(workdir), args.runs)
        bench.run(args.size)
        text = report(bench.results, args.size, args.runs, toolchain, time.perf_counter() - started)
    args.output.write_text(text)
    say(f"wrote {args.output}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
