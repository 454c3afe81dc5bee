"""The program's documents on a real MinIO, applied the way the provider would apply them.

Bucket policy, writer policy, lifecycle rules and ``nix-cache-info`` all come from the program's pure
functions; MinIO, ``mc`` and the Nix client are real. This judges what the documents do on MinIO,
independently of the Pulumi provider that carries them there.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from components.expiry import MAX_DAYS as MAX_EXPIRE_DAYS
from components.expiry import ExpiryRule, expiry_rules
from components.nix_keys import generate_key_pair
from components.nix_text import CACHE_INFO_CONTENT_TYPE, nix_cache_info
from components.policies import anonymous_download_policy, to_json, writer_policy
from devtools.minio_server import MinioServer
from devtools.nix_client import NixClient
from devtools.toolchain import Toolchain
from providers.served_check import served_problem
from tests.e2e.harness import ANONYMOUS_EXPECTED, OTHER_BUCKET, WRITER_EXPECTED, CacheUnderTest

BUCKET = "nix-cache"
WRITER = "nixbuilder"


def mc(toolchain: Toolchain, minio: MinioServer, config_dir: Path, *args: str) -> str:
    env = {
        **os.environ,
        "MC_CONFIG_DIR": str(config_dir),
        "MC_HOST_cache": f"http://{minio.credentials.user}:{minio.credentials.password}@{minio.address}",
    }
    command = [toolchain.tool("mc"), "--quiet", *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def cache(
    toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory
) -> CacheUnderTest:
    workdir = tmp_path_factory.mktemp("documents")
    key = generate_key_pair("127.0.0.1-1")
    writer_secret = secrets.token_hex(20)  # token_urlsafe may start with "-", which mc reads as a flag
    under_test = CacheUnderTest(
        minio=minio,
        nix=NixClient(workdir / "nix"),
        workdir=workdir,
        bucket=BUCKET,
        substituter_url=f"{minio.endpoint_url}/{BUCKET}",
        public_key=key.public_key,
        secret_key=key.secret_key,
        writer_access_key=WRITER,
        writer_secret_key=writer_secret,
    )
    admin = under_test.admin()
    admin.create_bucket(Bucket=BUCKET)
    admin.put_bucket_policy(Bucket=BUCKET, Policy=to_json(anonymous_download_policy(BUCKET)))
    admin.put_bucket_lifecycle_configuration(
        Bucket=BUCKET, LifecycleConfiguration=lifecycle(expiry_rules(30))
    )
    admin.put_object(
        Bucket=BUCKET,
        Key="nix-cache-info",
        Body=nix_cache_info("/nix/store", True, 40).encode(),
        ContentType=CACHE_INFO_CONTENT_TYPE,
    )
    policy_file = workdir / "writer-policy.json"
    policy_file.write_text(to_json(writer_policy(BUCKET)))
    mc_dir = workdir / "mc"
    mc(toolchain, minio, mc_dir, "admin", "policy", "create", "cache", f"{BUCKET}-write", str(policy_file))
    mc(toolchain, minio, mc_dir, "admin", "user", "add", "cache", WRITER, writer_secret)
    mc(toolchain, minio, mc_dir, "admin", "policy", "attach", "cache", f"{BUCKET}-write", "--user", WRITER)
    return under_test


def lifecycle(rules: tuple[ExpiryRule, ...]) -> dict[str, Any]:
    """The program's expiry rules as an S3 lifecycle configuration, as the provider sends them."""
    return {
        "Rules": [
            {
                "ID": r.rule_id,
                "Filter": {"Prefix": r.prefix},
                "Status": "Enabled",
                "Expiration": {"Days": r.days},
            }
            for r in rules
        ]
    }


def canonical(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A policy as a set of statements whose list fields are sets: what it means, not how it is spelled."""
    return sorted(
        tuple(
            sorted(
                (k, tuple(sorted(v)) if isinstance(v, list) else json.dumps(v, sort_keys=True))
                for k, v in st.items()
            )
        )
        for st in document["Statement"]
    )


def test_minio_keeps_the_policies_as_sent_up_to_order(
    cache: CacheUnderTest, toolchain: Toolchain, minio: MinioServer, tmp_path: Path
) -> None:
    """MinIO re-encodes policies (the order of actions even varies between reads) but keeps their
    meaning: nothing dropped or added, so a provider that compares policies as sets sees no drift."""
    bucket_policy = json.loads(cache.admin().get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert canonical(bucket_policy) == canonical(anonymous_download_policy(BUCKET))
    info = json.loads(
        mc(toolchain, minio, tmp_path, "admin", "policy", "info", "cache", f"{BUCKET}-write", "--json")
    )
    assert canonical(info["policyInfo"]["Policy"]) == canonical(writer_policy(BUCKET))


def test_anonymous_may_only_download(cache: CacheUnderTest) -> None:
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED


def test_writer_may_do_what_nix_copy_needs_and_nothing_else(cache: CacheUnderTest) -> None:
    assert cache.writer_results() == WRITER_EXPECTED


def test_nix_substitutes_from_minio_only_with_the_trusted_key(cache: CacheUnderTest) -> None:
    path = cache.publish()
    trusted = cache.substitute(path)
    assert trusted.returncode == 0, trusted.stderr
    assert f"copying path '{path}' from '{cache.substituter_url}'" in trusted.stderr
    refused = cache.substitute(path, trusted_key=generate_key_pair("127.0.0.1-1").public_key)
    assert refused.returncode != 0
    assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr


def test_expiry_rules_delete_narinfos_and_nars_but_never_nix_cache_info(cache: CacheUnderTest) -> None:
    """The rules as MinIO stored them, moved to a past date, empty the cache but for nix-cache-info."""
    path = cache.publish()
    uploaded = {k for k in cache.object_keys() if k.endswith((".narinfo", ".ls")) or k.startswith("nar/")}
    assert any(k.startswith("nar/") for k in uploaded)
    stored = cache.expire_now()
    assert sorted((r["ID"], r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in stored) == sorted(
        (r.rule_id, r.prefix, r.days) for r in expiry_rules(30)
    )
    assert cache.wait_until_gone(uploaded) == set(), "objects matched by the rules did not expire"
    assert "nix-cache-info" in cache.object_keys()
    gone = cache.substitute(path)
    assert gone.returncode != 0
    assert "does not appear to be a binary cache" not in gone.stderr
    assert cache.anonymous_results()["GetObject nix-cache-info"] == "ok"


def test_the_longest_expiry_accepted_puts_every_rule_in_the_future(cache: CacheUnderTest) -> None:
    """MinIO wraps an expiry past its range into the past and deletes everything; at the bound it does not.

    The program's own rules for the largest ``expireDays`` it accepts, on a bucket of their own: MinIO's
    answer to an upload under each kind of rule says when it will expire (``x-amz-expiration``).
    """
    admin, bucket = cache.admin(), f"longest-{secrets.token_hex(3)}"
    admin.create_bucket(Bucket=bucket)
    admin.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration=lifecycle(expiry_rules(MAX_EXPIRE_DAYS))
    )
    now = datetime.now(UTC)
    for key, days in ((f"{'a' * 32}.narinfo", MAX_EXPIRE_DAYS), ("nar/abc.nar.zst", MAX_EXPIRE_DAYS + 1)):
        answer = admin.put_object(Bucket=bucket, Key=key, Body=b"x")
        expiry = answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-expiration"]
        when = parsedate_to_datetime(expiry.split('"')[1])
        assert when > now + timedelta(days=days - 2), f"{key} expires {when}"
        assert admin.head_object(Bucket=bucket, Key=key)["ContentLength"] == 1


def served_check(url: str, expected: str) -> str | None:
    """The post-deploy check the served-check provider runs, against the real cache (one attempt)."""
    return served_problem({"url": url, "expected": expected, "cacert_file": None, "insecure": False}, 1)


def test_served_check_passes_on_the_real_cache(cache: CacheUnderTest) -> None:
    assert served_check(cache.substituter_url, nix_cache_info("/nix/store", True, 40)) is None


def test_served_check_fails_clearly_on_other_content(cache: CacheUnderTest) -> None:
    problem = served_check(cache.substituter_url, nix_cache_info("/nix/store", True, 41))
    assert problem is not None
    assert "is served, but not with the content this stack wrote" in problem
    assert "Priority: 41" in problem


def test_served_check_fails_clearly_when_not_public(cache: CacheUnderTest) -> None:
    """A bucket without the anonymous policy (or a wrong URL) fails the update with a pointer to why."""
    problem = served_check(f"{cache.minio.endpoint_url}/{OTHER_BUCKET}", "StoreDir: /nix/store\n")
    assert problem is not None
    assert "is not served to anonymous clients: HTTP 403" in problem
    assert "nix-cache:publicUrl" in problem
