"""A real MinIO server on loopback: erasure mode over several drive folders, like a real deployment.

http by default; https when given a ``certs_dir`` (see ``devtools.tls``) and the CA file that clients trust.
One node of a distributed MinIO too (``devtools.distributed_minio``): another ``host``, the cluster's
``endpoints`` instead of local drive folders, and a ``command_prefix`` that runs it (and its health check)
inside a network namespace.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from providers.connection import MinioClients, MinioSettings, clients_for


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RootCredentials:
    user: str
    password: str = field(repr=False)

    @classmethod
    def generate(cls) -> RootCredentials:
        return cls(user=f"admin-{secrets.token_hex(3)}", password=secrets.token_urlsafe(24))


@dataclass
class MinioServer:
    """One MinIO process; its drives, log and pid live under ``home``."""

    minio_binary: str
    home: Path
    port: int
    console_port: int
    credentials: RootCredentials
    drives: int = 4
    #: Extra environment, e.g. ``MINIO_SCANNER_SPEED=fastest`` for expiry tests.
    extra_env: dict[str, str] = field(default_factory=dict)
    #: ``--certs-dir`` (``public.crt``, ``private.key``, ``CAs/``): serve https instead of http.
    certs_dir: Path | None = None
    #: The CA that signed ``certs_dir/public.crt``: what the readiness check (and any client) trusts.
    ca_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    #: The address it listens on; a distributed node in a network namespace has one of its own.
    host: str = "127.0.0.1"
    #: Run the server and its health check with this prefix, e.g. ``("ip", "netns", "exec", NS)``.
    command_prefix: tuple[str, ...] = ()
    #: A distributed layout: every node's drive as ``http://host:port/path``, the same list on each node,
    #: instead of ``drives`` folders under ``home``.
    endpoints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.certs_dir is None) != (self.ca_file is None):
            raise ValueError("MinioServer: certs_dir and ca_file go together (https needs both)")

    @property
    def secure(self) -> bool:
        return self.certs_dir is not None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.address}"

    def root_clients(self) -> MinioClients:
        """The S3 and admin clients of the root user, trusting ``ca_file``: the providers' own clients."""
        settings = MinioSettings(
            server=self.address,
            user=self.credentials.user,
            password=self.credentials.password,
            use_ssl=self.secure,
            cacert_file=None if self.ca_file is None else str(self.ca_file),
        )
        return clients_for(settings)

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client context that trusts only ``ca_file``; None for an http server."""
        return None if self.ca_file is None else ssl.create_default_context(cafile=str(self.ca_file))

    @property
    def pid_file(self) -> Path:
        return self.home / "minio.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "minio.log"

    def drive_args(self) -> list[str]:
        if self.endpoints:
            return list(self.endpoints)
        return [f"{self.home}/drive{{1...{self.drives}}}"]

    def start(self, timeout: float = 60) -> None:
        """Start (or restart) the server and wait until it answers its health check."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the process without waiting (a distributed node is healthy only once a quorum runs)."""
        # Private to this user: MinIO's drives hold its IAM files, with most of each user's secret.
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if not self.endpoints:
            for n in range(1, self.drives + 1):
                (self.home / f"drive{n}").mkdir(mode=0o700, exist_ok=True)
        env = {
            **os.environ,
            **self.extra_env,
            "MINIO_ROOT_USER": self.credentials.user,
            "MINIO_ROOT_PASSWORD": self.credentials.password,
            # Erasure mode refuses drives on the root disk unless told this is a test deployment.
            "MINIO_CI_CD": "1",
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
        }
        command = [
            *self.command_prefix,
            self.minio_binary,
            "server",
            "--quiet",
            "--address",
            self.address,
            "--console-address",
            f"{self.host}:{self.console_port}",
            *([] if self.certs_dir is None else ["--certs-dir", str(self.certs_dir)]),
            *self.drive_args(),
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, umask=0o077
            )
        self.pid_file.write_text(str(self.process.pid))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"minio exited with {self.process.returncode}; see {self.log_file}")
            if self.healthy():
                return
            time.sleep(0.3)
        trust = f" trusting {self.ca_file}" if self.ca_file else ""
        raise TimeoutError(
            f"minio did not become ready at {self.endpoint_url}{trust} in {timeout}s; see {self.log_file}"
        )

    def healthy(self, check: str = "cluster") -> bool:
        """``/minio/health/<check>`` answers 200: ``cluster`` (write quorum), ``cluster/read``, ``live``.

        With a ``command_prefix`` the request is made by a process run with it, so that it comes from
        inside the namespace; this process never sends anything to ``host`` itself.
        """
        url = f"{self.endpoint_url}/minio/health/{check}"
        if not self.command_prefix:
            refuse_to_leave_the_machine(self.host)
            return _healthy(url, self.ssl_context())
        probe = [
            *self.command_prefix,
            sys.executable,
            "-m",
            "devtools.minio_server",
            url,
            str(self.ca_file or ""),
        ]
        return subprocess.run(probe, cwd=_ROOT, capture_output=True, check=False, timeout=30).returncode == 0

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server this object started, or the one recorded in the pid file.

        ``signal.SIGKILL`` kills it the way a power cut or an OOM kill would.
        """
        pid = self.process.pid if self.process else _read_pid(self.pid_file)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            _wait_gone(pid, self.process)
        self.process = None
        self.pid_file.unlink(missing_ok=True)

    def is_running(self) -> bool:
        pid = _read_pid(self.pid_file)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


#: Where ``python -m devtools.…`` runs from, inside a namespace as outside.
_ROOT = Path(__file__).resolve().parent.parent


def refuse_to_leave_the_machine(host: str) -> None:
    """A test MinIO is on loopback, or in a namespace of its own that only a command prefix reaches.

    Where this process has any interface but ``lo`` (the machine's own namespace), another address would go
    out through the default route: refuse. Inside the MinIO's namespace (only ``lo``) it is safe.
    """
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return
    if interfaces() != ["lo"]:
        raise RuntimeError(
            f"refusing to contact {host} from a network namespace with interfaces {interfaces()}: "
            "run this inside the MinIO's namespace (its command_prefix)"
        )


def interfaces() -> list[str]:
    """The network interfaces of this process's network namespace."""
    lines = Path("/proc/self/net/dev").read_text().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)


def _healthy(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _wait_gone(pid: int, process: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    if process is not None:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            process.wait(5)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def main() -> None:
    """The health check inside a namespace (``argv``: URL, CA file or ""): exit 0 when it answers 200."""
    url, ca_file = sys.argv[1], sys.argv[2]
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    sys.exit(0 if _healthy(url, context) else 1)


if __name__ == "__main__":
    main()
