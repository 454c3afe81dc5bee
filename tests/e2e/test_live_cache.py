"""The whole program for real: `pulumi up` through the real CLI and this project's providers, live MinIO.

The tests run in file order on one stack, the way a cache lives: created, used, drifted and repaired,
expired, rotated, broken mid-update and destroyed. ``Pulumi.yaml`` sets ``refresh: always``, so a
plain ``pulumi preview`` shows hand-made changes and a plain ``pulumi up`` repairs them.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from components.expiry import expiry_rules
from components.nix_keys import generate_key_pair
from components.nix_text import nix_cache_info
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.conftest import new_stack
from tests.e2e.harness import (
    ANONYMOUS_EXPECTED,
    WRITER_EXPECTED,
    CacheUnderTest,
    add_service_account_for,
    sts_code,
    sts_credentials,
)

BUCKET = "nix-cache"
WRITER = "nixbuilder"
#: The one-line messages the providers give when MinIO goes away under them.
MINIO_GONE = ("broke off", "is unreachable", "did not answer", "is not served to anonymous clients")


@pytest.fixture(scope="module")
def stack(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> PulumiStack:
    return new_stack(toolchain, minio, tmp_path_factory.mktemp("live-state"), "e2e")


@pytest.fixture
def cache(stack: PulumiStack, minio: MinioServer, tmp_path: Path) -> CacheUnderTest:
    """The cache as the stack's current outputs describe it."""
    out = stack.outputs(show_secrets=True)
    return CacheUnderTest.from_outputs(minio, out, tmp_path)


def assert_converged(stack: PulumiStack) -> None:
    """No permanent diff: a preview right after, and again after a refresh, has nothing to do."""
    stack.preview("--expect-no-changes")
    refreshed = stack.refresh()
    assert "unchanged" in refreshed.stdout, refreshed.stdout
    assert " updated" not in refreshed.stdout, "read after write: a refresh right after up changes nothing"
    stack.preview("--expect-no-changes")


def drift(stack: PulumiStack) -> str:
    """What `pulumi preview` proposes; fails the test if it proposes nothing."""
    preview = stack.preview("--expect-no-changes", check=False)
    assert preview.returncode != 0, "the hand-made change did not show in preview"
    return preview.stdout


def served_cache_info(stack: PulumiStack) -> str:
    url = f"{stack.outputs()['substituterUrl']}/nix-cache-info"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return str(answer.read().decode())


def test_up_creates_the_cache_and_converges(stack: PulumiStack) -> None:
    stack.up()
    assert served_cache_info(stack) == nix_cache_info("/nix/store", True, 40)
    assert_converged(stack)


def test_a_second_up_changes_nothing(stack: PulumiStack) -> None:
    again = stack.up()
    assert "unchanged" in again.stdout, again.stdout
    assert "created" not in again.stdout
    assert "deleted" not in again.stdout
    assert "updated" not in again.stdout


def test_plain_outputs_hide_secrets(stack: PulumiStack) -> None:
    plain = stack.outputs()
    assert {plain[name] for name in ("secretKey", "writerSecretKey", "awsCredentials")} == {"[secret]"}
    assert plain["writerAccessKey"] == WRITER


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
        "up output": stack.up().stdout,
    }.items():
        for what, value in secrets_in_clear.items():
            assert value not in text, f"{what} in clear in {place}"


def test_only_the_engine_s_provider_config_holds_the_password_encrypted(stack: PulumiStack) -> None:
    """Pulumi keeps the stack config a dynamic provider was given (refresh and destroy need it): the root
    password is there only as ciphertext, and no resource of the cache holds any MinIO credential."""
    resources = json.loads(stack.export_state())["deployment"]["resources"]
    [provider] = [r for r in resources if r["type"] == "pulumi:providers:pulumi-python"]
    assert "ciphertext" in provider["inputs"]["minio:minioPassword"]
    for resource in resources:
        if resource["type"].startswith("pulumi-python:dynamic/"):
            assert not any(key.startswith("minio") for key in resource.get("outputs", {})), resource["urn"]


def test_who_may_do_what(cache: CacheUnderTest) -> None:
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    assert cache.writer_results() == WRITER_EXPECTED


def test_nix_round_trip(cache: CacheUnderTest) -> None:
    """Signed with secretKey, uploaded as the writer (NARs first), substituted trusting publicKey."""
    path = cache.publish()
    trusted = cache.substitute(path)
    assert trusted.returncode == 0, trusted.stderr
    refused = cache.substitute(path, trusted_key=generate_key_pair("127.0.0.1-1").public_key)
    assert refused.returncode != 0
    assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr


def test_removed_policy_and_edited_cache_info_show_and_are_repaired(
    stack: PulumiStack, cache: CacheUnderTest
) -> None:
    admin = cache.admin()
    admin.delete_bucket_policy(Bucket=BUCKET)
    admin.put_object(Bucket=BUCKET, Key="nix-cache-info", Body=b"StoreDir: /gnu/store\n")
    proposed = drift(stack)
    assert "~ pulumi-python:dynamic/minio:BucketPolicy: (update)" in proposed
    assert "~ pulumi-python:dynamic/minio:BucketObject: (update)" in proposed
    stack.up()
    assert_converged(stack)
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    assert cache.substitute(cache.publish()).returncode == 0


def test_deleted_cache_info_shows_and_is_repaired(stack: PulumiStack, cache: CacheUnderTest) -> None:
    cache.admin().delete_object(Bucket=BUCKET, Key="nix-cache-info")
    assert "+ pulumi-python:dynamic/minio:BucketObject: (create)" in drift(stack)
    stack.up()
    assert served_cache_info(stack) == nix_cache_info("/nix/store", True, 40)
    stack.preview("--expect-no-changes")


def test_detached_or_disabled_writer_shows_and_is_repaired(
    stack: PulumiStack, cache: CacheUnderTest, minio: MinioServer
) -> None:
    admin = minio.root_clients().admin
    admin.detach_policy([f"{BUCKET}-write"], user=WRITER)
    admin.user_disable(WRITER)
    proposed = drift(stack)
    assert "~ pulumi-python:dynamic/minio:PolicyAttachment: (update)" in proposed
    assert "~ pulumi-python:dynamic/minio:User: (update)" in proposed
    stack.up()
    assert_converged(stack)
    assert cache.writer_results() == WRITER_EXPECTED


def test_an_extra_policy_on_the_writer_is_drift(
    stack: PulumiStack, cache: CacheUnderTest, minio: MinioServer
) -> None:
    """Least privilege holds over time: a policy attached to the writer by hand is taken off again."""
    minio.root_clients().admin.attach_policy(["readwrite"], user=WRITER)
    assert "PolicyAttachment: (update)" in drift(stack)
    stack.up()
    assert json.loads(minio.root_clients().admin.user_info(WRITER))["policyName"] == f"{BUCKET}-write"
    assert cache.writer_results() == WRITER_EXPECTED


def test_a_writer_given_more_rights_on_the_side_is_drift(
    stack: PulumiStack, cache: CacheUnderTest, minio: MinioServer
) -> None:
    """A group with consoleAdmin, a service account and STS keys acting as the writer, a secret set by
    hand: all show in preview as a change of the writer, and one up takes them all away."""
    admin = minio.root_clients().admin
    admin.group_add("side-admins", [WRITER])  # type: ignore[arg-type]
    admin.attach_policy(["consoleAdmin"], group="side-admins")
    add_service_account_for(admin, minio.credentials.password, WRITER)
    sts = sts_credentials(minio, WRITER, cache.writer_secret_key)
    admin.user_add(WRITER, "set-by-hand-" + "x" * 20)
    proposed = drift(stack)
    assert "~ pulumi-python:dynamic/minio:User: (update)" in proposed
    for field in ("groups", "access_keys", "secret_matches"):
        assert field in proposed, proposed
    stack.up()
    assert_converged(stack)
    assert json.loads(admin.user_info(WRITER)).get("memberOf") in (None, [])
    assert json.loads(admin.list_service_account(WRITER)).get("accounts") in (None, [])
    assert sts_code(minio, sts, BUCKET) != "ok"
    assert cache.writer_results() == WRITER_EXPECTED, "the stack's secret works again, nothing more"


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
    assert "~ pulumi-python:dynamic/minio:Lifecycle: (update)" in drift(stack)
    stack.up()
    stack.preview("--expect-no-changes")
    assert cache.substitute(cache.publish()).returncode == 0


def test_rotation_gives_a_new_key_that_signs_and_substitutes(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path
) -> None:
    before = stack.outputs(show_secrets=True)
    stack.set_config("nix-cache:keyName", "127.0.0.1-2")
    stack.up()
    after = stack.outputs(show_secrets=True)
    assert after["publicKey"].startswith("127.0.0.1-2:")
    assert after["secretKey"].startswith("127.0.0.1-2:")
    assert after["publicKey"] in after["nixosModule"]
    assert after["publicKey"] != before["publicKey"]
    rotated = CacheUnderTest.from_outputs(minio, after, tmp_path)
    path = rotated.publish()
    assert rotated.substitute(path).returncode == 0
    refused = rotated.substitute(path, trusted_key=before["publicKey"])
    assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr
    stack.preview("--expect-no-changes")


def _lines(stream: Any, into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def test_minio_killed_mid_update_fails_clearly_then_converges(stack: PulumiStack, minio: MinioServer) -> None:
    """MinIO dies while `up` writes to it: the update fails with one plain line; the next `up` converges."""
    stack.set_config("nix-cache:priority", "41")
    stack.set_config("nix-cache:expireDays", "20")
    assert minio.process is not None
    update = stack.spawn_up()
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_lines, args=(update.stdout, lines), daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        if line is None:
            break
        output.append(line)
        if "updating" in line and "minio:" in line:
            os.kill(minio.process.pid, signal.SIGSTOP)  # requests in flight now hang
            time.sleep(1)
            os.kill(minio.process.pid, signal.SIGKILL)
            os.kill(minio.process.pid, signal.SIGCONT)
            break
    else:
        pytest.fail("no MinIO update started within 120 s:\n" + "".join(output))
    update.wait(timeout=180)
    while (line := lines.get(timeout=10)) is not None:
        output.append(line)
    text = "".join(output)
    assert update.returncode != 0, text
    assert any(message in text for message in MINIO_GONE), text
    assert "Traceback" not in text
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
    assert "nix-cache-store-bucket" in protected.stdout + protected.stderr
    assert "protected" in protected.stdout + protected.stderr
    assert before <= cache.object_keys()
    stack.set_config("nix-cache:protect", "false")
    stack.up()
    refused = stack.destroy(check=False)
    text = refused.stdout + refused.stderr
    assert refused.returncode != 0
    assert "never deletes cached data" in text
    assert "Traceback" not in text
    assert before - {"nix-cache-info"} <= cache.object_keys()
