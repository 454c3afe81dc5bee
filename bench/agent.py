"""``make bench``, the upload agent's part: the hook's cost per build, pushes of many small paths.

On the bench's own MinIO, each round, side by side:

1. The hook's cost: 20 new small builds with a no-op hook, with ``builderModule``'s queueing hook,
   and with an uploading hook (the upload done inside the hook, as ``builderModule`` did before the
   agent; Debian's Nix has no S3 store, so the upload is the agent's own push); then the queueing
   hook again with MinIO stopped.
2. A closure of many small paths (1,000; 100 at the small size): the agent's first push into an empty
   cache, against ``nix copy --to file://`` plus a plain eight-thread PUT of what it wrote, and
   against the path before the agent (``file://`` plus one PUT at a time); the same push again (all
   there and fresh), into that cache and into one holding 100,000 other objects (1,000 small).
3. The 200 MB closure: the agent's push against the ``file://`` plus upload push (``bench.run``).
"""

from __future__ import annotations

import io
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from components.builder_module import post_build_hook
from components.nix_text import aws_credentials
from devtools import s3
from devtools.cache_on_minio import DocumentCache, create_document_cache
from devtools.nix_client import NIX_MK
from devtools.toolchain import ROOT

if TYPE_CHECKING:
    from bench.run import Bench

AGENT = ROOT / "agent" / "bin" / "nix-cache-agent"
HOOK_BUILDS = 20
SMALL_PATHS = {"small": 100, "full": 1000}
OTHER_OBJECTS = {"small": 1_000, "full": 100_000}
STAGE = "compression=zstd&parallel-compression=true"

MANY = f"""
let
{NIX_MK}
in mk "@TAG@-root" (builtins.genList (i: mk "@TAG@-${{toString i}}" [ ]) @COUNT@)
"""

BUILDS = """
builtins.genList (i: builtins.derivation {
  name = "@TAG@-${toString i}";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  args = [ "-c" "echo @TAG@ ${toString i} > $out" ];
}) @COUNT@
"""


class AgentBench:
    """The agent's measurements, into the same ``Results`` as the rest of the bench."""

    def __init__(self, bench: Bench, size: str) -> None:
        self.bench, self.size = bench, size
        self.workdir = bench.workdir / "agent"
        self.workdir.mkdir()

    # Helpers --------------------------------------------------------------------------------------

    def cache(self, label: str) -> tuple[DocumentCache, list[str]]:
        """A new empty cache (bucket and writer) and the agent's options for it."""
        name = f"agent-{label}-{secrets.token_hex(3)}"
        cache = create_document_cache(self.bench.minio, name, f"w-{name}")
        credentials = self.workdir / f"{name}.credentials"
        credentials.write_text(aws_credentials(cache.writer, cache.writer, cache.writer_secret))
        credentials.chmod(0o600)
        options = [
            "--endpoint", cache.server.endpoint_url, "--bucket", cache.bucket, "--profile", cache.writer,
            "--credentials-file", str(credentials), "--queue-dir", str(self.workdir / f"{name}-queue"),
        ]  # fmt: skip
        return cache, options

    def push(self, options: list[str], root: str) -> str:
        return self.bench.command(str(AGENT), "push", *options, "--", root)

    def build_many(self, count: int) -> str:
        tag = f"nix-cache-bench-many-{self.size}-{secrets.token_hex(3)}"
        expression = MANY.replace("@TAG@", tag).replace("@COUNT@", str(count))
        return self.bench.command("nix-build", "--no-out-link", "-E", expression).strip()

    # 1. The hook ----------------------------------------------------------------------------------

    def hook_scripts(self, options: list[str]) -> dict[str, Path]:
        queue = self.workdir / "hook-queue"
        texts = {
            "no-op": "exit 0\n",
            "queueing": post_build_hook("", str(queue)),
            "uploading": (
                'paths=${OUT_PATHS:-$(nix-store --query --outputs "$DRV_PATH")}\n'
                f"{AGENT} push {' '.join(options)} -- $paths >/dev/null 2>&1 || true\n"
                "exit 0\n"
            ),
        }
        scripts = {}
        for name, text in texts.items():
            path = self.workdir / f"hook-{name}"
            path.write_text(f"#!/bin/bash\n{text}")
            path.chmod(0o755)
            scripts[name] = path
        return scripts

    def builds(self, hook: Path) -> float:
        """Seconds for 20 new small builds, each followed by ``hook``, as Nix runs them."""
        from bench.run import timed

        tag = f"nix-cache-bench-hook-{secrets.token_hex(4)}"
        expression = BUILDS.replace("@TAG@", tag).replace("@COUNT@", str(HOOK_BUILDS))
        env = {**self.bench.env, "NIX_CONFIG": self.bench.env["NIX_CONFIG"] + f"\npost-build-hook = {hook}"}
        return timed(partial(self.bench.command, "nix-build", "--no-out-link", "-E", expression, env=env))

    def hooks(self) -> None:
        from bench.run import rotated, say

        _, options = self.cache("hook")
        scripts = self.hook_scripts(options)
        add = self.bench.results.add
        for round_ in range(self.bench.runs):
            names = {name: str(path) for name, path in scripts.items()}
            seconds = {name: self.builds(scripts[name]) for name in rotated(names, round_)}
            self.bench.minio.stop()
            try:
                stopped = self.builds(scripts["queueing"])
            finally:
                self.bench.minio.start()
            for name in ("no-op", "queueing", "uploading"):
                add(f"{HOOK_BUILDS} builds, {name} hook", seconds[name])
            add(f"{HOOK_BUILDS} builds, queueing hook, MinIO stopped", stopped)
            # A hook's cost is its builds' time over the no-op hook's (never below 1 ms: noise).
            for name, total in (("queueing", seconds["queueing"]), ("uploading", seconds["uploading"])):
                add(f"hook cost per build: {name}", max(total - seconds["no-op"], 1e-3) / HOOK_BUILDS)
            add(
                "hook cost per build: queueing, MinIO stopped",
                max(stopped - seconds["no-op"], 1e-3) / HOOK_BUILDS,
            )
            say(f"hook round {round_ + 1}/{self.bench.runs} done")

    # 2. Many small paths --------------------------------------------------------------------------

    def fill(self, cache: DocumentCache, count: int) -> None:
        """``count`` other objects (half narinfos, half NARs), as a long-lived cache holds; not timed."""
        client = cache.server.root_clients().s3

        def put(number: int) -> None:
            token = secrets.token_hex(16)
            key = f"{token}.narinfo" if number % 2 else f"nar/{token}.nar.zst"
            client.put_object(cache.bucket, key, io.BytesIO(b"x" * 64), 64)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, range(count)))

    def many(self) -> None:
        from bench.run import say, timed

        count = SMALL_PATHS[self.size]
        root = self.build_many(count)
        self.bench.results.facts["many paths"] = count + 1
        big, big_options = self.cache("big")
        say(f"filling a cache with {OTHER_OBJECTS[self.size]} other objects")
        self.fill(big, OTHER_OBJECTS[self.size])
        self.bench.results.facts["other objects"] = OTHER_OBJECTS[self.size]
        self.push(big_options, root)
        add = self.bench.results.add
        for round_ in range(self.bench.runs):
            _, options = self.cache(f"many-{round_}")
            add("many: agent push", timed(partial(self.push, options, root)))
            add("many: agent push again", timed(partial(self.push, options, root)))
            add("many: agent push again, big cache", timed(partial(self.push, big_options, root)))
            copy, put = self.staged_upload(root, f"eight-{round_}", eight=True)
            add("many: nix copy to file://", copy)
            add("many: eight-thread PUT", put)
            add("many: file:// + eight-thread PUT", copy + put)
            copy, put = self.staged_upload(root, f"serial-{round_}", eight=False)
            add("many: file:// + one PUT at a time", copy + put)
            say(f"many-paths round {round_ + 1}/{self.bench.runs} done")

    def staged_upload(self, root: str, label: str, eight: bool) -> tuple[float, float]:
        """``nix copy --to file://`` of the closure, then its objects PUT as the writer; both timed."""
        from bench.run import timed

        cache, _ = self.cache(label)
        staging = self.workdir / f"staging-{label}"
        url = f"file://{staging}?{STAGE}"
        copy = timed(partial(self.bench.command, "nix", "copy", "--to", url, root))
        if eight:
            client = s3.client(cache.server.endpoint_url, cache.writer, cache.writer_secret)
            return copy, timed(partial(self.put_all, client, cache.bucket, staging))
        client = s3.client(cache.server.endpoint_url, cache.writer, cache.writer_secret)
        return copy, timed(partial(s3.upload_file_cache, client, cache.bucket, staging))

    @staticmethod
    def put_all(client: Any, bucket: str, staging: Path) -> None:
        """Every object ``nix copy`` wrote, from eight threads, in no order."""
        files = [p for p in staging.rglob("*") if p.is_file() and p.name != "nix-cache-info"]

        def put(path: Path) -> None:
            key = path.relative_to(staging).as_posix()
            client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(put, files))

    # 3. The 200 MB closure ------------------------------------------------------------------------

    def large(self, root: str) -> None:
        from bench.run import say, timed

        for round_ in range(self.bench.runs):
            _, options = self.cache(f"large-{round_}")
            self.bench.results.add("push agent (zstd)", timed(partial(self.push, options, root)))
            say(f"agent push round {round_ + 1}/{self.bench.runs} done")


def agent_why(key: str, results: Any) -> str:
    """What this run's own numbers say about a missed agent goal."""
    import statistics

    def med(name: str) -> float:
        return float(statistics.median(results.times[name]))

    def ms(name: str) -> str:
        return f"{med(name) * 1000:.1f} ms"

    agent, copy = med("push agent (zstd)"), med("push program (zstd): nix copy")
    upload = med("push program (zstd): upload")
    first, again = med("many: agent push"), med("many: agent push again")
    big = med("many: agent push again, big cache")
    queueing, stopped = (
        ms("hook cost per build: queueing"),
        ms("hook cost per build: queueing, MinIO stopped"),
    )
    texts = {
        "push_agent": f"the agent's push takes {agent:.2f} s against `nix copy --to file://` ({copy:.2f} s) "
        f"plus the upload ({upload:.2f} s); the agent adds a Python start with the MinIO SDK, the closure "
        "query and one HEAD per path.",
        "hook_cost": f"the queueing hook costs {queueing} per build and the uploading one "
        f"{ms('hook cost per build: uploading')}; on loopback an upload is cheap, so the ratio is bounded by "
        "the few milliseconds of any hook that writes a file and syncs it.",
        "hook_stopped": f"the queueing hook costs {stopped} with MinIO stopped against {queueing} "
        "running; it never touches the network, so the difference is noise between two small numbers.",
        "many_push": f"the agent's push takes {first:.2f} s against "
        f"{med('many: nix copy to file://'):.2f} s of `nix copy` plus {med('many: eight-thread PUT'):.2f} s "
        "of PUTs: on top it starts Python with the "
        "MinIO SDK, asks Nix for the closure, HEADs every narinfo and orders the narinfos by reference.",
        "many_again": f"the push again takes {again:.2f} s: a Python start with the MinIO SDK, "
        "`nix path-info` of the closure and one HEAD per path (eight at a time), against the first "
        f"push's {first:.2f} s.",
        "many_big": f"the push again into the cache of other objects takes {big:.2f} s against "
        f"{again:.2f} s; it lists nothing, so what differs is MinIO's own look-up of a key among more "
        "objects, and noise.",
    }
    return texts[key]
