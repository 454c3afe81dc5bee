"""The homelab layout: MinIO behind https with a private CA, as Pulumi.homelab.yaml and the recipe use it.

A CA and a loopback server certificate are generated per run (devtools/tls.py); MinIO serves them with
--certs-dir. The whole program runs through the real CLI with minio:minioSsl and minio:minioCacertFile.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.nix_text import nix_cache_info
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.tls import generate_test_certificates
from devtools.toolchain import Toolchain
from providers.served_check import served_problem
from tests.e2e.conftest import new_stack

EXPECTED = nix_cache_info("/nix/store", True, 40)


@pytest.fixture(scope="module")
def stack(
    toolchain: Toolchain, https_minio: MinioServer, tmp_path_factory: pytest.TempPathFactory
) -> PulumiStack:
    return new_stack(toolchain, https_minio, tmp_path_factory.mktemp("tls-state"), "tls")


def test_up_over_https_with_the_private_ca(stack: PulumiStack, https_minio: MinioServer) -> None:
    """Providers and the served check trust minio:minioCacertFile; the cache converges."""
    stack.up()
    outputs = stack.outputs()
    assert outputs["substituterUrl"] == f"https://{https_minio.address}/nix-cache"
    assert f"--endpoint https://{https_minio.address} " in outputs["pushCommand"]
    stack.preview("--expect-no-changes")


def test_served_check_trusts_exactly_the_configured_ca(
    stack: PulumiStack, https_minio: MinioServer, tmp_path: Path
) -> None:
    url = stack.outputs()["substituterUrl"]
    check = {"url": url, "expected": EXPECTED, "insecure": False}
    assert served_problem({**check, "cacert_file": str(https_minio.ca_file)}, 1) is None
    without = served_problem({**check, "cacert_file": None}, 1)
    assert without is not None
    assert "TLS certificate not trusted by this machine's trusted CAs" in without
    assert "minio:minioCacertFile" in without
    other = generate_test_certificates(tmp_path / "other").ca_file
    wrong = served_problem({**check, "cacert_file": str(other)}, 1)
    assert wrong is not None
    assert f"TLS certificate not trusted by the CA in {other}" in wrong
    assert served_problem({**check, "cacert_file": None, "insecure": True}, 1) is None


def test_without_the_ca_preview_fails_with_one_line_naming_the_setting(stack: PulumiStack) -> None:
    stack.remove_config("minio:minioCacertFile")
    try:
        attempt = stack.preview(check=False)
        text = attempt.stdout + attempt.stderr
        assert attempt.returncode != 0
        assert "TLS with MinIO at https://" in text
        assert "set minio:minioCacertFile to the CA that signed it" in text
        assert "Traceback" not in text
        stack.set_config("minio:minioInsecure", "true")
        stack.up()
        stack.preview("--expect-no-changes")
    finally:
        stack.remove_config("minio:minioInsecure")
