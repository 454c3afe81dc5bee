"""A Nix cache on a real MinIO, seen from every side: admin, writer, anonymous client, Nix.

Both the documents-on-MinIO tests and the full Pulumi run use it, so the same checks judge both.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from minio.credentials.providers import StaticProvider
from minio.crypto import encrypt
from minio.error import MinioAdminException
from minio.minioadmin import MinioAdmin

from devtools import s3
from devtools.minio_server import MinioServer
from devtools.nix_client import NixClient
from providers.connection import MinioSettings
from providers.errors import admin_error_code

ANONYMOUS_EXPECTED = {
    "GetObject nix-cache-info": "ok",
    "HeadObject nix-cache-info": "ok",
    "GetObject of a missing key": "NoSuchKey",  # MinIO says so even without ListBucket; AWS says 403
    "ListObjects": "AccessDenied",
    "ListBuckets": "AccessDenied",
    "PutObject": "AccessDenied",
    "DeleteObject": "AccessDenied",
    "CreateMultipartUpload": "AccessDenied",
    "GetBucketPolicy": "AccessDenied",
    "DeleteBucketPolicy": "AccessDenied",
    "GetBucketLifecycle": "AccessDenied",
}

WRITER_EXPECTED = {
    "GetBucketLocation": "ok",
    "HeadObject of a missing key": "404",
    "GetObject nix-cache-info": "ok",
    "ListObjects": "ok",
    "PutObject": "ok",
    "CreateMultipartUpload": "ok",
    "UploadPart": "ok",
    "ListMultipartUploads": "ok",
    "ListParts": "ok",
    "CompleteMultipartUpload": "ok",
    "AbortMultipartUpload": "ok",
    "CopyObject onto itself (a refresh)": "ok",
    "DeleteObject": "AccessDenied",
    "DeleteObjects": "AccessDenied",
    "PutObject nix-cache-info": "AccessDenied",
    "DeleteObject nix-cache-info": "AccessDenied",
    "ListBuckets": "only the cache bucket",
    "AddServiceAccount for itself": "AccessDenied",
    "SetUser (its own secret)": "AccessDenied",
    "PutBucketPolicy": "AccessDenied",
    "GetBucketPolicy": "AccessDenied",
    "DeleteBucketPolicy": "AccessDenied",
    "PutBucketLifecycle": "AccessDenied",
    "DeleteBucketLifecycle": "AccessDenied",
    "DeleteBucket": "AccessDenied",
    "CreateBucket": "AccessDenied",
    "GetObject in another bucket": "AccessDenied",
    "PutObject in another bucket": "AccessDenied",
    "ListObjects in another bucket": "AccessDenied",
}

OTHER_BUCKET = "someone-elses-bucket"


@dataclass
class CacheUnderTest:
    minio: MinioServer
    nix: NixClient
    workdir: Path
    bucket: str
    substituter_url: str
    public_key: str
    secret_key: str = field(repr=False)
    writer_access_key: str
    writer_secret_key: str = field(repr=False)

    @classmethod
    def from_outputs(cls, minio: MinioServer, outputs: dict[str, Any], workdir: Path) -> CacheUnderTest:
        """The cache as a stack's outputs (with secrets) describe it."""
        return cls(
            minio=minio,
            nix=NixClient(workdir / "nix"),
            workdir=workdir,
            bucket=outputs["bucketName"],
            substituter_url=outputs["substituterUrl"],
            public_key=outputs["publicKey"],
            secret_key=outputs["secretKey"],
            writer_access_key=outputs["writerAccessKey"],
            writer_secret_key=outputs["writerSecretKey"],
        )

    def admin(self) -> Any:
        return s3.client(
            self.minio.endpoint_url, self.minio.credentials.user, self.minio.credentials.password
        )

    def writer(self) -> Any:
        return s3.client(self.minio.endpoint_url, self.writer_access_key, self.writer_secret_key)

    def anonymous(self) -> Any:
        return s3.client(self.minio.endpoint_url)

    def object_keys(self) -> set[str]:
        listed = self.admin().list_objects_v2(Bucket=self.bucket).get("Contents", [])
        return {entry["Key"] for entry in listed}

    def publish(self) -> str:
        """Build a new input-addressed path, sign it with the cache's key, upload it as the writer."""
        path = self.nix.build_input_addressed()
        self.nix.sign(path, self.secret_key)
        staging = self.workdir / f"upload-{secrets.token_hex(4)}"
        self.nix.copy_to_file_cache(path, staging)
        s3.upload_file_cache(self.writer(), self.bucket, staging)
        return path

    def substitute(self, path: str, trusted_key: str | None = None) -> Any:
        return self.nix.substitute(path, self.substituter_url, trusted_key or self.public_key)

    def anonymous_results(self) -> dict[str, str]:
        """Each anonymous action of ``ANONYMOUS_EXPECTED``, tried for real."""
        client, bucket, code = self.anonymous(), self.bucket, s3.error_code
        return {
            "GetObject nix-cache-info": code(client.get_object, Bucket=bucket, Key="nix-cache-info"),
            "HeadObject nix-cache-info": code(client.head_object, Bucket=bucket, Key="nix-cache-info"),
            "GetObject of a missing key": code(client.get_object, Bucket=bucket, Key="missing.narinfo"),
            "ListObjects": code(client.list_objects_v2, Bucket=bucket),
            "ListBuckets": code(client.list_buckets),
            "PutObject": code(client.put_object, Bucket=bucket, Key="evil.narinfo", Body=b"x"),
            "DeleteObject": code(client.delete_object, Bucket=bucket, Key="nix-cache-info"),
            "CreateMultipartUpload": code(client.create_multipart_upload, Bucket=bucket, Key="nar/evil"),
            "GetBucketPolicy": code(client.get_bucket_policy, Bucket=bucket),
            "DeleteBucketPolicy": code(client.delete_bucket_policy, Bucket=bucket),
            "GetBucketLifecycle": code(client.get_bucket_lifecycle_configuration, Bucket=bucket),
        }

    def writer_results(self) -> dict[str, str]:
        """Each writer action of ``WRITER_EXPECTED``, tried for real (another bucket is made for it)."""
        admin, client, bucket, code = self.admin(), self.writer(), self.bucket, s3.error_code
        if code(admin.head_bucket, Bucket=OTHER_BUCKET) != "ok":
            admin.create_bucket(Bucket=OTHER_BUCKET)
        admin.put_object(Bucket=OTHER_BUCKET, Key="private", Body=b"not yours")
        results = {
            "GetBucketLocation": code(client.get_bucket_location, Bucket=bucket),
            "HeadObject of a missing key": code(client.head_object, Bucket=bucket, Key="missing.narinfo"),
            "GetObject nix-cache-info": code(client.get_object, Bucket=bucket, Key="nix-cache-info"),
            "ListObjects": code(client.list_objects_v2, Bucket=bucket),
            "PutObject": code(client.put_object, Bucket=bucket, Key="probe.ls", Body=b"{}"),
        }
        results.update(self._multipart(client))
        source = {"Bucket": bucket, "Key": "probe.ls"}
        names = [b["Name"] for b in client.list_buckets()["Buckets"]]
        results.update(
            {
                "CopyObject onto itself (a refresh)": code(
                    client.copy_object,
                    Bucket=bucket,
                    Key="probe.ls",
                    CopySource=source,
                    MetadataDirective="REPLACE",
                    ContentType="application/json",
                ),
                "PutObject nix-cache-info": code(
                    client.put_object, Bucket=bucket, Key="nix-cache-info", Body=b"x"
                ),
                "DeleteObject nix-cache-info": code(
                    client.delete_object, Bucket=bucket, Key="nix-cache-info"
                ),
                "ListBuckets": "only the cache bucket" if names == [bucket] else f"listed {names}",
                **self._self_service(),
            }
        )
        lifecycle = {
            "Rules": [{"ID": "x", "Filter": {"Prefix": "x"}, "Status": "Enabled", "Expiration": {"Days": 1}}]
        }
        results.update(
            {
                "DeleteObject": code(client.delete_object, Bucket=bucket, Key="probe.ls"),
                "DeleteObjects": _bulk_delete_code(client, bucket, "probe.ls"),
                "PutBucketPolicy": code(client.put_bucket_policy, Bucket=bucket, Policy="{}"),
                "GetBucketPolicy": code(client.get_bucket_policy, Bucket=bucket),
                "DeleteBucketPolicy": code(client.delete_bucket_policy, Bucket=bucket),
                "PutBucketLifecycle": code(
                    client.put_bucket_lifecycle_configuration, Bucket=bucket, LifecycleConfiguration=lifecycle
                ),
                "DeleteBucketLifecycle": code(client.delete_bucket_lifecycle, Bucket=bucket),
                "DeleteBucket": code(client.delete_bucket, Bucket=bucket),
                "CreateBucket": code(client.create_bucket, Bucket="writer-made-bucket"),
                "GetObject in another bucket": code(client.get_object, Bucket=OTHER_BUCKET, Key="private"),
                "PutObject in another bucket": code(
                    client.put_object, Bucket=OTHER_BUCKET, Key="x", Body=b"x"
                ),
                "ListObjects in another bucket": code(client.list_objects_v2, Bucket=OTHER_BUCKET),
            }
        )
        return results

    def _self_service(self) -> dict[str, str]:
        """What the writer can do to its own identity with MinIO's admin API (its own keys only)."""
        settings = MinioSettings(
            server=self.minio.address, user=self.writer_access_key, password=self.writer_secret_key
        )
        admin = MinioAdmin(
            endpoint=settings.server,
            credentials=StaticProvider(settings.user, settings.password),
            secure=False,
        )

        def code(call: Any, *args: Any, **kwargs: Any) -> str:
            try:
                call(*args, **kwargs)
            except MinioAdminException as error:
                return admin_error_code(error)
            return "ok"

        return {
            "AddServiceAccount for itself": code(
                admin.add_service_account,
                access_key="mine" + secrets.token_hex(4),
                secret_key=secrets.token_hex(12),
            ),
            "SetUser (its own secret)": code(admin.user_add, self.writer_access_key, secrets.token_hex(12)),
        }

    def _multipart(self, client: Any) -> dict[str, str]:
        bucket, key, code = self.bucket, "nar/probe.nar", s3.error_code
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        part = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"n" * 1024)
        listed = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
        completed = code(
            client.complete_multipart_upload,
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        aborted_id = client.create_multipart_upload(Bucket=bucket, Key="nar/aborted.nar")["UploadId"]
        return {
            "CreateMultipartUpload": "ok",
            "UploadPart": "ok",
            "ListMultipartUploads": code(client.list_multipart_uploads, Bucket=bucket),
            "ListParts": "ok" if [p["ETag"] for p in listed["Parts"]] == [part["ETag"]] else "wrong parts",
            "CompleteMultipartUpload": completed,
            "AbortMultipartUpload": code(
                client.abort_multipart_upload, Bucket=bucket, Key="nar/aborted.nar", UploadId=aborted_id
            ),
        }

    def expire_now(self) -> list[dict[str, Any]]:
        """Move the stored rules (same ids and filters) to a date in the past; return the originals."""
        admin = self.admin()
        stored: list[dict[str, Any]] = admin.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        past = datetime(2020, 1, 1, tzinfo=UTC)
        rules = [
            {"ID": r["ID"], "Filter": r["Filter"], "Status": "Enabled", "Expiration": {"Date": past}}
            for r in stored
        ]
        admin.put_bucket_lifecycle_configuration(Bucket=self.bucket, LifecycleConfiguration={"Rules": rules})
        return stored

    def wait_until_gone(self, keys: set[str], timeout: float = 300) -> set[str]:
        """Poll the listing (no GET or HEAD, which would expire objects on access) until ``keys`` are gone."""
        deadline = time.monotonic() + timeout
        while (left := keys & self.object_keys()) and time.monotonic() < deadline:
            time.sleep(2)
        return left


def _bulk_delete_code(client: Any, bucket: str, key: str) -> str:
    """DeleteObjects answers 200 with an error per key; report that key's error like a plain call."""
    answer = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    if any(d["Key"] == key for d in answer.get("Deleted", [])):
        return "ok"
    return str(answer["Errors"][0]["Code"])


# --- keys acting as a user, made beside the stack ------------------------------------------------


def add_service_account_for(admin: MinioAdmin, admin_secret: str, user: str) -> str:
    """``mc admin user svcacct add ALIAS USER``: a key acting as ``user`` (the SDK cannot name a target)."""
    access_key = f"svc{secrets.token_hex(6)}"
    body = {
        "status": "enabled",
        "accessKey": access_key,
        "secretKey": secrets.token_hex(16),
        "targetUser": user,
    }

    class AddServiceAccount:
        value = "add-service-account"

    admin._url_open(
        method="PUT",
        command=AddServiceAccount,  # type: ignore[arg-type]
        body=encrypt(json.dumps(body).encode(), admin_secret),
    )
    return access_key


def sts_credentials(minio: MinioServer, user: str, secret: str) -> dict[str, str]:
    """AssumeRole with the user's own keys, for as long as MinIO allows (a year)."""
    sts = boto3.client(
        "sts",
        endpoint_url=minio.endpoint_url,
        aws_access_key_id=user,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    answer = sts.assume_role(
        RoleArn="arn:minio:iam:::role/x", RoleSessionName="mine", DurationSeconds=31_536_000
    )
    credentials: dict[str, str] = answer["Credentials"]
    return credentials


def sts_code(minio: MinioServer, credentials: dict[str, str], bucket: str) -> str:
    as_sts = s3.client(minio.endpoint_url, credentials["AccessKeyId"], credentials["SecretAccessKey"])
    as_sts.meta.events.register(
        "before-sign.s3.*",
        lambda request, **_: request.headers.__setitem__("X-Amz-Security-Token", credentials["SessionToken"]),
    )
    return s3.error_code(as_sts.list_objects_v2, Bucket=bucket)
