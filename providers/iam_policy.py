"""A named MinIO policy (for users), compared by meaning; never takes over one made by hand."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, fixed_name, is_known
from providers.errors import ProviderError, admin_error_code
from providers.ownership import claim, claimed_by, release, stack_owner, taken_message
from providers.policy_document import canonical_policy_text, same_policy

KIND = "policy"


def policy_from_info(info: str) -> dict[str, Any]:
    """The document in a ``policy_info`` answer (older servers return it bare, newer wrap it)."""
    parsed: dict[str, Any] = json.loads(info)
    inner = parsed.get("Policy")
    return inner if isinstance(inner, dict) else parsed


class IamPolicyProvider(MinioProvider):
    def _stored(self, name: str) -> str | None:
        try:
            info = self.clients.admin.policy_info(name)
        except sdk.MinioAdminException as error:
            if admin_error_code(error) in ("XMinioAdminNoSuchPolicy", "XMinioIAMNoSuchPolicy"):
                return None
            raise
        return canonical_policy_text(policy_from_info(info), identity=True)

    def _taken(self, props: dict[str, Any]) -> bool:
        name = props["name"]
        if props.get("adopt") or self._stored(name) is None:
            return False
        return bool(claimed_by(self.clients.s3, props["bucket"], KIND, name) != props["owner"])

    def check_inputs(self, olds: dict[str, Any], news: dict[str, Any]) -> str | None:
        name = news["name"]
        if olds.get("name") == name or not is_known(name) or not is_known(news.get("bucket")):
            return None
        with self.calling(f"looking up policy {name!r}"):
            if self._taken(news):
                return taken_message("policy", name, self.settings.endpoint_url)
        return None

    def _apply(self, props: dict[str, Any]) -> dict[str, Any]:
        name = props["name"]
        with self.calling(f"writing policy {name!r}"):
            claim(self.clients.s3, props["bucket"], KIND, name, props["owner"])
            self.clients.admin.policy_add(name, policy=json.loads(props["policy"]))
            return {**props, "policy": self._stored(name)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.calling(f"creating policy {props['name']!r}"):
            if self._taken(props):
                raise ProviderError(taken_message("policy", props["name"], self.settings.endpoint_url))
        return CreateResult(props["name"], self._apply(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading policy {id_!r}"):
            stored = self._stored(id_)
        if stored is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "name": id_, "policy": stored})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["name"] if olds.get("name") != news.get("name") else []
        changed = (
            bool(replaces)
            or olds.get("bucket") != news.get("bucket")
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
                code = admin_error_code(error)
                if code == "XMinioIAMPolicyInUse":
                    raise ProviderError(
                        f"policy {id_!r} at {self.settings.endpoint_url} is still attached to a user or "
                        "group outside this stack; detach it "
                        f"(`mc admin policy detach ALIAS {id_} --user NAME`) and run the command again"
                    ) from None
                if code not in ("XMinioAdminNoSuchPolicy", "XMinioIAMNoSuchPolicy"):
                    raise
            release(self.clients.s3, props["bucket"], KIND, id_)


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
        props = {
            "name": policy_name,
            "policy": policy,
            "bucket": bucket,
            "owner": stack_owner(),
            "adopt": adopt,
        }
        super().__init__(IamPolicyProvider(), name, props, fixed_name(opts))
