"""This project's dynamic providers on a real MinIO, called in-process the way the provider server calls them.

The engine's contract, kind by kind: ``check(olds, news)`` before a create or update, ``create(inputs)``,
``read(id, state)`` on refresh (an empty id: gone), ``diff(id, state, inputs)``, ``update(id, state,
inputs)``, ``delete(id, state)``; the state is always what the previous create/update/read returned.
Hand changes are made beside the providers, with boto3 and the MinIO admin SDK, as a person would.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from minio.minioadmin import MinioAdmin
from pulumi.dynamic import ConfigureRequest, ResourceProvider
from pulumi.dynamic.config import Config

from components.bucket import lifecycle_rule
from components.expiry import expiry_rules
from components.nix_text import CACHE_INFO_CONTENT_TYPE, nix_cache_info
from components.policies import anonymous_download_policy, reader_policy, state_policy, to_json, writer_policy
from devtools import s3
from devtools.minio_server import MinioServer, free_port
from providers.base import MinioProvider
from providers.bucket import BucketProps, BucketProvider
from providers.bucket_object import BucketObjectProps, BucketObjectProvider
from providers.bucket_policy import BucketPolicyProps, BucketPolicyProvider
from providers.errors import ProviderError
from providers.iam_policy import IamPolicyProps, IamPolicyProvider, policy_from_info
from providers.lifecycle import LifecycleProps, LifecycleProvider
from providers.ownership import GENERATION_TAG, STACK_TAG, claim_tag
from providers.policy_attachment import PolicyAttachmentProps, PolicyAttachmentProvider, attached_policies
from providers.policy_document import canonical_policy
from providers.served_check import ServedCheckProps, ServedCheckProvider
from providers.user import UserProps, UserProvider
from tests.e2e.harness import add_service_account_for, sts_code, sts_credentials

OWNER = "organization/nix-cache/test"
OTHER_OWNER = "organization/nix-cache/other"
CACHE_INFO = nix_cache_info("/nix/store", want_mass_query=True, priority=40)
#: What refuses a request because of its signature, as opposed to what it may do.
BAD_KEYS = ("InvalidAccessKeyId", "SignatureDoesNotMatch")

P = TypeVar("P", bound=ResourceProvider)


# --- calling the providers the way the engine does ------------------------------------------------


def configured(
    provider_cls: type[P],
    server: MinioServer,
    *,
    address: str | None = None,
    user: str | None = None,
    password: str | None = None,
) -> P:
    """A provider after the engine's ``configure``, with the stack config pointing at ``server``."""
    provider = provider_cls()
    config = {
        "minio:minioServer": address or server.address,
        "minio:minioUser": user or server.credentials.user,
        "minio:minioPassword": password or server.credentials.password,
        "minio:minioSsl": "false",
    }
    provider.configure(ConfigureRequest(Config(config, "nix-cache")))
    return provider


def created(provider: ResourceProvider, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = provider.create(inputs)
    assert result.outs is not None
    return result.id, result.outs


def refreshed(
    provider: ResourceProvider, id_: str, state: dict[str, Any]
) -> tuple[str | None, dict[str, Any]]:
    result = provider.read(id_, state)
    return result.id, result.outs or {}


def updated(
    provider: ResourceProvider, id_: str, state: dict[str, Any], inputs: dict[str, Any]
) -> dict[str, Any]:
    outs = provider.update(id_, state, inputs).outs
    assert outs is not None
    return outs


def changes(provider: ResourceProvider, id_: str, state: dict[str, Any], inputs: dict[str, Any]) -> bool:
    return bool(provider.diff(id_, state, inputs).changes)


def failures(provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]) -> list[str]:
    return [failure.reason for failure in provider.check(olds, news).failures]


def drift_repaired(
    provider: ResourceProvider, id_: str, outs: dict[str, Any], inputs: dict[str, Any]
) -> dict[str, Any]:
    """A hand change read by ``refresh`` shows as a change, and ``up`` repairs it to what was made.

    Returns what the refresh saw, for the test to say what the hand change was.
    """
    live = refreshed(provider, id_, outs)[1]
    assert changes(provider, id_, live, inputs), "the hand change shows in preview"
    assert updated(provider, id_, live, inputs) == outs, "up sets it back as it was made"
    return live


def drifted(provider: ResourceProvider, id_: str, state: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """``pulumi up --refresh``: read the live state, then diff it against the program's inputs."""
    live_id, live = refreshed(provider, id_, state)
    assert live_id == id_
    return changes(provider, id_, live, inputs)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


# --- the inputs each Resource class builds: its props class, with this module's defaults -------------


def bucket_inputs(bucket: str, *, adopt: bool = False, owner: str = OWNER) -> dict[str, Any]:
    return BucketProps(bucket=bucket, owner=owner, adopt=adopt).inputs()


def bucket_policy_inputs(bucket: str, document: dict[str, Any] | None = None) -> dict[str, Any]:
    return BucketPolicyProps(
        bucket=bucket, policy=to_json(document or anonymous_download_policy(bucket))
    ).inputs()


def no_bucket_policy_inputs(bucket: str) -> dict[str, Any]:
    """A private cache's: no bucket policy at all."""
    return BucketPolicyProps(bucket=bucket, policy="").inputs()


def lifecycle_inputs(bucket: str, days: int = 30) -> dict[str, Any]:
    rules = [lifecycle_rule(rule) for rule in expiry_rules(days)]  # none for 0: nothing expires
    return LifecycleProps(bucket=bucket, rules=rules).inputs()


def cache_info_inputs(bucket: str, content: str = CACHE_INFO) -> dict[str, Any]:
    return BucketObjectProps(
        bucket=bucket, key="nix-cache-info", content=content, content_type=CACHE_INFO_CONTENT_TYPE
    ).inputs()


def user_inputs(name: str, bucket: str, *, adopt: bool = False) -> dict[str, Any]:
    return UserProps(name=name, bucket=bucket, owner=OWNER, adopt=adopt).inputs()


def iam_policy_inputs(
    name: str, bucket: str, document: dict[str, Any] | None = None, *, adopt: bool = False
) -> dict[str, Any]:
    policy = to_json(document or writer_policy(bucket))
    return IamPolicyProps(name=name, policy=policy, bucket=bucket, owner=OWNER, adopt=adopt).inputs()


def attachment_inputs(user: str, policy: str) -> dict[str, Any]:
    return PolicyAttachmentProps(user=user, policy=policy).inputs()


def served_check_inputs(
    minio: MinioServer, bucket: str, reader: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The anonymous check of ``bucket``'s nix-cache-info; with ``reader`` (a user's outputs), as it."""
    url, expected = f"{minio.endpoint_url}/{bucket}", CACHE_INFO
    if reader is None:
        return ServedCheckProps(url=url, expected=expected, cacert_file=None, insecure=False).inputs()
    return ServedCheckProps(
        url=url,
        expected=expected,
        cacert_file=None,
        insecure=False,
        reader=reader["name"],
        reader_secret=reader["secret"],
        server=minio.address,
        bucket=bucket,
        use_ssl=False,
    ).inputs()


# --- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def by_hand(minio: MinioServer) -> Any:
    """boto3 as the MinIO root user: the person changing things beside the stack."""
    return s3.client(minio.endpoint_url, minio.credentials.user, minio.credentials.password)


@pytest.fixture(scope="module")
def admin_by_hand(minio: MinioServer) -> MinioAdmin:
    """The MinIO admin SDK as the root user (``mc admin`` by hand): the devtools' root clients.

    They are the providers' own client object for these settings; the SDK keeps nothing between
    admin requests, so what it reads is what MinIO holds, whoever else uses it.
    """
    return minio.root_clients().admin


@pytest.fixture
def bucket(minio: MinioServer) -> str:
    """A fresh bucket made by this stack, as the users and policies of a cache need one for their claims."""
    name = unique("cache")
    created(configured(BucketProvider, minio), bucket_inputs(name))
    return name


@pytest.fixture
def writer(minio: MinioServer, bucket: str) -> str:
    """A user made by this stack in ``bucket``, with no policy yet."""
    name = unique("writer")
    created(configured(UserProvider, minio), user_inputs(name, bucket))
    return name


def tags(by_hand: Any, bucket: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in by_hand.get_bucket_tagging(Bucket=bucket)["TagSet"]}


def user_status(admin: MinioAdmin, name: str) -> str:
    return str(json.loads(admin.user_info(name))["status"])


def policies_of(admin: MinioAdmin, name: str) -> list[str]:
    return attached_policies(json.loads(admin.user_info(name)))


def stored_iam_policy(admin: MinioAdmin, name: str) -> dict[str, Any]:
    return canonical_policy(policy_from_info(admin.policy_info(name)), identity=True)


def s3_code(minio: MinioServer, access_key: str, secret_key: str, bucket: str) -> str:
    """What MinIO answers a GetBucketLocation (in the builtin readonly policy) signed with these keys."""
    as_user = s3.client(minio.endpoint_url, access_key, secret_key)
    return s3.error_code(as_user.get_bucket_location, Bucket=bucket)


# --- 1. the CRUD contract, kind by kind --------------------------------------------------------------


def assert_crud_contract(
    provider: ResourceProvider,
    inputs: dict[str, Any],
    changed: dict[str, Any],
    took_effect: Callable[[], None],
    emptied: dict[str, Any] | None = None,
) -> None:
    """Read after write, no diff on the same inputs, an update that holds, gone after delete, delete twice.

    ``emptied``: for a setting of a bucket (its policy, its rules), "none" is a state of its own that
    the program may want; after delete, read says so, and the program's inputs show as a change.
    """
    id_, outs = created(provider, inputs)
    assert refreshed(provider, id_, outs) == (id_, outs), "a refresh right after create changes nothing"
    assert not changes(provider, id_, outs, inputs), "an up right after create changes nothing"

    diff = provider.diff(id_, outs, changed)
    assert diff.changes
    assert not diff.replaces
    new_outs = updated(provider, id_, outs, changed)
    took_effect()
    assert refreshed(provider, id_, new_outs) == (id_, new_outs), (
        "a refresh right after update changes nothing"
    )
    assert not changes(provider, id_, new_outs, changed)

    provider.delete(id_, new_outs)
    after = refreshed(provider, id_, new_outs)
    if emptied is None:
        assert after[0] is None, "read of something deleted says gone"
    else:
        assert after == (id_, {**new_outs, **emptied}), "read of a setting deleted says: none"
        assert changes(provider, id_, after[1], changed), "and an up puts it back"
    provider.delete(id_, new_outs)  # gone is not an error


def test_bucket_crud_contract(minio: MinioServer, by_hand: Any) -> None:
    """A bucket reads back as created, an owner change re-marks it, and after delete it is gone for good."""
    name = unique("bucket")

    def marked_by_other_owner() -> None:
        assert tags(by_hand, name)[STACK_TAG] == OTHER_OWNER

    assert_crud_contract(
        configured(BucketProvider, minio),
        bucket_inputs(name),
        bucket_inputs(name, owner=OTHER_OWNER),
        marked_by_other_owner,
    )
    assert name not in {b["Name"] for b in by_hand.list_buckets()["Buckets"]}


def test_bucket_policy_crud_contract(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """A bucket policy reads back as set, an update replaces its meaning, and delete removes it."""
    new_document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/nar/*"],
            }
        ],
    }

    def only_nars_public() -> None:
        stored = by_hand.get_bucket_policy(Bucket=bucket)["Policy"]
        assert canonical_policy(stored) == canonical_policy(new_document)

    assert_crud_contract(
        configured(BucketPolicyProvider, minio),
        bucket_policy_inputs(bucket),
        bucket_policy_inputs(bucket, new_document),
        only_nars_public,
        emptied={"policy": ""},
    )
    assert s3.error_code(by_hand.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"


def test_lifecycle_crud_contract(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """The program's 188 expiry rules read back as set, a new expiry takes effect, and delete removes them."""

    def seven_days() -> None:
        rules = by_hand.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        days = {rule["ID"]: rule["Expiration"]["Days"] for rule in rules}
        assert days == {rule.rule_id: rule.days for rule in expiry_rules(7)}

    assert_crud_contract(
        configured(LifecycleProvider, minio),
        lifecycle_inputs(bucket),
        lifecycle_inputs(bucket, 7),
        seven_days,
        emptied={"rules": []},
    )
    assert s3.error_code(by_hand.get_bucket_lifecycle_configuration, Bucket=bucket) == (
        "NoSuchLifecycleConfiguration"
    )


def test_bucket_object_crud_contract(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """nix-cache-info reads back as written, an update rewrites it, and delete removes it."""
    new_content = nix_cache_info("/nix/store", want_mass_query=False, priority=10)

    def rewritten() -> None:
        got = by_hand.get_object(Bucket=bucket, Key="nix-cache-info")
        assert got["Body"].read().decode() == new_content
        assert got["ContentType"] == CACHE_INFO_CONTENT_TYPE

    assert_crud_contract(
        configured(BucketObjectProvider, minio),
        cache_info_inputs(bucket),
        cache_info_inputs(bucket, new_content),
        rewritten,
    )
    assert s3.error_code(by_hand.head_object, Bucket=bucket, Key="nix-cache-info") == "404"


def test_user_crud_contract(minio: MinioServer, bucket: str, by_hand: Any, admin_by_hand: MinioAdmin) -> None:
    """A user reads back as created (secret kept), another bucket moves its claim, delete removes it."""
    name = unique("writer")
    other_bucket = unique("other")
    created(configured(BucketProvider, minio), bucket_inputs(other_bucket))

    def claimed_in_other_bucket() -> None:
        assert tags(by_hand, other_bucket)[claim_tag("user", name)] == OWNER
        assert user_status(admin_by_hand, name) == "enabled"

    provider = configured(UserProvider, minio)
    assert_crud_contract(
        provider, user_inputs(name, bucket), user_inputs(name, other_bucket), claimed_in_other_bucket
    )
    assert name not in admin_by_hand.user_list()
    assert claim_tag("user", name) not in tags(by_hand, other_bucket), "delete releases the claim"


def test_iam_policy_crud_contract(
    minio: MinioServer, bucket: str, by_hand: Any, admin_by_hand: MinioAdmin
) -> None:
    """A policy reads back as written, update replaces its document, delete removes it and its claim."""
    name = unique("policy")

    def now_the_reader_policy() -> None:
        assert stored_iam_policy(admin_by_hand, name) == canonical_policy(
            reader_policy(bucket), identity=True
        )

    assert_crud_contract(
        configured(IamPolicyProvider, minio),
        iam_policy_inputs(name, bucket),
        iam_policy_inputs(name, bucket, reader_policy(bucket)),
        now_the_reader_policy,
    )
    assert name not in json.loads(admin_by_hand.policy_list())
    assert claim_tag("policy", name) not in tags(by_hand, bucket)


def test_policy_attachment_crud_contract(
    minio: MinioServer, bucket: str, writer: str, admin_by_hand: MinioAdmin
) -> None:
    """An attachment reads back as made; another policy is a replacement; after delete the user has none."""
    provider = configured(PolicyAttachmentProvider, minio)
    first, second = unique("policy"), unique("policy")
    policies = configured(IamPolicyProvider, minio)
    created(policies, iam_policy_inputs(first, bucket))
    created(policies, iam_policy_inputs(second, bucket, reader_policy(bucket)))

    id_, outs = created(provider, attachment_inputs(writer, first))
    assert refreshed(provider, id_, outs) == (id_, outs)
    assert not changes(provider, id_, outs, attachment_inputs(writer, first))
    assert policies_of(admin_by_hand, writer) == [first]

    diff = provider.diff(id_, outs, attachment_inputs(writer, second))
    assert diff.changes
    assert diff.replaces == ["policy"]
    assert diff.delete_before_replace
    provider.delete(id_, outs)  # the engine's replacement: delete the old one first, then create
    id_, outs = created(provider, attachment_inputs(writer, second))
    assert policies_of(admin_by_hand, writer) == [second]
    assert refreshed(provider, id_, outs) == (id_, outs)

    provider.delete(id_, outs)
    assert policies_of(admin_by_hand, writer) == []
    provider.delete(id_, outs)  # gone is not an error


def test_served_check_contract(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """A served nix-cache-info checks out, reads back unchanged, and a hand edit of it shows as drift."""
    created(configured(BucketPolicyProvider, minio), bucket_policy_inputs(bucket))
    objects = configured(BucketObjectProvider, minio)
    object_id, object_outs = created(objects, cache_info_inputs(bucket))
    provider = configured(ServedCheckProvider, minio)
    inputs = served_check_inputs(minio, bucket)

    id_, outs = created(provider, inputs)
    assert outs["served"] is True
    assert refreshed(provider, id_, outs) == (id_, outs)
    assert not changes(provider, id_, outs, inputs)

    by_hand.put_object(Bucket=bucket, Key="nix-cache-info", Body=b"StoreDir: /elsewhere\n")
    assert drifted(provider, id_, outs, inputs)
    updated(objects, object_id, object_outs, cache_info_inputs(bucket))
    assert updated(provider, id_, outs, inputs)["served"] is True


def test_served_check_of_a_private_cache_reads_as_the_reader(minio: MinioServer, bucket: str) -> None:
    """A private cache is checked with the reader's keys: not served without its policy, then served."""
    created(configured(BucketObjectProvider, minio), cache_info_inputs(bucket))
    _, reader = created(configured(UserProvider, minio), user_inputs(unique("reader"), bucket))
    provider = configured(ServedCheckProvider, minio)
    inputs = served_check_inputs(minio, bucket, reader)
    id_, outs = refreshed(provider, inputs["url"], inputs)
    assert (id_, outs["served"]) == (inputs["url"], False), "the reader may not read yet"

    policy = unique("reader-policy")
    created(configured(IamPolicyProvider, minio), iam_policy_inputs(policy, bucket, reader_policy(bucket)))
    created(configured(PolicyAttachmentProvider, minio), attachment_inputs(reader["name"], policy))
    _, outs = created(provider, inputs)
    assert outs["served"] is True
    assert refreshed(provider, inputs["url"], outs) == (inputs["url"], outs)


# --- 2. hand changes are seen --------------------------------------------------------------------------


@pytest.fixture
def bucket_policy(minio: MinioServer, bucket: str) -> tuple[BucketPolicyProvider, str, dict[str, Any]]:
    provider = configured(BucketPolicyProvider, minio)
    id_, outs = created(provider, bucket_policy_inputs(bucket))
    return provider, id_, outs


def test_bucket_policy_deleted_by_hand_is_drift(
    bucket_policy: tuple[BucketPolicyProvider, str, dict[str, Any]], bucket: str, by_hand: Any
) -> None:
    """A bucket policy deleted by hand reads as none, so the next up puts it back."""
    provider, id_, outs = bucket_policy
    by_hand.delete_bucket_policy(Bucket=bucket)
    live = drift_repaired(provider, id_, outs, bucket_policy_inputs(bucket))
    assert live == {**outs, "policy": ""}


def test_a_private_cache_given_a_bucket_policy_by_hand_is_drift(
    minio: MinioServer, bucket: str, by_hand: Any
) -> None:
    """`mc anonymous set public` on a private cache (no policy wanted) shows, and up removes it."""
    provider = configured(BucketPolicyProvider, minio)
    inputs = no_bucket_policy_inputs(bucket)
    id_, outs = created(provider, inputs)
    assert outs == inputs
    assert not drifted(provider, id_, outs, inputs)
    public = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": [f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    by_hand.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public))
    anonymous = s3.client(minio.endpoint_url)
    assert s3.error_code(anonymous.put_object, Bucket=bucket, Key="x", Body=b"x") == "ok", "open by hand"
    live = drift_repaired(provider, id_, outs, inputs)
    assert live["policy"]
    assert s3.error_code(anonymous.put_object, Bucket=bucket, Key="y", Body=b"y") == "AccessDenied"
    assert s3.error_code(by_hand.get_bucket_policy, Bucket=bucket) == "NoSuchBucketPolicy"


def test_bucket_policy_widened_by_hand_is_drift(
    bucket_policy: tuple[BucketPolicyProvider, str, dict[str, Any]], bucket: str, by_hand: Any
) -> None:
    """Anonymous listing added by hand to the bucket policy is a change the next up reverts."""
    provider, id_, outs = bucket_policy
    widened = anonymous_download_policy(bucket)
    widened["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
        }
    )
    by_hand.put_bucket_policy(Bucket=bucket, Policy=json.dumps(widened))
    assert drifted(provider, id_, outs, bucket_policy_inputs(bucket))

    live = refreshed(provider, id_, outs)[1]
    assert canonical_policy(updated(provider, id_, live, bucket_policy_inputs(bucket))["policy"]) == (
        canonical_policy(anonymous_download_policy(bucket))
    )
    stored = by_hand.get_bucket_policy(Bucket=bucket)["Policy"]
    assert canonical_policy(stored) == canonical_policy(anonymous_download_policy(bucket))


def test_bucket_policy_respelled_by_hand_is_no_drift(
    bucket_policy: tuple[BucketPolicyProvider, str, dict[str, Any]], bucket: str, by_hand: Any
) -> None:
    """The same bucket policy spelled another way (actions reordered, Principal "*") is no change."""
    provider, id_, outs = bucket_policy
    inputs = bucket_policy_inputs(bucket)
    respelled = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    by_hand.put_bucket_policy(Bucket=bucket, Policy=json.dumps(respelled))
    assert not drifted(provider, id_, outs, inputs)

    two_actions = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "*"},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            }
        ],
    }
    reordered = json.loads(json.dumps(two_actions))
    reordered["Statement"][0]["Action"].reverse()
    reordered["Statement"][0]["Resource"].reverse()
    reordered["Statement"][0]["Principal"] = "*"
    inputs = BucketPolicyProps(bucket=bucket, policy=json.dumps(two_actions)).inputs()
    id_, outs = created(provider, inputs)
    by_hand.put_bucket_policy(Bucket=bucket, Policy=json.dumps(reordered))
    assert not drifted(provider, id_, outs, inputs)


def _hand_rules(days: int = 30) -> list[dict[str, Any]]:
    """The program's expiry rules as a person would put them with boto3."""
    return [
        {
            "ID": rule.rule_id,
            "Filter": {"Prefix": rule.prefix},
            "Status": "Enabled",
            "Expiration": {"Days": rule.days},
        }
        for rule in expiry_rules(days)
    ]


def _days_changed(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rules[0]["Expiration"]["Days"] = 365
    return rules


def _one_removed(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for rule in rules if rule["ID"] != "nar"]


def _whole_bucket(_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"ID": "everything", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 30}}]


@pytest.mark.parametrize(
    "edit", [_days_changed, _one_removed, _whole_bucket], ids=["days", "removed", "whole"]
)
def test_lifecycle_edited_by_hand_is_drift(
    minio: MinioServer,
    bucket: str,
    by_hand: Any,
    edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
) -> None:
    """Expiry rules changed by hand (days, a rule dropped, one rule for all) are drift; up restores them."""
    provider = configured(LifecycleProvider, minio)
    inputs = lifecycle_inputs(bucket)
    id_, outs = created(provider, inputs)
    by_hand.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": edit(_hand_rules())}
    )
    assert drifted(provider, id_, outs, inputs)

    live = refreshed(provider, id_, outs)[1]
    assert updated(provider, id_, live, inputs) == outs
    assert not drifted(provider, id_, outs, inputs)


def test_lifecycle_deleted_by_hand_is_drift(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """Expiry rules deleted by hand read as none, so the next up sets them again."""
    provider = configured(LifecycleProvider, minio)
    id_, outs = created(provider, lifecycle_inputs(bucket))
    by_hand.delete_bucket_lifecycle(Bucket=bucket)
    live = drift_repaired(provider, id_, outs, lifecycle_inputs(bucket))
    assert live == {**outs, "rules": []}


def test_a_rule_added_by_hand_when_nothing_expires_is_drift(
    minio: MinioServer, bucket: str, by_hand: Any
) -> None:
    """`expireDays: 0` wants no rules: one added by hand would delete cached data, so up removes it."""
    provider = configured(LifecycleProvider, minio)
    inputs = lifecycle_inputs(bucket, 0)
    id_, outs = created(provider, inputs)
    assert outs == inputs
    assert not drifted(provider, id_, outs, inputs)
    rule = {"ID": "by-hand", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 1}}
    by_hand.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    live = drift_repaired(provider, id_, outs, inputs)
    assert [r["id"] for r in live["rules"]] == ["by-hand"]
    assert s3.error_code(by_hand.get_bucket_lifecycle_configuration, Bucket=bucket) == (
        "NoSuchLifecycleConfiguration"
    )


@pytest.mark.parametrize("days", [0, 36_502, 106_750, 1_000_000])
def test_a_rule_past_the_safe_range_is_refused(minio: MinioServer, bucket: str, days: int) -> None:
    """MinIO wraps an expiry date past its range into the past; the provider refuses such a rule itself."""
    provider = configured(LifecycleProvider, minio)
    inputs = LifecycleProps(bucket=bucket, rules=[{"id": "nar", "prefix": "nar/", "days": days}]).inputs()
    assert failures(provider, {}, inputs) == [f"rule 'nar' expires after {days} days; 1 to 36501 are safe"]


def test_cache_info_edited_by_hand_is_drift(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """nix-cache-info edited by hand (content or content type) is drift."""
    provider = configured(BucketObjectProvider, minio)
    inputs = cache_info_inputs(bucket)
    id_, outs = created(provider, inputs)
    by_hand.put_object(
        Bucket=bucket,
        Key="nix-cache-info",
        Body=CACHE_INFO.replace("40", "10").encode(),
        ContentType=CACHE_INFO_CONTENT_TYPE,
    )
    assert drifted(provider, id_, outs, inputs)
    by_hand.put_object(
        Bucket=bucket, Key="nix-cache-info", Body=CACHE_INFO.encode(), ContentType="text/plain"
    )
    assert drifted(provider, id_, outs, inputs)


def test_cache_info_deleted_by_hand_reads_as_gone(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """nix-cache-info deleted by hand is gone, so the next up writes it again."""
    provider = configured(BucketObjectProvider, minio)
    id_, outs = created(provider, cache_info_inputs(bucket))
    by_hand.delete_object(Bucket=bucket, Key="nix-cache-info")
    assert refreshed(provider, id_, outs) == (None, {})


def test_user_disabled_by_hand_is_drift_and_up_enables_it(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """A user disabled by hand reads as disabled, differs from the program, and update enables it again."""
    provider = configured(UserProvider, minio)
    inputs = user_inputs(unique("writer"), bucket)
    id_, outs = created(provider, inputs)
    admin_by_hand.user_disable(id_)

    live_id, live = refreshed(provider, id_, outs)
    assert (live_id, live["enabled"]) == (id_, False)
    assert changes(provider, id_, live, inputs)
    after = updated(provider, id_, live, inputs)
    assert after == outs, "the same secret, enabled again"
    assert user_status(admin_by_hand, id_) == "enabled"
    assert not drifted(provider, id_, after, inputs)


def test_user_deleted_by_hand_reads_as_gone(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """A user deleted by hand is gone, and so is its policy attachment."""
    provider = configured(UserProvider, minio)
    id_, outs = created(provider, user_inputs(unique("writer"), bucket))
    attachments = configured(PolicyAttachmentProvider, minio)
    attachment_id, attachment = created(attachments, attachment_inputs(id_, "readonly"))
    admin_by_hand.user_remove(id_)

    assert refreshed(provider, id_, outs) == (None, {})
    assert refreshed(attachments, attachment_id, attachment) == (None, {})
    attachments.delete(attachment_id, attachment)
    provider.delete(id_, outs)


@pytest.fixture
def attachment(
    minio: MinioServer, bucket: str, writer: str
) -> tuple[PolicyAttachmentProvider, str, dict[str, Any], dict[str, Any]]:
    policy = unique("policy")
    created(configured(IamPolicyProvider, minio), iam_policy_inputs(policy, bucket))
    provider = configured(PolicyAttachmentProvider, minio)
    inputs = attachment_inputs(writer, policy)
    id_, outs = created(provider, inputs)
    return provider, id_, outs, inputs


def test_policy_detached_by_hand_is_drift_and_up_attaches_it(
    attachment: tuple[PolicyAttachmentProvider, str, dict[str, Any], dict[str, Any]],
    admin_by_hand: MinioAdmin,
) -> None:
    """The writer's policy detached by hand is drift, and update attaches it again."""
    provider, id_, outs, inputs = attachment
    admin_by_hand.detach_policy([inputs["policy"]], user=inputs["user"])

    live = drift_repaired(provider, id_, outs, inputs)
    assert live["attached"] == []
    assert policies_of(admin_by_hand, inputs["user"]) == [inputs["policy"]]


def test_extra_policy_attached_by_hand_is_drift_and_up_detaches_it(
    attachment: tuple[PolicyAttachmentProvider, str, dict[str, Any], dict[str, Any]],
    admin_by_hand: MinioAdmin,
) -> None:
    """A policy attached to the writer by hand (readwrite) is drift; update detaches it: least privilege."""
    provider, id_, outs, inputs = attachment
    admin_by_hand.attach_policy(["readwrite"], user=inputs["user"])

    live = drift_repaired(provider, id_, outs, inputs)
    assert live["attached"] == sorted([inputs["policy"], "readwrite"])
    assert policies_of(admin_by_hand, inputs["user"]) == [inputs["policy"]]


def test_attachment_of_a_user_disabled_by_hand_still_deletes(
    attachment: tuple[PolicyAttachmentProvider, str, dict[str, Any], dict[str, Any]],
    admin_by_hand: MinioAdmin,
) -> None:
    """Deleting the attachment of a user disabled by hand succeeds and detaches the policy (destroy goes on).

    MinIO refuses policy changes on a disabled user as if it did not exist (``XMinioAdminNoSuchUser``),
    and ``pulumi destroy`` deletes the attachment before the user.
    """
    provider, id_, outs, inputs = attachment
    admin_by_hand.user_disable(inputs["user"])

    provider.delete(id_, outs)
    assert policies_of(admin_by_hand, inputs["user"]) == []


def test_iam_policy_edited_by_hand_is_drift(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """The writer's policy widened by hand (s3:* on everything) is drift, and update restores it."""
    provider = configured(IamPolicyProvider, minio)
    inputs = iam_policy_inputs(unique("policy"), bucket)
    id_, outs = created(provider, inputs)
    widened = writer_policy(bucket)
    widened["Statement"].append({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]})
    admin_by_hand.policy_add(id_, policy=widened)

    drift_repaired(provider, id_, outs, inputs)
    assert stored_iam_policy(admin_by_hand, id_) == canonical_policy(writer_policy(bucket), identity=True)


def test_iam_policy_with_a_principal_added_by_hand_is_no_drift(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """An identity policy re-put by hand with a Principal and reordered actions means the same: no change."""
    provider = configured(IamPolicyProvider, minio)
    inputs = iam_policy_inputs(unique("policy"), bucket)
    id_, outs = created(provider, inputs)
    respelled = writer_policy(bucket)
    for statement in respelled["Statement"]:
        statement["Principal"] = {"AWS": ["*"]}
        statement["Action"] = list(reversed(statement["Action"]))
    admin_by_hand.policy_add(id_, policy=respelled)
    assert not drifted(provider, id_, outs, inputs)


def test_bucket_mark_removed_by_hand_is_drift(minio: MinioServer, by_hand: Any) -> None:
    """A bucket whose stack mark was removed by hand is drift, and update marks it again."""
    provider = configured(BucketProvider, minio)
    inputs = bucket_inputs(unique("bucket"))
    id_, outs = created(provider, inputs)
    by_hand.delete_bucket_tagging(Bucket=id_)

    live = drift_repaired(provider, id_, outs, inputs)
    assert live["owner"] is None
    assert tags(by_hand, id_)[STACK_TAG] == OWNER
    assert tags(by_hand, id_)[GENERATION_TAG] == outs["generation"]


def test_everything_in_a_bucket_deleted_by_hand_reads_as_gone(
    minio: MinioServer, bucket: str, by_hand: Any
) -> None:
    """With the whole bucket deleted by hand, its policy, rules and nix-cache-info read as gone and delete."""
    kinds: list[tuple[ResourceProvider, dict[str, Any]]] = [
        (configured(BucketPolicyProvider, minio), bucket_policy_inputs(bucket)),
        (configured(LifecycleProvider, minio), lifecycle_inputs(bucket)),
        (configured(BucketObjectProvider, minio), cache_info_inputs(bucket)),
    ]
    made = [(provider, *created(provider, inputs)) for provider, inputs in kinds]
    by_hand.delete_object(Bucket=bucket, Key="nix-cache-info")
    by_hand.delete_bucket(Bucket=bucket)

    for provider, id_, outs in made:
        assert refreshed(provider, id_, outs) == (None, {}), type(provider).__name__
        provider.delete(id_, outs)
    bucket_provider = configured(BucketProvider, minio)
    assert refreshed(bucket_provider, bucket, bucket_inputs(bucket)) == (None, {})
    bucket_provider.delete(bucket, bucket_inputs(bucket))


# --- 3. never clobber ----------------------------------------------------------------------------------


def test_bucket_made_by_hand_is_refused(minio: MinioServer, by_hand: Any) -> None:
    """A bucket made by hand stops check and create with the way to take it over (nix-cache:adopt)."""
    name = unique("handmade")
    by_hand.create_bucket(Bucket=name)
    provider = configured(BucketProvider, minio)

    reasons = failures(provider, {}, bucket_inputs(name))
    assert len(reasons) == 1
    assert f"bucket {name!r} already exists in MinIO at {minio.endpoint_url}" in reasons[0]
    assert "nix-cache:adopt" in reasons[0]
    with pytest.raises(ProviderError, match="pulumi config set nix-cache:adopt true"):
        provider.create(bucket_inputs(name))
    assert s3.error_code(by_hand.get_bucket_tagging, Bucket=name) == "NoSuchTagSet", "left untouched"


def test_bucket_made_by_hand_is_adopted_with_its_objects(minio: MinioServer, by_hand: Any) -> None:
    """With adopt, a bucket made by hand is taken over and every object in it stays."""
    name = unique("handmade")
    by_hand.create_bucket(Bucket=name)
    keys = {"nix-cache-info", "abc.narinfo", "nar/abc.nar.xz"}
    for key in keys:
        by_hand.put_object(Bucket=name, Key=key, Body=key.encode())
    provider = configured(BucketProvider, minio)
    inputs = bucket_inputs(name, adopt=True)

    assert failures(provider, {}, inputs) == []
    id_, outs = created(provider, inputs)
    assert outs == {"bucket": name, "owner": OWNER, "adopt": True, "generation": outs["generation"]}
    assert tags(by_hand, name)[GENERATION_TAG] == outs["generation"]
    assert tags(by_hand, name)[STACK_TAG] == OWNER
    assert {o["Key"] for o in by_hand.list_objects_v2(Bucket=name)["Contents"]} == keys
    assert refreshed(provider, id_, outs) == (id_, outs)


def test_bucket_of_another_stack_is_refused(minio: MinioServer) -> None:
    """A bucket marked by another stack is not this stack's to take without adopt."""
    name = unique("theirs")
    created(configured(BucketProvider, minio), bucket_inputs(name, owner=OTHER_OWNER))
    provider = configured(BucketProvider, minio)
    assert "nix-cache:adopt" in failures(provider, {}, bucket_inputs(name))[0]
    with pytest.raises(ProviderError, match="was not made by this stack"):
        provider.create(bucket_inputs(name))


def test_user_made_by_hand_is_refused(minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin) -> None:
    """A user made by hand stops check and create, and keeps its secret."""
    name, secret = unique("writer"), secrets.token_hex(20)
    admin_by_hand.user_add(name, secret)
    provider = configured(UserProvider, minio)

    reasons = failures(provider, {}, user_inputs(name, bucket))
    assert len(reasons) == 1
    assert f"user {name!r} already exists" in reasons[0]
    assert "nix-cache:adopt" in reasons[0]
    with pytest.raises(ProviderError, match="nix-cache:adopt"):
        provider.create(user_inputs(name, bucket))
    admin_by_hand.attach_policy(["readonly"], user=name)
    assert s3_code(minio, name, secret, bucket) == "ok", "the hand-made secret still works"


def test_user_made_by_hand_is_adopted_with_a_new_secret(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin, by_hand: Any
) -> None:
    """With adopt, a user made by hand is taken over: a new secret that works, the old one refused."""
    name, old_secret = unique("writer"), secrets.token_hex(20)
    admin_by_hand.user_add(name, old_secret)
    admin_by_hand.policy_add(f"{name}-recipe", policy=writer_policy(bucket))
    admin_by_hand.attach_policy([f"{name}-recipe"], user=name)
    admin_by_hand.user_disable(name)
    provider = configured(UserProvider, minio)
    inputs = user_inputs(name, bucket, adopt=True)

    assert failures(provider, {}, inputs) == []
    id_, outs = created(provider, inputs)
    assert outs["secret"] not in (None, old_secret)
    assert outs["enabled"] is True
    assert user_status(admin_by_hand, name) == "enabled"
    assert s3_code(minio, name, outs["secret"], bucket) == "ok"
    assert s3_code(minio, name, old_secret, bucket) in BAD_KEYS
    assert tags(by_hand, bucket)[claim_tag("user", name)] == OWNER
    assert refreshed(provider, id_, outs) == (id_, outs)


def test_iam_policy_made_by_hand_is_refused(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """A policy made by hand stops check and create, and keeps its document."""
    name = unique("policy")
    admin_by_hand.policy_add(name, policy=reader_policy(bucket))
    provider = configured(IamPolicyProvider, minio)

    assert "nix-cache:adopt" in failures(provider, {}, iam_policy_inputs(name, bucket))[0]
    with pytest.raises(ProviderError, match="nix-cache:adopt"):
        provider.create(iam_policy_inputs(name, bucket))
    assert stored_iam_policy(admin_by_hand, name) == canonical_policy(reader_policy(bucket), identity=True)


def test_interrupted_bucket_create_is_resumed(minio: MinioServer) -> None:
    """A create repeated after an interrupted up finds its own bucket (by its mark) and succeeds."""
    provider = configured(BucketProvider, minio)
    inputs = bucket_inputs(unique("bucket"))
    first_id, first = created(provider, inputs)
    assert failures(provider, {}, inputs) == []
    again_id, again = created(provider, inputs)
    assert (again_id, {**again, "generation": None}) == (first_id, {**first, "generation": None})


def test_interrupted_user_create_is_resumed(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """A user create repeated after an interrupted up finds its own claim and succeeds; its secret works."""
    provider = configured(UserProvider, minio)
    inputs = user_inputs(unique("writer"), bucket)
    id_, first = created(provider, inputs)
    assert tags(by_hand, bucket)[claim_tag("user", id_)] == OWNER
    assert failures(provider, {}, inputs) == []
    again_id, again = created(provider, inputs)
    assert again_id == id_
    created(configured(PolicyAttachmentProvider, minio), attachment_inputs(id_, "readonly"))
    assert s3_code(minio, id_, again["secret"], bucket) == "ok", "the state's secret is the one that works"
    assert s3_code(minio, id_, first["secret"], bucket) in BAD_KEYS


def test_interrupted_iam_policy_create_is_resumed(minio: MinioServer, bucket: str) -> None:
    """A policy create repeated after an interrupted up finds its own claim and succeeds."""
    provider = configured(IamPolicyProvider, minio)
    inputs = iam_policy_inputs(unique("policy"), bucket)
    first_id, first = created(provider, inputs)
    assert failures(provider, {}, inputs) == []
    again_id, again = created(provider, inputs)
    assert (again_id, {**again, "generation": None}) == (first_id, {**first, "generation": None})


def test_iam_policy_attached_outside_the_stack_is_not_deleted(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin
) -> None:
    """Deleting a policy still attached to a user made by hand fails in one line saying how to detach it."""
    provider = configured(IamPolicyProvider, minio)
    id_, outs = created(provider, iam_policy_inputs(unique("policy"), bucket))
    someone = unique("someone")
    admin_by_hand.user_add(someone, secrets.token_hex(20))
    admin_by_hand.attach_policy([id_], user=someone)

    with pytest.raises(ProviderError, match="still attached to a user or group outside this stack") as raised:
        provider.delete(id_, outs)
    assert f"mc admin policy detach ALIAS {id_} --user NAME" in str(raised.value)
    assert refreshed(provider, id_, outs) == (id_, outs), "the policy stays"


# --- 4. cached data is never deleted ------------------------------------------------------------------


def test_bucket_delete_refuses_a_bucket_holding_objects(
    minio: MinioServer, bucket: str, by_hand: Any
) -> None:
    """Deleting a bucket that holds objects fails with a plain line, and every object stays."""
    keys = {"a.narinfo", "b.narinfo", "nar/a.nar.xz"}
    for key in keys:
        by_hand.put_object(Bucket=bucket, Key=key, Body=b"cached")
    provider = configured(BucketProvider, minio)

    with pytest.raises(ProviderError, match="3 object") as raised:
        provider.delete(bucket, bucket_inputs(bucket))
    assert "never deletes cached data" in str(raised.value)
    assert {o["Key"] for o in by_hand.list_objects_v2(Bucket=bucket)["Contents"]} == keys


# --- 5. errors are one plain line ----------------------------------------------------------------------


def test_wrong_password_fails_check_in_one_line(minio: MinioServer) -> None:
    """A wrong password stops check with the endpoint and what to check, never the password."""
    password = secrets.token_urlsafe(16)
    provider = configured(BucketProvider, minio, password=password)
    reasons = failures(provider, {}, bucket_inputs(unique("bucket")))
    assert len(reasons) == 1
    assert f"MinIO at {minio.endpoint_url} refused the credentials" in reasons[0]
    assert "check minio:minioUser" in reasons[0]
    assert "\n" not in reasons[0]
    assert password not in reasons[0]


def test_a_user_that_is_not_admin_fails_check_in_one_line(
    minio: MinioServer, admin_by_hand: MinioAdmin
) -> None:
    """minio:minioUser without admin rights stops check with what to use instead."""
    name, secret = unique("notadmin"), secrets.token_hex(20)
    admin_by_hand.user_add(name, secret)
    admin_by_hand.attach_policy(["readwrite"], user=name)
    provider = configured(IamPolicyProvider, minio, user=name, password=secret)
    reasons = failures(provider, {}, iam_policy_inputs(unique("policy"), "nix-cache"))
    assert len(reasons) == 1
    assert f"minio:minioUser {name!r} is not an admin of MinIO at" in reasons[0]
    assert minio.endpoint_url in reasons[0]
    assert "use the root user or one with the consoleAdmin policy" in reasons[0]
    assert secret not in reasons[0]


def test_unreachable_server_fails_check_in_one_line(minio: MinioServer) -> None:
    """A server where nothing listens stops check with 'unreachable' and the endpoint."""
    address = f"127.0.0.1:{free_port()}"
    provider = configured(UserProvider, minio, address=address)
    reasons = failures(provider, {}, user_inputs(unique("writer"), "nix-cache"))
    assert len(reasons) == 1
    assert f"MinIO at http://{address} is unreachable" in reasons[0]
    assert "\n" not in reasons[0]


def _inputs_of_every_kind(bucket: str) -> list[tuple[type[MinioProvider], dict[str, Any]]]:
    return [
        (BucketProvider, bucket_inputs(bucket)),
        (BucketPolicyProvider, bucket_policy_inputs(bucket)),
        (LifecycleProvider, lifecycle_inputs(bucket)),
        (BucketObjectProvider, cache_info_inputs(bucket)),
        (UserProvider, user_inputs("writer", bucket)),
        (IamPolicyProvider, iam_policy_inputs("writer-policy", bucket)),
        (PolicyAttachmentProvider, attachment_inputs("writer", "writer-policy")),
    ]


@pytest.mark.parametrize("kind", range(7), ids=lambda i: _inputs_of_every_kind("b")[i][0].__name__)
def test_create_with_a_wrong_password_raises_one_plain_line(
    minio: MinioServer, bucket: str, kind: int
) -> None:
    """Every create refused by MinIO raises ProviderError: one line naming the endpoint, no traceback."""
    provider_cls, inputs = _inputs_of_every_kind(bucket)[kind]
    password = secrets.token_urlsafe(16)
    provider = configured(provider_cls, minio, password=password)
    with pytest.raises(ProviderError) as raised:
        provider.create(inputs)
    assert type(raised.value) is ProviderError
    message = str(raised.value)
    assert f"MinIO at {minio.endpoint_url} refused the credentials" in message
    assert "\n" not in message
    assert "Traceback" not in message
    assert password not in message


def test_cache_info_not_served_fails_the_check_in_one_line(minio: MinioServer, bucket: str) -> None:
    """nix-cache-info that anonymous clients cannot fetch (no bucket policy) fails the check in one line."""
    created(configured(BucketObjectProvider, minio), cache_info_inputs(bucket))
    provider = configured(ServedCheckProvider, minio)
    url = f"{minio.endpoint_url}/{bucket}"
    inputs = served_check_inputs(minio, bucket)

    with pytest.raises(ProviderError) as raised:
        provider.create(inputs)
    assert type(raised.value) is ProviderError
    assert str(raised.value).startswith(f"{url}/nix-cache-info is not served to anonymous clients: HTTP 403")
    assert "\n" not in str(raised.value)
    assert refreshed(provider, url, inputs) == (url, {**inputs, "served": False})


# --- 6. the provider server's threads -------------------------------------------------------------------


def test_users_created_from_four_threads_at_once(minio: MinioServer, bucket: str, by_hand: Any) -> None:
    """One configured provider serves four threads at once; every user is made and every claim kept."""
    provider = configured(UserProvider, minio)
    names = [unique(f"writer{n}") for n in range(4)]
    start = threading.Barrier(len(names))

    def create_and_read(name: str) -> bool:
        start.wait(timeout=10)
        id_, outs = created(provider, user_inputs(name, bucket))
        return refreshed(provider, id_, outs) == (id_, outs)

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(create_and_read, names)) == [True] * 4
    claims = tags(by_hand, bucket)
    assert {name: claims.get(claim_tag("user", name)) for name in names} == dict.fromkeys(names, OWNER)


def test_a_bucket_s_settings_written_at_once_are_all_kept(minio: MinioServer, by_hand: Any) -> None:
    """The engine sets a new bucket's policy, expiry rules and tags from parallel threads; MinIO keeps them
    in one document and can lose one of several changes made at the same moment, so none may be lost."""
    policies, rules, claims = (
        configured(BucketPolicyProvider, minio),
        configured(LifecycleProvider, minio),
        configured(UserProvider, minio),
    )
    buckets = [unique("race") for _ in range(12)]
    for name in buckets:
        created(configured(BucketProvider, minio), bucket_inputs(name))
    expiry = [lifecycle_rule(rule) for rule in expiry_rules(30)]

    def settings(name: str) -> None:
        start = threading.Barrier(3)
        jobs: list[Callable[[], object]] = [
            lambda: policies.create(bucket_policy_inputs(name)),
            lambda: rules.create(LifecycleProps(bucket=name, rules=expiry).inputs()),
            lambda: claims.create(user_inputs(unique("racer"), name)),
        ]
        with ThreadPoolExecutor(max_workers=3) as pool:
            for future in [pool.submit(lambda job=job: (start.wait(timeout=10), job())) for job in jobs]:  # type: ignore[misc]
                future.result()

    for name in buckets:
        settings(name)
    lost = []
    for name in buckets:
        if s3.error_code(by_hand.get_bucket_policy, Bucket=name) != "ok":
            lost.append(f"{name}: policy")
        if s3.error_code(by_hand.get_bucket_lifecycle_configuration, Bucket=name) != "ok":
            lost.append(f"{name}: lifecycle")
        if not any(key.startswith("nix-cache/user/") for key in tags(by_hand, name)):
            lost.append(f"{name}: user claim")
    assert lost == []


# --- 6. the user's effective rights: groups, keys of its own, its secret ----------------------------


def repaired(provider: UserProvider, id_: str, outs: dict[str, Any], bucket: str) -> dict[str, Any]:
    """A hand change to a user is repaired to the created state, and the next preview is clean."""
    inputs = user_inputs(id_, bucket)
    live = drift_repaired(provider, id_, outs, inputs)
    assert not drifted(provider, id_, outs, inputs), "and the next preview is clean"
    return live


@pytest.fixture
def cache_writer(minio: MinioServer, bucket: str) -> tuple[UserProvider, str, dict[str, Any]]:
    """A writer made by this stack, with the program's writer policy attached."""
    provider = configured(UserProvider, minio)
    id_, outs = created(provider, user_inputs(unique("writer"), bucket))
    created(configured(IamPolicyProvider, minio), iam_policy_inputs(f"{id_}-write", bucket))
    created(configured(PolicyAttachmentProvider, minio), attachment_inputs(id_, f"{id_}-write"))
    return provider, id_, outs


def test_a_writer_put_in_a_group_is_drift_and_up_takes_it_out(
    minio: MinioServer,
    bucket: str,
    admin_by_hand: MinioAdmin,
    cache_writer: tuple[UserProvider, str, dict[str, Any]],
) -> None:
    """`mc admin group add … consoleAdmin`: the writer could then delete, make users, read other buckets."""
    provider, id_, outs = cache_writer
    group = unique("admins")
    admin_by_hand.group_add(group, [id_])  # type: ignore[arg-type]
    admin_by_hand.attach_policy(["consoleAdmin"], group=group)
    as_writer = s3.client(minio.endpoint_url, id_, outs["secret"])
    assert s3.error_code(as_writer.list_buckets) == "ok"
    assert s3.error_code(as_writer.create_bucket, Bucket=unique("new")) == "ok", "an admin now"

    assert repaired(provider, id_, outs, bucket)["groups"] == [group]
    assert json.loads(admin_by_hand.user_info(id_)).get("memberOf") in (None, [])
    assert s3.error_code(as_writer.create_bucket, Bucket=unique("new")) == "AccessDenied"


def test_keys_acting_as_the_writer_are_drift_and_up_ends_them(
    minio: MinioServer,
    bucket: str,
    admin_by_hand: MinioAdmin,
    cache_writer: tuple[UserProvider, str, dict[str, Any]],
) -> None:
    """A service account and year-long STS credentials outlive a secret change; up revokes both."""
    provider, id_, outs = cache_writer
    service = add_service_account_for(admin_by_hand, minio.credentials.password, id_)
    sts = sts_credentials(minio, id_, outs["secret"])
    assert sts_code(minio, sts, bucket) == "ok"

    live = repaired(provider, id_, outs, bucket)
    assert live["access_keys"] == [f"service:{service}", f"sts:{sts['AccessKeyId']}"]
    assert json.loads(admin_by_hand.list_service_account(id_)).get("accounts") in (None, [])
    assert sts_code(minio, sts, bucket) in ("AccessDenied", *BAD_KEYS, "ExpiredToken", "InvalidTokenId")
    assert s3_code(minio, id_, outs["secret"], bucket) == "ok", "its own secret still works"


def test_a_secret_set_by_hand_is_drift_and_up_sets_the_stacks_back(
    minio: MinioServer,
    bucket: str,
    admin_by_hand: MinioAdmin,
    cache_writer: tuple[UserProvider, str, dict[str, Any]],
) -> None:
    """A changed secret locks the builders out; up sets back the one the outputs hand out, policy kept."""
    provider, id_, outs = cache_writer
    admin_by_hand.user_add(id_, secrets.token_hex(20))
    assert s3_code(minio, id_, outs["secret"], bucket) in BAD_KEYS

    assert repaired(provider, id_, outs, bucket)["secret_matches"] is False
    assert s3_code(minio, id_, outs["secret"], bucket) == "ok"
    assert json.loads(admin_by_hand.user_info(id_))["policyName"] == f"{id_}-write"


@pytest.mark.parametrize("reach", ["readonly policy", "state user's policy", "group"])
def test_adoption_refuses_a_user_whose_rights_reach_outside_the_bucket(
    minio: MinioServer, bucket: str, admin_by_hand: MinioAdmin, by_hand: Any, reach: str
) -> None:
    """Only the recipe's kind of user is taken over; any other is refused before a change, no claim kept."""
    name, secret = unique("someone"), secrets.token_hex(20)
    admin_by_hand.user_add(name, secret)
    if reach == "readonly policy":
        admin_by_hand.attach_policy(["readonly"], user=name)
    elif reach == "state user's policy":
        admin_by_hand.policy_add(f"{name}-state", policy=state_policy("pulumi-state"))
        admin_by_hand.attach_policy([f"{name}-state"], user=name)
    else:
        admin_by_hand.group_add(unique("group"), [name])  # type: ignore[arg-type]
    provider = configured(UserProvider, minio)
    inputs = user_inputs(name, bucket, adopt=True)

    [reason] = failures(provider, {}, inputs)
    assert reason.startswith(
        f"user {name!r} in MinIO at {minio.endpoint_url} is not a cache user made by hand: "
    )
    with pytest.raises(ProviderError, match="choose another name"):
        provider.create(inputs)
    assert claim_tag("user", name) not in tags(by_hand, bucket), "a failed adoption leaves no claim"
    assert failures(provider, {}, user_inputs(name, bucket)) != [], "and a run without adopt still refuses"
    if reach != "group":
        assert s3_code(minio, name, secret, bucket) != "InvalidAccessKeyId", "its secret untouched"


def test_claims_past_minio_tag_limit_are_refused_before_the_user_is_made(
    minio: MinioServer, bucket: str, by_hand: Any, admin_by_hand: MinioAdmin
) -> None:
    """MinIO keeps 50 tags on a bucket; a claim that would need a 51st stops before anything is made."""
    own = {f"mine-{n}": "x" for n in range(49 - len(tags(by_hand, bucket)))}
    by_hand.put_bucket_tagging(
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in {**tags(by_hand, bucket), **own}.items()]},
    )
    provider = configured(UserProvider, minio)
    created(provider, user_inputs(unique("fits"), bucket))  # the 50th tag
    name = unique("one-too-many")
    with pytest.raises(ProviderError, match="MinIO keeps at most 50"):
        provider.create(user_inputs(name, bucket))
    with pytest.raises(Exception, match="XMinioAdminNoSuchUser"):
        admin_by_hand.user_info(name)


def test_a_replaced_bucket_is_not_deleted_by_its_old_self(minio: MinioServer, by_hand: Any) -> None:
    """`up --replace` of an unprotected bucket: create (same name) first, then the old one's delete."""
    provider = configured(BucketProvider, minio)
    inputs = bucket_inputs(unique("bucket"))
    id_, old = created(provider, inputs)
    again_id, new = created(provider, inputs)
    assert again_id == id_
    assert new["generation"] != old["generation"]
    provider.delete(id_, old)
    assert id_ in {b["Name"] for b in by_hand.list_buckets()["Buckets"]}, "the replacement's bucket stays"
    provider.delete(id_, new)
    assert id_ not in {b["Name"] for b in by_hand.list_buckets()["Buckets"]}
