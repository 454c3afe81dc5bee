"""The builder module's post-build hook, run by the real Nix after a real build, uploading to MinIO.

What runs for real: the module evaluated by ``nix-instantiate`` (``tests/nix_module.py``); the hook
script exactly as evaluated; Nix 2.8 building a new input-addressed path, signing it with the key in
``secret-key-files`` and running the hook with ``$OUT_PATHS``; the hook's ``nix copy`` with the
program's push URL (zstd) and ``--extra-experimental-features``; the writer's credentials read from
the hook's credentials file by profile; MinIO with the program's policies; a fresh store substituting
the path anonymously over HTTP. What stands in: Debian's Nix has no S3 store, so the hook's ``nix`` is
``tests/e2e/nix_s3_shim.py``, which does the S3 part as ``nix copy --to s3://`` would (a ``file://``
store with the URL's settings, then the e2e upload step); and the credentials file is a temp file
instead of ``/etc/nix/nix-cache-writer.credentials`` (the module's only argument that differs).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from components.builder_module import HOOK_NAME, builder_module
from components.nix_keys import NixKeyPair, generate_key_pair
from components.nix_text import aws_credentials, s3_store_url
from devtools.cache_on_minio import DocumentCache, create_document_cache
from devtools.minio_server import MinioServer
from tests.e2e import s3
from tests.e2e.nix_s3_shim import install_shim
from tests.nix_client import NixClient
from tests.nix_module import evaluate_module, write_shell_script

KEY_NAME = "hook-1"


@pytest.fixture(scope="module")
def cache(minio: MinioServer) -> DocumentCache:
    return create_document_cache(minio, "hook-cache", "hookbuilder")


@pytest.fixture(scope="module")
def key() -> NixKeyPair:
    return generate_key_pair(KEY_NAME)


class Builder:
    """A builder configured by the module: Nix signs with the key file and runs the evaluated hook."""

    def __init__(self, cache: DocumentCache, key: NixKeyPair, workdir: Path, writer_secret: str) -> None:
        self.cache, self.workdir = cache, workdir
        self.nix = NixClient(workdir / "nix")
        credentials = workdir / "writer.credentials"
        credentials.touch(mode=0o600)
        credentials.write_text(aws_credentials(cache.writer, cache.writer, writer_secret))
        push_url = s3_store_url(cache.bucket, cache.writer, cache.server.address, cache.server.secure)
        self.logged = workdir / "logger.log"
        util_linux = workdir / "util-linux"
        (util_linux / "bin").mkdir(parents=True)
        (util_linux / "bin" / "logger").write_text(f'#!/bin/sh\necho "$*" >> {self.logged}\n')
        (util_linux / "bin" / "logger").chmod(0o755)
        shim = install_shim(workdir / "nix-with-s3", "/usr/bin/nix")
        module = builder_module(KEY_NAME, push_url, credentials_file=str(credentials))
        settings = evaluate_module(self.nix, module, workdir, str(shim), str(util_linux))
        assert settings["secret-key-files"] == [f"/etc/nix/{KEY_NAME}.sec"]
        self.hook = write_shell_script(settings["post-build-hook"], workdir)
        # The key file at the module's path would be /etc/nix/hook-1.sec; here the same key elsewhere.
        self.key_file = self.nix.key_file(key.secret_key)

    def build(self) -> tuple[str, subprocess.CompletedProcess[str]]:
        """Build a new input-addressed path as the daemon would: signing it, then running the hook."""
        config = "\n".join(
            [
                # No nix-command here: the hook must enable it for its own `nix copy`.
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

    def narinfo(self, store_path: str) -> str | None:
        """The path's narinfo as anyone can fetch it from the cache, or None when it is not there."""
        key = f"{Path(store_path).name.split('-')[0]}.narinfo"
        anonymous = s3.client(self.cache.server.endpoint_url)
        if s3.error_code(anonymous.head_object, Bucket=self.cache.bucket, Key=key) != "ok":
            return None
        body: bytes = anonymous.get_object(Bucket=self.cache.bucket, Key=key)["Body"].read()
        return body.decode()


def test_every_build_is_signed_uploaded_with_zstd_and_substitutes(
    cache: DocumentCache, key: NixKeyPair, tmp_path: Path
) -> None:
    builder = Builder(cache, key, tmp_path, cache.writer_secret)
    path, result = builder.build()
    assert result.returncode == 0, result.stderr
    assert f"running post-build-hook '{builder.hook}'" in result.stderr
    assert f"{HOOK_NAME}: uploaded {path}" in result.stderr
    narinfo = builder.narinfo(path)
    assert narinfo is not None, result.stderr
    assert "Compression: zstd\n" in narinfo
    assert f"Sig: {KEY_NAME}:" in narinfo, "signed as built, by secret-key-files"
    client = NixClient(tmp_path / "client")
    fetched = client.substitute(path, cache.substituter_url, key.public_key)
    assert fetched.returncode == 0, fetched.stderr
    assert f"copying path '{path}' from '{cache.substituter_url}'" in fetched.stderr
    assert builder.logged.exists() is False, "a good upload is not a warning"


def test_a_refused_upload_is_logged_and_the_build_still_succeeds(
    cache: DocumentCache, key: NixKeyPair, tmp_path: Path
) -> None:
    """MinIO refuses the writer (a wrong secret): Nix still reports the build done, and says why."""
    builder = Builder(cache, key, tmp_path, "0" * 40)
    path, result = builder.build()
    assert result.returncode == 0, result.stderr
    assert path.startswith("/nix/store/")
    assert f"{HOOK_NAME}: upload failed (exit 1), the build is kept: {path}: " in result.stderr
    assert "SignatureDoesNotMatch" in result.stderr
    [logged] = builder.logged.read_text().splitlines()
    assert logged.startswith(f"-t {HOOK_NAME} -p user.warning -- upload failed (exit 1)")
    assert "SignatureDoesNotMatch" in logged
    assert builder.narinfo(path) is None
