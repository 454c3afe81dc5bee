"""Taking over a cache made by hand with the manual recipe: refused without nix-cache:adopt, kept with it.

The recipe's cache is built with the real `mc`, command by command (tests/e2e/manual_recipe.py), with
objects in it; then the real CLI runs the program against it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.nix_text import nix_cache_info
from devtools import s3
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from providers.policy_document import canonical_policy_text
from tests.e2e.conftest import new_stack, stopped_with
from tests.e2e.harness import ANONYMOUS_EXPECTED, WRITER_EXPECTED, CacheUnderTest
from tests.e2e.manual_recipe import BUCKET, WRITER, WRITER_SECRET, build_manual_recipe_cache

OBJECTS = {
    "0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r.narinfo": b"StorePath: /nix/store/x\n",
    "nar/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r.nar.xz": b"\xfd7zXZ\x00" + bytes(range(200)),
    "log/0a1b2c3d4f5g6h7i8j9k0l1m2n3p4q5r-x.drv": b"build log",
}


@pytest.fixture(scope="module")
def hand_made(
    toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory
) -> MinioServer:
    build_manual_recipe_cache(toolchain.tool("mc"), minio, tmp_path_factory.mktemp("recipe"), OBJECTS)
    return minio


@pytest.fixture(scope="module")
def stack(
    toolchain: Toolchain, hand_made: MinioServer, tmp_path_factory: pytest.TempPathFactory
) -> PulumiStack:
    return new_stack(toolchain, hand_made, tmp_path_factory.mktemp("adopt-state"), "adopt")


def snapshot(minio: MinioServer) -> dict[str, object]:
    """Everything about the hand-made cache that `up` without adopt must leave alone."""
    admin = s3.client(minio.endpoint_url, minio.credentials.user, minio.credentials.password)
    objects = {o["Key"]: o["ETag"] for o in admin.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    return {
        "objects": objects,
        # MinIO returns the same policy with its actions in varying order: compare meanings.
        "policy": canonical_policy_text(admin.get_bucket_policy(Bucket=BUCKET)["Policy"]),
        "rules": admin.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"],
        "tags": s3.error_code(admin.get_bucket_tagging, Bucket=BUCKET),
        "old writer secret works": s3.error_code(
            s3.client(minio.endpoint_url, WRITER, WRITER_SECRET).list_objects_v2, Bucket=BUCKET
        ),
    }


def test_without_adopt_up_stops_at_the_bucket_and_changes_nothing(
    stack: PulumiStack, hand_made: MinioServer
) -> None:
    before = snapshot(hand_made)
    stopped_with(
        stack,
        f"bucket '{BUCKET}' already exists in MinIO at {hand_made.endpoint_url}",
        "pulumi config set nix-cache:adopt true",
    )
    assert snapshot(hand_made) == before
    assert before["old writer secret works"] == "ok"


def test_with_adopt_up_takes_it_over_and_keeps_every_object(
    stack: PulumiStack, hand_made: MinioServer, tmp_path: Path
) -> None:
    stack.set_config("nix-cache:adopt", "true")
    stack.up()
    stack.preview("--expect-no-changes")
    out = stack.outputs(show_secrets=True)
    cache = CacheUnderTest.from_outputs(hand_made, out, tmp_path)
    assert set(OBJECTS) <= cache.object_keys()
    admin = cache.admin()
    for key, body in OBJECTS.items():
        assert admin.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    with_cache_info = admin.get_object(Bucket=BUCKET, Key="nix-cache-info")["Body"].read().decode()
    assert with_cache_info == nix_cache_info("/nix/store", True, 40)
    assert out["writerSecretKey"] != WRITER_SECRET, "the writer gets a new secret"
    old = s3.client(hand_made.endpoint_url, WRITER, WRITER_SECRET)
    assert s3.error_code(old.list_objects_v2, Bucket=BUCKET) == "SignatureDoesNotMatch"
    rules = admin.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert all(rule["Filter"]["Prefix"] for rule in rules), "the recipe's whole-bucket rule is gone"
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED, "the recipe's anonymous listing is gone"
    assert cache.writer_results() == WRITER_EXPECTED
    assert cache.substitute(cache.publish()).returncode == 0
