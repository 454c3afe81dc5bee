"""A bucket's lifecycle (expiry) rules, owned whole: the bucket has exactly the rules given here.

No rules is a desired state too (``expireDays: 0``): a rule added by hand would delete cached data, so
it is drift that ``up`` removes. Every rule's days are bounded (``check_inputs``): MinIO wraps an
expiry date past its range into the past and deletes everything at once.

``describe_rule`` turns a rule, ours or one MinIO holds, into a plain dict, so that the diff compares
rule sets by meaning (id, filter, expiry, status) and shows a hand-made change in a readable way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, UpdateResult

from providers import sdk
from providers.base import In, MinioProvider, Props, fixed_name, is_known, replaced
from providers.bucket_lock import bucket_settings_lock
from providers.errors import is_gone, unless_gone

#: Far below where MinIO's expiry date overflows (about 106,750 days); the program's bound is lower still.
MAX_RULE_DAYS = 36_501


def describe_rule(rule: sdk.Rule) -> dict[str, Any]:
    """One rule as a plain dict; fields beyond id, prefix, days and status only when they are set."""
    described: dict[str, Any] = {"id": rule.rule_id or "", "status": rule.status}
    rule_filter = rule.rule_filter
    if rule_filter is None or (
        rule_filter.prefix is not None and not rule_filter.tag and not rule_filter.and_operator
    ):
        described["prefix"] = (rule_filter.prefix if rule_filter else None) or ""
    else:
        described["filter"] = "tag or and-filter"
    expiration = rule.expiration
    if expiration is not None and expiration.days:
        described["days"] = expiration.days
    if expiration is not None and expiration.date is not None:
        described["date"] = expiration.date.isoformat()
    if expiration is not None and expiration.expired_object_delete_marker:
        described["expiredObjectDeleteMarker"] = True
    others = [
        name
        for name in (
            "abort_incomplete_multipart_upload",
            "noncurrent_version_expiration",
            "noncurrent_version_transition",
            "transition",
        )
        if getattr(rule, name) is not None
    ]
    if others:
        described["otherActions"] = others
    return described


def desired_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """An input rule (id, prefix, days) as ``describe_rule`` shows the same rule read from MinIO."""
    return {"id": rule["id"], "status": sdk.ENABLED, "prefix": rule["prefix"], "days": int(rule["days"])}


def to_sdk_rule(rule: dict[str, Any]) -> sdk.Rule:
    return sdk.Rule(
        sdk.ENABLED,
        rule_filter=sdk.Filter(prefix=rule["prefix"]),
        rule_id=rule["id"],
        expiration=sdk.Expiration(days=int(rule["days"])),
    )


def rule_set(rules: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Rules in one order (by id), for comparing."""
    return sorted(rules or [], key=lambda rule: (str(rule.get("id")), str(rule)))


@dataclass(frozen=True, kw_only=True)
class LifecycleProps(Props, Generic[In]):
    """Exactly these expiry rules (``{id, prefix, days}`` each; none: no lifecycle) on bucket ``bucket``."""

    bucket: In
    rules: list[dict[str, Any]]


class LifecycleProvider(MinioProvider):
    key_property = "bucket"

    def check_inputs(self, olds: dict[str, Any], news: dict[str, Any]) -> str | None:
        for rule in LifecycleProps[str].from_inputs(news).rules or []:
            if is_known(rule) and not 0 < int(rule["days"]) <= MAX_RULE_DAYS:
                return f"rule {rule['id']!r} expires after {rule['days']} days; 1 to {MAX_RULE_DAYS} are safe"
        return None

    def _stored(self, bucket: str) -> list[dict[str, Any]] | None:
        """The bucket's rules (``[]`` for none), or ``None`` when the bucket is gone."""
        try:
            config = self.clients.s3.get_bucket_lifecycle(bucket)
        except sdk.S3Error as error:
            if is_gone(error, "bucket"):
                return None
            raise
        if config is None:
            return []
        return rule_set([describe_rule(rule) for rule in config.rules])

    def _remove(self, bucket: str) -> None:
        with unless_gone("bucket", "lifecycle"):
            self.clients.s3.delete_bucket_lifecycle(bucket)

    def _apply(self, bucket: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        with self.calling(f"setting the lifecycle rules of bucket {bucket!r}"), bucket_settings_lock(bucket):
            if rules:
                config = sdk.LifecycleConfig([to_sdk_rule(r) for r in rules])
                self.clients.s3.set_bucket_lifecycle(bucket, config)
            else:
                self._remove(bucket)
            return {"bucket": bucket, "rules": self._stored(bucket)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        wanted = LifecycleProps[str].from_inputs(props)
        return CreateResult(wanted.bucket, self._apply(wanted.bucket, wanted.rules))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.calling(f"reading the lifecycle rules of bucket {id_!r}"):
            stored = self._stored(id_)
        if stored is None:
            return ReadResult(None, {})
        return ReadResult(id_, {"bucket": id_, "rules": stored})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = replaced(olds, news, "bucket")
        wanted = rule_set([desired_rule(rule) for rule in news.get("rules") or []])
        changed = bool(replaces) or rule_set(olds.get("rules")) != wanted
        return DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._apply(id_, LifecycleProps[str].from_inputs(news).rules))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        with self.calling(f"removing the lifecycle rules of bucket {id_!r}"), bucket_settings_lock(id_):
            self._remove(id_)


class Lifecycle(pulumi.dynamic.Resource, module="minio", name="Lifecycle"):
    """Exactly these expiry rules on a bucket (none: no lifecycle): a list of ``{id, prefix, days}``."""

    bucket: pulumi.Output[str]
    rules: pulumi.Output[list[dict[str, Any]]]

    def __init__(
        self,
        name: str,
        *,
        bucket: pulumi.Input[str],
        rules: list[dict[str, Any]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = LifecycleProps(bucket=bucket, rules=rules)
        super().__init__(LifecycleProvider(), name, props.inputs(), fixed_name(opts))
