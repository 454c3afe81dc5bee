"""The bucket that holds the cache, readable by anyone, with expiry that never breaks the cache."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.expiry import CACHE_INFO_KEY, ExpiryRule, expiry_rules
from components.nix_text import CACHE_INFO_CONTENT_TYPE
from components.policies import anonymous_download_policy, to_json
from providers.bucket import Bucket
from providers.bucket_object import BucketObject
from providers.bucket_policy import BucketPolicy
from providers.lifecycle import Lifecycle


@dataclass(frozen=True)
class CacheBucketArgs:
    bucket: str
    #: Refuse ``pulumi destroy`` of the bucket; it is never force-destroyed either way.
    protect: bool
    #: Days until narinfos expire (NARs a day later); 0 keeps everything forever.
    expire_days: int
    cache_info: str
    #: Take over a bucket made by hand: its objects stay, its policy, rules and nix-cache-info are replaced.
    adopt: bool = False
    #: Anonymous download; a private cache has no bucket policy at all.
    public: bool = True


def lifecycle_rule(rule: ExpiryRule) -> dict[str, Any]:
    """An expiry rule as the lifecycle provider takes it."""
    return {"id": rule.rule_id, "prefix": rule.prefix, "days": rule.days}


class CacheBucket(pulumi.ComponentResource):
    bucket: Bucket
    anonymous_policy: BucketPolicy
    expiry: Lifecycle
    cache_info: BucketObject

    def __init__(self, name: str, args: CacheBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:CacheBucket", name, None, opts)
        self.bucket = Bucket(
            f"{name}-bucket",
            bucket=args.bucket,
            adopt=args.adopt,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        bucket_name = self.bucket.bucket
        # Always owned, even when empty: a private cache has no bucket policy and ``expireDays: 0`` no
        # rules, and a policy or rule added by hand there would open the cache or delete its data.
        self.anonymous_policy = BucketPolicy(
            f"{name}-anonymous-download",
            bucket=bucket_name,
            policy=to_json(anonymous_download_policy(args.bucket)) if args.public else "",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.expiry = Lifecycle(
            f"{name}-expiry",
            bucket=bucket_name,
            rules=[lifecycle_rule(rule) for rule in expiry_rules(args.expire_days)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cache_info = BucketObject(
            f"{name}-cache-info",
            bucket=bucket_name,
            key=CACHE_INFO_KEY,
            content=args.cache_info,
            content_type=CACHE_INFO_CONTENT_TYPE,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"bucketName": bucket_name, "cacheInfo": self.cache_info.content})
