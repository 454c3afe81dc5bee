"""A small text object whose content this stack owns (``nix-cache-info``): an edit or deletion is drift."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import In, MinioProvider, Props, differ, fixed_name, replaced
from providers.errors import ProviderError, is_gone, unless_gone

#: Bytes read back to compare; the objects this provider owns are a few lines long.
_READ_LIMIT = 1 << 20


@dataclass(frozen=True, kw_only=True)
class BucketObjectProps(Props, Generic[In]):
    """Object ``key`` in bucket ``bucket`` holds exactly ``content``, served as ``content_type``."""

    bucket: In
    key: str
    content: str
    content_type: str


class BucketObjectProvider(MinioProvider):
    key_property = "key"

    def _stored(self, bucket: str, key: str) -> dict[str, Any] | None:
        try:
            answer = self.clients.s3.get_object(bucket, key)
        except sdk.S3Error as error:
            if is_gone(error, "bucket", "object"):
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
        wanted = BucketObjectProps[str].from_inputs(props)
        bucket, key = wanted.bucket, wanted.key
        with self.calling(f"writing {key!r} in bucket {bucket!r}"):
            data = wanted.content.encode()
            self.clients.s3.put_object(
                bucket, key, io.BytesIO(data), len(data), content_type=wanted.content_type
            )
            stored = self._stored(bucket, key)
        if stored is None:
            # Deleted (or the bucket with it) between the write and the read: say so, not "internal error".
            raise ProviderError(
                f"{key!r} in bucket {bucket!r} at {self.settings.endpoint_url} vanished right after it was "
                "written: something else deletes it (a lifecycle rule made by hand?); check, then run again"
            )
        return stored

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = BucketObjectProps[str].from_inputs(props)
        return CreateResult(f"{wanted.bucket}/{wanted.key}", self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        bucket, key = props.get("bucket") or id_.split("/", 1)[0], props.get("key") or id_.split("/", 1)[1]
        with self.calling(f"reading {key!r} in bucket {bucket!r}"):
            stored = self._stored(bucket, key)
        return ReadResult(id_, stored) if stored is not None else ReadResult(None, {})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "bucket", "key")
        changed = bool(replaces) or differ(olds, news, "content", "content_type")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        stored = BucketObjectProps[str].from_inputs(props)
        with (
            self.calling(f"deleting {stored.key!r} in bucket {stored.bucket!r}"),
            unless_gone("bucket", "object"),
        ):
            self.clients.s3.remove_object(stored.bucket, stored.key)


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
        props = BucketObjectProps(bucket=bucket, key=key, content=content, content_type=content_type)
        super().__init__(BucketObjectProvider(), name, props.inputs(), fixed_name(opts))
