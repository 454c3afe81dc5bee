"""A bucket's policy (who may do what without an identity), compared by meaning.

An empty ``policy`` is a desired state too: the bucket has no policy at all (a private cache), so a
policy added by hand (``mc anonymous set public``) is drift that ``up`` removes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import In, MinioProvider, Props, fixed_name, replaced
from providers.bucket_lock import bucket_settings_lock
from providers.errors import is_gone, unless_gone
from providers.policy_document import canonical_policy_text, same_policy


@dataclass(frozen=True, kw_only=True)
class BucketPolicyProps(Props, Generic[In]):
    """The policy of bucket ``bucket``: a JSON document, or ``""`` for none."""

    bucket: In
    policy: str


class BucketPolicyProvider(MinioProvider):
    key_property = "bucket"

    def _stored(self, bucket: str) -> str | None:
        """The policy in canonical form; ``""`` when the bucket has none, ``None`` when there is no bucket."""
        try:
            return canonical_policy_text(self.clients.s3.get_bucket_policy(bucket))
        except sdk.S3Error as error:
            if is_gone(error, "bucket policy"):
                return ""
            if is_gone(error, "bucket"):
                return None
            raise

    def _remove(self, bucket: str) -> None:
        with unless_gone("bucket", "bucket policy"):
            self.clients.s3.delete_bucket_policy(bucket)

    def _apply(self, bucket: str, policy: str) -> dict[str, Any]:
        with self.calling(f"setting the policy of bucket {bucket!r}"), bucket_settings_lock(bucket):
            if policy:
                self.clients.s3.set_bucket_policy(bucket, policy)
            else:
                self._remove(bucket)
            return {"bucket": bucket, "policy": self._stored(bucket)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = BucketPolicyProps[str].from_inputs(props)
        return CreateResult(wanted.bucket, self._apply(wanted.bucket, wanted.policy))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading the policy of bucket {id_!r}"):
            stored = self._stored(id_)
        if stored is None:
            return ReadResult(None, {})
        return ReadResult(id_, {"bucket": id_, "policy": stored})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "bucket")
        changed = bool(replaces) or not same_policy(olds.get("policy"), news.get("policy"))
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(id_, BucketPolicyProps[str].from_inputs(news).policy))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self.calling(f"removing the policy of bucket {id_!r}"), bucket_settings_lock(id_):
            self._remove(id_)


class BucketPolicy(pulumi.dynamic.Resource, module="minio", name="BucketPolicy"):
    """The one policy of a bucket (``""``: none); ``policy`` holds it as MinIO stores it, canonically."""

    bucket: pulumi.Output[str]
    policy: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bucket: pulumi.Input[str],
        policy: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = BucketPolicyProps(bucket=bucket, policy=policy)
        super().__init__(BucketPolicyProvider(), name, props.inputs(), fixed_name(opts))
