"""The bucket that holds the cache, readable by anyone, with expiry that never breaks the cache."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_minio as minio

from components.expiry import CACHE_INFO_KEY, expiry_rules
from components.nix_text import CACHE_INFO_CONTENT_TYPE
from components.policies import anonymous_download_policy, to_json


@dataclass(frozen=True)
class CacheBucketArgs:
    bucket: str
    #: Refuse ``pulumi destroy`` of the bucket; it is never force-destroyed either way.
    protect: bool
    #: Days until narinfos expire (NARs a day later); 0 keeps everything forever.
    expire_days: int
    cache_info: str


class CacheBucket(pulumi.ComponentResource):
    bucket: minio.S3Bucket
    anonymous_policy: minio.S3BucketPolicy
    expiry: minio.IlmPolicy | None
    cache_info: minio.S3Object

    def __init__(self, name: str, args: CacheBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:CacheBucket", name, None, opts)
        self.bucket = minio.S3Bucket(
            f"{name}-bucket",
            bucket=args.bucket,
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        bucket_name = self.bucket.bucket
        self.anonymous_policy = minio.S3BucketPolicy(
            f"{name}-anonymous-download",
            bucket=bucket_name,
            policy=to_json(anonymous_download_policy(args.bucket)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        rules = expiry_rules(args.expire_days)
        self.expiry = (
            minio.IlmPolicy(
                f"{name}-expiry",
                bucket=bucket_name,
                rules=[
                    minio.IlmPolicyRuleArgs(
                        id=rule.rule_id, filter=rule.prefix, expiration=rule.expiration, status="Enabled"
                    )
                    for rule in rules
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            if rules
            else None
        )
        self.cache_info = minio.S3Object(
            f"{name}-cache-info",
            bucket_name=bucket_name,
            object_name=CACHE_INFO_KEY,
            content=args.cache_info,
            content_type=CACHE_INFO_CONTENT_TYPE,
            # MinIO's etag of a single-part upload is the MD5 of the content; setting it makes an
            # object edited or deleted by hand show up as drift.
            etag=hashlib.md5(args.cache_info.encode(), usedforsecurity=False).hexdigest(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"bucketName": bucket_name, "cacheInfoEtag": self.cache_info.etag})
