"""A cache that lives for years, through the real CLI on a live MinIO: key rotation without a cold cache,
a private cache and back, and several builders. The tests run in file order on one stack.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from minio.error import MinioAdminException

from components.nix_text import aws_credentials
from devtools import s3
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.agent_harness import AGENT
from tests.e2e.conftest import new_stack
from tests.e2e.harness import ANONYMOUS_EXPECTED, OTHER_BUCKET, WRITER_EXPECTED, CacheUnderTest

BUCKET = "nix-cache"
NOT_SIGNED = "is not signed by any of the keys in 'trusted-public-keys'"

READER_EXPECTED = {
    "GetObject nix-cache-info": "ok",
    "HeadObject of a missing key": "404",  # Nix's s3 store needs 404, not 403, for a missing narinfo
    "GetBucketLocation": "ok",
    "ListObjects": "ok",
    "PutObject": "AccessDenied",
    "DeleteObject": "AccessDenied",
    "CreateMultipartUpload": "AccessDenied",
    "GetBucketPolicy": "AccessDenied",
    "PutBucketLifecycle": "AccessDenied",
    "GetObject in another bucket": "AccessDenied",
}


@pytest.fixture(scope="module")
def stack(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> PulumiStack:
    created = new_stack(toolchain, minio, tmp_path_factory.mktemp("lifetime-state"), "lifetime")
    created.up()
    return created


@pytest.fixture(scope="module")
def remembered() -> dict[str, Any]:
    """What one test leaves for the next (a path pushed before the rotation, the keys)."""
    return {}


def current(stack: PulumiStack, minio: MinioServer, workdir: Path) -> CacheUnderTest:
    return CacheUnderTest.from_outputs(minio, stack.outputs(show_secrets=True), workdir)


def trusting(keys: list[str]) -> str:
    return " ".join(keys)


def resign(cache: CacheUnderTest, command: str, secret_key: str, workdir: Path) -> None:
    """Run `resignCommand` as given: the upload agent's ``resign``, as the writer, on the live bucket.

    Only the files it names are elsewhere: the writer's credentials and the key file (root's
    ``/etc/nix/…`` on a builder) are temporary files, and ``nix-cache-agent`` is the agent's file.
    """
    credentials = workdir / "writer.credentials"
    credentials.write_text(
        aws_credentials(cache.writer_access_key, cache.writer_access_key, cache.writer_secret_key)
    )
    key_file = workdir / "signing.sec"
    key_file.write_text(secret_key)
    argv = shlex.split(command)
    assert argv[:2] == ["nix-cache-agent", "resign"], command
    argv[argv.index("--credentials-file") + 1] = str(credentials)
    argv[argv.index("--key-file") + 1] = str(key_file)
    result = subprocess.run(
        [sys.executable, str(AGENT), *argv[1:]],
        env=cache.nix.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert " narinfos, " in result.stdout, result.stdout


def test_paths_signed_before_a_rotation_keep_substituting(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path, remembered: dict[str, Any]
) -> None:
    before = current(stack, minio, tmp_path)
    old_path = before.publish()
    stack.set_config("nix-cache:keyName", "127.0.0.1-2")
    stack.up()
    stack.preview("--expect-no-changes")
    out = stack.outputs(show_secrets=True)
    assert out["trustedPublicKeys"] == [out["publicKey"], before.public_key]
    assert all(key in out["nixosModule"] for key in out["trustedPublicKeys"])
    after = current(stack, minio, tmp_path)
    assert after.substitute(old_path, trusting(out["trustedPublicKeys"])).returncode == 0
    assert after.substitute(after.publish(), trusting(out["trustedPublicKeys"])).returncode == 0
    remembered.update(old_path=old_path, old_key=before.public_key)


def test_retiring_before_re_signing_refuses_the_old_paths(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path, remembered: dict[str, Any]
) -> None:
    stack.set_config("nix-cache:retireKeys", '["127.0.0.1-1"]')
    stack.up()
    out = stack.outputs(show_secrets=True)
    assert out["trustedPublicKeys"] == [out["publicKey"]]
    assert remembered["old_key"] not in out["nixConf"]
    refused = current(stack, minio, tmp_path).substitute(
        remembered["old_path"], trusting(out["trustedPublicKeys"])
    )
    assert NOT_SIGNED in refused.stderr


def test_after_re_signing_old_paths_substitute_with_only_the_new_key(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path, remembered: dict[str, Any]
) -> None:
    out = stack.outputs(show_secrets=True)
    cache = current(stack, minio, tmp_path)
    resign(cache, out["resignCommand"], out["secretKey"], tmp_path)
    substituted = cache.substitute(remembered["old_path"], trusting(out["trustedPublicKeys"]))
    assert substituted.returncode == 0, substituted.stderr
    stack.preview("--expect-no-changes")


def _code(call: Any, **kwargs: Any) -> str:
    return s3.error_code(call, **kwargs)


def reader_results(minio: MinioServer, access_key: str, secret_key: str) -> dict[str, str]:
    client = s3.client(minio.endpoint_url, access_key, secret_key)
    admin = s3.client(minio.endpoint_url, minio.credentials.user, minio.credentials.password)
    if _code(admin.head_bucket, Bucket=OTHER_BUCKET) != "ok":
        admin.create_bucket(Bucket=OTHER_BUCKET)
    admin.put_object(Bucket=OTHER_BUCKET, Key="private", Body=b"not yours")
    lifecycle = {
        "Rules": [{"ID": "x", "Filter": {"Prefix": "x"}, "Status": "Enabled", "Expiration": {"Days": 1}}]
    }
    return {
        "GetObject nix-cache-info": _code(client.get_object, Bucket=BUCKET, Key="nix-cache-info"),
        "HeadObject of a missing key": _code(client.head_object, Bucket=BUCKET, Key="missing.narinfo"),
        "GetBucketLocation": _code(client.get_bucket_location, Bucket=BUCKET),
        "ListObjects": _code(client.list_objects_v2, Bucket=BUCKET),
        "PutObject": _code(client.put_object, Bucket=BUCKET, Key="evil.narinfo", Body=b"x"),
        "DeleteObject": _code(client.delete_object, Bucket=BUCKET, Key="nix-cache-info"),
        "CreateMultipartUpload": _code(client.create_multipart_upload, Bucket=BUCKET, Key="nar/x"),
        "GetBucketPolicy": _code(client.get_bucket_policy, Bucket=BUCKET),
        "PutBucketLifecycle": _code(
            client.put_bucket_lifecycle_configuration, Bucket=BUCKET, LifecycleConfiguration=lifecycle
        ),
        "GetObject in another bucket": _code(client.get_object, Bucket=OTHER_BUCKET, Key="private"),
    }


def substitute_as_reader(
    cache: CacheUnderTest, path: str, access_key: str, secret_key: str, workdir: Path
) -> Any:
    """What Nix's s3 store does with the reader's profile, done with a real S3 client (Debian's Nix has
    no s3 store): fetch nix-cache-info, the path's narinfo and its NAR as the reader; the real Nix then
    checks the signature against publicKey and unpacks it from that copy."""
    reader = s3.client(cache.minio.endpoint_url, access_key, secret_key)
    copy = workdir / "as-reader"
    (copy / "nar").mkdir(parents=True)
    narinfo_key = f"{Path(path).name.split('-', 1)[0]}.narinfo"
    narinfo = reader.get_object(Bucket=BUCKET, Key=narinfo_key)["Body"].read()
    (copy / narinfo_key).write_bytes(narinfo)
    [nar_key] = [line.split(": ", 1)[1] for line in narinfo.decode().splitlines() if line.startswith("URL: ")]
    (copy / nar_key).write_bytes(reader.get_object(Bucket=BUCKET, Key=nar_key)["Body"].read())
    (copy / "nix-cache-info").write_bytes(
        reader.get_object(Bucket=BUCKET, Key="nix-cache-info")["Body"].read()
    )
    return cache.nix.substitute(path, f"file://{copy}", cache.public_key)


def test_a_private_cache_is_read_only_with_the_reader_s_keys(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path
) -> None:
    stack.set_config("nix-cache:public", "false")
    stack.up()
    stack.preview("--expect-no-changes")
    out = stack.outputs(show_secrets=True)
    assert out["substituterUrl"].startswith("s3://nix-cache?profile=nixreader&endpoint=")
    assert f'"{out["substituterUrl"]}"' in out["nixosModule"]
    assert stack.outputs()["readerSecretKey"] == "[secret]"
    assert out["readerSecretKey"] not in stack.export_state(), "the reader's secret is encrypted in the state"
    cache = current(stack, minio, tmp_path)
    anonymous = cache.anonymous_results()
    assert anonymous["GetObject nix-cache-info"] == "AccessDenied"
    assert {name for name, code in anonymous.items() if code == "ok"} == set()
    assert reader_results(minio, out["readerAccessKey"], out["readerSecretKey"]) == READER_EXPECTED
    assert cache.writer_results() == WRITER_EXPECTED
    path = cache.publish()
    unpacked = substitute_as_reader(cache, path, out["readerAccessKey"], out["readerSecretKey"], tmp_path)
    assert unpacked.returncode == 0, unpacked.stderr


def test_back_to_public_in_one_up(stack: PulumiStack, minio: MinioServer, tmp_path: Path) -> None:
    reader = stack.outputs(show_secrets=True)
    stack.set_config("nix-cache:public", "true")
    stack.up()
    stack.preview("--expect-no-changes")
    cache = current(stack, minio, tmp_path)
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    old_reader = s3.client(minio.endpoint_url, reader["readerAccessKey"], reader["readerSecretKey"])
    assert _code(old_reader.list_objects_v2, Bucket=BUCKET) == "InvalidAccessKeyId"
    assert "readerAccessKey" not in stack.outputs()


def test_two_builders_each_upload_with_their_own_keys(
    stack: PulumiStack, minio: MinioServer, tmp_path: Path, remembered: dict[str, Any]
) -> None:
    stack.set_config("nix-cache:writers", '["nixbuilder", "pi-builder"]')
    stack.up()
    stack.preview("--expect-no-changes")
    out = stack.outputs(show_secrets=True)
    assert set(out["awsCredentials"]) == {"nixbuilder", "pi-builder"}
    assert "--profile pi-builder " in out["pushCommand"]["pi-builder"]
    assert stack.outputs()["writerSecretKey"] == "[secret]"
    for builder in ("nixbuilder", "pi-builder"):
        cache = CacheUnderTest.from_outputs(
            minio,
            {**out, "writerAccessKey": builder, "writerSecretKey": out["writerSecretKey"][builder]},
            tmp_path / builder,
        )
        assert cache.writer_results() == WRITER_EXPECTED, builder
        assert cache.substitute(cache.publish(), trusting(out["trustedPublicKeys"])).returncode == 0
    remembered["pi_secret"] = out["writerSecretKey"]["pi-builder"]


def test_removing_a_builder_removes_its_user_and_access(
    stack: PulumiStack, minio: MinioServer, remembered: dict[str, Any]
) -> None:
    stack.set_config("nix-cache:writers", '["nixbuilder"]')
    stack.up()
    stack.preview("--expect-no-changes")
    with pytest.raises(MinioAdminException, match="XMinioAdminNoSuchUser"):
        minio.root_clients().admin.user_info("pi-builder")
    removed = s3.client(minio.endpoint_url, "pi-builder", remembered["pi_secret"])
    assert _code(removed.list_objects_v2, Bucket=BUCKET) == "InvalidAccessKeyId"
    assert stack.outputs()["writerAccessKey"] == "nixbuilder"
    assert json.loads(minio.root_clients().admin.user_info("nixbuilder"))["policyName"] == f"{BUCKET}-write"
