"""Which policies a user has: exactly the one given, so a detached policy or an extra one is drift.

Uses MinIO's attach/detach calls (not the deprecated replace-all ``policy_set``).
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, fixed_name
from providers.errors import admin_error_code

_ALREADY = ("XMinioAdminPolicyChangeAlreadyApplied",)


def attached_policies(user_info: dict[str, Any]) -> list[str]:
    """``policyName`` of a ``user_info`` answer ("a,b" or absent) as a sorted list."""
    names = user_info.get("policyName") or ""
    return sorted(name for name in names.split(",") if name)


class PolicyAttachmentProvider(MinioProvider):
    key_property = "user"

    def _info(self, user: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = json.loads(self.clients.admin.user_info(user))
        except sdk.MinioAdminException as error:
            if admin_error_code(error) == "XMinioAdminNoSuchUser":
                return None
            raise
        return info

    def _attached(self, user: str) -> list[str] | None:
        info = self._info(user)
        return None if info is None else attached_policies(info)

    def _attach(self, user: str, policy: str, detach: list[str]) -> None:
        admin = self.clients.admin
        try:
            admin.attach_policy([policy], user=user)
        except sdk.MinioAdminException as error:
            if admin_error_code(error) not in _ALREADY:
                raise
        if detach:
            admin.detach_policy(detach, user=user)

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        user, policy = props["user"], props["policy"]
        with self.calling(f"attaching policy {policy!r} to user {user!r}"):
            current = self._attached(user) or []
            self._attach(user, policy, [name for name in current if name != policy])
            return {**props, "attached": self._attached(user) or []}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"{props['user']}/{props['policy']}", self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading the policies of user {props.get('user')!r}"):
            attached = self._attached(props["user"])
        if attached is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "attached": attached})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("user", "policy") if olds.get(k) != news.get(k)]
        changed = bool(replaces) or sorted(olds.get("attached") or []) != sorted(news.get("attached") or [])
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        user, policy = props["user"], props["policy"]
        with self.calling(f"detaching policy {policy!r} from user {user!r}"):
            info = self._info(user)
            if info is None or policy not in attached_policies(info):
                return
            admin = self.clients.admin
            # MinIO refuses policy changes on a disabled user as if it did not exist: enable it briefly.
            disabled = info.get("status") == "disabled"
            if disabled:
                admin.user_enable(user)
            try:
                admin.detach_policy([policy], user=user)
            except sdk.MinioAdminException as error:
                # The user went away meanwhile (its own delete, in a replace of both): nothing is attached.
                if admin_error_code(error) != "XMinioAdminNoSuchUser":
                    raise
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
        attached = pulumi.Output.from_input(policy).apply(lambda name: [name])
        props = {"user": user, "policy": policy, "attached": attached}
        super().__init__(PolicyAttachmentProvider(), name, props, fixed_name(opts))
