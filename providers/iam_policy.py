"""A named MinIO policy (for users), compared by meaning; never takes over one made by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import Props, differ, fixed_name, replaced
from providers.errors import ProviderError, admin_error_code, is_gone
from providers.ownership import ClaimingProvider, stack_owner
from providers.policy_document import canonical_policy_text, same_policy

KIND = "policy"


def policy_from_info(info: str) -> dict[str, Any]:
    """The document in a ``policy_info`` answer (older servers return it bare, newer wrap it)."""
    parsed: dict[str, Any] = json.loads(info)
    inner = parsed.get("Policy")
    return inner if isinstance(inner, dict) else parsed


@dataclass(frozen=True, kw_only=True)
class IamPolicyProps(Props):
    """MinIO policy ``name`` with document ``policy`` (JSON), claimed on ``bucket`` by stack ``owner``."""

    name: str
    policy: str
    bucket: str
    owner: str
    adopt: bool = False


class IamPolicyProvider(ClaimingProvider):
    kind = KIND

    def claimant(self, values: Mapping[str, Any]) -> IamPolicyProps:
        return IamPolicyProps.from_inputs(values)

    def _stored(self, name: str) -> str | None:
        try:
            info = self.clients.admin.policy_info(name)
        except sdk.MinioAdminException as error:
            if is_gone(error, "policy"):
                return None
            raise
        return canonical_policy_text(policy_from_info(info), identity=True)

    def existing(self, name: str) -> str | None:
        return self._stored(name)

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        wanted = IamPolicyProps.from_inputs(props)
        with self.calling(f"writing policy {wanted.name!r}"):
            self.claim(wanted)
            self.clients.admin.policy_add(wanted.name, policy=json.loads(wanted.policy))
            return {**props, "policy": self._stored(wanted.name)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = IamPolicyProps.from_inputs(props)
        with self.calling(f"creating policy {wanted.name!r}"):
            self.refuse_if_taken(wanted)
        return CreateResult(wanted.name, self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading policy {id_!r}"):
            stored = self._stored(id_)
        if stored is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "name": id_, "policy": stored})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "name")
        changed = (
            bool(replaces)
            or differ(olds, news, "bucket")
            or not same_policy(olds.get("policy"), news.get("policy"), identity=True)
        )
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.calling(f"deleting policy {id_!r}"):
            try:
                self.clients.admin.policy_remove(id_)
            except sdk.MinioAdminException as error:
                if admin_error_code(error) == "XMinioIAMPolicyInUse":
                    raise ProviderError(
                        f"policy {id_!r} at {self.settings.endpoint_url} is still attached to a user or "
                        "group outside this stack; detach it "
                        f"(`mc admin policy detach ALIAS {id_} --user NAME`) and run the command again"
                    ) from None
                if not is_gone(error, "policy"):
                    raise
            self.release(IamPolicyProps.from_inputs(props).bucket, id_)


class IamPolicy(pulumi.dynamic.Resource, module="minio", name="IamPolicy"):
    """A MinIO policy named ``policy_name`` with this document (no ``Principal``: MinIO drops it)."""

    name: pulumi.Output[str]
    policy: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        policy_name: str,
        policy: str,
        bucket: str,
        adopt: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = IamPolicyProps(
            name=policy_name, policy=policy, bucket=bucket, owner=stack_owner(), adopt=adopt
        )
        super().__init__(IamPolicyProvider(), name, props.inputs(), fixed_name(opts))
