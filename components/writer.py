"""The one MinIO user allowed to upload to the cache, and only that."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_minio as minio

from components.policies import to_json, writer_policy


@dataclass(frozen=True)
class CacheWriterArgs:
    user_name: str
    bucket: str
    #: The policy's name in MinIO; one writer policy per bucket.
    policy_name: str


class CacheWriter(pulumi.ComponentResource):
    user: minio.IamUser
    policy: minio.IamPolicy
    attachment: minio.IamUserPolicyAttachment
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(self, name: str, args: CacheWriterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:CacheWriter", name, None, opts)
        # No secret given: the provider generates one and keeps it as a secret output.
        self.user = minio.IamUser(
            f"{name}-user",
            name=args.user_name,
            force_destroy=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy = minio.IamPolicy(
            f"{name}-policy",
            name=args.policy_name,
            policy=to_json(writer_policy(args.bucket)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.attachment = minio.IamUserPolicyAttachment(
            f"{name}-policy-attachment",
            user_name=self.user.name,
            policy_name=self.policy.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.access_key = self.user.name
        self.secret_key = pulumi.Output.secret(self.user.secret)
        self.register_outputs({"accessKey": self.access_key, "secretKey": self.secret_key})
