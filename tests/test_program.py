"""The program under Pulumi's mocks: every resource, its properties and options, every output."""

from __future__ import annotations

import json
import runpy
from collections import Counter
from pathlib import Path

import pulumi
import pytest

from components.config import ConfigError, load_config
from components.expiry import expiry_rules
from components.nix_keys import generate_key_pair
from components.nix_text import nix_cache_info
from components.policies import anonymous_download_policy, reader_policy, writer_policy
from tests.conftest import (
    ATTACHMENT,
    BASE_CONFIG,
    BUCKET,
    BUCKET_OBJECT,
    BUCKET_POLICY,
    DYNAMIC,
    IAM_POLICY,
    LIFECYCLE,
    SERVED_CHECK,
    TRUSTED_KEYS,
    USER,
    RecordingMocks,
    Registration,
    deploy,
)

ROOT = Path(__file__).resolve().parent.parent
SECRET_OUTPUTS = {"secretKey", "writerSecretKey", "awsCredentials"}
PLAIN_OUTPUTS = {
    "substituterUrl",
    "publicKey",
    "keyName",
    "bucketName",
    "writerAccessKey",
    "nixosModule",
    "nixConf",
    "signCommand",
    "pushCommand",
    "resignCommand",
    "trustedPublicKeys",
    "builderModule",
}
READER_SECRET_OUTPUTS = {"readerSecretKey", "readerAwsCredentials"}


def test_resources_are_exactly_the_cache(mocks: RecordingMocks) -> None:
    """One bucket with its policy, expiry and nix-cache-info; one writer; one key; one check."""
    deploy()
    assert Counter(r.typ for r in mocks.registered) == {
        "nix-cache:index:NixBinaryCache": 1,
        "nix-cache:index:CacheBucket": 1,
        "nix-cache:index:CacheAccess": 1,
        "nix-cache:index:CacheUser": 1,
        "nix-cache:index:SigningKey": 1,
        "nix-cache:index:ServedCheck": 1,
        BUCKET: 1,
        BUCKET_POLICY: 1,
        LIFECYCLE: 1,
        BUCKET_OBJECT: 1,
        USER: 1,
        IAM_POLICY: 1,
        ATTACHMENT: 1,
        DYNAMIC: 1,
        TRUSTED_KEYS: 1,
        SERVED_CHECK: 1,
    }


def test_every_resource_has_its_component_as_parent(registrations: list[Registration]) -> None:
    deploy()
    parents = {r.type: r.parent_type for r in registrations}
    assert parents == {
        "nix-cache:index:NixBinaryCache": None,
        "nix-cache:index:CacheBucket": "nix-cache:index:NixBinaryCache",
        "nix-cache:index:CacheAccess": "nix-cache:index:NixBinaryCache",
        "nix-cache:index:CacheUser": "nix-cache:index:CacheAccess",
        "nix-cache:index:SigningKey": "nix-cache:index:NixBinaryCache",
        "nix-cache:index:ServedCheck": "nix-cache:index:NixBinaryCache",
        BUCKET: "nix-cache:index:CacheBucket",
        BUCKET_POLICY: "nix-cache:index:CacheBucket",
        LIFECYCLE: "nix-cache:index:CacheBucket",
        BUCKET_OBJECT: "nix-cache:index:CacheBucket",
        USER: "nix-cache:index:CacheUser",
        IAM_POLICY: "nix-cache:index:CacheAccess",
        ATTACHMENT: "nix-cache:index:CacheUser",
        DYNAMIC: "nix-cache:index:SigningKey",
        TRUSTED_KEYS: "nix-cache:index:SigningKey",
        SERVED_CHECK: "nix-cache:index:ServedCheck",
    }


def test_only_the_bucket_is_protected_by_default(
    mocks: RecordingMocks, registrations: list[Registration]
) -> None:
    """pulumi destroy must not take the bucket and its data; the key stays replaceable for rotation."""
    deploy()
    assert [r.type for r in registrations if r.protect] == [BUCKET]
    bucket = mocks.one(BUCKET)
    assert bucket.inputs["bucket"] == "nix-cache"
    assert bucket.inputs["adopt"] is False
    assert bucket.inputs["owner"].endswith("/nix-cache/test"), "the stack that owns the bucket"


def test_every_resource_named_in_minio_is_replaced_delete_first(registrations: list[Registration]) -> None:
    """A replacement has the same name in MinIO: create-first would let the old one's delete remove it."""
    deploy()
    fixed_name = {BUCKET_POLICY, LIFECYCLE, BUCKET_OBJECT, USER, IAM_POLICY, ATTACHMENT}
    kinds = {r.type for r in registrations if r.type in fixed_name}
    assert kinds == fixed_name
    assert all(r.delete_before_replace for r in registrations if r.type in fixed_name)


def test_a_mistyped_key_stops_the_program() -> None:
    """Every key the stack sets is seen, so a typo is not silently ignored."""
    pulumi.runtime.set_all_config({**BASE_CONFIG, "nix-cache:bukcet": "x"}, ["minio:minioPassword"])
    with pytest.raises(
        ConfigError, match=r"nix-cache:bukcet: is not a setting .* did you mean nix-cache:bucket"
    ):
        load_config()


def test_protection_can_be_turned_off(registrations: list[Registration]) -> None:
    deploy({"nix-cache:protect": "false"})
    assert not any(r.protect for r in registrations)


def test_anonymous_policy_is_get_object_only(mocks: RecordingMocks) -> None:
    deploy()
    policy = mocks.one(BUCKET_POLICY)
    assert policy.inputs["bucket"] == "nix-cache"
    document = json.loads(policy.inputs["policy"])
    assert document == anonymous_download_policy("nix-cache")
    assert [s["Action"] for s in document["Statement"]] == [["s3:GetObject"]]


def test_writer_user_policy_and_attachment(mocks: RecordingMocks) -> None:
    deploy({"nix-cache:bucket": "my-cache", "nix-cache:writer": "ci-builder"})
    user = mocks.one(USER)
    assert user.inputs["name"] == "ci-builder"
    assert user.inputs["bucket"] == "my-cache", "claims of the user are kept on its bucket"
    assert user.inputs.get("secret") is None, "the provider generates the writer secret"
    policy = mocks.one(IAM_POLICY)
    assert policy.inputs["name"] == "my-cache-write"
    assert json.loads(policy.inputs["policy"]) == writer_policy("my-cache")
    attachment = mocks.one(ATTACHMENT)
    assert (attachment.inputs["user"], attachment.inputs["policy"], attachment.inputs["attached"]) == (
        "ci-builder",
        "my-cache-write",
        ["my-cache-write"],
    )


def test_adopt_reaches_every_resource_that_could_exist_already(mocks: RecordingMocks) -> None:
    """Bucket, user and policy take over hand-made ones only when nix-cache:adopt says so."""
    deploy({"nix-cache:adopt": "true"})
    assert [mocks.one(typ).inputs["adopt"] for typ in (BUCKET, USER, IAM_POLICY)] == [True, True, True]


def test_expiry_rules_are_the_computed_cover(mocks: RecordingMocks) -> None:
    deploy({"nix-cache:expireDays": "14"})
    ilm = mocks.one(LIFECYCLE)
    assert ilm.inputs["bucket"] == "nix-cache"
    assert [(r["id"], r["prefix"], r["days"]) for r in ilm.inputs["rules"]] == [
        (rule.rule_id, rule.prefix, rule.days) for rule in expiry_rules(14)
    ]
    assert not any(r["prefix"] in ("", "n", "ni", "nix") for r in ilm.inputs["rules"])


def test_no_expiry_when_kept_forever(mocks: RecordingMocks) -> None:
    """Still one lifecycle, with no rules: a rule added by hand is drift that up removes."""
    deploy({"nix-cache:expireDays": "0"})
    assert mocks.one(LIFECYCLE).inputs["rules"] == []


def test_cache_info_object(mocks: RecordingMocks) -> None:
    """nix-cache-info carries the configured fields and its content type (read back to find drift)."""
    deploy({"nix-cache:priority": "30", "nix-cache:wantMassQuery": "false"})
    obj = mocks.one(BUCKET_OBJECT)
    expected = nix_cache_info("/nix/store", False, 30)
    assert obj.inputs["key"] == "nix-cache-info"
    assert obj.inputs["bucket"] == "nix-cache"
    assert obj.inputs["content"] == expected == "StoreDir: /nix/store\nWantMassQuery: 0\nPriority: 30\n"
    assert obj.inputs["content_type"] == "text/x-nix-cache-info"


def test_generated_key_is_named_and_secret(mocks: RecordingMocks) -> None:
    result = deploy({"nix-cache:keyName": "homelab-3"})
    assert mocks.one(DYNAMIC).inputs["key_name"] == "homelab-3"
    assert result["values"]["keyName"] == "homelab-3"
    assert result["values"]["publicKey"].startswith("homelab-3:")
    assert result["secret"]["secretKey"]


def test_imported_key_creates_no_key_resource(mocks: RecordingMocks) -> None:
    pair = generate_key_pair("imported-1")
    result = deploy({"nix-cache:signingKey": pair.secret_key}, secret_keys=("nix-cache:signingKey",))
    assert mocks.of_type(DYNAMIC) == []
    assert result["values"]["publicKey"] == pair.public_key
    assert result["values"]["secretKey"] == pair.secret_key
    assert result["secret"]["secretKey"]


def test_served_check_fetches_anonymously_with_the_ca(mocks: RecordingMocks) -> None:
    deploy({"minio:minioCacertFile": "/etc/ssl/ca.pem", "minio:minioSsl": "true"})
    check = mocks.one(SERVED_CHECK)
    assert check.inputs["url"] == "https://127.0.0.1:9000/nix-cache"
    assert check.inputs["expected"] == nix_cache_info("/nix/store", True, 40)
    assert check.inputs["cacert_file"] == "/etc/ssl/ca.pem"
    assert check.inputs["insecure"] is False
    assert check.inputs["served"] is True
    assert "correct-horse" not in json.dumps(check.inputs), "no credentials: the check is anonymous"


def test_served_check_waits_for_the_whole_bucket(registrations: list[Registration]) -> None:
    """It runs after the bucket, its policy and nix-cache-info exist, or it would fail on a new cache."""
    deploy()
    [check] = [r for r in registrations if r.type == "nix-cache:index:ServedCheck"]
    assert check.depends_on_types == ["nix-cache:index:CacheBucket"]


def test_served_check_can_be_turned_off(mocks: RecordingMocks) -> None:
    deploy({"nix-cache:verify": "false"})
    assert mocks.of_type(SERVED_CHECK) == []


def test_outputs_are_complete_and_secrets_are_secret(mocks: RecordingMocks) -> None:
    result = deploy()
    assert set(result["values"]) == SECRET_OUTPUTS | PLAIN_OUTPUTS
    assert {name for name, secret in result["secret"].items() if secret} == SECRET_OUTPUTS


def test_no_secret_leaks_into_a_plain_output(mocks: RecordingMocks) -> None:
    result = deploy()
    values = result["values"]
    secrets = [values["writerSecretKey"], values["secretKey"].partition(":")[2], "correct-horse"]
    for name in PLAIN_OUTPUTS:
        assert not any(secret in values[name] for secret in secrets), name


def test_paste_ready_outputs(mocks: RecordingMocks) -> None:
    values = deploy()["values"]
    assert values["substituterUrl"] == "http://127.0.0.1:9000/nix-cache"
    assert values["bucketName"] == "nix-cache"
    assert values["writerAccessKey"] == "nixbuilder"
    assert values["writerSecretKey"] == "writer-secret-from-provider"
    assert values["awsCredentials"] == (
        "[nixbuilder]\naws_access_key_id = nixbuilder\naws_secret_access_key = writer-secret-from-provider\n"
    )
    assert f'"{values["publicKey"]}"' in values["nixosModule"]
    assert values["nixConf"].splitlines() == [
        "extra-substituters = http://127.0.0.1:9000/nix-cache",
        f"extra-trusted-public-keys = {values['publicKey']}",
    ]
    assert values["pushCommand"] == (
        "nix-cache-agent push --endpoint http://127.0.0.1:9000 --bucket nix-cache --profile nixbuilder "
        "--credentials-file /etc/nix/nix-cache-writer.credentials --expire-days 30 "
        "--upstream-keys cache.nixos.org-1 --key-file /etc/nix/127.0.0.1-1.sec -- ./result"
    )
    assert values["signCommand"] == (
        "nix store sign --recursive --key-file /etc/nix/127.0.0.1-1.sec ./result"
    )


def test_bad_config_stops_the_program_before_any_resource(mocks: RecordingMocks) -> None:
    """The program itself reports every problem with its key and registers nothing."""
    pulumi.runtime.set_all_config(
        {**BASE_CONFIG, "nix-cache:bucket": "Bad_Bucket", "nix-cache:expireDays": "-1"},
        ["minio:minioPassword"],
    )
    with pytest.raises(pulumi.RunError) as error:
        runpy.run_path(str(ROOT / "__main__.py"))
    assert "nix-cache:bucket: 'Bad_Bucket' is not a valid bucket name" in str(error.value)
    assert "nix-cache:expireDays: must not be negative" in str(error.value)
    assert mocks.registered == []


def test_program_exports_every_output(mocks: RecordingMocks) -> None:
    """__main__ builds the cache and exports each of its outputs under the same name."""
    exported: list[str] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        original = pulumi.export
        try:
            pulumi.export = lambda name, value: exported.append(name)
            runpy.run_path(str(ROOT / "__main__.py"))
        finally:
            pulumi.export = original

    program()
    assert set(exported) == SECRET_OUTPUTS | PLAIN_OUTPUTS


def test_several_builders_get_a_user_each_and_outputs_by_name(mocks: RecordingMocks) -> None:
    """One shared upload policy, one user and attachment per builder; per-builder outputs become maps."""
    result = deploy({"nix-cache:writers": '["nixbuilder", "pi-builder"]'})
    assert sorted(u.inputs["name"] for u in mocks.of_type(USER)) == ["nixbuilder", "pi-builder"]
    assert len(mocks.of_type(IAM_POLICY)) == 1
    assert sorted(a.inputs["user"] for a in mocks.of_type(ATTACHMENT)) == ["nixbuilder", "pi-builder"]
    values = result["values"]
    assert set(values["awsCredentials"]) == {"nixbuilder", "pi-builder"}
    assert "[pi-builder]\naws_access_key_id = pi-builder\n" in values["awsCredentials"]["pi-builder"]
    assert "--profile pi-builder " in values["pushCommand"]["pi-builder"]
    assert result["secret"]["awsCredentials"]
    assert result["secret"]["writerSecretKey"]


def test_a_private_cache_has_no_anonymous_policy_and_a_reader(mocks: RecordingMocks) -> None:
    result = deploy({"nix-cache:public": "false"})
    # Still owned, and empty: a policy added by hand (`mc anonymous set public`) is drift.
    assert mocks.one(BUCKET_POLICY).inputs["policy"] == ""
    assert sorted(u.inputs["name"] for u in mocks.of_type(USER)) == ["nixbuilder", "nixreader"]
    read_policy = [p for p in mocks.of_type(IAM_POLICY) if p.inputs["name"] == "nix-cache-read"]
    assert [json.loads(p.inputs["policy"]) for p in read_policy] == [reader_policy("nix-cache")]
    values = result["values"]
    url = "s3://nix-cache?profile=nixreader&endpoint=127.0.0.1:9000&scheme=http"
    assert values["substituterUrl"] == url
    assert f'"{url}"' in values["nixosModule"]
    assert values["readerAccessKey"] == "nixreader"
    assert {name for name in READER_SECRET_OUTPUTS if result["secret"][name]} == READER_SECRET_OUTPUTS
    check = mocks.one(SERVED_CHECK)
    assert (check.inputs["reader"], check.inputs["bucket"]) == ("nixreader", "nix-cache")


def test_retired_keys_reach_the_trusted_keys(mocks: RecordingMocks) -> None:
    deploy({"nix-cache:keyName": "cache-3", "nix-cache:retireKeys": "cache-1"})
    assert mocks.one(TRUSTED_KEYS).inputs["retired"] == ["cache-1"]


def test_resign_command_signs_everything_in_the_cache_as_the_writer(mocks: RecordingMocks) -> None:
    values = deploy()["values"]
    assert values["resignCommand"] == (
        "nix-cache-agent resign --endpoint http://127.0.0.1:9000 --bucket nix-cache --profile nixbuilder "
        "--credentials-file /etc/nix/nix-cache-writer.credentials --expire-days 30 "
        "--upstream-keys cache.nixos.org-1 --key-file /etc/nix/127.0.0.1-1.sec"
    )
    assert values["trustedPublicKeys"] == [values["publicKey"]]
