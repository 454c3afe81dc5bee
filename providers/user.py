"""A MinIO user whose secret is made here and kept only as a secret output.

The resource owns the user's effective identity, not just its existence: ``enabled``, ``groups`` (a
group's policies add to the user's rights), ``access_keys`` (service accounts and STS credentials act
as the user and outlive a secret change) and ``secret_matches`` (a secret set by hand locks the
builders out) are desired states. ``read`` reports each, so ``preview`` shows a hand change, and
``update`` undoes it: enabled, in no group, no keys but its own, the stack's secret.

A user that exists and was not made by this stack is never taken over unless ``adopt`` says so, and
even then only when its rights stay inside the cache bucket (``identity.reach_outside``).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import MinioProvider, fixed_name, is_known
from providers.errors import ProviderError, admin_error_code
from providers.iam_policy import policy_from_info
from providers.identity import (
    access_keys,
    leave_groups,
    reach_outside,
    revoke_sts,
    secret_matches,
    user_groups,
)
from providers.ownership import claim, claimed_by, release, stack_owner, taken_message
from providers.policy_attachment import attached_policies

KIND = "user"
#: What a user of the cache is, once ``update`` has run: compared with ``read`` by ``diff``.
CLEAN: dict[str, Any] = {"enabled": True, "groups": [], "access_keys": [], "secret_matches": True}


def new_secret() -> str:
    """40 URL-safe characters, like the secrets MinIO itself generates."""
    return secrets.token_urlsafe(30)


class UserProvider(MinioProvider):
    def _info(self, name: str) -> dict[str, Any] | None:
        try:
            info: dict[str, Any] = json.loads(self.clients.admin.user_info(name))
        except sdk.MinioAdminException as error:
            if admin_error_code(error) == "XMinioAdminNoSuchUser":
                return None
            raise
        return info

    def _claimed(self, props: dict[str, Any]) -> bool:
        return bool(claimed_by(self.clients.s3, props["bucket"], KIND, props["name"]) == props["owner"])

    def _refusal(self, props: dict[str, Any]) -> str | None:
        """Why this stack may not make or take the user: it exists, is not ours, and cannot be adopted."""
        name = props["name"]
        info = self._info(name)
        if info is None or self._claimed(props):
            return None
        if not props.get("adopt"):
            return taken_message("user", name, self.settings.endpoint_url)
        reach = self._reach_outside(info, props["bucket"])
        if reach is None:
            return None
        return (
            f"user {name!r} in MinIO at {self.settings.endpoint_url} is not a cache user made by hand: "
            f"{reach}. Adoption takes over only a user whose rights stay in bucket {props['bucket']!r} "
            "(it would get a new secret, and whatever uses it now would break); choose another name"
        )

    def _reach_outside(self, info: dict[str, Any], bucket: str) -> str | None:
        groups = user_groups(info)
        if groups:
            return f"it is a member of group(s) {groups}"
        for policy in attached_policies(info):
            document = policy_from_info(self.clients.admin.policy_info(policy))
            if reach := reach_outside(document, bucket):
                return f"its policy {policy!r} allows {reach}"
        return None

    def check_inputs(self, olds: dict[str, Any], news: dict[str, Any]) -> str | None:
        name = news["name"]
        if olds.get("name") == name or not is_known(name) or not is_known(news.get("bucket")):
            return None
        with self.calling(f"looking up user {name!r}"):
            return self._refusal(news)

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, bucket = props["name"], props["bucket"]
        with self.calling(f"creating user {name!r}"):
            if refusal := self._refusal(props):
                raise ProviderError(refusal)
            claimed_before = self._claimed(props)
            claim(self.clients.s3, bucket, KIND, name, props["owner"])
            try:
                secret = new_secret()
                # Adds the user, or resets the secret of one this stack made before an interrupted save.
                self.clients.admin.user_add(name, secret)
                self._make_clean(name, self._state(name, secret, bucket))
            except Exception:
                if not claimed_before:
                    # A failed adoption (or create) leaves no claim that a later run would trust.
                    release(self.clients.s3, bucket, KIND, name)
                raise
        return CreateResult(name, {**props, **CLEAN, "secret": secret})

    def _state(self, name: str, secret: str | None, bucket: str) -> dict[str, Any] | None:
        """What MinIO says of the user now: the fields of ``CLEAN``; ``None`` when there is no such user."""
        info = self._info(name)
        if info is None:
            return None
        enabled = info.get("status") == "enabled"
        keys = access_keys(self.clients.admin, self.settings, name)
        return {
            "enabled": enabled,
            "groups": user_groups(info),
            "access_keys": [f"service:{k}" for k in keys["service"]] + [f"sts:{k}" for k in keys["sts"]],
            # A disabled user's keys are refused whatever they are: that is ``enabled``'s drift.
            "secret_matches": not (enabled and secret) or secret_matches(self.settings, name, secret, bucket),
        }

    def _make_clean(self, name: str, state: dict[str, Any] | None) -> None:
        """Enable the user, take it out of every group, end every key but its own."""
        admin = self.clients.admin
        admin.user_enable(name)
        if state is None:
            return
        leave_groups(admin, name, state["groups"])
        for key in state["access_keys"]:
            kind, _, access_key = key.partition(":")
            if kind == "service":
                admin.delete_service_account(access_key)
        if any(key.startswith("sts:") for key in state["access_keys"]):
            revoke_sts(admin, name)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading user {id_!r}"):
            state = self._state(id_, props.get("secret"), props["bucket"])
        if state is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "name": id_, **state})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["name"] if olds.get("name") != news.get("name") else []
        # A state written before a field existed means the clean value: it was never read otherwise.
        drifted = any(olds.get(k, clean) != news.get(k, clean) for k, clean in CLEAN.items())
        changed = bool(replaces) or drifted or olds.get("bucket") != news.get("bucket")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self.calling(f"repairing user {id_!r}"):
            claim(self.clients.s3, news["bucket"], KIND, id_, news["owner"])
            if olds.get("bucket") and olds["bucket"] != news["bucket"]:
                release(self.clients.s3, olds["bucket"], KIND, id_)
            state = self._state(id_, olds["secret"], news["bucket"])
            if state is not None and not state["secret_matches"]:
                # Set back the secret the stack's outputs hand out; MinIO keeps the user's policies.
                self.clients.admin.user_add(id_, olds["secret"])
            self._make_clean(id_, state)
        return UpdateResult({**news, **CLEAN, "secret": olds["secret"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.calling(f"deleting user {id_!r}"):
            try:
                self.clients.admin.user_remove(id_)
            except sdk.MinioAdminException as error:
                if admin_error_code(error) != "XMinioAdminNoSuchUser":
                    raise
            release(self.clients.s3, props["bucket"], KIND, id_)


class User(pulumi.dynamic.Resource, module="minio", name="User"):
    """A MinIO user; ``secret`` is generated by the provider and is always a secret output."""

    name: pulumi.Output[str]
    secret: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    groups: pulumi.Output[list[str]]
    access_keys: pulumi.Output[list[str]]
    secret_matches: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        user_name: str,
        bucket: str,
        adopt: bool = False,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"name": user_name, "bucket": bucket, "owner": stack_owner(), "adopt": adopt}
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["secret"])
        options = fixed_name(pulumi.ResourceOptions.merge(opts, secret_opts))
        super().__init__(UserProvider(), name, {**props, **CLEAN, "secret": None}, options)
