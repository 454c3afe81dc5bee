"""The public keys clients should trust, remembered across rotations in the stack's state.

Rotating the signing key (a new ``keyName``) replaces the key, but paths signed before it are still in
the cache: clients must keep trusting the earlier public key until those paths are re-signed. This
resource remembers every earlier public key itself, so there is nothing to type; ``retired`` names
the keys to drop. Nothing outside the state is touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from providers.base import In, Props, is_known


def key_name(public_key: str) -> str:
    return public_key.partition(":")[0]


def trusted_keys(current: str, earlier: Sequence[str], retired: Sequence[str]) -> list[str]:
    """``current`` first, then the earlier keys newest first, without retired names or a second key of a name.

    Nix keeps one trusted key per name, so a key of ``current``'s name never stays beside it.
    """
    keys = [current]
    for key in earlier:
        name = key_name(key)
        if name not in retired and name not in {key_name(k) for k in keys}:
            keys.append(key)
    return keys


@dataclass(frozen=True, kw_only=True)
class TrustedKeysProps(Props, Generic[In]):
    """The ``current`` public key, and the names of earlier ones clients should stop trusting."""

    current: In
    retired: list[str]
    #: The keys to trust: an output, remembered across rotations.
    fixed: ClassVar[dict[str, Any]] = {"keys": None}


class TrustedKeysProvider(ResourceProvider):
    def _outs(self, news: dict[str, Any], earlier: Sequence[str]) -> dict[str, Any]:
        wanted = TrustedKeysProps[str].from_inputs(news)
        return {**news, "keys": trusted_keys(wanted.current, earlier, list(wanted.retired or []))}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult("trusted-keys", self._outs(props, []))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if not is_known(news.get("current")):
            return DiffResult(changes=True, replaces=[], delete_before_replace=False)
        wanted = trusted_keys(news["current"], olds.get("keys") or [], list(news.get("retired") or []))
        changed = olds.get("current") != news.get("current") or (olds.get("keys") or []) != wanted
        return DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._outs(news, olds.get("keys") or []))


class TrustedKeys(pulumi.dynamic.Resource, module="nix", name="TrustedKeys"):
    """``keys``: the current public key, then the earlier ones not retired, newest first."""

    keys: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        *,
        current: pulumi.Input[str],
        retired: Sequence[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = TrustedKeysProps(current=current, retired=list(retired))
        super().__init__(TrustedKeysProvider(), name, props.inputs(), opts)
