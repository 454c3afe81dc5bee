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

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers.base import Props, differ, fixed_name, replaced
from providers.errors import unless_gone
from providers.iam_policy import policy_from_info
from providers.identity import (
    access_keys,
    leave_groups,
    reach_outside,
    revoke_sts,
    secret_matches,
    user_groups,
    user_info,
)
from providers.ownership import Claimant, ClaimingProvider, stack_owner
from providers.policy_attachment import attached_policies

KIND = "user"
#: What a user of the cache is, once ``update`` has run: compared with ``read`` by ``diff``.
CLEAN: dict[str, Any] = {"enabled": True, "groups": [], "access_keys": [], "secret_matches": True}


def new_secret() -> str:
    """40 URL-safe characters, like the secrets MinIO itself generates."""
    return secrets.token_urlsafe(30)


@dataclass(frozen=True, kw_only=True)
class UserProps(Props):
    """MinIO user ``name``, claimed on ``bucket`` by stack ``owner``; ``adopt`` takes one made by hand."""

    name: str
    bucket: str
    owner: str
    adopt: bool = False
    #: Desired states (``CLEAN``), and the secret: an output the provider makes.
    fixed: ClassVar[dict[str, Any]] = {**CLEAN, "secret": None}


class UserProvider(ClaimingProvider):
    kind = KIND

    def claimant(self, values: Mapping[str, Any]) -> UserProps:
        return UserProps.from_inputs(values)

    def existing(self, name: str) -> dict[str, Any] | None:
        return user_info(self.clients.admin, name)

    def adoption_refusal(self, props: Claimant, existing: dict[str, Any]) -> str | None:
        """A user made by hand is adopted only when its rights stay inside the cache bucket."""
        reach = self._reach_outside(existing, props.bucket)
        if reach is None:
            return None
        return (
            f"user {props.name!r} in MinIO at {self.settings.endpoint_url} is not a cache user made by hand: "
            f"{reach}. Adoption takes over only a user whose rights stay in bucket {props.bucket!r} "
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

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = UserProps.from_inputs(props)
        name, bucket = wanted.name, wanted.bucket
        with self.calling(f"creating user {name!r}"):
            self.refuse_if_taken(wanted)
            claimed_before = self.claimed(wanted)
            self.claim(wanted)
            try:
                secret = new_secret()
                # Adds the user, or resets the secret of one this stack made before an interrupted save.
                self.clients.admin.user_add(name, secret)
                self._make_clean(name, self._state(name, secret, bucket))
            except Exception:
                if not claimed_before:
                    # A failed adoption (or create) leaves no claim that a later run would trust.
                    self.release(bucket, name)
                raise
        return CreateResult(name, {**props, **CLEAN, "secret": secret})

    def _state(self, name: str, secret: str | None, bucket: str) -> dict[str, Any] | None:
        """What MinIO says of the user now: the fields of ``CLEAN``; ``None`` when there is no such user."""
        info = user_info(self.clients.admin, name)
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
            state = self._state(id_, props.get("secret"), UserProps.from_inputs(props).bucket)
        if state is None:
            return ReadResult(None, {})
        return ReadResult(id_, {**props, "name": id_, **state})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "name")
        # A state written before a field existed means the clean value: it was never read otherwise.
        drifted = any(olds.get(k, clean) != news.get(k, clean) for k, clean in CLEAN.items())
        changed = bool(replaces) or drifted or differ(olds, news, "bucket")
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with self.calling(f"repairing user {id_!r}"):
            wanted = UserProps.from_inputs({**news, "name": id_})
            self.claim(wanted)
            if olds.get("bucket") and olds["bucket"] != wanted.bucket:
                self.release(olds["bucket"], id_)
            state = self._state(id_, olds["secret"], wanted.bucket)
            if state is not None and not state["secret_matches"]:
                # Set back the secret the stack's outputs hand out; MinIO keeps the user's policies.
                self.clients.admin.user_add(id_, olds["secret"])
            self._make_clean(id_, state)
        return UpdateResult({**news, **CLEAN, "secret": olds["secret"]})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with self.calling(f"deleting user {id_!r}"):
            with unless_gone("user"):
                self.clients.admin.user_remove(id_)
            self.release(UserProps.from_inputs(props).bucket, id_)


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
        props = UserProps(name=user_name, bucket=bucket, owner=stack_owner(), adopt=adopt)
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["secret"])
        options = fixed_name(pulumi.ResourceOptions.merge(opts, secret_opts))
        super().__init__(UserProvider(), name, props.inputs(), options)
