"""What a MinIO user can do beyond the policy attached to it: groups, its own keys, a changed secret.

A user's rights are the union of its own policies, its groups' policies, and every key that acts as it:
service accounts (which outlive a secret change) and STS credentials (up to a year). None of these shows
in the user's attached policies, so the user provider reads them here, ``preview`` shows them as drift,
and ``up`` takes them away. The admin calls the MinIO SDK lacks (listing every key of a user, revoking
its STS credentials) go through its own signed, encrypted request helper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from providers import sdk
from providers.connection import MinioSettings, clients_for
from providers.errors import admin_error_code


@dataclass(frozen=True)
class _AdminCommand:
    """An admin API path below ``/minio/admin/v3/``, in the shape the SDK's request helper takes."""

    value: str


_LIST_ACCESS_KEYS = _AdminCommand("list-access-keys-bulk")
_REVOKE_TOKENS = _AdminCommand("revoke-tokens/builtin")


def user_groups(user_info: dict[str, Any]) -> list[str]:
    """The groups a ``user_info`` answer says the user is a member of, sorted."""
    return sorted(user_info.get("memberOf") or [])


def parse_access_keys(listing: dict[str, Any], user: str) -> dict[str, list[str]]:
    """``{"service": […], "sts": […]}``: the access keys a ``list-access-keys-bulk`` answer gives ``user``."""
    entry = listing.get(user) or {}
    return {
        "service": sorted(key["accessKey"] for key in entry.get("serviceAccounts") or []),
        "sts": sorted(key["accessKey"] for key in entry.get("stsKeys") or []),
    }


#: What a MinIO older than the bulk listing (before 2024) answers for an admin call it does not know.
_UNKNOWN_CALL = ("400", "404", "405", "501", "InvalidRequest", "NotImplemented", "XMinioAdminNotImplemented")


def access_keys(admin: sdk.MinioAdmin, settings: MinioSettings, user: str) -> dict[str, list[str]]:
    """Every service account and STS credential acting as ``user``.

    A MinIO too old for the bulk listing still lists service accounts; it cannot list STS keys.
    """
    try:
        response = admin._url_open(  # the SDK has this call for LDAP users only
            method="GET",
            command=_LIST_ACCESS_KEYS,  # type: ignore[arg-type]
            query_params={"users": [user], "listType": "all"},
            preload_content=False,
        )
    except sdk.MinioAdminException as error:
        if admin_error_code(error) not in _UNKNOWN_CALL:
            raise
        accounts = json.loads(admin.list_service_account(user)).get("accounts") or []
        return {"service": sorted(a["accessKey"] for a in accounts), "sts": []}
    listing: dict[str, Any] = json.loads(sdk.decrypt(response, settings.password))
    return parse_access_keys(listing, user)


def revoke_sts(admin: sdk.MinioAdmin, user: str) -> None:
    """End every STS credential of ``user`` at once (MinIO's ``revoke-tokens``, full revoke)."""
    admin._url_open(
        method="POST",
        command=_REVOKE_TOKENS,  # type: ignore[arg-type]
        query_params={"user": user, "fullRevoke": "true"},
    )


def leave_groups(admin: sdk.MinioAdmin, user: str, groups: list[str]) -> None:
    for group in groups:
        # The SDK types ``members`` as a string, but MinIO wants the JSON list of names.
        admin.group_remove(group, [user])  # type: ignore[arg-type]


def secret_matches(settings: MinioSettings, user: str, secret: str, bucket: str) -> bool:
    """Whether MinIO still accepts ``secret`` for ``user`` (someone may have set another by hand).

    Any answer but "unknown key" or "bad signature" means the credentials are good, even a refusal.
    """
    as_user = replace(settings, user=user, password=secret)
    try:
        clients_for(as_user).s3.bucket_exists(bucket)
    except sdk.S3Error as error:
        return error.code not in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    return True


def _inside(resource: Any, bucket: str) -> bool:
    return isinstance(resource, str) and (
        resource == f"arn:aws:s3:::{bucket}" or resource.startswith(f"arn:aws:s3:::{bucket}/")
    )


def reach_outside(document: dict[str, Any], bucket: str) -> str | None:
    """What in ``document`` allows more than S3 actions on ``bucket`` (``None``: nothing does).

    Adoption takes over only a user whose rights stay in the cache bucket, as the manual recipe's
    writer's do; a user that can reach other buckets or administer MinIO is someone else's.
    """
    statements = document.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect", "Allow") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            return "a statement with NotAction or NotResource"
        actions = statement.get("Action") or []
        actions = actions if isinstance(actions, list) else [actions]
        outside_actions = sorted(str(a) for a in actions if not str(a).startswith("s3:"))
        if outside_actions:
            return f"actions outside S3: {outside_actions}"
        resources = statement.get("Resource") or []
        resources = resources if isinstance(resources, list) else [resources]
        outside = [r for r in resources if not _inside(r, bucket)]
        if outside or not resources:
            return f"resources outside bucket {bucket!r}: {sorted(map(str, outside)) or 'none named'}"
    return None
