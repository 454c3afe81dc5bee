"""Real S3 clients (boto3) as each actor: the MinIO admin, the writer, and anyone at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.client import Config
from botocore.exceptions import ClientError

CONTENT_TYPES = {".narinfo": "text/x-nix-narinfo", ".ls": "application/json"}


def client(
    endpoint: str,
    access_key: str | None = None,
    secret_key: str | None = None,
    verify: str | bool | None = None,
) -> Any:
    """An S3 client for ``endpoint``; without keys it sends unsigned (anonymous) requests.

    ``verify``: for https, a CA bundle file to trust instead of the system's, or False for none;
    None keeps botocore's default (the system's CAs).
    """
    config = Config(
        signature_version=UNSIGNED if access_key is None else "s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=config,
        verify=verify,
    )


def error_code(call: Any, *args: Any, **kwargs: Any) -> str:
    """Run one S3 call; ``"ok"`` when it succeeds, else the S3 error code (``AccessDenied``, ``404``…)."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "ok"


def upload_file_cache(s3: Any, bucket: str, cache_dir: Path) -> list[str]:
    """Upload what ``nix copy --to file://`` wrote, in the order ``nix copy --to s3://`` would.

    NARs first, narinfos last, so that a narinfo never points at a NAR that is not there yet.
    ``nix-cache-info`` is the stack's and is left alone.
    """
    files = [p for p in cache_dir.rglob("*") if p.is_file() and p.name != "nix-cache-info"]
    ordered = sorted(files, key=lambda p: (p.suffix == ".narinfo", str(p)))
    keys = []
    for path in ordered:
        key = path.relative_to(cache_dir).as_posix()
        content_type = CONTENT_TYPES.get(path.suffix, "application/x-nix-nar")
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        keys.append(key)
    return keys
