"""How the user provider reads the keys acting as a user, on a MinIO with and without the bulk listing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from minio.error import MinioAdminException

from providers.connection import MinioSettings
from providers.identity import access_keys

SETTINGS = MinioSettings("127.0.0.1:9000", "admin", "root-secret")


class OldMinioAdmin:
    """What a MinIO from before the bulk listing (2023) answers: the call is unknown, the old one works."""

    def _url_open(self, **_: Any) -> Any:
        raise MinioAdminException("400", '{"Code":"XMinioAdminNotImplemented"}')

    def list_service_account(self, user: str) -> str:
        return json.dumps({"accounts": [{"accessKey": "svc-b", "parentUser": user}, {"accessKey": "svc-a"}]})


class RefusingAdmin(OldMinioAdmin):
    def _url_open(self, **_: Any) -> Any:
        raise MinioAdminException("403", '{"Code":"AccessDenied"}')


def test_an_older_minio_still_has_its_service_accounts_read() -> None:
    assert access_keys(OldMinioAdmin(), SETTINGS, "nixbuilder") == {  # type: ignore[arg-type]
        "service": ["svc-a", "svc-b"],
        "sts": [],
    }


def test_a_refusal_is_not_taken_for_an_older_minio() -> None:
    with pytest.raises(MinioAdminException):
        access_keys(RefusingAdmin(), SETTINGS, "nixbuilder")  # type: ignore[arg-type]
