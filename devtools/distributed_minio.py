"""A real distributed MinIO: four server processes, one erasure set over their four drives.

MinIO refuses a distributed layout on 127.0.0.1 in a container ("resolves to localhost in a containerized
deployment") and refuses local endpoints with different addresses in one network namespace. So the cluster
gets a network namespace of its own (``ip netns add``), ``lo`` up in it with one address of the project's
own (``10.254.0.1/32``), and four ``minio server`` processes run with ``ip netns exec``, each with
``--address 10.254.0.1:<its port>`` and the same four ``http://10.254.0.1:<port>/<drive>`` endpoints.

That namespace has no other interface and no route: nothing in it reaches anything outside, and nothing
outside reaches it. Whatever talks to the cluster (the Pulumi CLI, Nix, S3 clients) is run inside it with
:attr:`NetworkNamespace.prefix`; this process never opens a socket to the cluster's address itself (from the
machine's own namespace that address would leave through the default route).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.minio_server import MinioServer, RootCredentials

#: The cluster's one address, on ``lo`` inside its namespace only.
ADDRESS = "10.254.0.1"
#: Node ``i`` (1-based) serves S3 on ``BASE_PORT + i - 1`` and its console on ``CONSOLE_BASE_PORT + i - 1``.
BASE_PORT = 9201
CONSOLE_BASE_PORT = 9301
#: Namespaces made for one run are called ``<NAMESPACE_PREFIX><pid>-<n>``; see :func:`remove_stale`.
NAMESPACE_PREFIX = "nixcache-"
_RUN_NAME = re.compile(rf"^{re.escape(NAMESPACE_PREFIX)}(\d+)-\d+$")


class NamespaceError(RuntimeError):
    """A network namespace could not be made here (not root, no ``ip``, no permission)."""


def namespace_unavailable() -> str | None:
    """Why network namespaces cannot be made on this machine, or None when they can (probably)."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "`ip` is missing: install Debian's iproute2 (`make setup` does)"
    return None


_counter = itertools.count(1)


def run_name() -> str:
    """A namespace name no other run uses: this process's id and a counter."""
    return f"{NAMESPACE_PREFIX}{os.getpid()}-{next(_counter)}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)
    if check and result.returncode != 0:
        raise NamespaceError(f"ip {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class NetworkNamespace:
    """A network namespace with only ``lo``, carrying ``address``: a small private network of one host."""

    name: str
    address: str = ADDRESS

    @property
    def prefix(self) -> tuple[str, ...]:
        """Put this in front of any command to run it inside the namespace (environment and cwd are kept)."""
        return ("ip", "netns", "exec", self.name)

    def exists(self) -> bool:
        return (Path("/run/netns") / self.name).exists()

    def create(self) -> None:
        """Make the namespace (if it does not exist yet), bring ``lo`` up and give it ``address``/32."""
        if reason := namespace_unavailable():
            raise NamespaceError(reason)
        if not self.exists():
            _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        addresses = _ip("-n", self.name, "-o", "addr", "show", "dev", "lo").stdout
        if f"inet {self.address}/32" not in addresses:
            _ip("-n", self.name, "addr", "add", f"{self.address}/32", "dev", "lo")

    def pids(self) -> list[int]:
        """The processes inside the namespace (all of them this project's: nothing else runs there)."""
        if not self.exists():
            return []
        listed = _ip("netns", "pids", self.name, check=False).stdout.split()
        return [int(pid) for pid in listed if pid.isdigit()]

    def delete(self) -> None:
        """Kill what still runs inside, then remove the namespace. Idempotent."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.exists():
            _ip("netns", "del", self.name)


def remove_stale() -> list[str]:
    """Remove the namespaces of earlier runs whose process is gone (a run killed before its clean-up)."""
    removed = []
    for entry in _ip("netns", "list", check=False).stdout.splitlines():
        name = entry.split()[0] if entry.split() else ""
        match = _RUN_NAME.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            NetworkNamespace(name).delete()
            removed.append(name)
    return removed


@dataclass
class DistributedMinio:
    """``nodes`` MinIO processes in ``namespace``, one drive each under ``home/node<i>/drive``."""

    minio_binary: str
    home: Path
    credentials: RootCredentials
    namespace: NetworkNamespace
    nodes: int = 4
    #: Extra environment for every node.
    extra_env: dict[str, str] = field(default_factory=dict)
    _servers: list[MinioServer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        endpoints = tuple(
            f"http://{self.namespace.address}:{BASE_PORT + i}{self.home / f'node{i + 1}' / 'drive'}"
            for i in range(self.nodes)
        )
        self._servers = [
            MinioServer(
                minio_binary=self.minio_binary,
                home=self.home / f"node{i + 1}",
                port=BASE_PORT + i,
                console_port=CONSOLE_BASE_PORT + i,
                credentials=self.credentials,
                extra_env=self.extra_env,
                host=self.namespace.address,
                command_prefix=self.namespace.prefix,
                endpoints=endpoints,
            )
            for i in range(self.nodes)
        ]

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self._servers[0].endpoints

    def node(self, number: int) -> MinioServer:
        """Node ``number`` (1-based): its address, credentials and process. Clients point at node 1."""
        return self._servers[number - 1]

    def start(self, timeout: float = 90) -> None:
        """Make the namespace, start every node that is not running, wait until the cluster is healthy."""
        self.namespace.create()
        for server in self._servers:
            (server.home / "drive").mkdir(parents=True, exist_ok=True)
            if not server.is_running():
                server.spawn()
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 90, node: int = 1) -> None:
        """Until ``node`` answers ``/minio/health/cluster`` with 200: write quorum, asked from inside."""
        self.node(node).wait_ready(timeout)

    def kill_node(self, number: int) -> None:
        """SIGKILL one node, as a power cut would; its drive stays as it was."""
        self.node(number).stop(signal.SIGKILL)

    def restart_node(self, number: int, timeout: float = 90) -> None:
        """Start node ``number`` again and wait until it answers healthy itself (it has rejoined)."""
        self.node(number).spawn()
        self.wait_healthy(timeout, node=number)

    def running(self) -> list[int]:
        return [n for n in range(1, self.nodes + 1) if self.node(n).is_running()]

    def stop(self) -> None:
        """Stop every node (their drives stay) and remove the namespace."""
        for server in self._servers:
            server.stop()
        self.namespace.delete()


def start_for_run(minio_binary: str, home: Path, timeout: float = 90) -> DistributedMinio:
    """A fresh cluster in a namespace of its own for this run; removed at exit even if the caller forgets."""
    if reason := namespace_unavailable():
        raise NamespaceError(reason)
    remove_stale()
    cluster = DistributedMinio(
        minio_binary=minio_binary,
        home=home,
        credentials=RootCredentials.generate(),
        namespace=NetworkNamespace(run_name()),
    )
    atexit.register(cluster.stop)
    try:
        cluster.start(timeout)
    except BaseException:
        cluster.stop()
        raise
    return cluster
