"""Every way MinIO can fail becomes one line naming the endpoint and what to check."""

from __future__ import annotations

import base64
import json
import pickle
import sys
import types

import pytest
import urllib3.exceptions
from minio.error import MinioAdminException, S3Error
from pulumi.dynamic.dynamic import serialize_provider

from devtools.provider_classes import provider_classes
from providers.connection import MinioSettings
from providers.errors import (
    GONE_CODES,
    Gone,
    ProviderError,
    describe,
    is_already_applied,
    is_gone,
    show_provider_errors_plainly,
    unless_gone,
)
from providers.served_check import fetch

SETTINGS = MinioSettings(
    "s3.homelab.local:9000", "admin", "hunter2-secret", use_ssl=True, cacert_file="/ca.pem"
)


def _refused() -> urllib3.exceptions.MaxRetryError:
    reason = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return urllib3.exceptions.MaxRetryError(None, "/", reason)  # type: ignore[arg-type]


def _s3(code: str) -> S3Error:
    return S3Error(None, code, "message", "/nix-cache", "req", "host")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_refused(), "is unreachable (connection refused); check minio:minioServer and that MinIO runs"),
        (
            urllib3.exceptions.MaxRetryError(
                None,  # type: ignore[arg-type]
                "/",
                urllib3.exceptions.SSLError("certificate verify failed: unable to get local issuer"),
            ),
            "TLS with MinIO at https://s3.homelab.local:9000 failed (certificate verify failed",
        ),
        (_s3("InvalidAccessKeyId"), "refused the credentials; check minio:minioUser ('admin')"),
        (_s3("SignatureDoesNotMatch"), "refused the credentials"),
        (
            MinioAdminException("403", '{"Code":"AccessDenied","Message":"Access Denied."}'),
            "minio:minioUser 'admin' is not an admin of MinIO at https://s3.homelab.local:9000",
        ),
        (urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError()), "broke off"),
    ],
)
def test_failures_read_as_one_line(error: Exception, expected: str) -> None:
    line = describe(error, SETTINGS, "creating bucket 'nix-cache'")
    assert line.startswith("creating bucket 'nix-cache': ")
    assert expected in line
    assert "\n" not in line
    assert "hunter2-secret" not in line


def test_tls_failure_names_the_ca_file() -> None:
    error = urllib3.exceptions.SSLError("certificate verify failed")
    assert "minio:minioCacertFile (/ca.pem)" in describe(error, SETTINGS, "x")


def test_settings_hide_the_password() -> None:
    assert "hunter2-secret" not in repr(SETTINGS)


def test_every_provider_is_found() -> None:
    """The list below is found in the code: the MinIO kinds, the served check, the keys' two."""
    names = {cls.__name__ for cls in provider_classes()}
    assert names == {
        "BucketProvider",
        "BucketPolicyProvider",
        "LifecycleProvider",
        "BucketObjectProvider",
        "UserProvider",
        "IamPolicyProvider",
        "PolicyAttachmentProvider",
        "ServedCheckProvider",
        "TrustedKeysProvider",
        "_NixSigningKeyProvider",
    }


@pytest.mark.parametrize("provider", [cls() for cls in provider_classes()], ids=lambda p: type(p).__name__)
def test_providers_are_pickled_by_reference_and_hold_nothing(provider: object) -> None:
    """The state names the class by its dotted path (code edits cause no churn) and holds no settings."""
    pickled = base64.b64decode(serialize_provider(provider))
    module = type(provider).__module__
    assert module.encode() in pickled
    assert len(pickled) < 200, "pickled by value: the class must live in an importable module"
    assert pickle.loads(pickled).__dict__ == {}  # noqa: S301 - our own bytes


def test_the_server_reports_a_provider_error_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the dynamic provider server every failure is one line; a bug's traceback only on request."""
    import traceback

    server = types.ModuleType("fake_server")
    server._abort_with_traceback = object()  # type: ignore[attr-defined]
    server.traceback = traceback  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", server)
    show_provider_errors_plainly()
    try:
        raise ProviderError("bucket 'x' already exists")
    except ProviderError:
        assert server.traceback.format_exc() == "bucket 'x' already exists"
    monkeypatch.delenv("NIX_CACHE_TRACEBACK", raising=False)
    try:
        raise KeyError("bug")
    except KeyError:
        line = server.traceback.format_exc()
    assert line == (
        "internal error of the nix-cache providers: KeyError: 'bug' "
        "(set NIX_CACHE_TRACEBACK=1 for the traceback, and please report it)"
    )
    monkeypatch.setenv("NIX_CACHE_TRACEBACK", "1")
    try:
        raise KeyError("bug")
    except KeyError:
        assert "Traceback" in server.traceback.format_exc()


def test_outside_the_server_nothing_is_patched(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = types.ModuleType("program")
    monkeypatch.setitem(sys.modules, "__main__", plain)
    show_provider_errors_plainly()
    assert not hasattr(plain, "traceback")


def test_a_reader_refused_is_named_not_the_admin() -> None:
    """A private cache's check reads as the reader: its failure names the reader and the repair."""
    reader = MinioSettings("s3.homelab.local:9000", "nixreader", "reader-secret", use_ssl=True)
    bad_secret = describe(_s3("SignatureDoesNotMatch"), reader, "reading nix-cache-info", role="reader")
    assert "the reader 'nixreader''s secret in MinIO is not the one this stack made" in bad_secret
    assert "`pulumi up` sets it back" in bad_secret
    denied = describe(_s3("AccessDenied"), reader, "reading nix-cache-info", role="reader")
    assert "the reader 'nixreader' was refused by MinIO at https://s3.homelab.local:9000" in denied
    assert "minio:minioUser" not in bad_secret + denied


def _admin(code: str, status: str = "404") -> MinioAdminException:
    return MinioAdminException(status, json.dumps({"Code": code, "Message": "m"}))


@pytest.mark.parametrize(
    ("error", "what"),
    [
        (_s3("NoSuchBucket"), "bucket"),
        (_s3("NoSuchKey"), "object"),
        (_s3("NoSuchBucketPolicy"), "bucket policy"),
        (_s3("NoSuchLifecycleConfiguration"), "lifecycle"),
        (_admin("XMinioAdminNoSuchUser"), "user"),
        (_admin("XMinioAdminNoSuchPolicy"), "policy"),
        (_admin("XMinioIAMNoSuchPolicy"), "policy"),
    ],
)
def test_gone_is_one_rule_over_s3_and_admin_codes(error: Exception, what: Gone) -> None:
    """Each "does not exist" answer says its own thing is gone, and nothing else."""
    assert is_gone(error, what)
    others = [kind for kind in GONE_CODES if kind != what]
    assert not is_gone(error, others[0], *others[1:])


def test_a_bucket_policy_read_tells_no_policy_from_no_bucket() -> None:
    """``BucketPolicyProvider`` reads "" for no policy and gone for no bucket: the rule keeps them apart."""
    assert is_gone(_s3("NoSuchBucketPolicy"), "bucket policy")
    assert not is_gone(_s3("NoSuchBucketPolicy"), "bucket")
    assert is_gone(_s3("NoSuchBucket"), "bucket")
    assert not is_gone(_s3("NoSuchBucket"), "bucket policy")


@pytest.mark.parametrize(
    "error",
    [_s3("AccessDenied"), _admin("XMinioIAMPolicyInUse", "400"), _admin("AccessDenied", "403"), OSError("x")],
)
def test_other_failures_are_not_gone(error: Exception) -> None:
    """A refusal, a policy in use or a broken connection is never taken for "already gone"."""
    assert not is_gone(error, "bucket", *GONE_CODES)


def test_a_change_already_applied_is_told_apart() -> None:
    assert is_already_applied(_admin("XMinioAdminPolicyChangeAlreadyApplied", "400"))
    assert not is_already_applied(_admin("XMinioAdminNoSuchUser"))
    assert not is_already_applied(_s3("NoSuchBucket"))


@pytest.mark.parametrize(
    "url", ["http://cache.example/a b/nix-cache-info", "http://cache.example/\nx/nix-cache-info", "nope://x"]
)
def test_the_served_check_says_why_a_url_cannot_be_fetched_in_one_line(url: str) -> None:
    """A URL http.client refuses (InvalidURL, an unknown scheme) is a problem to report, not a crash."""
    fetched = fetch(url, None, False)
    assert fetched.body is None
    assert fetched.problem
    assert "\n" not in fetched.problem.replace("\\n", "")


def test_a_removal_of_what_is_gone_is_done_and_any_other_failure_is_not() -> None:
    with unless_gone("bucket", "lifecycle"):
        raise _s3("NoSuchLifecycleConfiguration")
    with pytest.raises(S3Error), unless_gone("bucket", "lifecycle"):
        raise _s3("NoSuchBucketPolicy")
    with pytest.raises(KeyError), unless_gone("user"):
        raise KeyError("a bug")
