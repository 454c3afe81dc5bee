"""The real Pulumi CLI, offline, on a local file backend with a passphrase secrets provider.

Optionally on another backend (``backend``, e.g. the S3 backend of ``devtools.state_on_minio`` with its
credentials in ``extra_env``), and run with a ``command_prefix`` (e.g. inside the network namespace of
``devtools.distributed_minio``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.minio_server import MinioServer
from devtools.toolchain import ROOT, Toolchain


def _default_sigint() -> None:
    """Give the CLI SIGINT back when its parent runs in the background, where SIGINT is ignored.

    Every child inherits an ignored SIGINT, and Pulumi stops its plugins with SIGINT and kills them
    only 5 s later: without this, each command run from a background job takes 5 s longer.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class PulumiError(RuntimeError):
    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        super().__init__(
            f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )


@dataclass(frozen=True)
class PulumiStack:
    """One stack of this project; state, passphrase and (optionally) stack config kept under ``state_dir``."""

    toolchain: Toolchain
    state_dir: Path
    stack: str
    #: Where the stack's config lives; ``None`` means the usual ``Pulumi.<stack>.yaml`` beside Pulumi.yaml.
    config_file: Path | None = None
    project_dir: Path = ROOT
    #: Put in front of every ``pulumi`` command line, e.g. ``("ip", "netns", "exec", NS)``; empty: none.
    command_prefix: tuple[str, ...] = ()
    #: Another backend URL (``s3://…``); ``None`` keeps the file backend under ``state_dir``.
    backend: str | None = None
    #: More environment for the CLI, e.g. the S3 backend's ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``.
    extra_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def backend_url(self) -> str:
        return self.backend or f"file://{self.state_dir / 'backend'}"

    @property
    def passphrase_file(self) -> Path:
        return self.state_dir / "passphrase"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            **self.toolchain.offline_env(),
            **self.extra_env,
            "PULUMI_BACKEND_URL": self.backend_url,
            "PULUMI_CONFIG_PASSPHRASE_FILE": str(self.passphrase_file),
        }

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self._command(*args),
            cwd=self.project_dir,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            preexec_fn=_default_sigint,
        )
        if check and result.returncode != 0:
            raise PulumiError(list(args), result)
        return result

    def spawn_up(self) -> subprocess.Popen[str]:
        """``pulumi up`` in the background, its output line by line on ``stdout`` (for fault tests)."""
        return subprocess.Popen(
            self._command("up", "--yes", "--skip-preview", *self._stack_args()),
            cwd=self.project_dir,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_default_sigint,
        )

    def _command(self, *args: str) -> list[str]:
        return [*self.command_prefix, self.toolchain.tool("pulumi"), *args, "--non-interactive"]

    def _stack_args(self) -> list[str]:
        args = ["--stack", self.stack]
        if self.config_file is not None:
            args += ["--config-file", str(self.config_file)]
        return args

    def init(self) -> None:
        """Create the backend, passphrase and stack if they do not exist yet; idempotent."""
        project_config = self.project_dir / f"Pulumi.{self.stack}.yaml"
        if self.config_file is not None and project_config.exists():
            # `stack init` would write into that file, and moving it away would take the project's copy.
            raise ValueError(
                f"{project_config} exists; a stack whose config is kept elsewhere needs another name"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.backend is None:
            (self.state_dir / "backend").mkdir(exist_ok=True)
        if not self.passphrase_file.exists():
            self.passphrase_file.touch(mode=0o600)
            self.passphrase_file.write_text(secrets.token_urlsafe(32))
        listed = self.run("stack", "ls", "--json").stdout
        if self.stack not in {entry["name"] for entry in json.loads(listed or "[]")}:
            self.run("stack", "init", self.stack, "--secrets-provider", "passphrase")
            if self.config_file is not None:
                # `stack init` takes no --config-file; move the file it wrote (with the passphrase salt).
                self.config_file.parent.mkdir(parents=True, exist_ok=True)
                project_config.replace(self.config_file)

    def set_config(self, key: str, value: str, *, secret: bool = False) -> None:
        """Set one config value; secrets go through stdin, never argv."""
        flags = ["--secret"] if secret else ["--plaintext"]
        self.run("config", "set", key, *flags, *self._stack_args(), stdin=value)

    def remove_config(self, key: str) -> None:
        self.run("config", "rm", key, *self._stack_args())

    def use_minio(self, server: MinioServer) -> None:
        """Point the stack's MinIO provider at ``server``; the root password goes in as a secret."""
        self.set_config("minio:minioServer", server.address)
        self.set_config("minio:minioUser", server.credentials.user)
        self.set_config("minio:minioPassword", server.credentials.password, secret=True)
        self.set_config("minio:minioSsl", "true" if server.secure else "false")
        if server.ca_file is not None:
            self.set_config("minio:minioCacertFile", str(server.ca_file))

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", *extra, *self._stack_args(), check=check)

    def preview(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("preview", "--diff", *extra, *self._stack_args(), check=check)

    def refresh(self) -> subprocess.CompletedProcess[str]:
        return self.run("refresh", "--yes", "--skip-preview", *self._stack_args())

    def destroy(self, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("destroy", "--yes", *self._stack_args(), check=check)

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json", "--stack", self.stack]
        if show_secrets:
            args.append("--show-secrets")
        loaded: dict[str, Any] = json.loads(self.run(*args).stdout)
        return loaded

    def export_state(self) -> str:
        """The stack's state as stored (secrets encrypted), exactly what sits in the backend."""
        return self.run("stack", "export", "--stack", self.stack).stdout
