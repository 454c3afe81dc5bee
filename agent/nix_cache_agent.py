"""nix-cache-agent: the one way store paths enter the cache.

The post-build hook only queues (one file per build, written then renamed, no network: ``enqueue``,
or the same in a few lines of bash as ``builderModule``'s hook does, to start no interpreter);
the ``drain`` service pushes what is queued and removes an entry only once its closure is in the
cache; ``push`` does the same for paths given by hand; ``resign`` adds a new key's signature to every
narinfo in the bucket.

A push looks at the whole closure with concurrent HEADs of its narinfos (never a listing of the
bucket), leaves out paths signed by an upstream key, refreshes paths whose narinfo is older than half
of ``expireDays`` (NAR first, then narinfo), stages the rest with the real ``nix copy --to file://``
and uploads them in parallel: every NAR before any narinfo, and a narinfo only after the narinfos of
its references, so that no client ever sees a narinfo whose NAR or closure is missing.

One file of the standard library and the MinIO SDK (PyNaCl for ``resign`` only), imported lazily so
that the hook starts in milliseconds: ``builderModule`` embeds exactly these bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import posixpath
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any

NARINFO_TYPE = "text/x-nix-narinfo"
NAR_TYPE = "application/x-nix-nar"
DAY = 86400.0
#: Where builderModule keeps the queue (systemd's StateDirectory) and the agent's settings.
DEFAULT_QUEUE_DIR = "/var/lib/nix-cache-agent/queue"
DEFAULT_CONFIG_FILE = "/etc/nix-cache-agent.json"
DEFAULT_CREDENTIALS_FILE = "/etc/nix/nix-cache-writer.credentials"
DEFAULT_UPSTREAM_KEYS = ("cache.nixos.org-1",)
#: Staging compression: zstd compresses several times faster than xz and decompresses faster still.
STAGE_SETTINGS = "compression=zstd&parallel-compression=true"
#: A re-signed narinfo is new again; its NAR, when older than this, is refreshed first, so that the
#: NAR (which expires a day after narinfos) never expires before the narinfo pointing at it.
RESIGN_NAR_REFRESH_AFTER = DAY / 2
_HASH_PART = re.compile(r"[0-9abcdfghijklmnpqrsvwxyz]{32}")


class AgentError(Exception):
    """A problem worth one line in the journal; the message names what to check."""


class NarInfoError(AgentError):
    pass


class QueueEntryError(AgentError):
    pass


# Pure core -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NarInfo:
    """The fields of a narinfo the agent needs, and its text as written."""

    store_path: str
    url: str
    nar_hash: str
    nar_size: int
    references: tuple[str, ...]
    sigs: tuple[str, ...]
    text: str

    def fingerprint(self) -> str:
        """What a narinfo signature signs: ``1;<path>;<narHash>;<narSize>;<full reference paths>``."""
        store_dir = posixpath.dirname(self.store_path)
        refs = ",".join(f"{store_dir}/{ref}" for ref in self.references)
        return f"1;{self.store_path};{self.nar_hash};{self.nar_size};{refs}"


def parse_narinfo(text: str) -> NarInfo:
    fields: dict[str, str] = {}
    sigs: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise NarInfoError(f"narinfo line without ':': {line!r}")
        if key == "Sig":
            sigs.append(value.strip())
        else:
            fields[key] = value.strip()
    missing = [k for k in ("StorePath", "URL", "NarHash", "NarSize") if not fields.get(k)]
    if missing:
        raise NarInfoError(f"narinfo without {', '.join(missing)}")
    try:
        nar_size = int(fields["NarSize"])
    except ValueError:
        raise NarInfoError(f"narinfo NarSize is not a number: {fields['NarSize']!r}") from None
    return NarInfo(
        store_path=fields["StorePath"],
        url=fields["URL"],
        nar_hash=fields["NarHash"],
        nar_size=nar_size,
        references=tuple(fields.get("References", "").split()),
        sigs=tuple(sigs),
        text=text,
    )


def narinfo_key(store_path: str) -> str:
    """The object key of a path's narinfo: its hash part, ``.narinfo``."""
    hash_part = posixpath.basename(store_path).split("-", 1)[0]
    if not _HASH_PART.fullmatch(hash_part):
        raise AgentError(f"not a store path: {store_path!r}")
    return f"{hash_part}.narinfo"


def key_names(sigs: Iterable[str]) -> set[str]:
    return {sig.split(":", 1)[0] for sig in sigs}


def is_upstream(sigs: Iterable[str], upstream_keys: Iterable[str]) -> bool:
    """Signed by a key of an upstream cache: clients get it from there, so it is not uploaded."""
    return bool(key_names(sigs) & set(upstream_keys))


def signed_narinfo(text: str, key_name: str, sign: Callable[[bytes], bytes]) -> str | None:
    """``text`` with a signature by ``key_name`` added; None when it has one already (idempotent)."""
    info = parse_narinfo(text)
    if key_name in key_names(info.sigs):
        return None
    signature = base64.b64encode(sign(info.fingerprint().encode())).decode()
    return text.rstrip("\n") + f"\nSig: {key_name}:{signature}\n"


def refresh_after(expire_days: int) -> float | None:
    """Seconds after which a narinfo counts as old: half of ``expireDays``; None when nothing expires."""
    return None if expire_days <= 0 else expire_days * DAY / 2


@dataclass(frozen=True)
class PathInfo:
    """A store path as ``nix path-info --json`` describes it."""

    path: str
    references: tuple[str, ...]
    sigs: tuple[str, ...] = ()
    nar_hash: str = ""
    nar_size: int = 0


def placeholder_narinfo(info: PathInfo) -> str:
    """A narinfo that makes a ``file://`` staging store take ``info.path`` as valid.

    Nix refuses to add a path to a binary cache store whose references it does not hold; the agent
    stages only what it uploads, so each reference that is not staged gets this stand-in, which is
    never uploaded.
    """
    refs = " ".join(posixpath.basename(ref) for ref in info.references)
    return (
        f"StorePath: {info.path}\nURL: nar/placeholder\nCompression: none\n"
        f"NarHash: {info.nar_hash}\nNarSize: {info.nar_size}\nReferences: {refs}\n"
    )


@dataclass(frozen=True)
class Plan:
    """What one push does with each path of the closure."""

    upstream: tuple[str, ...]
    present: tuple[str, ...]
    refresh: tuple[str, ...]
    upload: tuple[str, ...]


def plan_push(
    closure: Mapping[str, PathInfo],
    ages: Mapping[str, float | None],
    upstream_keys: Iterable[str],
    old_after: float | None,
) -> Plan:
    """Sort the closure: upstream, fresh in the cache, old in the cache, missing (``ages[p]`` None).

    ``ages`` is the age in seconds of each non-upstream path's narinfo in the cache.
    """
    keys = set(upstream_keys)
    upstream, present, refresh, upload = [], [], [], []
    for path in sorted(closure):
        if is_upstream(closure[path].sigs, keys):
            upstream.append(path)
        elif (age := ages[path]) is None:
            upload.append(path)
        elif old_after is not None and age > old_after:
            refresh.append(path)
        else:
            present.append(path)
    return Plan(tuple(upstream), tuple(present), tuple(refresh), tuple(upload))


def narinfo_dependencies(closure: Mapping[str, PathInfo], uploading: Iterable[str]) -> dict[str, set[str]]:
    """For each path to upload, the other paths to upload whose narinfos must be there before its own."""
    chosen = set(uploading)
    return {path: {r for r in closure[path].references if r in chosen and r != path} for path in chosen}


def topological_order(dependencies: Mapping[str, set[str]]) -> list[str]:
    """Every path after all of its dependencies (a store's references form no cycle but self-loops)."""
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()
    for start in sorted(dependencies):
        stack: list[tuple[str, list[str]]] = [(start, sorted(dependencies[start]))]
        while stack:
            node, todo = stack[-1]
            if node in done:
                stack.pop()
                continue
            visiting.add(node)
            while todo and todo[-1] in done:
                todo.pop()
            if todo:
                nxt = todo.pop()
                if nxt in visiting:
                    raise AgentError(f"reference cycle through {nxt}")
                stack.append((nxt, sorted(dependencies[nxt])))
                continue
            stack.pop()
            visiting.discard(node)
            done.add(node)
            order.append(node)
    return order


def run_in_order(
    dependencies: Mapping[str, set[str]], action: Callable[[str], object], pool: ThreadPoolExecutor
) -> None:
    """Run ``action`` on every node, in parallel, each only after ``action`` finished on its dependencies.

    The first failure stops new work; what runs is waited for, then the failure is raised.
    """
    waiting = {node: set(deps) for node, deps in dependencies.items()}
    dependents: dict[str, list[str]] = {node: [] for node in dependencies}
    for node, deps in dependencies.items():
        for dep in deps:
            dependents[dep].append(node)
    finished: SimpleQueue[tuple[str, BaseException | None]] = SimpleQueue()
    running = 0

    def report(node: str, done: Future[object]) -> None:
        finished.put((node, done.exception()))

    def start_ready(nodes: Iterable[str]) -> None:
        nonlocal running
        for node in nodes:
            if not waiting[node]:
                del waiting[node]
                running += 1
                pool.submit(action, node).add_done_callback(partial(report, node))

    start_ready(sorted(waiting))
    failure: BaseException | None = None
    while running:
        # One completion at a time from a queue: waiting on every running future would cost O(n) each.
        node, error = finished.get()
        running -= 1
        if error is not None:
            failure = failure or error
        elif failure is None:
            for dependent in dependents[node]:
                waiting[dependent].discard(node)
            start_ready(dependents[node])
    if failure is not None:
        raise failure
    if waiting:
        raise AgentError(f"reference cycle among {sorted(waiting)[:3]}")


@dataclass(frozen=True)
class Entry:
    """One queue entry: a build's output paths, and its derivation when Nix passed no outputs."""

    paths: tuple[str, ...]
    drv: str | None = None


def _store_path_problem(path: object) -> str | None:
    if not isinstance(path, str) or not path.startswith("/") or re.search(r"\s", path) or "\0" in path:
        return f"not a store path: {path!r}"
    return None


def encode_entry(entry: Entry) -> bytes:
    for path in (*entry.paths, *([entry.drv] if entry.drv else [])):
        if problem := _store_path_problem(path):
            raise QueueEntryError(problem)
    return (json.dumps({"version": 1, "paths": list(entry.paths), "drv": entry.drv}) + "\n").encode()


def decode_entry(data: bytes) -> Entry:
    try:
        value = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError) as error:
        raise QueueEntryError(f"not JSON: {error}") from None
    if not isinstance(value, dict) or value.get("version") != 1:
        raise QueueEntryError("not a version 1 queue entry")
    paths, drv = value.get("paths"), value.get("drv")
    if not isinstance(paths, list):
        raise QueueEntryError("paths is not a list")
    for path in (*paths, *([] if drv is None else [drv])):
        if problem := _store_path_problem(path):
            raise QueueEntryError(problem)
    if not paths and drv is None:
        raise QueueEntryError("neither paths nor drv")
    return Entry(tuple(paths), drv)


def entry_name(now_ns: int, pid: int, token: str) -> str:
    """Names sort by time, so the queue drains oldest first; pid and token keep them unique."""
    return f"{now_ns:020d}-{pid}-{token}.json"


@dataclass(frozen=True)
class Report:
    uploaded: int = 0
    refreshed: int = 0
    upstream: int = 0
    present: int = 0

    def line(self) -> str:
        return (
            f"uploaded {self.uploaded}, refreshed {self.refreshed}, "
            f"skipped as upstream {self.upstream}, already there {self.present}"
        )


# Settings ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where the cache is and how to push to it; no secret (the writer's is read from its file)."""

    endpoint: str
    bucket: str
    profile: str
    credentials_file: str = DEFAULT_CREDENTIALS_FILE
    ca_file: str | None = None
    expire_days: int = 30
    upstream_keys: tuple[str, ...] = DEFAULT_UPSTREAM_KEYS
    #: Seconds after which a narinfo is refreshed; None: half of ``expire_days``.
    refresh_after: float | None = None
    workers: int = 8
    #: A secret key file: narinfos are signed with it as they are staged (``nix copy``'s secret-key).
    key_file: str | None = None
    queue_dir: str = DEFAULT_QUEUE_DIR

    @property
    def old_after(self) -> float | None:
        return self.refresh_after if self.refresh_after is not None else refresh_after(self.expire_days)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str = field(repr=False)


def read_credentials(path: str, profile: str) -> Credentials:
    """The writer's keys from an AWS shared-credentials file (the stack's ``awsCredentials``)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as file:
            parser.read_file(file)
    except OSError as error:
        raise AgentError(
            f"credentials file {path}: {error.strerror} (put the stack's awsCredentials there)"
        ) from None
    except configparser.Error:
        raise AgentError(f"credentials file {path} is not an AWS credentials file") from None
    if not parser.has_section(profile):
        raise AgentError(f"credentials file {path} has no profile [{profile}]")
    section = parser[profile]
    access, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
    if not access or not secret:
        raise AgentError(f"credentials file {path}: profile [{profile}] lacks a key id or secret")
    return Credentials(access.strip(), secret.strip())


def read_secret_key(path: str) -> tuple[str, bytes]:
    """A Nix secret key file, ``name:base64(seed ‖ public key)``: the name and the 32-byte seed."""
    try:
        text = Path(path).read_text().strip()
    except OSError as error:
        raise AgentError(f"key file {path}: {error.strerror}") from None
    name, _, encoded = text.partition(":")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raw = b""
    if not name or len(raw) != 64:
        raise AgentError(f"key file {path} is not a Nix secret key (name:base64)")
    return name, raw[:32]


# Nix -----------------------------------------------------------------------------------------------


class Nix:
    """The real Nix on this machine; its stdout is parsed, its stderr only ever quoted in errors."""

    def __init__(self, bin_dir: str | None = None) -> None:
        self.bin_dir = bin_dir

    def _tool(self, name: str) -> str:
        return os.path.join(self.bin_dir, name) if self.bin_dir else name

    def _run(self, tool: str, *args: str) -> str:
        command = [self._tool(tool), *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        except OSError as error:
            raise AgentError(f"cannot run {command[0]}: {error.strerror} (is Nix on PATH?)") from None
        if result.returncode != 0:
            lines = [line for line in result.stderr.splitlines() if line.strip()]
            verb = next((a for a in args if not a.startswith(("-", "/")) and a != "nix-command"), args[0])
            raise AgentError(f"{tool} {verb} failed: {lines[-1] if lines else result.returncode}")
        return result.stdout

    def _nix(self, *args: str) -> str:
        return self._run("nix", "--extra-experimental-features", "nix-command", *args)

    def invalid_paths(self, paths: Sequence[str]) -> set[str]:
        """Which of ``paths`` are not (or no longer) valid in the local store."""
        if not paths:
            return set()
        out = self._run("nix-store", "--check-validity", "--print-invalid", "--", *paths)
        return set(out.split())

    def outputs(self, drv: str) -> list[str]:
        return self._run("nix-store", "--query", "--outputs", "--", drv).split()

    def closure(self, paths: Sequence[str]) -> dict[str, PathInfo]:
        infos = json.loads(self._nix("path-info", "--json", "--recursive", "--", *paths))
        return {
            info["path"]: PathInfo(
                path=info["path"],
                references=tuple(info.get("references", ())),
                sigs=tuple(info.get("signatures", ())),
                nar_hash=info["narHash"],
                nar_size=int(info["narSize"]),
            )
            for info in infos
        }

    def stage(
        self, closure: Mapping[str, PathInfo], paths: Sequence[str], directory: Path, key_file: str | None
    ) -> None:
        """The paths alone (not their closures) as NARs and narinfos in a ``file://`` store."""
        chosen = set(paths)
        for ref in {r for p in paths for r in closure[p].references} - chosen:
            (directory / narinfo_key(ref)).write_text(placeholder_narinfo(closure[ref]))
        url = f"file://{directory}?{STAGE_SETTINGS}" + (f"&secret-key={key_file}" if key_file else "")
        self._nix("copy", "--no-recursive", "--to", url, "--", *paths)


# The cache -----------------------------------------------------------------------------------------


class Cache:
    """The bucket, reached as the writer with the MinIO SDK (GetObject, PutObject, ListBucket)."""

    def __init__(self, settings: Settings, credentials: Credentials) -> None:
        import urllib3
        from minio import Minio

        url = urllib3.util.parse_url(settings.endpoint)
        if url.scheme not in ("http", "https") or not url.host:
            raise AgentError(f"endpoint {settings.endpoint!r} is not http(s)://host[:port]")
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=5, read=120),
            maxsize=settings.workers,
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
            cert_reqs="CERT_REQUIRED",
            ca_certs=settings.ca_file,
        )
        self.settings = settings
        self.bucket = settings.bucket
        self.client = Minio(
            url.netloc or "",
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            secure=url.scheme == "https",
            http_client=http,
        )

    def age(self, key: str, now: float) -> float | None:
        """Seconds since ``key`` was last written; None when it is not there."""
        from minio.error import S3Error

        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                return None
            raise
        modified = stat.last_modified
        return 0.0 if modified is None else max(0.0, now - modified.timestamp())

    def get_text(self, key: str) -> str:
        response = self.client.get_object(self.bucket, key)
        try:
            return bytes(response.read()).decode()
        finally:
            response.close()
            response.release_conn()

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        # Up to 64 MiB in one PUT (as Nix does); larger NARs go in 64 MiB parts, uploaded in parallel.
        self.client.fput_object(self.bucket, key, str(path), content_type=content_type, part_size=64 << 20)

    def put_text(self, key: str, text: str, content_type: str) -> None:
        import io

        data = text.encode()
        self.client.put_object(self.bucket, key, io.BytesIO(data), len(data), content_type=content_type)

    def rewrite(self, key: str, content_type: str) -> bool:
        """Copy ``key`` onto itself so that its age (and expiry) starts again; False when it is gone.

        MinIO resets the content type of a REPLACE copy unless it is sent again.
        """
        from minio.commonconfig import REPLACE, CopySource
        from minio.error import S3Error

        try:
            self.client.copy_object(
                self.bucket,
                key,
                CopySource(self.bucket, key),
                metadata={"Content-Type": content_type},
                metadata_directive=REPLACE,
            )
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                return False
            raise
        return True

    def narinfo_keys(self) -> list[str]:
        """Every narinfo in the bucket (a listing: only ``resign``, a whole-cache operation, needs it)."""
        objects = self.client.list_objects(self.bucket, recursive=False)
        return [o.object_name for o in objects if o.object_name and o.object_name.endswith(".narinfo")]


def describe(error: BaseException, settings: Settings) -> str:
    """One line for an SDK or network failure, naming the endpoint."""
    code = getattr(error, "code", None)
    where = f"MinIO at {settings.endpoint}, bucket {settings.bucket}"
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return f"{where} refused the writer's credentials ({code}): check {settings.credentials_file}"
    if code:
        return f"{where} answered {code}: {getattr(error, 'message', '') or error}"
    reason = str(getattr(error, "reason", None) or error).splitlines()[0]
    return f"{where} unreachable: {type(error).__name__}: {reason}"


# Push ----------------------------------------------------------------------------------------------


def push(nix: Nix, cache: Cache, roots: Sequence[str], settings: Settings) -> Report:
    """Make the closure of ``roots`` complete and fresh in the cache; raise when any part failed."""
    closure = nix.closure(roots)
    keys = settings.upstream_keys
    candidates = [p for p, info in closure.items() if not is_upstream(info.sigs, keys)]
    now = time.time()
    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        ages = dict(
            zip(candidates, pool.map(lambda p: cache.age(narinfo_key(p), now), candidates), strict=True)
        )
        plan = plan_push(closure, ages, keys, settings.old_after)
        refreshed = list(pool.map(lambda p: _refresh(cache, p), plan.refresh))
        gone = [p for p, ok in zip(plan.refresh, refreshed, strict=True) if not ok]
        upload = sorted({*plan.upload, *gone})
        if upload:
            _upload(nix, cache, closure, upload, settings, pool)
    return Report(
        uploaded=len(upload),
        refreshed=len(plan.refresh) - len(gone),
        upstream=len(plan.upstream),
        present=len(plan.present),
    )


def _refresh(cache: Cache, path: str) -> bool:
    """NAR first, then narinfo; False when the NAR is gone (the path is then uploaded again)."""
    key = narinfo_key(path)
    info = parse_narinfo(cache.get_text(key))
    if not cache.rewrite(info.url, NAR_TYPE):
        return False
    return cache.rewrite(key, NARINFO_TYPE)


def _upload(
    nix: Nix,
    cache: Cache,
    closure: Mapping[str, PathInfo],
    paths: Sequence[str],
    settings: Settings,
    pool: ThreadPoolExecutor,
) -> None:
    with tempfile.TemporaryDirectory(prefix="nix-cache-agent-") as staging:
        directory = Path(staging)
        nix.stage(closure, paths, directory, settings.key_file)
        infos = {p: parse_narinfo((directory / narinfo_key(p)).read_text()) for p in paths}
        # Every NAR first: a NAR without its narinfo is invisible to clients.
        list(pool.map(lambda p: cache.put_file(infos[p].url, directory / infos[p].url, NAR_TYPE), paths))
        run_in_order(
            narinfo_dependencies(closure, paths),
            lambda p: cache.put_text(narinfo_key(p), infos[p].text, NARINFO_TYPE),
            pool,
        )


# Queue ---------------------------------------------------------------------------------------------


class Queue:
    """One file per build in a folder, written under a dot-name and renamed: never half an entry."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.aside = self.directory / ".corrupt"

    def add(self, entry: Entry) -> Path:
        data = encode_entry(entry)
        self.directory.mkdir(parents=True, exist_ok=True)
        name = entry_name(time.time_ns(), os.getpid(), secrets.token_hex(4))
        temporary = self.directory / f".tmp-{name}"
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self.directory / name)
        descriptor = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return self.directory / name

    def entries(self) -> list[Path]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith(".json") and n[0] != ".")
        except FileNotFoundError:
            return []
        return [self.directory / name for name in names]

    def set_aside(self, entry: Path) -> Path:
        self.aside.mkdir(parents=True, exist_ok=True)
        target = self.aside / entry.name
        os.replace(entry, target)
        return target


def log(message: str) -> None:
    """One line to stderr: the journal under systemd, the build's log in the hook."""
    print(f"nix-cache-agent: {message}", file=sys.stderr, flush=True)


def batch_of(entries: Sequence[Path], failures: int, size: int = 64) -> list[Path]:
    """Which entries to push next: the oldest ``size``; after failures, one at a time, in turn.

    So an entry that keeps failing delays the others by one attempt each, and never blocks them.
    """
    if failures == 0 or not entries:
        return list(entries[:size])
    return [entries[(failures - 1) % len(entries)]]


def drain_once(queue: Queue, nix: Nix, settings: Settings, failures: int = 0) -> str:
    """Push a batch of queued closures: ``"idle"`` (nothing queued), ``"done"`` or ``"failed"``.

    An entry goes only after its closure is in the cache; a corrupt entry is set aside, a path gone
    from the store is dropped, each with one line; any other failure keeps every entry for a retry.
    """
    taken: list[tuple[Path, list[str]]] = []
    for path in batch_of(queue.entries(), failures):
        try:
            entry = decode_entry(path.read_bytes())
            paths = list(entry.paths) or (nix.outputs(entry.drv) if entry.drv else [])
        except FileNotFoundError:
            continue
        except OSError as error:
            log(f"queue entry {path.name} cannot be read, kept: {error.strerror}")
            continue
        except QueueEntryError as error:
            log(f"corrupt queue entry {path.name} set aside in {queue.set_aside(path)}: {error}")
            continue
        except AgentError as error:
            log(f"queue entry {path.name}: outputs of its derivation unknown, dropped: {error}")
            path.unlink(missing_ok=True)
            continue
        taken.append((path, paths))
    if not taken:
        return "idle"
    roots = sorted({p for _, paths in taken for p in paths})
    try:
        gone = nix.invalid_paths(roots)
        for store_path in sorted(gone):
            log(f"{store_path} is no longer in the local store (garbage-collected?): dropped from the queue")
        valid = [p for p in roots if p not in gone]
        report = push(nix, _cache(settings), valid, settings) if valid else Report()
    except AgentError as error:
        log(f"{len(taken)} queue entries kept for a retry: {error}")
        return "failed"
    except Exception as error:  # the SDK's and urllib3's errors: MinIO down or refusing
        log(f"{len(taken)} queue entries kept for a retry: {describe(error, settings)}")
        return "failed"
    for path, _ in taken:
        path.unlink(missing_ok=True)
    log(f"pushed {len(taken)} queue entries ({len(roots)} paths): {report.line()}")
    return "done"


def _cache(settings: Settings) -> Cache:
    """A client as the writer, its credentials read again each time: a fixed file needs no restart."""
    return Cache(settings, read_credentials(settings.credentials_file, settings.profile))


def drain(queue: Queue, nix: Nix, settings: Settings, once: bool, poll: float, max_backoff: float) -> int:
    """Drain forever (the service): after a failure wait 1 s, doubling up to ``max_backoff``."""
    delay, failures = 1.0, 0
    while True:
        outcome = drain_once(queue, nix, settings, failures)
        if outcome == "failed":
            if once:
                return 1
            time.sleep(delay)
            delay, failures = min(delay * 2, max_backoff), failures + 1
            continue
        delay, failures = 1.0, 0
        if outcome == "idle":
            if once:
                return 0
            time.sleep(poll)


def resign(cache: Cache, key_file: str, settings: Settings) -> tuple[int, int]:
    """Add ``key_file``'s signature to every narinfo that lacks it: (signed now, signed already)."""
    from nacl.signing import SigningKey

    name, seed = read_secret_key(key_file)
    signer = SigningKey(seed)

    def sign(data: bytes) -> bytes:
        return bytes(signer.sign(data).signature)

    def one(key: str) -> bool:
        text = signed_narinfo(cache.get_text(key), name, sign)
        if text is None:
            return False
        if settings.expire_days > 0:
            url = parse_narinfo(text).url
            age = cache.age(url, time.time())
            if age is not None and age > RESIGN_NAR_REFRESH_AFTER:
                cache.rewrite(url, NAR_TYPE)
        cache.put_text(key, text, NARINFO_TYPE)
        return True

    with ThreadPoolExecutor(max_workers=settings.workers) as pool:
        done = list(pool.map(one, cache.narinfo_keys()))
    return sum(done), len(done) - sum(done)


# Command line --------------------------------------------------------------------------------------


def settings_from(args: argparse.Namespace) -> Settings:
    """The config file's settings (builderModule writes one), overridden by the command line."""
    values: dict[str, Any] = {}
    config = args.config or (DEFAULT_CONFIG_FILE if os.path.exists(DEFAULT_CONFIG_FILE) else None)
    if config:
        try:
            loaded = json.loads(Path(config).read_text())
        except (OSError, ValueError) as error:
            raise AgentError(f"config file {config}: {error}") from None
        if not isinstance(loaded, dict):
            raise AgentError(f"config file {config} is not a JSON object")
        known = set(Settings.__dataclass_fields__)
        values.update({k: v for k, v in loaded.items() if k in known})
    for name in Settings.__dataclass_fields__:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = value
    if isinstance(values.get("upstream_keys"), str):
        values["upstream_keys"] = [k for k in values["upstream_keys"].split(",") if k.strip()]
    values["upstream_keys"] = tuple(values.get("upstream_keys", DEFAULT_UPSTREAM_KEYS))
    missing = [f"--{n.replace('_', '-')}" for n in ("endpoint", "bucket", "profile") if not values.get(n)]
    if missing:
        raise AgentError(f"missing {', '.join(missing)} (or a --config file that sets them)")
    return Settings(**values)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="nix-cache-agent", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help=f"a JSON settings file (default {DEFAULT_CONFIG_FILE} if present)")
    common.add_argument("--endpoint", help="the S3 API, http(s)://host[:port]")
    common.add_argument("--bucket")
    common.add_argument("--profile", help="the writer's profile in the credentials file")
    common.add_argument("--credentials-file", dest="credentials_file")
    common.add_argument("--ca-file", dest="ca_file", help="a private CA for https")
    common.add_argument("--expire-days", dest="expire_days", type=int)
    common.add_argument("--upstream-keys", dest="upstream_keys", help="comma-separated key names; '' is off")
    common.add_argument("--refresh-after", dest="refresh_after", type=float, help="seconds (tests)")
    common.add_argument("--workers", type=int)
    common.add_argument("--key-file", dest="key_file", help="sign the narinfos with this secret key")
    common.add_argument("--queue-dir", dest="queue_dir")
    common.add_argument("--nix-bin-dir", dest="nix_bin_dir", help="where nix and nix-store are")
    commands = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("push", "push the closures of the paths after --"),
        ("enqueue", "the post-build hook: queue the paths after -- (or --drv's outputs)"),
        ("drain", "the service: push what is queued, retrying until it is in the cache"),
        ("resign", "add --key-file's signature to every narinfo in the bucket"),
    ):
        sub = commands.add_parser(name, parents=[common], help=text)
        if name == "enqueue":
            sub.add_argument("--drv", help="the derivation, when Nix passes no output paths")
        if name == "drain":
            sub.add_argument("--once", action="store_true", help="stop when the queue is empty or on error")
            sub.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the queue")
            sub.add_argument("--max-backoff", dest="max_backoff", type=float, default=300.0)
        sub.add_argument("paths", nargs="*")
    return top


def enqueue(args: argparse.Namespace) -> int:
    """Never fails the build: any problem is one line on stderr and in syslog, and exit 0."""
    try:
        queue_dir = args.queue_dir or DEFAULT_QUEUE_DIR
        if args.config and not args.queue_dir:
            queue_dir = json.loads(Path(args.config).read_text()).get("queue_dir", queue_dir)
        paths = tuple(p for p in args.paths if p)
        drv = args.drv or None
        if paths or drv:
            Queue(queue_dir).add(Entry(paths, drv))
    except Exception as error:
        message = f"not queued ({' '.join(args.paths) or args.drv}): {error}"
        log(message)
        try:
            import syslog

            syslog.openlog("nix-cache-agent")
            syslog.syslog(syslog.LOG_WARNING, message)
        except Exception:  # noqa: S110 - no syslog is no reason to fail a build
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "enqueue":
        return enqueue(args)
    nix = Nix(args.nix_bin_dir)
    try:
        settings = settings_from(args)
        if args.command == "drain":
            return drain(Queue(settings.queue_dir), nix, settings, args.once, args.poll, args.max_backoff)
        cache = _cache(settings)
        if args.command == "push":
            if not args.paths:
                raise AgentError("no paths: give them after --")
            report = push(nix, cache, [os.path.realpath(p) for p in args.paths], settings)
            print(f"{settings.endpoint}/{settings.bucket}: {report.line()}")
            return 0
        if not settings.key_file:
            raise AgentError("resign needs --key-file (the new key's secret)")
        signed, already = resign(cache, settings.key_file, settings)
        print(
            f"{settings.endpoint}/{settings.bucket}: signed {signed} narinfos, {already} were signed already"
        )
        return 0
    except AgentError as error:
        log(f"error: {error}")
        return 1
    except Exception as error:  # the SDK's and urllib3's: one line, not a traceback
        log(f"error: {describe(error, settings_or_none(args))}")
        return 1


def settings_or_none(args: argparse.Namespace) -> Settings:
    try:
        return settings_from(args)
    except AgentError:
        return Settings(endpoint=str(args.endpoint), bucket=str(args.bucket), profile=str(args.profile))


if __name__ == "__main__":
    sys.exit(main())
