"""The whole program for real: `pulumi up` through the real CLI and this project's providers, live MinIO.

The tests run in file order on one stack, the way a cache lives: created, used, drifted and repaired,
expired, rotated, broken mid-update and destroyed.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from components.expiry import expiry_rules
from components.nix_keys import generate_key_pair
from components.nix_text import nix_cache_info
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.conftest import new_stack
from tests.e2e.harness import ANONYMOUS_EXPECTED, WRITER_EXPECTED, CacheUnderTest
from tests.nix_client import NixClient

BUCKET = "nix-cache"


@pytest.fixture(scope="module")
def stack(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> PulumiStack:
    return new_stack(toolchain, minio, tmp_path_factory.mktemp("live-state"), "e2e")


@pytest.fixture
def cache(stack: PulumiStack, minio: MinioServer, tmp_path: Path) -> CacheUnderTest:
    """The cache as the stack's current outputs describe it."""
    out = stack.outputs(show_secrets=True)
    return CacheUnderTest(
        minio=minio,
        nix=NixClient(tmp_path / "nix"),
        workdir=tmp_path,
        bucket=out["bucketName"],
        substituter_url=out["substituterUrl"],
        public_key=out["publicKey"],
        secret_key=out["secretKey"],
        writer_access_key=out["writerAccessKey"],
        writer_secret_key=out["writerSecretKey"],
    )


def assert_converged(stack: PulumiStack) -> None:
    """No permanent diff: a preview right after, and again after a refresh, has nothing to do."""
    stack.preview("--expect-no-changes")
    stack.refresh()
    stack.preview("--expect-no-changes")


def served_cache_info(stack: PulumiStack) -> str:
    url = f"{stack.outputs()['substituterUrl']}/nix-cache-info"
    with urllib.request.urlopen(url) as answer:
        return str(answer.read().decode())


def test_up_creates_the_cache_and_converges(stack: PulumiStack) -> None:
    stack.up()
    assert served_cache_info(stack) == nix_cache_info("/nix/store", True, 40)
    assert_converged(stack)


def test_plain_outputs_hide_secrets(stack: PulumiStack) -> None:
    plain = stack.outputs()
    assert {plain[name] for name in ("secretKey", "writerSecretKey", "awsCredentials")} == {"[secret]"}
    assert plain["writerAccessKey"] == "nixbuilder"


def test_state_holds_no_secret_in_clear(
    stack: PulumiStack, cache: CacheUnderTest, minio: MinioServer
) -> None:
    secrets_in_clear = {
        "writer secret": cache.writer_secret_key,
        "signing key": cache.secret_key.partition(":")[2],
        "MinIO root password": minio.credentials.password,
    }
    backend = "".join(
        p.read_text(errors="replace") for p in (stack.state_dir / "backend").rglob("*") if p.is_file()
    )
    assert stack.config_file is not None
    for place, text in {
        "exported state": stack.export_state(),
        "backend files": backend,
        "stack config": stack.config_file.read_text(),
        "preview output": stack.preview().stdout,
    }.items():
        for what, value in secrets_in_clear.items():
            assert value not in text, f"{what} in clear in {place}"


def test_who_may_do_what(cache: CacheUnderTest) -> None:
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    assert cache.writer_results() == WRITER_EXPECTED


def test_nix_round_trip(cache: CacheUnderTest) -> None:
    path = cache.publish()
    trusted = cache.substitute(path)
    assert trusted.returncode == 0, trusted.stderr
    refused = cache.substitute(path, trusted_key=generate_key_pair("127.0.0.1-1").public_key)
    assert refused.returncode != 0
    assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr


def test_drift_is_reported_and_repaired(stack: PulumiStack, cache: CacheUnderTest) -> None:
    admin = cache.admin()
    admin.delete_bucket_policy(Bucket=BUCKET)
    admin.put_object(Bucket=BUCKET, Key="nix-cache-info", Body=b"StoreDir: /gnu/store\n")
    drift = stack.preview("--refresh", "--expect-no-changes", check=False)
    assert drift.returncode != 0
    assert "nix-cache-store-anonymous-download" in drift.stdout
    assert "nix-cache-store-cache-info" in drift.stdout
    stack.up()
    assert_converged(stack)
    assert cache.substitute(cache.publish()).returncode == 0
    admin.delete_object(Bucket=BUCKET, Key="nix-cache-info")
    assert stack.preview("--refresh", "--expect-no-changes", check=False).returncode != 0
    stack.up()
    assert served_cache_info(stack) == nix_cache_info("/nix/store", True, 40)


def test_expiry_keeps_the_cache(stack: PulumiStack, cache: CacheUnderTest) -> None:
    path = cache.publish()
    uploaded = {k for k in cache.object_keys() if k.endswith(".narinfo") or k.startswith("nar/")}
    stored = cache.expire_now()
    assert sorted((r["ID"], r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in stored) == sorted(
        (r.rule_id, r.prefix, r.days) for r in expiry_rules(30)
    )
    assert cache.wait_until_gone(uploaded) == set()
    assert "nix-cache-info" in cache.object_keys()
    gone = cache.substitute(path)
    assert gone.returncode != 0
    assert "does not appear to be a binary cache" not in gone.stderr
    assert stack.preview("--refresh", "--expect-no-changes", check=False).returncode != 0
    stack.up()
    stack.preview("--expect-no-changes")
    assert cache.substitute(cache.publish()).returncode == 0


def test_rotation_gives_a_new_key_that_works(
    stack: PulumiStack, minio: MinioServer, tmp_path: pytest.TempPathFactory
) -> None:
    before = stack.outputs(show_secrets=True)
    stack.set_config("nix-cache:keyName", "127.0.0.1-2")
    stack.up()
    after = stack.outputs(show_secrets=True)
    assert after["publicKey"].startswith("127.0.0.1-2:")
    assert after["publicKey"] in after["nixosModule"]
    assert after["publicKey"] != before["publicKey"]
    stack.preview("--expect-no-changes")


def test_minio_stopped_mid_update_fails_clearly_then_converges(
    stack: PulumiStack, minio: MinioServer
) -> None:
    stack.set_config("nix-cache:priority", "41")
    stack.set_config("nix-cache:expireDays", "20")
    assert minio.process is not None
    os.kill(minio.process.pid, signal.SIGSTOP)  # requests now hang mid-flight
    update = stack.spawn_up()
    assert update.stdout is not None
    lines = []
    for line in update.stdout:
        lines.append(line)
        if "updating" in line:
            break
    time.sleep(2)
    os.kill(minio.process.pid, signal.SIGKILL)
    os.kill(minio.process.pid, signal.SIGCONT)
    rest, _ = update.communicate(timeout=600)
    output = "".join(lines) + rest
    assert update.returncode != 0
    assert any(s in output for s in ("connection refused", "connection reset", "EOF")), output
    minio.process.wait()
    minio.start()
    stack.up()
    assert_converged(stack)
    assert served_cache_info(stack) == nix_cache_info("/nix/store", True, 41)


def test_destroy_loses_no_data(stack: PulumiStack, cache: CacheUnderTest) -> None:
    before = cache.object_keys()
    assert any(key.endswith(".narinfo") for key in before)
    protected = stack.destroy(check=False)
    assert protected.returncode != 0
    assert "protect" in protected.stdout + protected.stderr
    assert before <= cache.object_keys()
    stack.up()
    stack.set_config("nix-cache:protect", "false")
    stack.up()
    assert stack.destroy(check=False).returncode != 0
    assert before - {"nix-cache-info"} <= cache.object_keys()
