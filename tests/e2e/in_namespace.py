"""The harness's checks (boto3 as each actor, the Nix client) run inside a MinIO's network namespace.

A distributed MinIO here lives in a network namespace of its own (``devtools.distributed_minio``). The pytest
process never opens a socket to it: from the machine's own namespace its address would leave through the
default route. So each check is one short Python process started with the namespace's command prefix
(``ip netns exec NS``): it rebuilds :class:`CacheUnderTest` from the stack's outputs, runs one method and
prints the result as JSON. Nix, run by that process, is inside the namespace too. Secrets travel on stdin.
The process refuses to run where it sees any interface but ``lo``.

    ip netns exec NS .venv/bin/python -m tests.e2e.in_namespace   # request on stdin, answer on stdout
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.minio_server import MinioServer, RootCredentials, interfaces
from devtools.toolchain import ROOT
from tests.e2e.harness import CacheUnderTest


@dataclass
class NamespacedCache:
    """:class:`CacheUnderTest`'s checks for a cache whose MinIO only ``server.command_prefix`` reaches."""

    server: MinioServer
    outputs: dict[str, Any] = field(repr=False)
    workdir: Path

    def _call(self, action: str, *args: str) -> Any:
        request = {
            "host": self.server.host,
            "port": self.server.port,
            "user": self.server.credentials.user,
            "password": self.server.credentials.password,
            "outputs": self.outputs,
            "workdir": str(self.workdir),
            "action": action,
            "args": list(args),
        }
        command = [*self.server.command_prefix, sys.executable, "-m", "tests.e2e.in_namespace"]
        result = subprocess.run(
            command, cwd=ROOT, input=json.dumps(request), capture_output=True, text=True, timeout=600
        )
        if result.returncode != 0:
            failed = f"{action} inside the namespace failed ({result.returncode})"
            raise AssertionError(f"{failed}:\n{result.stderr}")
        return json.loads(result.stdout)

    def anonymous_results(self) -> dict[str, str]:
        answer: dict[str, str] = self._call("anonymous_results")
        return answer

    def writer_results(self) -> dict[str, str]:
        answer: dict[str, str] = self._call("writer_results")
        return answer

    def publish(self) -> str:
        """A new signed path uploaded as the writer; its store path."""
        return str(self._call("publish"))

    def substitute(self, path: str, trusted_key: str | None = None) -> subprocess.CompletedProcess[str]:
        answer = self._call("substitute", path, *([trusted_key] if trusted_key else []))
        command = ["nix-store", "--realise", path]
        return subprocess.CompletedProcess(command, answer["returncode"], "", answer["stderr"])

    def object_digests(self) -> dict[str, str]:
        """Every object of the cache bucket, read back whole by the admin: key -> sha256 of its content."""
        answer: dict[str, str] = self._call("object_digests")
        return answer

    def cache_info(self) -> str:
        """``nix-cache-info`` as an anonymous client gets it."""
        return str(self._call("cache_info"))


def _run(request: dict[str, Any]) -> Any:
    server = MinioServer(
        minio_binary="minio",
        home=Path(request["workdir"]),
        port=request["port"],
        console_port=0,
        credentials=RootCredentials(request["user"], request["password"]),
        host=request["host"],
    )
    cache = CacheUnderTest.from_outputs(server, request["outputs"], Path(request["workdir"]))
    action, args = request["action"], request["args"]
    if action == "anonymous_results":
        return cache.anonymous_results()
    if action == "writer_results":
        return cache.writer_results()
    if action == "publish":
        return cache.publish()
    if action == "substitute":
        done = cache.substitute(*args)
        return {"returncode": done.returncode, "stderr": done.stderr}
    if action == "object_digests":
        admin = cache.admin()
        return {
            key: hashlib.sha256(admin.get_object(Bucket=cache.bucket, Key=key)["Body"].read()).hexdigest()
            for key in sorted(cache.object_keys())
        }
    if action == "cache_info":
        return cache.anonymous().get_object(Bucket=cache.bucket, Key="nix-cache-info")["Body"].read().decode()
    raise ValueError(f"unknown action {action!r}")


def main() -> None:
    if interfaces() != ["lo"]:
        sys.exit(f"refusing to run outside a namespace of only lo (interfaces here: {interfaces()})")
    print(json.dumps(_run(json.load(sys.stdin))))


if __name__ == "__main__":
    main()
