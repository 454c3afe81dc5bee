"""The cache's signing key: generated once into the stack state, or imported from config.

A generated key is a Pulumi dynamic resource, so it is made exactly once, kept in the state as a secret
and replaced only when its name changes: rotating the key means bumping the name's suffix. It is not
protected, since protection would block exactly that replacement; the data it signs is in the
(protected) bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Generic

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider

from components.nix_keys import NixKeyPair, generate_key_pair
from providers.base import In, Props
from providers.trusted_keys import TrustedKeys


@dataclass(frozen=True, kw_only=True)
class NixSigningKeyProps(Props, Generic[In]):
    """A key named ``key_name``; a new name is a new key."""

    key_name: In
    #: Outputs the provider makes (``secret_key`` is always secret).
    fixed: ClassVar[dict[str, Any]] = {"public_key": None, "secret_key": None}


class _NixSigningKeyProvider(ResourceProvider):
    """Makes the key with PyNaCl inside the engine's dynamic provider, so it never touches argv or logs."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        pair = generate_key_pair(NixSigningKeyProps[str].from_inputs(props).key_name)
        outs = {"key_name": pair.name, "public_key": pair.public_key, "secret_key": pair.secret_key}
        return CreateResult(id_=pair.name, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        renamed = olds.get("key_name") != news.get("key_name")
        return DiffResult(
            changes=renamed, replaces=["key_name"] if renamed else [], delete_before_replace=False
        )


class NixSigningKeyResource(pulumi.dynamic.Resource):
    """An ed25519 key in Nix's format; ``secret_key`` is always a secret output."""

    key_name: pulumi.Output[str]
    public_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]

    def __init__(
        self, name: str, key_name: pulumi.Input[str], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        secret_opts = pulumi.ResourceOptions(additional_secret_outputs=["secret_key"])
        super().__init__(
            _NixSigningKeyProvider(),
            name,
            NixSigningKeyProps(key_name=key_name).inputs(),
            pulumi.ResourceOptions.merge(opts, secret_opts),
        )


@dataclass(frozen=True)
class SigningKeyArgs:
    key_name: str
    #: A key from ``nix-cache:signingKey``; when set, nothing is generated.
    imported: NixKeyPair | None
    #: Names of earlier keys clients should stop trusting.
    retired: tuple[str, ...] = ()


class SigningKey(pulumi.ComponentResource):
    """The key the builder signs with and every client trusts."""

    public_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    generated: NixSigningKeyResource | None
    trusted: TrustedKeys
    #: The current public key and the earlier ones not retired, newest first.
    trusted_public_keys: pulumi.Output[list[str]]

    def __init__(self, name: str, args: SigningKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:SigningKey", name, None, opts)
        if args.imported is None:
            self.generated = NixSigningKeyResource(
                f"{name}-ed25519",
                args.key_name,
                pulumi.ResourceOptions(parent=self),
            )
            self.public_key = self.generated.public_key
            self.secret_key = pulumi.Output.secret(self.generated.secret_key)
        else:
            self.generated = None
            self.public_key = pulumi.Output.from_input(args.imported.public_key)
            self.secret_key = pulumi.Output.secret(args.imported.secret_key)
        # Remembers the public keys of earlier rotations, so clients keep trusting what they signed.
        self.trusted = TrustedKeys(
            f"{name}-trusted",
            current=self.public_key,
            retired=args.retired,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.trusted_public_keys = self.trusted.keys
        self.register_outputs(
            {"publicKey": self.public_key, "secretKey": self.secret_key, "trusted": self.trusted_public_keys}
        )
