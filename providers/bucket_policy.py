"""A bucket's policy (who may do what without an identity), compared by meaning.

An empty ``policy`` is a desired state too: the bucket has no policy at all (a private cache), so a
policy added by hand (``mc anonymous set public``) is drift that ``up`` removes.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, fixed_name
from providers.bucket_lock import bucket_settings_lock
from providers.policy_document import canonical_policy_text, same_policy

_GONE = ("NoSuchBucket", "NoSuchBucketPolicy")


class BucketPolicyProvider(MinioProvider):
    key_property = "bucket"

    def _stored(self, bucket: str) -> str | None:
        """The policy in canonical form; ``""`` when the bucket has none, ``None`` when there is no bucket."""
        try:
            return canonical_policy_text(self.clients.s3.get_bucket_policy(bucket))
        except sdk.S3Error as error:
            if error.code == "NoSuchBucketPolicy":
                return ""
            if error.code == "NoSuchBucket":
                return None
            raise

    def _remove(self, bucket: str) -> None:
        try:
            self.clients.s3.delete_bucket_policy(bucket)
        except sdk.S3Error as error:
            if error.code not in _GONE:
                raise

    def _apply(self, bucket: str, policy: str) -> dict[str, Any]:
        with self.calling(f"setting the policy of bucket {bucket!r}"), bucket_settings_lock(bucket):
            if policy:
                self.clients.s3.set_bucket_policy(bucket, policy)
            else:
                self._remove(bucket)
            return {"bucket": bucket, "policy": self._stored(bucket)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["bucket"], self._apply(props["bucket"], props["policy"]))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading the policy of bucket {id_!r}"):
            stored = self._stored(id_)
        if stored is None:
            return ReadResult(None, {})
        return ReadResult(id_, {"bucket": id_, "policy": stored})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["bucket"] if olds.get("bucket") != news.get("bucket") else []
        changed = bool(replaces) or not same_policy(olds.get("policy"), news.get("policy"))
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(id_, news["policy"]))

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
        super().__init__(BucketPolicyProvider(), name, {"bucket": bucket, "policy": policy}, fixed_name(opts))
