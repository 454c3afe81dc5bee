"""One plain line for every way talking to MinIO can fail, naming the endpoint and what to check.

The dynamic provider server reports any exception as a full Python traceback. ``ProviderError`` carries
a message meant for the user instead, and ``show_provider_errors_plainly`` makes the server print just
that message for it; any other exception (a bug) shows as one line too, its traceback on request.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from providers import sdk
from providers.connection import MinioSettings

#: Set to show the whole traceback of an unexpected provider failure instead of its one line.
TRACEBACK_ENV = "NIX_CACHE_TRACEBACK"


class ProviderError(Exception):
    """A failure explained for the user; shown as its message alone."""


def admin_error_code(error: sdk.MinioAdminException) -> str:
    """The ``Code`` of a MinIO admin error body (``XMinioAdminNoSuchUser``…), or its HTTP status."""
    status, body = error.__reduce__()[1]  # type: ignore[no-untyped-call]
    try:
        code = json.loads(body).get("Code")
    except (ValueError, AttributeError):
        code = None
    return str(code or status)


#: What can be gone from MinIO, and the error codes that say it is (S3 and admin answers alike).
Gone = Literal["bucket", "object", "bucket policy", "lifecycle", "user", "policy"]
GONE_CODES: dict[Gone, frozenset[str]] = {
    "bucket": frozenset({"NoSuchBucket"}),
    "object": frozenset({"NoSuchKey"}),
    "bucket policy": frozenset({"NoSuchBucketPolicy"}),
    "lifecycle": frozenset({"NoSuchLifecycleConfiguration"}),
    "user": frozenset({"XMinioAdminNoSuchUser"}),
    "policy": frozenset({"XMinioAdminNoSuchPolicy", "XMinioIAMNoSuchPolicy"}),
}


def error_code(error: BaseException) -> str | None:
    """The code MinIO answered with, for an S3 or an admin error; ``None`` for anything else."""
    if isinstance(error, sdk.S3Error):
        return error.code
    if isinstance(error, sdk.MinioAdminException):
        return admin_error_code(error)
    return None


def is_gone(error: BaseException, what: Gone, *more: Gone) -> bool:
    """Whether ``error`` says that one of the named things does not exist (the one rule for "already gone").

    Naming the things matters: a bucket policy's read tells "no policy" (``"bucket policy"``) from "no
    bucket" (``"bucket"``), and an error about something else is never taken for either.
    """
    code = error_code(error)
    return code is not None and any(code in GONE_CODES[kind] for kind in (what, *more))


@contextmanager
def unless_gone(what: Gone, *more: Gone) -> Iterator[None]:
    """Run a removal; an error saying one of the named things does not exist means it is done already."""
    try:
        yield
    except Exception as error:
        if not is_gone(error, what, *more):
            raise


def is_already_applied(error: BaseException) -> bool:
    """Whether an admin policy change failed only because MinIO already had it (attaching twice)."""
    return error_code(error) == "XMinioAdminPolicyChangeAlreadyApplied"


def _credentials_hint(settings: MinioSettings, role: str | None) -> str:
    if role:
        return (
            f"the {role} {settings.user!r}'s secret in MinIO is not the one this stack made (set by hand?); "
            "`pulumi preview` shows it and `pulumi up` sets it back"
        )
    return f"check minio:minioUser ({settings.user!r}) and minio:minioPassword"


def _not_admin(settings: MinioSettings, where: str, role: str | None) -> str:
    if role:
        return (
            f"the {role} {settings.user!r} was refused by {where}; check its policy "
            "(`pulumi preview` shows one detached or changed by hand)"
        )
    return (
        f"minio:minioUser {settings.user!r} is not an admin of {where}; "
        "use the root user or one with the consoleAdmin policy"
    )


def _tls_hint(settings: MinioSettings) -> str:
    if settings.cacert_file:
        return (
            f"check that minio:minioCacertFile ({settings.cacert_file}) is the CA that signed "
            "MinIO's certificate"
        )
    return (
        "MinIO's certificate is not trusted by this machine: set minio:minioCacertFile to the CA that "
        "signed it (or minio:minioInsecure true, for testing only)"
    )


def describe(error: BaseException, settings: MinioSettings, doing: str, role: str | None = None) -> str:
    """One line: what was being done, at which endpoint, what went wrong, and what to check.

    ``role`` names whose credentials were used when they are not the admin's (``"reader"``): the hint
    then points at that user, not at ``minio:minioUser``.
    """
    where = f"MinIO at {settings.endpoint_url}"
    if isinstance(error, sdk.urllib3.exceptions.MaxRetryError) and error.reason is not None:
        error = error.reason
    if isinstance(error, sdk.urllib3.exceptions.SSLError):
        return f"{doing}: TLS with {where} failed ({_first_line(error)}); {_tls_hint(settings)}"
    if isinstance(error, sdk.urllib3.exceptions.NameResolutionError):
        return f"{doing}: cannot resolve the host of {where}; check minio:minioServer"
    if isinstance(error, sdk.urllib3.exceptions.NewConnectionError):
        return (
            f"{doing}: {where} is unreachable (connection refused); "
            "check minio:minioServer and that MinIO runs"
        )
    if isinstance(error, sdk.urllib3.exceptions.TimeoutError):
        return f"{doing}: {where} did not answer in time; check that MinIO runs and is not overloaded"
    if isinstance(error, sdk.urllib3.exceptions.ProtocolError | ConnectionError):
        return f"{doing}: the connection to {where} broke off ({_first_line(error)}); check that MinIO runs"
    if isinstance(error, sdk.S3Error):
        if error.code in ("InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"{doing}: {where} refused the credentials; {_credentials_hint(settings, role)}"
        if error.code == "AccessDenied":
            return f"{doing}: {_not_admin(settings, where, role)}"
        return f"{doing}: {where} answered {error.code}: {error.message}"
    if isinstance(error, sdk.MinioAdminException):
        code = admin_error_code(error)
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "XMinioAdminInvalidAccessKey"):
            return f"{doing}: {where} refused the credentials; {_credentials_hint(settings, role)}"
        if code in ("AccessDenied", "403"):
            return f"{doing}: {_not_admin(settings, where, role)}"
        return f"{doing}: {where} answered {code}"
    if isinstance(error, sdk.ServerError):
        return f"{doing}: {where} failed with HTTP {error.status_code}; check MinIO's own log"
    if isinstance(error, sdk.InvalidResponseError):
        hint = (
            "check minio:minioSsl (http against https?) and minio:minioServer "
            "(the S3 API port, not the console)"
        )
        return f"{doing}: {where} gave an answer that is not from an S3 API; {hint}"
    return f"{doing}: {where}: {type(error).__name__}: {_first_line(error)}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class _PlainTraceback:
    """Stands in for the ``traceback`` module inside the dynamic provider server."""

    def __getattr__(self, name: str) -> Any:
        return getattr(traceback, name)

    @staticmethod
    def format_exc(*args: Any, **kwargs: Any) -> str:
        error = sys.exc_info()[1]
        if isinstance(error, ProviderError):
            return str(error)
        if error is not None and not os.environ.get(TRACEBACK_ENV):
            return (
                f"internal error of the nix-cache providers: {type(error).__name__}: {_first_line(error)} "
                f"(set {TRACEBACK_ENV}=1 for the traceback, and please report it)"
            )
        return traceback.format_exc(*args, **kwargs)


def show_provider_errors_plainly() -> None:
    """Make the dynamic provider server report a ``ProviderError`` as its message, without a traceback.

    The server (``python -m pulumi.dynamic``) formats every failure with ``traceback.format_exc``; only
    in that process its module's ``traceback`` is replaced: a ``ProviderError`` shows as its message,
    anything else (a bug) as one line naming it, unless ``NIX_CACHE_TRACEBACK`` asks for the traceback.
    """
    server: Any = sys.modules.get("__main__")
    if (
        server is not None
        and hasattr(server, "_abort_with_traceback")
        and not isinstance(getattr(server, "traceback", None), _PlainTraceback)
    ):
        server.traceback = _PlainTraceback()
