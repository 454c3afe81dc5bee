"""The upload agent as the builder runs it: the very file, the real Nix 2.8, a real MinIO, as the writer.

Shared by the agent's end-to-end tests and the builder hook's test. Nothing stands in: the agent is
``agent/nix_cache_agent.py`` run by this venv's Python (the same interpreter and libraries as
``writePython3Bin`` gives it: the MinIO SDK, PyNaCl); it calls the machine's ``nix`` and ``nix-store``.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from components.nix_text import aws_credentials, nix_string
from devtools.cache_on_minio import DocumentCache
from devtools.nix_client import NIX_MK, NixClient

AGENT = Path(__file__).resolve().parents[2] / "agent" / "nix_cache_agent.py"

#: ``count`` leaves, ``mids`` paths that each refer to a share of them, and a root referring to every mid.
CLOSURE = f"""
let
{NIX_MK}
  leaves = builtins.genList (i: mk "@TAG@-leaf-${{toString i}}" [ ]) @LEAVES@;
  mids = builtins.genList
    (i: mk "@TAG@-mid-${{toString i}}" (builtins.filter (l: l != null)
      (builtins.genList (j: builtins.elemAt leaves (i * @PER@ + j)) @PER@)))
    @MIDS@;
in mk "@TAG@-root" (mids ++ @EXTRA@)
"""


def build_closure(nix: NixClient, leaves: int = 2, mids: int = 1, extra: Sequence[str] = ()) -> str:
    """A new input-addressed closure (root, mids, leaves; ``extra`` store paths referred to by the root)."""
    per = max(1, leaves // max(1, mids))
    expression = (
        CLOSURE.replace("@TAG@", f"agent-{secrets.token_hex(5)}")
        .replace("@LEAVES@", str(max(leaves, per * mids)))
        .replace("@PER@", str(per))
        .replace("@MIDS@", str(mids))
        .replace(
            "@EXTRA@",
            "[ " + " ".join(f"(builtins.storePath {nix_string(p)})" for p in extra) + " ]",
        )
    )
    return nix.run("nix-build", "--no-out-link", "-E", expression).stdout.strip()


def closure_of(nix: NixClient, path: str) -> list[str]:
    return sorted(nix.run("nix-store", "--query", "--requisites", path).stdout.split())


def narinfo_key(path: str) -> str:
    return f"{Path(path).name.split('-')[0]}.narinfo"


class Agent:
    """``nix-cache-agent COMMAND --endpoint … --bucket … --profile … --credentials-file … -- PATHS``."""

    def __init__(
        self, cache: DocumentCache, nix: NixClient, workdir: Path, secret: str | None = None
    ) -> None:
        self.cache, self.nix = cache, nix
        self.credentials = workdir / "writer.credentials"
        self.credentials.touch(mode=0o600)
        self.credentials.write_text(
            aws_credentials(cache.writer, cache.writer, cache.writer_secret if secret is None else secret)
        )
        self.queue = workdir / "queue"

    def argv(self, command: str, *options: str, paths: Sequence[str] = ()) -> list[str]:
        return [
            sys.executable,
            str(AGENT),
            command,
            "--endpoint",
            self.cache.server.endpoint_url,
            "--bucket",
            self.cache.bucket,
            "--profile",
            self.cache.writer,
            "--credentials-file",
            str(self.credentials),
            "--queue-dir",
            str(self.queue),
            *options,
            "--",
            *paths,
        ]

    def run(
        self, command: str, *options: str, paths: Sequence[str] = (), check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self.argv(command, *options, paths=paths),
            env=self.nix.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"agent {command} failed ({result.returncode}):\n{result.stderr}")
        return result

    def popen(self, command: str, *options: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(command, *options),
            env=self.nix.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
