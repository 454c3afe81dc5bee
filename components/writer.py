"""The one MinIO user allowed to upload to the cache, and only that."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.policies import to_json, writer_policy
from providers.iam_policy import IamPolicy
from providers.policy_attachment import PolicyAttachment
from providers.user import User


@dataclass(frozen=True)
class CacheWriterArgs:
    user_name: str
    bucket: str
    #: The policy's name in MinIO; one writer policy per bucket.
    policy_name: str
    #: Take over a user and policy of these names made by hand (the user gets a new secret).
    adopt: bool = False


class CacheWriter(pulumi.ComponentResource):
    user: User
    policy: IamPolicy
    attachment: PolicyAttachment
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(self, name: str, args: CacheWriterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:CacheWriter", name, None, opts)
        # The provider generates the secret and keeps it only as a secret output.
        self.user = User(
            f"{name}-user",
            user_name=args.user_name,
            bucket=args.bucket,
            adopt=args.adopt,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.policy = IamPolicy(
            f"{name}-policy",
            policy_name=args.policy_name,
            policy=to_json(writer_policy(args.bucket)),
            bucket=args.bucket,
            adopt=args.adopt,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.attachment = PolicyAttachment(
            f"{name}-policy-attachment",
            user=self.user.name,
            policy=self.policy.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.access_key = self.user.name
        self.secret_key = pulumi.Output.secret(self.user.secret)
        self.register_outputs({"accessKey": self.access_key, "secretKey": self.secret_key})
