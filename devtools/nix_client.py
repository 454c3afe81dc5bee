"""The real Nix client (Debian ``nix-bin``), driven the way a builder and a NixOS machine would drive it.

Runs as root without a daemon. Each client gets its own narinfo cache (``XDG_CACHE_HOME``) so that one
test's look-ups never answer another's, and no default substituter, so nothing reaches the network.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

NIX_CONFIG = "\n".join(
    [
        "experimental-features = nix-command",
        "build-users-group =",
        "substituters =",
        "sandbox = false",
        # Every look-up asks the cache again: tests change the cache under the client's feet.
        "narinfo-cache-negative-ttl = 0",
        "narinfo-cache-positive-ttl = 0",
    ]
)


#: A Nix ``let`` binding: ``mk name deps`` is a new input-addressed path whose content names ``deps``
#: (so they are its references), built by ``/bin/sh`` without a sandbox.
NIX_MK = """  mk = name: deps: builtins.derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo ${name} ${toString deps} > $out" ];
  };"""


class NixClient:
    def __init__(self, workdir: Path) -> None:
        if shutil.which("nix") is None:
            raise RuntimeError("the Nix client is missing: install Debian's nix-bin (`make setup` does)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "NIX_CONFIG": NIX_CONFIG,
            "XDG_CACHE_HOME": str(workdir / "xdg-cache"),
        }

    def run(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            args, env=self.env, input=stdin, capture_output=True, text=True, check=False, timeout=300
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def build_input_addressed(self, tag: str = "") -> str:
        """A new input-addressed store path: unlike ``nix-store --add``, it needs a signature."""
        name = f"nix-cache-test-{tag or secrets.token_hex(6)}"
        expression = (
            f'builtins.derivation {{ name = "{name}"; system = builtins.currentSystem; '
            f'builder = "/bin/sh"; args = [ "-c" "echo {name} > $out" ]; }}'
        )
        return self.run("nix-build", "--no-out-link", "-E", expression).stdout.strip()

    def key_file(self, secret_key: str) -> Path:
        path = self.workdir / f"key-{secrets.token_hex(4)}.sec"
        path.touch(mode=0o600)
        path.write_text(secret_key)
        return path

    def sign(self, store_path: str, secret_key: str) -> None:
        self.run("nix", "store", "sign", "--key-file", str(self.key_file(secret_key)), store_path)

    def copy_to_file_cache(self, store_path: str, cache_dir: Path) -> None:
        """What ``nix copy --to s3://`` would upload, written to a folder instead (Debian's Nix has no S3)."""
        url = f"file://{cache_dir}?compression=zstd&parallel-compression=true"
        self.run("nix", "copy", "--to", url, store_path)

    def substitute(
        self, store_path: str, substituter: str, trusted_key: str
    ) -> subprocess.CompletedProcess[str]:
        """Realise ``store_path`` in a fresh store from ``substituter``, as a client machine would."""
        fresh = self.workdir / f"fresh-{secrets.token_hex(4)}"
        return self.run(
            "nix-store",
            "--store",
            f"local?root={fresh}",
            "--realise",
            store_path,
            "--option",
            "substituters",
            substituter,
            "--option",
            "trusted-public-keys",
            trusted_key,
            check=False,
        )
