"""`pulumi up --replace` of every kind the program makes in MinIO, with the real CLI: nothing is lost.

A replacement has the same name in MinIO as what it replaces. Pulumi replaces create-first unless told
otherwise, and the old resource's delete would then remove what its replacement just made (the
``nix-cache-info`` object, the writer, its policy). Each kind replaces delete-first; the bucket, which
is never deleted while it holds objects, is handed to its replacement instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.nix_text import nix_cache_info
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.conftest import new_stack
from tests.e2e.harness import ANONYMOUS_EXPECTED, WRITER_EXPECTED, CacheUnderTest

#: Every kind whose name in MinIO is fixed, except the bucket (replaced on its own below).
FIXED_NAME_KINDS = ("BucketObject", "User", "IamPolicy", "PolicyAttachment", "BucketPolicy", "Lifecycle")


@pytest.fixture(scope="module")
def stack(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> PulumiStack:
    made = new_stack(toolchain, minio, tmp_path_factory.mktemp("replace-state"), "replace")
    made.up()
    return made


def urns(stack: PulumiStack, kind: str) -> list[str]:
    resources = json.loads(stack.export_state())["deployment"]["resources"]
    return [r["urn"] for r in resources if r["type"] == f"pulumi-python:dynamic/minio:{kind}"]


def cache_of(stack: PulumiStack, minio: MinioServer, workdir: Path) -> CacheUnderTest:
    return CacheUnderTest.from_outputs(minio, stack.outputs(show_secrets=True), workdir)


def test_replacing_every_kind_keeps_the_cache_whole(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path
) -> None:
    before = cache_of(stack, minio, tmp_path / "before")
    path = before.publish()
    targets = [urn for kind in FIXED_NAME_KINDS for urn in urns(stack, kind)]
    assert len(targets) == len(FIXED_NAME_KINDS)

    replaced = stack.up(*(f"--replace={urn}" for urn in targets))
    assert "replaced" in replaced.stdout, replaced.stdout

    after = cache_of(stack, minio, tmp_path / "after")
    assert after.writer_secret_key != before.writer_secret_key, "a replaced user has a new secret"
    assert after.anonymous_results() == ANONYMOUS_EXPECTED
    assert after.writer_results() == WRITER_EXPECTED
    info = after.anonymous().get_object(Bucket=after.bucket, Key="nix-cache-info")["Body"].read().decode()
    assert info == nix_cache_info("/nix/store", True, 40)
    assert after.substitute(path).returncode == 0
    stack.preview("--expect-no-changes")


def test_the_protected_bucket_refuses_a_replace(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path
) -> None:
    cache = cache_of(stack, minio, tmp_path)
    keys = cache.object_keys()
    [bucket] = urns(stack, "Bucket")
    refused = stack.up(f"--replace={bucket}", check=False)
    assert refused.returncode != 0
    assert "protect" in refused.stdout + refused.stderr
    assert cache.object_keys() == keys
    stack.preview("--expect-no-changes")


def test_an_unprotected_bucket_is_handed_to_its_replacement(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path
) -> None:
    stack.set_config("nix-cache:protect", "false")
    stack.up()
    cache = cache_of(stack, minio, tmp_path)
    path = cache.publish()
    keys = cache.object_keys()
    [bucket] = urns(stack, "Bucket")

    stack.up(f"--replace={bucket}")
    assert cache.object_keys() == keys, "every object is kept"
    assert cache.substitute(path).returncode == 0
    stack.preview("--expect-no-changes")
