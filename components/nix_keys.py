"""Nix signing keys in Nix's own text format, made and checked with PyNaCl.

Nix writes an ed25519 secret key as ``name:base64(seed32 || public32)`` and the public key as
``name:base64(public32)``. Keeping the encoding here, pure, lets the tests compare it byte for byte
with what ``nix key convert-secret-to-public`` prints.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from nacl.signing import SigningKey

_SEED_BYTES = 32
_PUBLIC_BYTES = 32
#: The longest key name accepted: it names a file (``/etc/nix/<name>.sec``) and a line of nix.conf.
MAX_KEY_NAME_LENGTH = 128
#: A name that is safe as a file name and in a shell word: no ``/``, ``*``, ``$``, no leading ``-`` or ``.``.
_KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class NixKeyError(ValueError):
    """A key or key name that Nix would not accept. Messages never contain key material."""


def key_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a key name of the cache, or ``None`` when it is fine.

    Nix itself only needs a name without ``:`` (the key follows it) and whitespace (it would split the
    ``trusted-public-keys`` list); but the name also becomes the builder's key file
    ``/etc/nix/<name>.sec``, so it may not reach outside ``/etc/nix`` (``/``, ``..``), expand in a shell
    (``*``, ``$(…)``) or read as an option (``-x``).
    """
    if not name:
        return "must not be empty"
    if len(name) > MAX_KEY_NAME_LENGTH:
        return f"is {len(name)} characters long; at most {MAX_KEY_NAME_LENGTH} are allowed"
    if not _KEY_NAME.fullmatch(name):
        return (
            "must be letters, digits, '.', '_' and '-' only, starting with a letter or digit "
            "(it names the key file /etc/nix/<name>.sec)"
        )
    return None


@dataclass(frozen=True)
class NixKeyPair:
    """A signing key; ``repr`` leaves the secret out so it cannot leak into logs."""

    name: str
    secret_key: str = field(repr=False)
    public_key: str


def _encode(name: str, raw: bytes) -> str:
    return f"{name}:{base64.b64encode(raw).decode('ascii')}"


def generate_key_pair(name: str) -> NixKeyPair:
    """A fresh ed25519 key pair named ``name``, as ``nix key generate-secret`` would write it."""
    problem = key_name_problem(name)
    if problem:
        raise NixKeyError(f"key name {name!r} {problem}")
    signing_key = SigningKey.generate()
    seed = bytes(signing_key)
    public = bytes(signing_key.verify_key)
    return NixKeyPair(name, _encode(name, seed + public), _encode(name, public))


def parse_secret_key(text: str) -> NixKeyPair:
    """Parse a Nix secret key, checking that its public half really belongs to its seed."""
    name, sep, encoded = text.strip().partition(":")
    if not sep:
        raise NixKeyError("is not a Nix secret key: expected 'name:base64'")
    problem = key_name_problem(name)
    if problem:
        raise NixKeyError(f"has a key name that {problem}")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise NixKeyError("is not a Nix secret key: the part after ':' is not base64") from None
    if len(raw) != _SEED_BYTES + _PUBLIC_BYTES:
        raise NixKeyError(
            f"is not a Nix ed25519 secret key: it decodes to {len(raw)} bytes, not "
            f"{_SEED_BYTES + _PUBLIC_BYTES} (a public key was given where the secret key belongs?)"
        )
    seed, public = raw[:_SEED_BYTES], raw[_SEED_BYTES:]
    if bytes(SigningKey(seed).verify_key) != public:
        raise NixKeyError("is corrupt: its public half does not belong to its secret half")
    return NixKeyPair(name, _encode(name, raw), _encode(name, public))
