"""The stack's state in a bucket of the same MinIO, through Pulumi's S3 backend, with a user of its own.

``devtools.state_on_minio`` makes the bucket, the user and its one policy with the admin API; the CLI then
keeps the whole state there (checkpoint, history, backups, locks). Nobody else may touch it: not the cache's
writer, not anonymous clients; and the state user may touch nothing but it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from minio.credentials.providers import StaticProvider
from minio.minioadmin import MinioAdmin

from devtools import s3
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.state_on_minio import StateBackend, ensure_state_backend
from devtools.toolchain import Toolchain

STACK = "on-minio"
CHECKPOINT = f".pulumi/stacks/nix-cache/{STACK}.json"

#: The state user in its own bucket, and anywhere else.
STATE_USER_EXPECTED = {
    "ListObjects in the state bucket": "ok",
    "GetObject of the checkpoint": "ok",
    "PutObject in the state bucket": "ok",
    "DeleteObject in the state bucket": "ok",
    "GetObject nix-cache-info": "AccessDenied",
    "ListObjects in the cache bucket": "AccessDenied",
    "PutObject in the cache bucket": "AccessDenied",
    "ListBuckets": "ok",  # MinIO lists only what the user may touch:
    "buckets it sees": "pulumi-state",
    "CreateBucket": "AccessDenied",
    "GetBucketPolicy of the state bucket": "AccessDenied",
}

#: The cache's writer, or anyone at all, in the state bucket.
OUTSIDER_EXPECTED = {
    "ListObjects": "AccessDenied",
    "GetObject of the checkpoint": "AccessDenied",
    "HeadObject of the checkpoint": "403",
    "PutObject": "AccessDenied",
    "DeleteObject of the checkpoint": "AccessDenied",
}


@pytest.fixture(scope="module")
def backend(minio: MinioServer) -> StateBackend:
    return ensure_state_backend(minio)


@pytest.fixture(scope="module")
def stack(
    toolchain: Toolchain,
    minio: MinioServer,
    backend: StateBackend,
    tmp_path_factory: pytest.TempPathFactory,
) -> PulumiStack:
    state_dir = tmp_path_factory.mktemp("state-on-minio")
    stack = PulumiStack(
        toolchain=toolchain,
        state_dir=state_dir,
        stack=STACK,
        config_file=state_dir / f"Pulumi.{STACK}.yaml",
        backend=backend.url,
        extra_env=backend.env(),
    )
    stack.init()
    stack.use_minio(minio)
    return stack


def admin_s3(minio: MinioServer) -> Any:
    return s3.client(minio.endpoint_url, minio.credentials.user, minio.credentials.password)


def stored_keys(minio: MinioServer, bucket: str) -> set[str]:
    listed = admin_s3(minio).list_objects_v2(Bucket=bucket).get("Contents", [])
    return {entry["Key"] for entry in listed}


def outsider_results(client: Any, bucket: str) -> dict[str, str]:
    code = s3.error_code
    return {
        "ListObjects": code(client.list_objects_v2, Bucket=bucket),
        "GetObject of the checkpoint": code(client.get_object, Bucket=bucket, Key=CHECKPOINT),
        "HeadObject of the checkpoint": code(client.head_object, Bucket=bucket, Key=CHECKPOINT),
        "PutObject": code(client.put_object, Bucket=bucket, Key=CHECKPOINT, Body=b"{}"),
        "DeleteObject of the checkpoint": code(client.delete_object, Bucket=bucket, Key=CHECKPOINT),
    }


def test_up_preview_and_export_keep_the_state_in_its_bucket(
    stack: PulumiStack, minio: MinioServer, backend: StateBackend
) -> None:
    # One step at a time, as in test_distributed.py: MinIO can lose one of the bucket's settings when the
    # engine sets them concurrently, which is the providers' concern, not the state backend's.
    stack.up("--parallel", "1")
    stack.preview("--expect-no-changes")
    exported = json.loads(stack.export_state())
    types = {resource["type"] for resource in exported["deployment"]["resources"]}
    assert "pulumi-python:dynamic/minio:Bucket" in types
    keys = stored_keys(minio, backend.bucket)
    assert CHECKPOINT in keys
    assert any(key.startswith(".pulumi/history/nix-cache/") for key in keys)
    assert not [key for key in keys if key.startswith(".pulumi/locks/")], "every lock was deleted again"
    assert not (stack.state_dir / "backend").exists(), "nothing of the state on local disk"
    checkpoint = admin_s3(minio).get_object(Bucket=backend.bucket, Key=CHECKPOINT)["Body"].read().decode()
    assert minio.credentials.password not in checkpoint
    assert minio.credentials.password not in stack.export_state()


def test_the_state_user_may_touch_its_bucket_and_nothing_else(
    stack: PulumiStack, minio: MinioServer, backend: StateBackend
) -> None:
    client = s3.client(minio.endpoint_url, backend.access_key, backend.secret_key)
    code, cache = s3.error_code, "nix-cache"
    results = {
        "ListObjects in the state bucket": code(client.list_objects_v2, Bucket=backend.bucket),
        "GetObject of the checkpoint": code(client.get_object, Bucket=backend.bucket, Key=CHECKPOINT),
        "PutObject in the state bucket": code(
            client.put_object, Bucket=backend.bucket, Key="probe", Body=b"x"
        ),
        "DeleteObject in the state bucket": code(client.delete_object, Bucket=backend.bucket, Key="probe"),
        "GetObject nix-cache-info": code(client.get_object, Bucket=cache, Key="nix-cache-info"),
        "ListObjects in the cache bucket": code(client.list_objects_v2, Bucket=cache),
        "PutObject in the cache bucket": code(client.put_object, Bucket=cache, Key="x.narinfo", Body=b"x"),
        "ListBuckets": code(client.list_buckets),
        "buckets it sees": ",".join(b["Name"] for b in client.list_buckets()["Buckets"]),
        "CreateBucket": code(client.create_bucket, Bucket="state-user-made"),
        "GetBucketPolicy of the state bucket": code(client.get_bucket_policy, Bucket=backend.bucket),
    }
    assert results == STATE_USER_EXPECTED


def test_the_cache_writer_and_anonymous_clients_cannot_read_or_write_the_state(
    stack: PulumiStack, minio: MinioServer, backend: StateBackend
) -> None:
    outputs = stack.outputs(show_secrets=True)
    writer = s3.client(minio.endpoint_url, outputs["writerAccessKey"], outputs["writerSecretKey"])
    assert outsider_results(writer, backend.bucket) == OUTSIDER_EXPECTED
    assert outsider_results(s3.client(minio.endpoint_url), backend.bucket) == OUTSIDER_EXPECTED
    assert CHECKPOINT in stored_keys(minio, backend.bucket)


def test_setting_up_again_keeps_the_user_to_its_one_policy(
    stack: PulumiStack, minio: MinioServer, backend: StateBackend
) -> None:
    """Idempotent, and least privilege over time: a policy attached to the state user by hand comes off."""
    admin = MinioAdmin(
        endpoint=minio.address,
        credentials=StaticProvider(minio.credentials.user, minio.credentials.password),
        secure=False,
    )
    admin.attach_policy(["readwrite"], user=backend.access_key)
    again = ensure_state_backend(minio, secret_key=backend.secret_key)
    assert again == backend
    assert json.loads(admin.user_info(backend.access_key))["policyName"] == f"{backend.bucket}-readwrite"
    stack.preview("--expect-no-changes")


def test_a_cache_bucket_is_refused_as_the_state_bucket(stack: PulumiStack, minio: MinioServer) -> None:
    with pytest.raises(ValueError, match="holds nix-cache-info: the state needs a bucket of its own"):
        ensure_state_backend(minio, bucket="nix-cache")
