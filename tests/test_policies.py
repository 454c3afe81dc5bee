"""Least privilege, statement by statement."""

from __future__ import annotations

import json

from components.policies import anonymous_download_policy, reader_policy, to_json, writer_policy


def _statements(document: dict) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(to_json(document))["Statement"]  # type: ignore[no-any-return]


def test_anonymous_may_only_get_objects() -> None:
    """Anonymous clients get s3:GetObject on the bucket's objects: no listing, no writes."""
    [statement] = _statements(anonymous_download_policy("nix-cache"))
    assert statement == {
        "Effect": "Allow",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject"],
        "Resource": ["arn:aws:s3:::nix-cache/*"],
    }


def test_writer_gets_what_nix_copy_needs_on_its_bucket() -> None:
    """Bucket-level: location, listing (404 instead of 403), multipart listing."""
    bucket_statement, *_ = _statements(writer_policy("nix-cache"))
    assert bucket_statement["Effect"] == "Allow"
    assert bucket_statement["Resource"] == ["arn:aws:s3:::nix-cache"]
    assert set(bucket_statement["Action"]) == {
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
    }


def test_writer_gets_what_nix_copy_needs_on_objects() -> None:
    _, object_statement, *_ = _statements(writer_policy("nix-cache"))
    assert object_statement["Effect"] == "Allow"
    assert object_statement["Resource"] == ["arn:aws:s3:::nix-cache/*"]
    assert set(object_statement["Action"]) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
    }


def test_writer_policy_has_no_principal_no_wildcards_and_no_delete() -> None:
    """An identity policy carries no Principal (MinIO drops it); nothing outside the bucket; no delete."""
    for statement in _statements(writer_policy("other")):
        assert "Principal" not in statement
        if statement["Effect"] == "Allow":
            assert all(r.startswith("arn:aws:s3:::other") for r in statement["Resource"])
            assert not any("*" in action or "Delete" in action for action in statement["Action"])


def test_writer_may_not_overwrite_or_delete_nix_cache_info() -> None:
    """One stolen builder key must not turn the cache off for every client."""
    cache_info = ["arn:aws:s3:::c/nix-cache-info"]
    [denied] = [s for s in _statements(writer_policy("c")) if s.get("Resource") == cache_info]
    assert denied == {
        "Effect": "Deny",
        "Action": ["s3:DeleteObject", "s3:PutObject"],
        "Resource": ["arn:aws:s3:::c/nix-cache-info"],
    }


def test_users_may_not_mint_keys_or_set_their_own_secret() -> None:
    """Without this MinIO lets any user add itself service accounts and change its own secret."""
    for policy in (writer_policy("c"), reader_policy("c")):
        denied = {"Effect": "Deny", "Action": ["admin:CreateServiceAccount", "admin:CreateUser"]}
        assert denied in _statements(policy)


def test_json_is_compact_and_key_sorted() -> None:
    """Keys sorted at every level, no spaces: one exact string per document."""
    document = {"b": [{"z": 1, "a": "x"}], "a": {"d": True, "c": None}}
    assert to_json(document) == '{"a":{"c":null,"d":true},"b":[{"a":"x","z":1}]}'


def test_json_does_not_depend_on_key_order() -> None:
    """The same policy built in another order is the same string, so it never shows a spurious diff."""
    policy = writer_policy("b")
    reordered = {
        "Statement": [dict(reversed(statement.items())) for statement in policy["Statement"]],
        "Version": policy["Version"],
    }
    assert list(reordered) != list(policy)
    assert list(reordered["Statement"][0]) != list(policy["Statement"][0])
    assert reordered == policy
    assert to_json(reordered) == to_json(policy)
