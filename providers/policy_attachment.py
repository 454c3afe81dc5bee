"""Which policies a user has: exactly the one given, so a detached policy or an extra one is drift.

Uses MinIO's attach/detach calls (not the deprecated replace-all ``policy_set``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import In, MinioProvider, Props, fixed_name, replaced
from providers.errors import is_already_applied, unless_gone
from providers.identity import user_info


def attached_policies(user_info: dict[str, Any]) -> list[str]:
    """``policyName`` of a ``user_info`` answer ("a,b" or absent) as a sorted list."""
    names = user_info.get("policyName") or ""
    return sorted(name for name in names.split(",") if name)


def _alone(name: str) -> list[str]:
    return [name]


@dataclass(frozen=True, kw_only=True)
class PolicyAttachmentProps(Props, Generic[In]):
    """User ``user`` has policy ``policy`` and no other (the desired ``attached``: ``[policy]``)."""

    user: In
    policy: In

    def inputs(self) -> dict[str, Any]:
        policy: Any = self.policy  # a name, or an Output of one in the program
        attached = [policy] if isinstance(policy, str) else pulumi.Output.from_input(policy).apply(_alone)
        return {**super().inputs(), "attached": attached}


class PolicyAttachmentProvider(MinioProvider):
    key_property = "user"

    def _attached(self, user: str) -> list[str] | None:
        info = user_info(self.clients.admin, user)
        return None if info is None else attached_policies(info)

    def _attach(self, user: str, policy: str, detach: list[str]) -> None:
        admin = self.clients.admin
        try:
            admin.attach_policy([policy], user=user)
        except sdk.MinioAdminException as error:
            if not is_already_applied(error):
                raise
        if detach:
            admin.detach_policy(detach, user=user)

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        wanted = PolicyAttachmentProps[str].from_inputs(props)
        user, policy = wanted.user, wanted.policy
        with self.calling(f"attaching policy {policy!r} to user {user!r}"):
            current = self._attached(user) or []
            self._attach(user, policy, [name for name in current if name != policy])
            return {**props, "attached": self._attached(user) or []}

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = PolicyAttachmentProps[str].from_inputs(props)
        return CreateResult(f"{wanted.user}/{wanted.policy}", self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        user = PolicyAttachmentProps[str].from_inputs(props).user
        with self.calling(f"reading the policies of user {user!r}"):
            attached = self._attached(user)
        if attached is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "attached": attached})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "user", "policy")
        changed = bool(replaces) or sorted(olds.get("attached") or []) != sorted(news.get("attached") or [])
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        stored = PolicyAttachmentProps[str].from_inputs(props)
        user, policy = stored.user, stored.policy
        with self.calling(f"detaching policy {policy!r} from user {user!r}"):
            info = user_info(self.clients.admin, user)
            if info is None or policy not in attached_policies(info):
                return
            admin = self.clients.admin
            # MinIO refuses policy changes on a disabled user as if it did not exist: enable it briefly.
            disabled = info.get("status") == "disabled"
            if disabled:
                admin.user_enable(user)
            try:
                # The user may go away meanwhile (its own delete, in a replace of both): nothing is attached.
                with unless_gone("user"):
                    admin.detach_policy([policy], user=user)
            finally:
                if disabled:
                    admin.user_disable(user)


class PolicyAttachment(pulumi.dynamic.Resource, module="minio", name="PolicyAttachment"):
    """User ``user`` has policy ``policy`` and no other; ``attached`` is what MinIO reports."""

    attached: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        *,
        user: pulumi.Input[str],
        policy: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = PolicyAttachmentProps(user=user, policy=policy)
        super().__init__(PolicyAttachmentProvider(), name, props.inputs(), fixed_name(opts))
