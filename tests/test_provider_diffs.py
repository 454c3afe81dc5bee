"""Every provider's ``diff`` without a MinIO: each compared field is a change, the same state is none.

``diff(id, olds, news)`` gets the stored outputs (what ``create``/``read`` returned) and the program's
inputs (the props class's ``inputs()``, what the Resource sends). Each test changes one field only, so
dropping a field from a diff's comparison fails here, not first against a real MinIO. Documents and
rule sets are compared by meaning: another spelling of the same policy or rules is no change.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from minio.commonconfig import DISABLED, ENABLED, AndOperator, Filter, Tags
from minio.lifecycleconfig import (
    AbortIncompleteMultipartUpload,
    Expiration,
    NoncurrentVersionExpiration,
    Rule,
)
from pulumi.dynamic import DiffResult, ResourceProvider

from components.bucket import lifecycle_rule
from components.expiry import expiry_rules
from components.policies import anonymous_download_policy, reader_policy, state_policy, to_json, writer_policy
from components.signing_key import NixSigningKeyProps, _NixSigningKeyProvider
from providers.base import UNKNOWN, Props
from providers.bucket import BucketProps, BucketProvider
from providers.bucket_object import BucketObjectProps, BucketObjectProvider
from providers.bucket_policy import BucketPolicyProps, BucketPolicyProvider
from providers.iam_policy import IamPolicyProps, IamPolicyProvider
from providers.identity import parse_access_keys, reach_outside, user_groups
from providers.lifecycle import LifecycleProps, LifecycleProvider, describe_rule, desired_rule, rule_set
from providers.policy_attachment import PolicyAttachmentProps, PolicyAttachmentProvider, attached_policies
from providers.policy_document import canonical_policy
from providers.served_check import ServedCheckProps, ServedCheckProvider
from providers.trusted_keys import TrustedKeysProps, TrustedKeysProvider
from providers.user import CLEAN, UserProps, UserProvider

OWNER = "organization/nix-cache/test"
BUCKET = "nix-cache"


def diff(provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
    return provider.diff("id", olds, news)


def assert_no_change(provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]) -> None:
    result = diff(provider, olds, news)
    assert not result.changes
    assert not result.replaces


def assert_update(provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any]) -> None:
    """A change made in place: ``changes`` and no replacement."""
    result = diff(provider, olds, news)
    assert result.changes
    assert not result.replaces


def assert_replace(
    provider: ResourceProvider, olds: dict[str, Any], news: dict[str, Any], field: str, *, delete_first: bool
) -> None:
    result = diff(provider, olds, news)
    assert result.changes
    assert result.replaces == [field]
    assert result.delete_before_replace is delete_first


# --- bucket ------------------------------------------------------------------------------------------


def bucket_state() -> dict[str, Any]:
    """A bucket's outputs right after ``create``: its inputs, and the generation it wrote."""
    return {**BucketProps(bucket=BUCKET, owner=OWNER).inputs(), "generation": "0123abcd"}


def test_bucket_unchanged_is_no_change() -> None:
    assert_no_change(BucketProvider(), bucket_state(), BucketProps(bucket=BUCKET, owner=OWNER).inputs())


def test_bucket_of_another_name_is_a_replacement() -> None:
    """A bucket is never renamed: another name is another bucket (made before the old one's delete)."""
    news = BucketProps(bucket="other", owner=OWNER).inputs()
    assert_replace(BucketProvider(), bucket_state(), news, "bucket", delete_first=False)


def test_bucket_owner_changed_or_removed_by_hand_is_an_update() -> None:
    """The stack mark differs (another stack, or removed by hand: read says None): update marks it."""
    news = BucketProps(bucket=BUCKET, owner=OWNER).inputs()
    assert_update(BucketProvider(), {**bucket_state(), "owner": "organization/nix-cache/other"}, news)
    assert_update(BucketProvider(), {**bucket_state(), "owner": None}, news)


def test_bucket_adopt_alone_is_no_change() -> None:
    """``adopt`` only matters for a create: turning it off later changes nothing."""
    news = BucketProps(bucket=BUCKET, owner=OWNER, adopt=False).inputs()
    assert_no_change(BucketProvider(), {**bucket_state(), "adopt": True}, news)


# --- bucket policy -------------------------------------------------------------------------------------

ANONYMOUS = to_json(anonymous_download_policy(BUCKET))


def bucket_policy_inputs(policy: str = ANONYMOUS, bucket: str = BUCKET) -> dict[str, Any]:
    return BucketPolicyProps(bucket=bucket, policy=policy).inputs()


def test_bucket_policy_unchanged_is_no_change() -> None:
    assert_no_change(BucketPolicyProvider(), bucket_policy_inputs(), bucket_policy_inputs())


def test_bucket_policy_respelled_is_no_change() -> None:
    """A single string for a one-item list and ``"*"`` for ``{"AWS": ["*"]}``: the same policy."""
    respelled = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        },
    }
    olds = bucket_policy_inputs(json.dumps(respelled))
    assert_no_change(BucketPolicyProvider(), olds, bucket_policy_inputs())


def test_bucket_policy_with_reordered_actions_is_no_change() -> None:
    two = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            }
        ],
    }
    reordered = json.loads(json.dumps(two))
    reordered["Statement"][0]["Action"].reverse()
    reordered["Statement"][0]["Resource"].reverse()
    olds = bucket_policy_inputs(json.dumps(reordered))
    assert_no_change(BucketPolicyProvider(), olds, bucket_policy_inputs(json.dumps(two)))


def test_bucket_policy_widened_is_an_update() -> None:
    widened = anonymous_download_policy(BUCKET)
    widened["Statement"].append(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"}
    )
    assert_update(BucketPolicyProvider(), bucket_policy_inputs(json.dumps(widened)), bucket_policy_inputs())


def test_no_bucket_policy_is_a_state_of_its_own() -> None:
    """``""`` (a private cache) equals only ``""``: a policy added by hand, or one deleted, is a change."""
    provider = BucketPolicyProvider()
    assert_no_change(provider, bucket_policy_inputs(""), bucket_policy_inputs(""))
    assert_update(provider, bucket_policy_inputs(), bucket_policy_inputs(""))
    assert_update(provider, bucket_policy_inputs(""), bucket_policy_inputs())


def test_bucket_policy_of_another_bucket_is_a_replacement() -> None:
    news = bucket_policy_inputs(bucket="other")
    assert_replace(BucketPolicyProvider(), bucket_policy_inputs(), news, "bucket", delete_first=True)


# --- lifecycle ---------------------------------------------------------------------------------------


def lifecycle_inputs(days: int = 30, bucket: str = BUCKET) -> dict[str, Any]:
    return LifecycleProps(bucket=bucket, rules=[lifecycle_rule(r) for r in expiry_rules(days)]).inputs()


def lifecycle_state(rules: list[dict[str, Any]]) -> dict[str, Any]:
    """A lifecycle's outputs: the rules as ``read`` describes them (``describe_rule``)."""
    return {"bucket": BUCKET, "rules": rule_set([desired_rule(rule) for rule in rules])}


def test_lifecycle_unchanged_is_no_change() -> None:
    assert_no_change(LifecycleProvider(), lifecycle_state(lifecycle_inputs()["rules"]), lifecycle_inputs())


def test_lifecycle_rules_in_another_order_are_no_change() -> None:
    """MinIO gives rules back in its own order: a rule set, not a list."""
    olds = {"bucket": BUCKET, "rules": list(reversed(lifecycle_state(lifecycle_inputs()["rules"])["rules"]))}
    assert_no_change(LifecycleProvider(), olds, lifecycle_inputs())


def test_nothing_expiring_is_no_change_only_without_rules() -> None:
    """``expireDays: 0`` wants no rules; a rule added by hand is a change, and so are rules deleted."""
    provider = LifecycleProvider()
    assert_no_change(provider, {"bucket": BUCKET, "rules": []}, lifecycle_inputs(0))
    assert_update(provider, lifecycle_state(lifecycle_inputs()["rules"]), lifecycle_inputs(0))
    assert_update(provider, {"bucket": BUCKET, "rules": []}, lifecycle_inputs())


@pytest.mark.parametrize(
    ("field", "value"), [("days", 365), ("prefix", ""), ("id", "by-hand"), ("status", DISABLED)]
)
def test_one_rule_changed_in_one_field_is_an_update(field: str, value: Any) -> None:
    state = lifecycle_state(lifecycle_inputs()["rules"])
    state["rules"][0] = {**state["rules"][0], field: value}
    assert_update(LifecycleProvider(), state, lifecycle_inputs())


def test_one_rule_missing_or_one_more_is_an_update() -> None:
    rules = lifecycle_state(lifecycle_inputs()["rules"])["rules"]
    provider = LifecycleProvider()
    assert_update(provider, {"bucket": BUCKET, "rules": rules[1:]}, lifecycle_inputs())
    extra = {"id": "everything", "status": ENABLED, "prefix": "", "days": 1}
    assert_update(provider, {"bucket": BUCKET, "rules": [*rules, extra]}, lifecycle_inputs())


def test_lifecycle_of_another_bucket_is_a_replacement() -> None:
    olds = lifecycle_state(lifecycle_inputs()["rules"])
    assert_replace(LifecycleProvider(), olds, lifecycle_inputs(bucket="other"), "bucket", delete_first=True)


# --- bucket object -------------------------------------------------------------------------------------


def object_inputs(**changed: str) -> dict[str, Any]:
    fields = {"bucket": BUCKET, "key": "nix-cache-info", "content": "StoreDir: /nix/store\n"}
    return BucketObjectProps[str](**{**fields, "content_type": "text/x-nix-cache-info", **changed}).inputs()


def test_bucket_object_unchanged_is_no_change() -> None:
    assert_no_change(BucketObjectProvider(), object_inputs(), object_inputs())


@pytest.mark.parametrize(
    ("field", "value"), [("content", "StoreDir: /elsewhere\n"), ("content_type", "text/plain")]
)
def test_bucket_object_content_or_type_changed_is_an_update(field: str, value: str) -> None:
    assert_update(BucketObjectProvider(), object_inputs(**{field: value}), object_inputs())


@pytest.mark.parametrize(("field", "value"), [("bucket", "other"), ("key", "other-key")])
def test_bucket_object_elsewhere_is_a_replacement(field: str, value: str) -> None:
    news = object_inputs(**{field: value})
    assert_replace(BucketObjectProvider(), object_inputs(), news, field, delete_first=True)


# --- user --------------------------------------------------------------------------------------------


def user_inputs(name: str = "nixbuilder", bucket: str = BUCKET) -> dict[str, Any]:
    return UserProps(name=name, bucket=bucket, owner=OWNER).inputs()


def user_state(**read: Any) -> dict[str, Any]:
    """A user's outputs: its inputs, the clean state (``CLEAN``), its secret; ``read``: what differs."""
    return {**user_inputs(), **CLEAN, "secret": "the-stacks-secret", **read}


def test_user_unchanged_is_no_change() -> None:
    assert_no_change(UserProvider(), user_state(), user_inputs())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("enabled", False),
        ("groups", ["admins"]),
        ("access_keys", ["service:SVCACCT", "sts:STSKEY"]),
        ("secret_matches", False),
        ("bucket", "other"),
    ],
)
def test_user_differing_in_one_field_is_an_update(field: str, value: Any) -> None:
    """Disabled, in a group, with keys of its own, another secret (all by hand), or claimed elsewhere."""
    assert_update(UserProvider(), user_state(**{field: value}), user_inputs())


def test_a_user_state_from_before_a_field_existed_is_clean() -> None:
    """A state written before ``groups`` (…) existed was never read otherwise: it means the clean value."""
    olds = {key: value for key, value in user_state().items() if key not in CLEAN}
    assert_no_change(UserProvider(), olds, user_inputs())


def test_user_of_another_name_is_a_replacement() -> None:
    assert_replace(UserProvider(), user_state(), user_inputs(name="other"), "name", delete_first=True)


# --- IAM policy ----------------------------------------------------------------------------------------


def iam_policy_inputs(
    document: dict[str, Any] | None = None, name: str = "nix-cache-write", bucket: str = BUCKET
) -> dict[str, Any]:
    policy = to_json(document or writer_policy(BUCKET))
    return IamPolicyProps(name=name, policy=policy, bucket=bucket, owner=OWNER).inputs()


def test_iam_policy_unchanged_is_no_change() -> None:
    assert_no_change(IamPolicyProvider(), iam_policy_inputs(), iam_policy_inputs())


def test_iam_policy_with_a_principal_and_reordered_actions_is_no_change() -> None:
    """MinIO drops an identity policy's Principal and reorders actions: the same policy."""
    respelled = writer_policy(BUCKET)
    for statement in respelled["Statement"]:
        statement["Principal"] = {"AWS": ["*"]}
        statement["Action"] = list(reversed(statement["Action"]))
    respelled["Statement"].reverse()
    assert_no_change(IamPolicyProvider(), iam_policy_inputs(respelled), iam_policy_inputs())


def test_iam_policy_edited_is_an_update() -> None:
    assert_update(IamPolicyProvider(), iam_policy_inputs(reader_policy(BUCKET)), iam_policy_inputs())


def test_iam_policy_claimed_on_another_bucket_is_an_update() -> None:
    assert_update(IamPolicyProvider(), iam_policy_inputs(bucket="other"), iam_policy_inputs())


def test_iam_policy_of_another_name_is_a_replacement() -> None:
    news = iam_policy_inputs(name="other")
    assert_replace(IamPolicyProvider(), iam_policy_inputs(), news, "name", delete_first=True)


# --- policy attachment ---------------------------------------------------------------------------------


def attachment_inputs(user: str = "nixbuilder", policy: str = "nix-cache-write") -> dict[str, Any]:
    return PolicyAttachmentProps(user=user, policy=policy).inputs()


def test_attachment_unchanged_is_no_change() -> None:
    assert_no_change(PolicyAttachmentProvider(), attachment_inputs(), attachment_inputs())


@pytest.mark.parametrize(
    "attached", [[], ["nix-cache-write", "readwrite"], ["readwrite"]], ids=["detached", "extra", "other"]
)
def test_attachment_with_other_policies_attached_is_an_update(attached: list[str]) -> None:
    """Detached by hand, or another policy attached beside it or instead: exactly the one is wanted."""
    assert_update(
        PolicyAttachmentProvider(), {**attachment_inputs(), "attached": attached}, attachment_inputs()
    )


def test_attached_policies_in_another_order_are_no_change() -> None:
    olds = {**attachment_inputs(), "attached": ["b", "a"]}
    news = {**attachment_inputs(), "attached": ["a", "b"]}
    assert_no_change(PolicyAttachmentProvider(), olds, news)


@pytest.mark.parametrize(("field", "value"), [("user", "other"), ("policy", "other")])
def test_attachment_of_another_user_or_policy_is_a_replacement(field: str, value: str) -> None:
    news = attachment_inputs(**{field: value})
    assert_replace(PolicyAttachmentProvider(), attachment_inputs(), news, field, delete_first=True)


# --- served check --------------------------------------------------------------------------------------


def served_inputs(**changed: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "url": "https://s3.homelab.local/nix-cache",
        "expected": "StoreDir: /nix/store\n",
        "cacert_file": None,
        "insecure": False,
        "reader": "nixreader",
        "reader_secret": "reader-secret",
        "server": "s3.homelab.local",
        "bucket": BUCKET,
        "use_ssl": True,
    }
    return ServedCheckProps[str](**{**fields, **changed}).inputs()


def test_served_check_unchanged_is_no_change() -> None:
    assert_no_change(ServedCheckProvider(), served_inputs(), served_inputs())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("url", "https://cache.homelab.local"),
        ("expected", "StoreDir: /nix/store\nPriority: 41\n"),
        ("cacert_file", "/etc/ssl/ca.pem"),
        ("insecure", True),
        ("reader", "other"),
        ("reader_secret", "rotated"),
    ],
)
def test_served_check_with_one_input_changed_is_an_update(field: str, value: Any) -> None:
    """Any change of what is fetched, how, or as whom runs the check again."""
    assert_update(ServedCheckProvider(), served_inputs(**{field: value}), served_inputs())


def test_a_cache_no_longer_served_is_an_update() -> None:
    """``read`` found it not served (``served: False``): the next up checks again and fails if still so."""
    assert_update(ServedCheckProvider(), {**served_inputs(), "served": False}, served_inputs())


def test_a_public_check_has_no_reader_inputs() -> None:
    """An anonymous check sends no reader fields at all, as it always has (states hold none)."""
    public = ServedCheckProps[str](url="u", expected="e", cacert_file=None, insecure=False).inputs()
    assert public == {"url": "u", "expected": "e", "cacert_file": None, "insecure": False, "served": True}


# --- trusted keys --------------------------------------------------------------------------------------

OLD_KEY = "cache-1:b2xk"
NEW_KEY = "cache-2:bmV3"


def trusted_inputs(current: str = NEW_KEY, retired: tuple[str, ...] = ()) -> dict[str, Any]:
    return TrustedKeysProps(current=current, retired=list(retired)).inputs()


def trusted_state() -> dict[str, Any]:
    return {**trusted_inputs(), "keys": [NEW_KEY, OLD_KEY]}


def test_trusted_keys_unchanged_is_no_change() -> None:
    assert_no_change(TrustedKeysProvider(), trusted_state(), trusted_inputs())


def test_a_rotation_is_an_update() -> None:
    assert_update(TrustedKeysProvider(), trusted_state(), trusted_inputs(current="cache-3:dGhyZWU="))


def test_retiring_an_earlier_key_is_an_update() -> None:
    assert_update(TrustedKeysProvider(), trusted_state(), trusted_inputs(retired=("cache-1",)))


def test_a_current_key_not_known_yet_is_an_update() -> None:
    """In preview a new key's public half is unknown: show the update rather than guess."""
    assert_update(TrustedKeysProvider(), trusted_state(), trusted_inputs(current=UNKNOWN))


# --- signing key -------------------------------------------------------------------------------------


KEY_STATE = {"key_name": "cache-1", "public_key": "cache-1:cHVi", "secret_key": "cache-1:c2Vj"}


def test_signing_key_unchanged_is_no_change() -> None:
    news = NixSigningKeyProps(key_name="cache-1").inputs()
    assert_no_change(_NixSigningKeyProvider(), KEY_STATE, news)


def test_signing_key_of_another_name_is_a_replacement() -> None:
    """Rotating the key (a new name) makes a new key before the old one goes."""
    news = NixSigningKeyProps(key_name="cache-2").inputs()
    assert_replace(_NixSigningKeyProvider(), KEY_STATE, news, "key_name", delete_first=False)


# --- the props classes: what a Resource sends is what its provider reads back --------------------------


@pytest.mark.parametrize(
    "props",
    [
        BucketProps(bucket=BUCKET, owner=OWNER, adopt=True),
        BucketPolicyProps(bucket=BUCKET, policy=""),
        LifecycleProps(bucket=BUCKET, rules=[{"id": "nar", "prefix": "nar/", "days": 31}]),
        BucketObjectProps(bucket=BUCKET, key="k", content="c", content_type="text/plain"),
        UserProps(name="nixbuilder", bucket=BUCKET, owner=OWNER),
        IamPolicyProps(name="p", policy="{}", bucket=BUCKET, owner=OWNER, adopt=True),
        PolicyAttachmentProps(user="nixbuilder", policy="p"),
        ServedCheckProps[str](url="u", expected="e", cacert_file="/ca.pem", insecure=False),
        ServedCheckProps(
            url="u", expected="e", cacert_file=None, insecure=True, reader="r", reader_secret="s"
        ),
        TrustedKeysProps(current=NEW_KEY, retired=["cache-1"]),
        NixSigningKeyProps(key_name="cache-1"),
    ],
    ids=lambda props: type(props).__name__,
)
def test_props_read_back_from_their_inputs_and_from_the_outputs(props: Props) -> None:
    """``from_inputs`` of ``inputs()`` is the same props, and so is it of the outputs (more names).

    The engine leaves out every property whose value is ``None`` (seen with the real CLI: a served
    check without ``cacert_file``), so the props read back from what is left, too.
    """
    assert type(props).from_inputs(props.inputs()) == props
    assert type(props).from_inputs({**props.inputs(), "an_output": 1}) == props
    sent = {name: value for name, value in props.inputs().items() if value is not None}
    assert type(props).from_inputs(sent) == props


# --- the pure helpers behind read: normalised so that a diff is a change of meaning ----------------------


def test_describe_rule_of_a_prefix_rule_is_what_desired_rule_gives() -> None:
    rule = Rule(ENABLED, Filter(prefix="nar/"), "nar", expiration=Expiration(days=31))
    assert describe_rule(rule) == desired_rule({"id": "nar", "prefix": "nar/", "days": "31"})
    assert describe_rule(rule) == {"id": "nar", "status": ENABLED, "prefix": "nar/", "days": 31}


def _tags(**values: str) -> Tags:
    tags = Tags.new_object_tags()
    tags.update(values)
    return tags


def test_describe_rule_shows_what_the_program_never_writes() -> None:
    """A tag or and-filter, a date, a delete-marker expiry, other actions: each shows, so each is drift."""
    rule = Rule(
        ENABLED,
        Filter(and_operator=AndOperator(prefix="n", tags=_tags(k="v"))),
        None,
        expiration=Expiration(date=datetime(2020, 1, 1, tzinfo=UTC), expired_object_delete_marker=None),
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(1),
        noncurrent_version_expiration=NoncurrentVersionExpiration(2),
    )
    assert describe_rule(rule) == {
        "id": "",
        "status": ENABLED,
        "filter": "tag or and-filter",
        "date": "2020-01-01T00:00:00+00:00",
        "otherActions": ["abort_incomplete_multipart_upload", "noncurrent_version_expiration"],
    }
    marker = Rule(ENABLED, Filter(prefix=""), "m", expiration=Expiration(expired_object_delete_marker=True))
    assert describe_rule(marker) == {
        "id": "m",
        "status": ENABLED,
        "prefix": "",
        "expiredObjectDeleteMarker": True,
    }


def test_rule_set_orders_by_id_and_treats_none_as_empty() -> None:
    rules = [{"id": "b", "days": 1}, {"id": "a", "days": 2}]
    assert rule_set(rules) == [{"id": "a", "days": 2}, {"id": "b", "days": 1}]
    assert rule_set(list(reversed(rules))) == rule_set(rules)
    assert rule_set(None) == rule_set([]) == []


def test_canonical_policy_is_one_value_for_every_spelling() -> None:
    """Statements as a sorted set without duplicates, lists sorted, one Principal form, defaults filled."""
    spelled = {
        "Statement": [
            {"Principal": "*", "Action": ["s3:B", "s3:A"], "Resource": "r"},
            {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["s3:A", "s3:B"], "Resource": ["r"]},
        ]
    }
    assert canonical_policy(spelled) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:A", "s3:B"], "Resource": ["r"], "Principal": {"AWS": ["*"]}}
        ],
    }
    identity = canonical_policy(json.dumps(spelled), identity=True)
    assert identity["Statement"] == [{"Effect": "Allow", "Action": ["s3:A", "s3:B"], "Resource": ["r"]}]


def test_parse_access_keys_lists_a_users_keys_sorted() -> None:
    listing = {
        "nixbuilder": {
            "serviceAccounts": [{"accessKey": "SVC2"}, {"accessKey": "SVC1"}],
            "stsKeys": [{"accessKey": "STS1"}],
        },
        "someone": {"serviceAccounts": [{"accessKey": "THEIRS"}]},
    }
    assert parse_access_keys(listing, "nixbuilder") == {"service": ["SVC1", "SVC2"], "sts": ["STS1"]}
    assert parse_access_keys(listing, "someone") == {"service": ["THEIRS"], "sts": []}
    assert parse_access_keys({"nixbuilder": {"serviceAccounts": None}}, "nixbuilder") == {
        "service": [],
        "sts": [],
    }
    assert parse_access_keys({}, "nobody") == {"service": [], "sts": []}


def test_user_groups_are_sorted_and_none_is_empty() -> None:
    assert user_groups({"memberOf": ["b", "a"]}) == ["a", "b"]
    assert user_groups({"memberOf": None}) == user_groups({}) == []


def test_attached_policies_split_minio_s_comma_list() -> None:
    assert attached_policies({"policyName": "b,a"}) == ["a", "b"]
    assert attached_policies({"policyName": ""}) == attached_policies({}) == []


def test_the_programs_writer_and_reader_stay_inside_the_bucket() -> None:
    assert reach_outside(writer_policy(BUCKET), BUCKET) is None
    assert reach_outside(reader_policy(BUCKET), BUCKET) is None


@pytest.mark.parametrize(
    ("statement", "reason"),
    [
        ({"Action": ["s3:*"], "Resource": ["arn:aws:s3:::*"]}, "resources outside bucket"),
        ({"Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::nix-cache-other/*"]}, "resources outside"),
        ({"Action": ["admin:*"], "Resource": [f"arn:aws:s3:::{BUCKET}/*"]}, "actions outside S3"),
        ({"NotAction": ["s3:DeleteObject"], "Resource": ["*"]}, "NotAction or NotResource"),
        ({"Action": "s3:GetObject"}, "none named"),
    ],
)
def test_rights_beyond_the_bucket_are_named(statement: dict[str, Any], reason: str) -> None:
    """Adoption refuses a user whose policy reaches another bucket, administers MinIO, or is open-ended."""
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}
    found = reach_outside(document, BUCKET)
    assert found is not None
    assert reason in found


def test_a_deny_or_a_single_statement_reads_right() -> None:
    """A Deny never widens rights; a bare statement (not in a list) is read as one."""
    deny = {"Statement": [{"Effect": "Deny", "Action": ["admin:*"], "Resource": ["*"]}]}
    assert reach_outside(deny, BUCKET) is None
    bare = {"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"}}
    assert reach_outside(bare, BUCKET) is not None
    assert reach_outside(state_policy("pulumi-state"), BUCKET) is not None
