"""``builderModule`` on a builder: the real Nix builds, its hook queues, the agent's service drains to MinIO.

What runs for real: the module evaluated by ``nix-instantiate`` (``tests/nix_module.py``); the hook
script exactly as evaluated; the agent written from the evaluated text, as ``writePython3Bin`` would
(the very bytes of ``agent/nix_cache_agent.py``, with this venv's Python, minio and pynacl); Nix 2.8
building new input-addressed paths, signing them with the key in ``secret-key-files`` and running the
hook; the agent's ``drain`` with the module's settings file; MinIO with the program's policies, stopped
and started again; a fresh store substituting every path anonymously over HTTP. What differs from a
NixOS builder: the queue, the credentials and the key file are temp files (the module's arguments),
and ``drain --once`` stands for one pass of the service.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from components.builder_module import builder_module
from components.nix_keys import NixKeyPair, generate_key_pair
from components.nix_text import AgentTarget, aws_credentials
from devtools.cache_on_minio import DocumentCache, create_document_cache
from devtools.minio_server import MinioServer
from devtools.nix_client import NixClient
from tests.nix_module import evaluate_module, write_python_bin, write_shell_script

KEY_NAME = "hook-1"


@pytest.fixture(scope="module")
def cache(minio: MinioServer) -> DocumentCache:
    return create_document_cache(minio, "hook-cache", "hookbuilder")


@pytest.fixture(scope="module")
def key() -> NixKeyPair:
    return generate_key_pair(KEY_NAME)


class Builder:
    """A builder configured by the module: Nix signs with the key file and runs the evaluated hook."""

    def __init__(self, cache: DocumentCache, key: NixKeyPair, workdir: Path) -> None:
        self.cache, self.workdir = cache, workdir
        self.nix = NixClient(workdir / "nix")
        credentials = workdir / "writer.credentials"
        credentials.touch(mode=0o600)
        credentials.write_text(aws_credentials(cache.writer, cache.writer, cache.writer_secret))
        target = AgentTarget(
            endpoint=cache.server.endpoint_url,
            bucket=cache.bucket,
            profile=cache.writer,
            expire_days=30,
            upstream_keys=("cache.nixos.org-1",),
            key_name=KEY_NAME,
            credentials_file=str(credentials),
        )
        self.queue = workdir / "queue"
        evaluated = evaluate_module(
            self.nix, builder_module(target, str(self.queue)), workdir, str(workdir / "agent")
        )
        assert evaluated["settings"]["secret-key-files"] == [f"/etc/nix/{KEY_NAME}.sec"]
        self.agent = write_python_bin(evaluated["agent"], workdir / "agent")
        self.hook = write_shell_script(evaluated["settings"]["post-build-hook"], workdir)
        self.config = workdir / "nix-cache-agent.json"
        self.config.write_text(evaluated["etc"]["nix-cache-agent.json"]["text"])
        assert json.loads(self.config.read_text())["queue_dir"] == str(self.queue)
        # The key file at the module's path would be /etc/nix/hook-1.sec; here the same key elsewhere.
        self.key_file = self.nix.key_file(key.secret_key)

    def build(self) -> tuple[str, subprocess.CompletedProcess[str]]:
        """Build a new input-addressed path as the daemon would: signing it, then running the hook."""
        config = "\n".join(
            [
                "build-users-group =",
                "substituters =",
                "sandbox = false",
                f"secret-key-files = {self.key_file}",
                f"post-build-hook = {self.hook}",
            ]
        )
        name = f"hook-test-{secrets.token_hex(6)}"
        expression = (
            f'builtins.derivation {{ name = "{name}"; system = builtins.currentSystem; '
            f'builder = "/bin/sh"; args = [ "-c" "echo {name} > $out" ]; }}'
        )
        env = {**os.environ, "NIX_CONFIG": config, "XDG_CACHE_HOME": str(self.workdir / "xdg")}
        result = subprocess.run(
            ["nix-build", "--no-out-link", "-E", expression],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        return result.stdout.strip(), result

    def drain(self) -> subprocess.CompletedProcess[str]:
        """One pass of the service (``ExecStart``'s command), with the key file moved as above."""
        command = [str(self.agent), "drain", "--once", "--config", str(self.config)]
        command += ["--key-file", str(self.key_file)]
        return subprocess.run(
            command, env=self.nix.env, capture_output=True, text=True, check=False, timeout=300
        )

    def queued(self) -> int:
        return len(list(self.queue.glob("*.json")))


def test_builds_queue_while_minio_is_down_and_the_agent_uploads_them_when_it_is_back(
    cache: DocumentCache, key: NixKeyPair, minio: MinioServer, tmp_path: Path
) -> None:
    builder = Builder(cache, key, tmp_path)
    minio.stop()
    try:
        started = time.perf_counter()
        built = [builder.build() for _ in range(3)]
        seconds = time.perf_counter() - started
        for path, result in built:
            assert result.returncode == 0, result.stderr
            assert path.startswith("/nix/store/")
            assert f"running post-build-hook '{builder.hook}'" in result.stderr
        assert seconds < 30, "no build waits on the unreachable MinIO"
        assert builder.queued() == 3
        down = builder.drain()
        assert down.returncode == 1
        [line] = down.stderr.splitlines()
        assert line.startswith("nix-cache-agent: 3 queue entries kept for a retry: MinIO at ")
        assert "unreachable" in line
        assert builder.queued() == 3, "nothing queued is lost"
    finally:
        minio.start()
    up = builder.drain()
    assert up.returncode == 0, up.stderr
    assert "nix-cache-agent: pushed 3 queue entries (3 paths): uploaded 3, refreshed 0" in up.stderr
    assert builder.queued() == 0
    client = NixClient(tmp_path / "client")
    for path, _ in built:
        fetched = client.substitute(path, cache.substituter_url, key.public_key)
        assert fetched.returncode == 0, fetched.stderr
        assert f"copying path '{path}' from '{cache.substituter_url}'" in fetched.stderr
