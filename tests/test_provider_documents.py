"""The providers' pure parts: documents compared by meaning, rules described alike from both sides."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from minio.commonconfig import DISABLED, ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from components.bucket import lifecycle_rule
from components.expiry import expiry_rules
from components.policies import anonymous_download_policy, to_json, writer_policy
from providers.lifecycle import describe_rule, desired_rule, rule_set, to_sdk_rule
from providers.policy_attachment import attached_policies
from providers.policy_document import canonical_policy_text, same_policy


def test_reordered_actions_and_resources_are_the_same_policy() -> None:
    """MinIO varies the order of actions between reads: that is no change."""
    policy = writer_policy("nix-cache")
    shuffled = json.loads(json.dumps(policy))
    for statement in shuffled["Statement"]:
        statement["Action"].reverse()
    shuffled["Statement"].reverse()
    assert same_policy(to_json(policy), json.dumps(shuffled))


def test_a_single_string_equals_a_one_item_list() -> None:
    stored = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::nix-cache/*",
            }
        ],
    }
    assert same_policy(stored, to_json(anonymous_download_policy("nix-cache")))


def test_a_hand_edit_is_a_change() -> None:
    """Adding ListBucket to the anonymous policy (what `mc anonymous set download` does) is drift."""
    edited = anonymous_download_policy("nix-cache")
    edited["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:ListBucket"],
            "Resource": ["arn:aws:s3:::nix-cache"],
        }
    )
    assert not same_policy(edited, anonymous_download_policy("nix-cache"))


def test_an_identity_policy_ignores_principal_only_when_told() -> None:
    """MinIO drops a user policy's Principal, so the recipe's policy equals ours there and only there."""
    with_principal = writer_policy("nix-cache")
    for statement in with_principal["Statement"]:
        statement["Principal"] = {"AWS": ["*"]}
    assert same_policy(with_principal, writer_policy("nix-cache"), identity=True)
    assert not same_policy(with_principal, writer_policy("nix-cache"))


def test_missing_policies_equal_only_each_other() -> None:
    assert same_policy(None, None)
    assert not same_policy(None, to_json(writer_policy("b")))


def test_canonical_text_is_stable() -> None:
    text = canonical_policy_text(writer_policy("b"))
    assert canonical_policy_text(text) == text
    assert " " not in text


def test_every_program_rule_reads_back_as_it_was_asked_for() -> None:
    """A rule the program writes, read from MinIO's XML, describes exactly as the desired rule."""
    wanted = [lifecycle_rule(rule) for rule in expiry_rules(30)]
    stored = LifecycleConfig([to_sdk_rule(rule) for rule in wanted])
    from_xml = LifecycleConfig.fromxml(stored.toxml(None))
    assert rule_set([describe_rule(rule) for rule in from_xml.rules]) == rule_set(
        [desired_rule(rule) for rule in wanted]
    )


@pytest.mark.parametrize(
    ("hand_made", "what"),
    [
        (Rule(ENABLED, Filter(prefix=""), "recipe", expiration=Expiration(days=30)), "whole-bucket rule"),
        (Rule(DISABLED, Filter(prefix="0"), "narinfo-0", expiration=Expiration(days=30)), "disabled"),
        (Rule(ENABLED, Filter(prefix="0"), "narinfo-0", expiration=Expiration(days=3)), "other days"),
        (
            Rule(
                ENABLED,
                Filter(prefix="0"),
                "narinfo-0",
                expiration=Expiration(date=datetime(2020, 1, 1, tzinfo=UTC)),
            ),
            "a date",
        ),
    ],
)
def test_hand_made_rules_differ_from_the_program_rule(hand_made: Rule, what: str) -> None:
    program = desired_rule({"id": "narinfo-0", "prefix": "0", "days": 30})
    assert describe_rule(hand_made) != program, what


def test_attached_policies_are_a_sorted_list() -> None:
    assert attached_policies({"policyName": "nix-cache-write,readwrite"}) == ["nix-cache-write", "readwrite"]
    assert attached_policies({"status": "enabled"}) == []
