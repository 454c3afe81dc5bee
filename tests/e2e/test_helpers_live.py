"""The test helpers do what they claim on a real MinIO: the https server, and the hand-made cache.

The adoption tests build on both, so each claim is checked here once, by boto3 and MinIO's admin API
rather than by ``mc``, which made them.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import SSLError

from devtools import s3
from devtools.minio_server import MinioServer
from devtools.toolchain import Toolchain
from tests.e2e.manual_recipe import (
    ALIAS,
    BUCKET,
    CACHE_INFO,
    EXPIRE_DAYS,
    POLICY_NAME,
    WRITER,
    WRITER_ACTIONS,
    WRITER_SECRET,
    ManualRecipeError,
    build_manual_recipe_cache,
    mc_env,
    run_mc,
)

OBJECTS = {
    "0c6kzph7l0dcbh6hq6gmhd1dbl9xrrd7.narinfo": b"StorePath: /nix/store/0c6kzph7l0dcbh6hq6gmhd1dbl9xrrd7-x\n",
    "nar/1w1fff338fvdw53sqgamddn1b2xgds473pv6y13gizdbqjv4i5p3.nar.zst": bytes(range(256)) * 4,
}


@pytest.fixture(scope="module")
def recipe(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made cache on the module's plain-http MinIO; its working directory."""
    workdir = tmp_path_factory.mktemp("recipe")
    build_manual_recipe_cache(toolchain.tool("mc"), minio, workdir, OBJECTS)
    return workdir


def admin_s3(server: MinioServer) -> Any:
    verify = str(server.ca_file) if server.ca_file else None
    return s3.client(server.endpoint_url, server.credentials.user, server.credentials.password, verify=verify)


# --- the https server ---------------------------------------------------------------------------------


def test_tls_server_answers_https_to_a_client_that_trusts_the_ca(https_minio: MinioServer) -> None:
    """With the generated CA as its only trust, boto3 talks to the server at https://127.0.0.1."""
    assert https_minio.endpoint_url == f"https://127.0.0.1:{https_minio.port}"
    admin = admin_s3(https_minio)
    admin.create_bucket(Bucket="tls-check")
    assert "tls-check" in [b["Name"] for b in admin.list_buckets()["Buckets"]]


def test_tls_certificate_also_names_localhost(https_minio: MinioServer) -> None:
    """subjectAltName DNS:localhost: the same server verifies under that name too."""
    context = https_minio.ssl_context()
    url = f"https://localhost:{https_minio.port}/minio/health/live"
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        assert answer.status == 200


def test_tls_server_is_refused_without_the_ca(https_minio: MinioServer) -> None:
    """A client that trusts only the system's CAs refuses the certificate: the CA is really private."""
    anyone_with_system_trust = s3.client(https_minio.endpoint_url, verify=True)
    with pytest.raises(SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        anyone_with_system_trust.get_object(Bucket="tls-check", Key="x")
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(
            f"{https_minio.endpoint_url}/minio/health/live", timeout=5, context=ssl.create_default_context()
        )


def test_manual_recipe_works_over_https(
    toolchain: Toolchain, https_minio: MinioServer, tmp_path: Path
) -> None:
    """`mc` trusts the CA from its own config dir, so the recipe builds the cache on an https MinIO too."""
    build_manual_recipe_cache(toolchain.tool("mc"), https_minio, tmp_path, {})
    context = https_minio.ssl_context()
    url = f"{https_minio.endpoint_url}/{BUCKET}/nix-cache-info"
    with urllib.request.urlopen(url, timeout=5, context=context) as answer:
        assert answer.read() == CACHE_INFO


# --- the hand-made cache -------------------------------------------------------------------------------


def test_recipe_serves_nix_cache_info_anonymously(recipe: Path, minio: MinioServer) -> None:
    """Anyone may GET objects: nix-cache-info reads back exactly, as a Nix client would fetch it."""
    with urllib.request.urlopen(f"{minio.endpoint_url}/{BUCKET}/nix-cache-info", timeout=5) as answer:
        assert answer.read() == CACHE_INFO
    anonymous = s3.client(minio.endpoint_url)
    assert anonymous.get_object(Bucket=BUCKET, Key="nix-cache-info")["Body"].read() == CACHE_INFO


def test_recipe_lets_anyone_list_the_bucket(recipe: Path, minio: MinioServer) -> None:
    """The canned `download` policy also grants ListBucket: an anonymous client sees every key."""
    anonymous = s3.client(minio.endpoint_url)
    keys = {o["Key"] for o in anonymous.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {"nix-cache-info", *OBJECTS}
    assert s3.error_code(anonymous.put_object, Bucket=BUCKET, Key="x", Body=b"x") == "AccessDenied"


def test_recipe_bucket_policy_is_the_canned_download_policy(recipe: Path, minio: MinioServer) -> None:
    """What MinIO stores for `mc anonymous set download`: GetBucketLocation + ListBucket, GetObject."""
    stored = json.loads(admin_s3(minio).get_bucket_policy(Bucket=BUCKET)["Policy"])
    statements = sorted(
        (
            sorted(st["Action"]) if isinstance(st["Action"], list) else [st["Action"]],
            st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]],
            st["Effect"],
            st["Principal"],
        )
        for st in stored["Statement"]
    )
    assert statements == [
        (["s3:GetBucketLocation", "s3:ListBucket"], [f"arn:aws:s3:::{BUCKET}"], "Allow", {"AWS": ["*"]}),
        (["s3:GetObject"], [f"arn:aws:s3:::{BUCKET}/*"], "Allow", {"AWS": ["*"]}),
    ]


def test_recipe_has_one_bucket_wide_expiry_rule(recipe: Path, minio: MinioServer) -> None:
    """`mc ilm rule add --expire-days 30` makes one enabled rule with no filter: it matches nix-cache-info."""
    rules = admin_s3(minio).get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert len(rules) == 1
    (rule,) = rules
    assert rule["Status"] == "Enabled"
    assert rule["Expiration"] == {"Days": EXPIRE_DAYS}
    assert rule.get("Filter", {}).get("Prefix", "") == ""
    assert rule.get("Prefix", "") == ""


def test_recipe_writer_exists_with_the_write_policy(recipe: Path, minio: MinioServer) -> None:
    """The user is enabled, nix-cache-write is attached, and MinIO dropped the recipe's Principal."""
    admin = minio.root_clients().admin
    info = json.loads(admin.user_info(WRITER))
    assert info["status"] == "enabled"
    assert info["policyName"] == POLICY_NAME
    policy = json.loads(admin.policy_info(POLICY_NAME))
    (statement,) = policy["Statement"]
    assert "Principal" not in statement
    assert sorted(statement["Action"]) == sorted(WRITER_ACTIONS)
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]


def test_recipe_writer_can_upload_but_not_delete(recipe: Path, minio: MinioServer) -> None:
    """The writer's secret is the recipe's, and its policy grants uploads, not deletes."""
    writer = s3.client(minio.endpoint_url, WRITER, WRITER_SECRET)
    assert s3.error_code(writer.put_object, Bucket=BUCKET, Key="writer-check", Body=b"x") == "ok"
    assert s3.error_code(writer.delete_object, Bucket=BUCKET, Key="writer-check") == "AccessDenied"
    admin_s3(minio).delete_object(Bucket=BUCKET, Key="writer-check")


def test_recipe_uploads_the_objects_byte_for_byte(recipe: Path, minio: MinioServer) -> None:
    """Every object the test brings is in the bucket under its key, unchanged."""
    admin = admin_s3(minio)
    for key, body in OBJECTS.items():
        assert admin.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body


def test_a_failing_step_names_its_command(
    toolchain: Toolchain, recipe: Path, minio: MinioServer, tmp_path: Path
) -> None:
    """Run again, the recipe stops at its first step, `mc mb`, and says so."""
    with pytest.raises(ManualRecipeError, match=rf"`mc mb {ALIAS}/{BUCKET}` failed \(exit 1\)"):
        build_manual_recipe_cache(toolchain.tool("mc"), minio, tmp_path, {})


def test_a_failing_step_does_not_show_the_writer_secret(
    toolchain: Toolchain, minio: MinioServer, tmp_path: Path
) -> None:
    """The writer's secret is masked in the error, which names the rest of the command."""
    env = mc_env(minio, tmp_path)
    with pytest.raises(
        ManualRecipeError, match=r"`mc admin user add nosuchalias nixbuilder \*\*\*`"
    ) as error:
        run_mc(toolchain.tool("mc"), env, "admin", "user", "add", "nosuchalias", WRITER, WRITER_SECRET)
    assert WRITER_SECRET not in str(error.value)


def test_recipe_keeps_mc_config_in_its_workdir(recipe: Path) -> None:
    """mc writes its configuration under the working directory (MC_CONFIG_DIR), not in ~/.mc."""
    assert (recipe / "mc-config" / "config.json").is_file()


def test_minio_s_files_are_private_to_their_user(minio: MinioServer) -> None:
    """MinIO's IAM files keep most of each user's secret in clear: no other user may read its drives."""
    clients = minio.root_clients()
    clients.admin.user_add("private-probe", "probe-secret-12345")
    assert minio.home.stat().st_mode & 0o777 == 0o700
    readable = [
        path
        for path in minio.home.rglob("*")
        if path.name != "minio.log" and not path.is_symlink() and path.stat().st_mode & 0o077
    ]
    assert [p for p in readable if "drive" in str(p.relative_to(minio.home))] == []
