"""The cache for real: the Pulumi engine and providers against a live MinIO, the Nix client against it.

The tests run in file order on one stack, the way a user's cache lives: created, used, checked for
who may do what, drifted and repaired, expired, rotated, broken mid-update and finally destroyed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from components.expiry import expiry_rules
from components.nix_keys import generate_key_pair
from components.nix_text import nix_cache_info
from devtools.minio_server import MinioServer
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e import s3
from tests.e2e.conftest import new_stack
from tests.nix_client import NixClient

BUCKET = "nix-cache"


@dataclass
class Live:
    stack: PulumiStack
    minio: MinioServer
    nix: NixClient
    workdir: Path

    def outputs(self) -> dict[str, Any]:
        return self.stack.outputs(show_secrets=True)

    def admin(self) -> Any:
        return s3.client(
            self.minio.endpoint_url, self.minio.credentials.user, self.minio.credentials.password
        )

    def writer(self) -> Any:
        out = self.outputs()
        return s3.client(self.minio.endpoint_url, out["writerAccessKey"], out["writerSecretKey"])

    def anonymous(self) -> Any:
        return s3.client(self.minio.endpoint_url)

    def publish(self) -> str:
        """Build a new input-addressed path, sign it with the stack's key, upload it as the writer."""
        out = self.outputs()
        path = self.nix.build_input_addressed()
        self.nix.sign(path, out["secretKey"])
        staging = self.workdir / f"upload-{secrets.token_hex(4)}"
        self.nix.copy_to_file_cache(path, staging)
        s3.upload_file_cache(self.writer(), out["bucketName"], staging)
        return path

    def substitute(self, path: str, trusted_key: str | None = None) -> Any:
        out = self.outputs()
        return self.nix.substitute(path, out["substituterUrl"], trusted_key or out["publicKey"])

    def object_keys(self) -> set[str]:
        listed = self.admin().list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return {entry["Key"] for entry in listed}

    def assert_converged(self) -> None:
        """No permanent diff: a preview right after, and again after a refresh, has nothing to do."""
        self.stack.preview("--expect-no-changes")
        self.stack.refresh()
        self.stack.preview("--expect-no-changes")


@pytest.fixture(scope="module")
def live(toolchain: Toolchain, minio: MinioServer, tmp_path_factory: pytest.TempPathFactory) -> Live:
    workdir = tmp_path_factory.mktemp("live")
    stack = new_stack(toolchain, minio, workdir / "pulumi", "e2e")
    return Live(stack=stack, minio=minio, nix=NixClient(workdir / "nix"), workdir=workdir)


def test_up_creates_the_cache_and_converges(live: Live) -> None:
    """One `pulumi up` makes a working cache; preview right after and after a refresh is clean."""
    live.stack.up()
    served = urllib.request.urlopen(f"{live.outputs()['substituterUrl']}/nix-cache-info").read()
    assert served.decode() == nix_cache_info("/nix/store", True, 40)
    live.assert_converged()


def test_plain_outputs_hide_secrets(live: Live) -> None:
    plain = live.stack.outputs()
    assert {plain[name] for name in ("secretKey", "writerSecretKey", "awsCredentials")} == {"[secret]"}
    assert plain["writerAccessKey"] == "nixbuilder"
    assert plain["publicKey"].startswith("127.0.0.1-1:")


def test_state_and_logs_hold_no_secret_in_clear(live: Live) -> None:
    """Writer secret, signing key and MinIO password are encrypted in the state and absent from output."""
    out = live.outputs()
    secret_values = {
        "writer secret": out["writerSecretKey"],
        "signing key": out["secretKey"].partition(":")[2],
        "MinIO root password": live.minio.credentials.password,
    }
    backend_files = "".join(
        p.read_text(errors="replace") for p in (live.workdir / "pulumi" / "backend").rglob("*") if p.is_file()
    )
    places = {
        "exported state": live.stack.export_state(),
        "backend files": backend_files,
        "stack config": live.stack.config_file.read_text() if live.stack.config_file else "",
        "preview output": live.stack.preview().stdout,
    }
    for place, text in places.items():
        for what, value in secret_values.items():
            assert value not in text, f"{what} in clear in {place}"


# Who may do what. The README's table lists exactly these cells.
ANONYMOUS_MATRIX = [
    ("GetObject nix-cache-info", "get_object", {"Key": "nix-cache-info"}, "ok"),
    ("HeadObject nix-cache-info", "head_object", {"Key": "nix-cache-info"}, "ok"),
    ("GetObject of a missing key", "get_object", {"Key": "missing.narinfo"}, "AccessDenied"),
    ("ListObjects", "list_objects_v2", {}, "AccessDenied"),
    ("PutObject", "put_object", {"Key": "evil.narinfo", "Body": b"x"}, "AccessDenied"),
    ("DeleteObject", "delete_object", {"Key": "nix-cache-info"}, "AccessDenied"),
    ("CreateMultipartUpload", "create_multipart_upload", {"Key": "nar/evil.nar"}, "AccessDenied"),
    ("GetBucketPolicy", "get_bucket_policy", {}, "AccessDenied"),
    ("GetBucketLifecycle", "get_bucket_lifecycle_configuration", {}, "AccessDenied"),
    ("DeleteBucketPolicy", "delete_bucket_policy", {}, "AccessDenied"),
]


@pytest.mark.parametrize(
    ("action", "method", "params", "expected"), ANONYMOUS_MATRIX, ids=[row[0] for row in ANONYMOUS_MATRIX]
)
def test_anonymous_may_only_download(
    live: Live, action: str, method: str, params: dict[str, Any], expected: str
) -> None:
    anonymous = live.anonymous()
    assert s3.error_code(getattr(anonymous, method), Bucket=BUCKET, **params) == expected


def test_anonymous_cannot_list_buckets(live: Live) -> None:
    assert s3.error_code(live.anonymous().list_buckets) == "AccessDenied"


def test_writer_can_do_what_nix_copy_needs(live: Live) -> None:
    """Location, 404 (not 403) for missing keys, reads, plain and multipart uploads, aborts."""
    writer = live.writer()
    assert s3.error_code(writer.get_bucket_location, Bucket=BUCKET) == "ok"
    assert s3.error_code(writer.head_object, Bucket=BUCKET, Key="missing.narinfo") == "404"
    assert s3.error_code(writer.get_object, Bucket=BUCKET, Key="nix-cache-info") == "ok"
    assert s3.error_code(writer.list_objects_v2, Bucket=BUCKET) == "ok"
    assert s3.error_code(writer.put_object, Bucket=BUCKET, Key="writer-probe.ls", Body=b"{}") == "ok"
    upload = writer.create_multipart_upload(Bucket=BUCKET, Key="nar/writer-probe.nar")
    part = writer.upload_part(
        Bucket=BUCKET, Key="nar/writer-probe.nar", UploadId=upload["UploadId"], PartNumber=1, Body=b"n" * 1024
    )
    assert s3.error_code(writer.list_multipart_uploads, Bucket=BUCKET) == "ok"
    parts = writer.list_parts(Bucket=BUCKET, Key="nar/writer-probe.nar", UploadId=upload["UploadId"])
    assert [p["ETag"] for p in parts["Parts"]] == [part["ETag"]]
    writer.complete_multipart_upload(
        Bucket=BUCKET,
        Key="nar/writer-probe.nar",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    aborted = writer.create_multipart_upload(Bucket=BUCKET, Key="nar/aborted.nar")
    assert (
        s3.error_code(
            writer.abort_multipart_upload, Bucket=BUCKET, Key="nar/aborted.nar", UploadId=aborted["UploadId"]
        )
        == "ok"
    )


def test_writer_can_do_nothing_else(live: Live) -> None:
    """No delete, no bucket administration, nothing in any other bucket."""
    admin, writer = live.admin(), live.writer()
    admin.create_bucket(Bucket="other-bucket")
    admin.put_object(Bucket="other-bucket", Key="private", Body=b"secret")
    denied: dict[str, tuple[Any, dict[str, Any]]] = {
        "DeleteObject": (writer.delete_object, {"Bucket": BUCKET, "Key": "writer-probe.ls"}),
        "DeleteObjects": (
            writer.delete_objects,
            {"Bucket": BUCKET, "Delete": {"Objects": [{"Key": "writer-probe.ls"}]}},
        ),
        "PutBucketPolicy": (writer.put_bucket_policy, {"Bucket": BUCKET, "Policy": "{}"}),
        "DeleteBucketPolicy": (writer.delete_bucket_policy, {"Bucket": BUCKET}),
        "GetBucketPolicy": (writer.get_bucket_policy, {"Bucket": BUCKET}),
        "DeleteBucketLifecycle": (writer.delete_bucket_lifecycle, {"Bucket": BUCKET}),
        "DeleteBucket": (writer.delete_bucket, {"Bucket": BUCKET}),
        "CreateBucket": (writer.create_bucket, {"Bucket": "writer-made"}),
        "GetObject in another bucket": (writer.get_object, {"Bucket": "other-bucket", "Key": "private"}),
        "PutObject in another bucket": (
            writer.put_object,
            {"Bucket": "other-bucket", "Key": "x", "Body": b"x"},
        ),
        "ListObjects in another bucket": (writer.list_objects_v2, {"Bucket": "other-bucket"}),
    }
    results = {name: s3.error_code(call, **params) for name, (call, params) in denied.items()}
    assert results == dict.fromkeys(denied, "AccessDenied")
    assert "writer-probe.ls" in live.object_keys(), "nothing was deleted"
    visible = writer.list_buckets().get("Buckets", []) if s3.error_code(writer.list_buckets) == "ok" else []
    assert "other-bucket" not in {b["Name"] for b in visible}


def test_nix_round_trip(live: Live) -> None:
    """Signed with secretKey, uploaded as the writer, substituted anonymously when publicKey is trusted."""
    path = live.publish()
    trusted = live.substitute(path)
    assert trusted.returncode == 0, trusted.stderr
    assert f"copying path '{path}' from '{live.outputs()['substituterUrl']}'" in trusted.stderr
    refused = live.substitute(path, trusted_key=generate_key_pair("127.0.0.1-1").public_key)
    assert refused.returncode != 0
    assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr


def test_drift_is_reported_and_repaired(live: Live) -> None:
    """Anonymous policy removed and nix-cache-info edited by hand: preview shows it, up repairs it."""
    admin = live.admin()
    admin.delete_bucket_policy(Bucket=BUCKET)
    admin.put_object(Bucket=BUCKET, Key="nix-cache-info", Body=b"StoreDir: /gnu/store\n")
    drift = live.stack.preview("--refresh", "--expect-no-changes", check=False)
    assert drift.returncode != 0
    assert "nix-cache-store-anonymous-download" in drift.stdout
    assert "nix-cache-store-cache-info" in drift.stdout
    live.stack.up()
    live.assert_converged()
    assert live.substitute(live.publish()).returncode == 0


def test_deleted_cache_info_is_recreated(live: Live) -> None:
    live.admin().delete_object(Bucket=BUCKET, Key="nix-cache-info")
    assert live.stack.preview("--refresh", "--expect-no-changes", check=False).returncode != 0
    live.stack.up()
    assert "nix-cache-info" in live.object_keys()
    live.stack.preview("--expect-no-changes")


def test_expiry_removes_what_the_rules_match_and_keeps_the_cache(live: Live) -> None:
    """MinIO holds exactly the program's rules; moved to a past date, they delete narinfos and NARs
    (MinIO's scanner runs every second here), keep nix-cache-info, and the cache still serves."""
    admin = live.admin()
    stored = admin.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert sorted((r["ID"], r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in stored) == sorted(
        (rule.rule_id, rule.prefix, rule.days) for rule in expiry_rules(30)
    )
    path = live.publish()
    uploaded = {key for key in live.object_keys() if key.endswith(".narinfo") or key.startswith("nar/")}
    past = datetime(2020, 1, 1, tzinfo=UTC)
    admin.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={
            "Rules": [
                {"ID": r["ID"], "Filter": r["Filter"], "Status": "Enabled", "Expiration": {"Date": past}}
                for r in stored
            ]
        },
    )
    deadline = time.monotonic() + 300
    while uploaded & live.object_keys() and time.monotonic() < deadline:
        time.sleep(2)
    assert not uploaded & live.object_keys(), "objects matched by the rules did not expire"
    assert "nix-cache-info" in live.object_keys()
    gone = live.substitute(path)
    assert gone.returncode != 0
    assert "does not appear to be a binary cache" not in gone.stderr
    # The hand-edited rules are drift: up puts the program's rules back, and the cache works again.
    assert live.stack.preview("--refresh", "--expect-no-changes", check=False).returncode != 0
    live.stack.up()
    live.stack.preview("--expect-no-changes")
    assert live.substitute(live.publish()).returncode == 0


def test_rotation_gives_a_new_key_that_works(live: Live) -> None:
    before = live.outputs()
    live.stack.set_config("nix-cache:keyName", "127.0.0.1-2")
    live.stack.up()
    after = live.outputs()
    assert after["keyName"] == "127.0.0.1-2"
    assert after["publicKey"].startswith("127.0.0.1-2:")
    assert after["publicKey"] != before["publicKey"]
    assert after["publicKey"] in after["nixosModule"]
    path = live.publish()
    assert live.substitute(path).returncode == 0
    assert live.substitute(path, trusted_key=before["publicKey"]).returncode != 0
    live.stack.preview("--expect-no-changes")


def test_bad_config_fails_preview_and_creates_nothing(live: Live, toolchain: Toolchain) -> None:
    stack = new_stack(toolchain, live.minio, live.workdir / "bad", "bad")
    stack.set_config("nix-cache:bucket", "bad-cache")
    stack.set_config("nix-cache:keyName", "has space")
    stack.set_config("nix-cache:publicUrl", "ftp://cache.example")
    for attempt in (stack.preview(check=False), stack.up(check=False)):
        assert attempt.returncode != 0
        text = attempt.stdout + attempt.stderr
        assert "nix-cache:keyName: 'has space' must not contain ':' or whitespace" in text
        assert "nix-cache:publicUrl: 'ftp://cache.example' must start with http:// or https://" in text
        assert "Traceback" not in text
    assert s3.error_code(live.admin().head_bucket, Bucket="bad-cache") == "404"
    state = json.loads(stack.export_state())
    assert not [r for r in state["deployment"].get("resources") or [] if r["type"].startswith("minio:")]


def test_minio_stopped_mid_update_fails_clearly_then_converges(live: Live) -> None:
    """MinIO dies while `pulumi up` is changing things: a clear error; after a restart, up converges."""
    live.stack.set_config("nix-cache:priority", "41")
    live.stack.set_config("nix-cache:expireDays", "20")
    assert live.minio.process is not None
    os.kill(live.minio.process.pid, signal.SIGSTOP)  # requests now hang mid-flight
    update = live.stack.spawn_up()
    assert update.stdout is not None
    lines = []
    for line in update.stdout:
        lines.append(line)
        if "updating" in line:
            break
    time.sleep(2)
    os.kill(live.minio.process.pid, signal.SIGKILL)
    os.kill(live.minio.process.pid, signal.SIGCONT)
    rest, _ = update.communicate(timeout=600)
    output = "".join(lines) + rest
    assert update.returncode != 0
    assert "connection refused" in output or "connection reset" in output or "EOF" in output, output
    live.minio.process.wait()
    live.minio.start()
    live.stack.up()
    live.assert_converged()
    served = urllib.request.urlopen(f"{live.outputs()['substituterUrl']}/nix-cache-info").read()
    assert served.decode() == nix_cache_info("/nix/store", True, 41)


def test_destroy_loses_no_data(live: Live) -> None:
    """Protected, destroy refuses the bucket; unprotected, MinIO still refuses a non-empty bucket."""
    before = live.object_keys()
    assert any(key.endswith(".narinfo") for key in before)
    protected = live.stack.destroy(check=False)
    assert protected.returncode != 0
    assert "protect" in protected.stdout + protected.stderr
    assert before <= live.object_keys()
    live.stack.up()
    live.stack.set_config("nix-cache:protect", "false")
    live.stack.up()
    unprotected = live.stack.destroy(check=False)
    assert unprotected.returncode != 0
    assert before - {"nix-cache-info"} <= live.object_keys()
