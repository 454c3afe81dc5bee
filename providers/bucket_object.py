"""A small text object whose content this stack owns (``nix-cache-info``): an edit or deletion is drift."""

from __future__ import annotations

import io
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, fixed_name

#: Bytes read back to compare; the objects this provider owns are a few lines long.
_READ_LIMIT = 1 << 20


class BucketObjectProvider(MinioProvider):
    key_property = "key"

    def _stored(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            answer = self.clients.s3.get_object(bucket, key)
        except sdk.S3Error as error:
            if error.code in ("NoSuchBucket", "NoSuchKey"):
                return None
            raise
        try:
            body = answer.read(_READ_LIMIT)
            content_type = answer.headers.get("Content-Type", "")
        finally:
            answer.close()
            answer.release_conn()
        return {
            "bucket": bucket,
            "key": key,
            "content": body.decode("utf-8", errors="replace"),
            "content_type": content_type,
        }

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        bucket, key = props["bucket"], props["key"]
        with self.calling(f"writing {key!r} in bucket {bucket!r}"):
            data = props["content"].encode()
            self.clients.s3.put_object(
                bucket, key, io.BytesIO(data), len(data), content_type=props["content_type"]
            )
            stored = self._stored(bucket, key)
        if stored is None:
            raise RuntimeError(f"{key!r} vanished right after it was written")
        return stored

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['bucket']}/{props['key']}", self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        bucket, key = props.get("bucket") or id_.split("/", 1)[0], props.get("key") or id_.split("/", 1)[1]
        with self.calling(f"reading {key!r} in bucket {bucket!r}"):
            stored = self._stored(bucket, key)
        return ReadResult(id_, stored) if stored is not None else ReadResult(None, {})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("bucket", "key") if olds.get(k) != news.get(k)]
        changed = bool(replaces) or any(olds.get(k) != news.get(k) for k in ("content", "content_type"))
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.calling(f"deleting {props.get('key')!r} in bucket {props.get('bucket')!r}"):
            try:
                self.clients.s3.remove_object(props["bucket"], props["key"])
            except sdk.S3Error as error:
                if error.code not in ("NoSuchBucket", "NoSuchKey"):
                    raise


class BucketObject(pulumi.dynamic.Resource, module="minio", name="BucketObject"):
    """A text object with exactly this content and content type."""

    content: pulumi.Output[str]
    content_type: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bucket: pulumi.Input[str],
        key: str,
        content: str,
        content_type: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"bucket": bucket, "key": key, "content": content, "content_type": content_type}
        super().__init__(BucketObjectProvider(), name, props, fixed_name(opts))
