"""A bucket: made once, marked with its stack, never emptied or taken over silently.

A replacement (``pulumi up --replace``) has the same name, and Pulumi makes it before it deletes the
old one, whose delete would then remove the bucket just "made". So each create writes a generation tag,
and a delete whose generation is no longer the bucket's leaves the bucket to its replacement.
"""

from __future__ import annotations

import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, is_known
from providers.errors import ProviderError
from providers.ownership import (
    GENERATION_TAG,
    STACK_TAG,
    bucket_owner,
    read_tags,
    stack_owner,
    taken_message,
    update_tags,
)

#: How many objects ``delete`` counts before it says "at least".
_COUNT_LIMIT = 1000


class BucketProvider(MinioProvider):
    key_property = "bucket"

    def check_inputs(self, olds: dict[str, Any], news: dict[str, Any]) -> str | None:
        bucket = news["bucket"]
        if olds.get("bucket") == bucket or not is_known(bucket) or news.get("adopt"):
            return None
        with self.calling(f"looking up bucket {bucket!r}"):
            s3 = self.clients.s3
            if s3.bucket_exists(bucket) and bucket_owner(s3, bucket) != news["owner"]:
                return taken_message("bucket", bucket, self.settings.endpoint_url)
        return None

    def create(self, props: dict[str, Any]) -> CreateResult:
        bucket, owner = props["bucket"], props["owner"]
        with self.calling(f"creating bucket {bucket!r}"):
            s3 = self.clients.s3
            if s3.bucket_exists(bucket):
                # Ours from an interrupted run, or taken over on purpose: anything else is refused.
                if bucket_owner(s3, bucket) != owner and not props.get("adopt"):
                    raise ProviderError(taken_message("bucket", bucket, self.settings.endpoint_url))
            else:
                try:
                    s3.make_bucket(bucket)
                except sdk.S3Error as error:
                    if error.code != "BucketAlreadyOwnedByYou":
                        raise
            update_tags(s3, bucket, {STACK_TAG: owner, GENERATION_TAG: secrets.token_hex(8)})
        return CreateResult(bucket, self._outs(bucket, props))

    def _outs(self, bucket: str, props: dict[str, Any]) -> dict[str, Any]:
        tags = read_tags(self.clients.s3, bucket)
        return {
            "bucket": bucket,
            "owner": tags.get(STACK_TAG),
            "adopt": props.get("adopt"),
            # A mark removed by hand keeps the state's generation: ``update`` writes it back.
            "generation": tags.get(GENERATION_TAG) or props.get("generation"),
        }

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading bucket {id_!r}"):
            if not self.clients.s3.bucket_exists(id_):
                return ReadResult(None, {})
            return ReadResult(id_, self._outs(id_, props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["bucket"] if olds.get("bucket") != news.get("bucket") else []
        changed = bool(replaces) or olds.get("owner") != news.get("owner")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self.calling(f"marking bucket {id_!r} as this stack's"):
            generation = olds.get("generation") or secrets.token_hex(8)
            update_tags(self.clients.s3, id_, {STACK_TAG: news["owner"], GENERATION_TAG: generation})
            return UpdateResult(self._outs(id_, {**news, "generation": generation}))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.calling(f"deleting bucket {id_!r}"):
            s3 = self.clients.s3
            if not s3.bucket_exists(id_):
                return
            generation, current = props.get("generation"), read_tags(s3, id_).get(GENERATION_TAG)
            if generation and current and current != generation:
                return  # replaced: the bucket is its replacement's now
            count = 0
            for _ in s3.list_objects(id_, recursive=True):
                count += 1
                if count >= _COUNT_LIMIT:
                    break
            if count:
                many = f"at least {count}" if count >= _COUNT_LIMIT else str(count)
                raise ProviderError(
                    f"bucket {id_!r} at {self.settings.endpoint_url} still holds {many} object(s), "
                    "and Pulumi never deletes cached data. To delete the bucket, empty it by hand first "
                    f"(`mc rm --recursive --force ALIAS/{id_}`) and run `pulumi destroy` again; to keep it, "
                    "leave nix-cache:protect true."
                )
            s3.remove_bucket(id_)


class Bucket(pulumi.dynamic.Resource, module="minio", name="Bucket"):
    """A MinIO bucket owned by this stack; ``adopt`` lets it take over one made by hand."""

    bucket: pulumi.Output[str]
    owner: pulumi.Output[str]

    def __init__(
        self, name: str, *, bucket: str, adopt: bool = False, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        props = {"bucket": bucket, "owner": stack_owner(), "adopt": adopt, "generation": None}
        super().__init__(BucketProvider(), name, props, opts)
