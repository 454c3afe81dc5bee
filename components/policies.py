"""The two access policies of the cache, as plain documents.

Least privilege, spelled out: anonymous clients may only download objects (Nix treats the 403 that
S3 answers for a missing key as "not there", so listing is not needed); the writer may do exactly what
``nix copy --to s3://`` does in its one bucket and nothing else (no delete, no other bucket). MinIO
identity policies carry no ``Principal``: MinIO drops it, which would leave a permanent diff.
"""

from __future__ import annotations

import json
from typing import Any

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


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def objects_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}/*"


def writer_policy(bucket: str) -> dict[str, Any]:
    """The identity policy attached to the writer user."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(WRITER_BUCKET_ACTIONS),
                "Resource": [bucket_arn(bucket)],
            },
            {
                "Effect": "Allow",
                "Action": list(WRITER_OBJECT_ACTIONS),
                "Resource": [objects_arn(bucket)],
            },
        ],
    }


def reader_policy(bucket: str) -> dict[str, Any]:
    """The identity policy of a private cache's reader: download and look up, no write."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {"Effect": "Allow", "Action": list(READER_BUCKET_ACTIONS), "Resource": [bucket_arn(bucket)]},
            {"Effect": "Allow", "Action": list(READER_OBJECT_ACTIONS), "Resource": [objects_arn(bucket)]},
        ],
    }


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


def to_json(document: dict[str, Any]) -> str:
    """Compact, key-sorted JSON, so that the same policy is always the same string."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))
