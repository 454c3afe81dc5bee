"""MinIO users of the cache that share one policy: the builders (upload only) or a private cache's reader."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.policies import to_json
from providers.iam_policy import IamPolicy
from providers.policy_attachment import PolicyAttachment
from providers.user import User


@dataclass(frozen=True)
class CacheAccessArgs:
    bucket: str
    #: The policy's name in MinIO, e.g. ``nix-cache-write``.
    policy_name: str
    policy: dict[str, Any]
    #: One MinIO user each, in order; removing a name removes its user and its access.
    user_names: tuple[str, ...]
    #: Take over users and a policy of these names made by hand (the users get new secrets).
    adopt: bool = False


class CacheUser(pulumi.ComponentResource):
    """One MinIO user with exactly one policy attached; the secret is made by the provider."""

    user: User
    attachment: PolicyAttachment

    def __init__(
        self,
        name: str,
        user_name: str,
        policy: IamPolicy,
        args: CacheAccessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("nix-cache:index:CacheUser", name, None, opts)
        self.user = User(
            f"{name}-user",
            user_name=user_name,
            bucket=args.bucket,
            adopt=args.adopt,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.attachment = PolicyAttachment(
            f"{name}-policy-attachment",
            user=self.user.name,
            policy=policy.name,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"accessKey": self.user.name})


class CacheAccess(pulumi.ComponentResource):
    policy: IamPolicy
    users: dict[str, CacheUser]
    access_keys: dict[str, pulumi.Output[str]]
    secret_keys: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: CacheAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:CacheAccess", name, None, opts)
        self.policy = IamPolicy(
            f"{name}-policy",
            policy_name=args.policy_name,
            policy=to_json(args.policy),
            bucket=args.bucket,
            adopt=args.adopt,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.users = {
            user_name: CacheUser(
                f"{name}-{user_name}", user_name, self.policy, args, pulumi.ResourceOptions(parent=self)
            )
            for user_name in args.user_names
        }
        self.access_keys = {n: u.user.name for n, u in self.users.items()}
        self.secret_keys = {n: pulumi.Output.secret(u.user.secret) for n, u in self.users.items()}
        self.register_outputs({"accessKeys": self.access_keys})
