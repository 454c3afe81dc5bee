"""The two access policies of the cache, as plain documents.

Least privilege, spelled out: anonymous clients may only download objects (Nix treats the 403 that
S3 answers for a missing key as "not there", so listing is not needed); the writer may do exactly what
``nix copy --to s3://`` does in its one bucket and nothing else (no delete, no other bucket, never
``nix-cache-info``, which only the stack writes). MinIO identity policies carry no ``Principal``: MinIO
drops it, which would leave a permanent diff.

MinIO lets every user act on its own credentials unless its policy says no: mint itself service
accounts (keys that outlive a secret change) and set its own secret. The users' policies deny both;
STS credentials cannot be denied by a policy (``sts:AssumeRole`` is not a MinIO action), so the user
provider sees and revokes them instead.
"""

from __future__ import annotations

from typing import Any

from components.expiry import CACHE_INFO_KEY
from providers.policy_document import to_json as to_json  # the one serializer, re-exported

POLICY_VERSION = "2012-10-17"

#: What ``nix copy --to s3://`` does on the bucket: find its region, tell 404 from 403 on missing keys,
#: and find stale multipart uploads.
WRITER_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
#: What it does on objects: read ``nix-cache-info`` and narinfos, upload NARs (multipart when large).
WRITER_OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
ANONYMOUS_OBJECT_ACTIONS = ("s3:GetObject",)
#: What Nix needs to substitute from a private ``s3://`` cache: find the region, tell 404 from 403 on
#: missing narinfos (that takes ListBucket), and read objects. Nothing else.
READER_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket")
READER_OBJECT_ACTIONS = ("s3:GetObject",)


#: What a user may do to its own identity in MinIO without an admin, and none of the cache's users needs.
SELF_SERVICE_ACTIONS = ("admin:CreateServiceAccount", "admin:CreateUser")
#: What the writer may not do to the one object the stack owns (``nix copy`` only reads it).
CACHE_INFO_WRITE_ACTIONS = ("s3:DeleteObject", "s3:PutObject")


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}/*"


def no_self_service() -> dict[str, Any]:
    """The statement that keeps a user from minting keys for itself or changing its own secret.

    MinIO refuses a ``Resource`` on admin actions (``arn:minio:admin:::*`` is "malformed"), so it has none.
    """
    return {"Effect": "Deny", "Action": list(SELF_SERVICE_ACTIONS)}


def user_policy(
    bucket_actions: tuple[str, ...], object_actions: tuple[str, ...], bucket: str, *extra: dict[str, Any]
) -> dict[str, Any]:
    """An identity policy for one bucket: these actions on it and its objects, and no self-service."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Action": list(bucket_actions), "Resource": [bucket_arn(bucket)]},
            {"Effect": "Allow", "Action": list(object_actions), "Resource": [objects_arn(bucket)]},
            *extra,
            no_self_service(),
        ],
    }


def writer_policy(bucket: str) -> dict[str, Any]:
    """The identity policy attached to the writer user: upload, never ``nix-cache-info``.

    One stolen builder key must not turn the cache off for every client: ``nix-cache-info`` is the
    stack's, and the writer may read it (``nix copy`` does) but not overwrite or delete it.
    """
    keep_cache_info = {
        "Effect": "Deny",
        "Action": list(CACHE_INFO_WRITE_ACTIONS),
        "Resource": [f"{bucket_arn(bucket)}/{CACHE_INFO_KEY}"],
    }
    return user_policy(WRITER_BUCKET_ACTIONS, WRITER_OBJECT_ACTIONS, bucket, keep_cache_info)


def reader_policy(bucket: str) -> dict[str, Any]:
    """The identity policy of a private cache's reader: download and look up, no write."""
    return user_policy(READER_BUCKET_ACTIONS, READER_OBJECT_ACTIONS, bucket)


#: What Pulumi's S3 backend does in its bucket (seen with ``mc admin trace`` over ``stack init``, ``up``,
#: ``preview``, ``refresh``, ``stack export``, ``stack ls``, ``destroy`` and ``stack rm``): ListObjectsV2 of
#: ``.pulumi/`` prefixes (s3:ListBucket); GetObject and HeadObject (s3:GetObject) of ``meta.yaml``, the
#: checkpoint and lock files; PutObject of those, of history and backups, and CopyObject of the checkpoint to
#: ``.json.bak`` and into the history (s3:GetObject on the source, s3:PutObject on the copy); DeleteObject of
#: its lock when done, and of history and checkpoint on ``stack rm`` (s3:DeleteObject). Nothing else: no
#: bucket location, no multipart (a checkpoint over 5 MiB would go up in parts, which s3:PutObject covers).
STATE_BUCKET_ACTIONS = ("s3:ListBucket",)
STATE_OBJECT_ACTIONS = ("s3:DeleteObject", "s3:GetObject", "s3:PutObject")


def state_policy(bucket: str) -> dict[str, Any]:
    """The state user's one policy: list, read, write and delete in its bucket; nothing else anywhere."""
    return user_policy(STATE_BUCKET_ACTIONS, STATE_OBJECT_ACTIONS, bucket)


def anonymous_download_policy(bucket: str) -> dict[str, Any]:
    """The bucket policy that lets anyone download objects, and do nothing else."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": list(ANONYMOUS_OBJECT_ACTIONS),
                "Resource": [objects_arn(bucket)],
            }
        ],
    }
