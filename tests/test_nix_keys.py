"""Nix key encoding without Nix: the format, the checks, and that secrets stay out of repr."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.nix_keys import NixKeyError, generate_key_pair, key_name_problem, parse_secret_key

key_names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}", fullmatch=True)


@given(key_names)
def test_generated_key_parses_back_to_itself(name: str) -> None:
    """A generated key survives the round trip through its text form."""
    pair = generate_key_pair(name)
    assert parse_secret_key(pair.secret_key) == pair


def test_generated_key_has_nix_layout() -> None:
    """Secret: name:base64(seed32 || public32); public: name:base64(public32), the same public half."""
    pair = generate_key_pair("cache-1")
    secret = base64.b64decode(pair.secret_key.removeprefix("cache-1:"))
    public = base64.b64decode(pair.public_key.removeprefix("cache-1:"))
    assert len(secret) == 64
    assert secret[32:] == public


def test_generated_keys_differ() -> None:
    assert generate_key_pair("a-1").secret_key != generate_key_pair("a-1").secret_key


def test_repr_hides_the_secret() -> None:
    """A key pair printed by accident shows its name and public key only."""
    pair = generate_key_pair("cache-1")
    secret_part = pair.secret_key.partition(":")[2]
    assert secret_part not in repr(pair)
    assert pair.public_key in repr(pair)


@pytest.mark.parametrize(
    "name",
    ["", "a:b", "a b", "tab\there", "new\nline", "../../root/.ssh/x", "*", "$(id)", "-x", ".x", "a" * 129],
)
def test_bad_key_names(name: str) -> None:
    """Nix refuses only ':' and whitespace; the rest would escape /etc/nix/<name>.sec or a shell word."""
    assert key_name_problem(name) is not None
    with pytest.raises(NixKeyError, match="key name"):
        generate_key_pair(name)


@pytest.mark.parametrize("name", ["cache.example.org-1", "127.0.0.1-1", "a", "k_2", "a" * 128])
def test_good_key_names(name: str) -> None:
    assert key_name_problem(name) is None


def test_public_key_is_not_a_secret_key() -> None:
    """The common mistake of pasting the public key gets a message that says so."""
    with pytest.raises(NixKeyError, match="public key was given"):
        parse_secret_key(generate_key_pair("c-1").public_key)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-colon", "expected 'name:base64'"),
        ("c-1:not base64!", "not base64"),
        (":" + base64.b64encode(bytes(64)).decode(), "key name"),
    ],
)
def test_malformed_secret_keys(text: str, message: str) -> None:
    with pytest.raises(NixKeyError, match=message):
        parse_secret_key(text)


def test_corrupt_secret_key_is_refused() -> None:
    """A key whose public half does not belong to its seed would sign with a key nobody trusts."""
    pair = generate_key_pair("c-1")
    raw = bytearray(base64.b64decode(pair.secret_key.partition(":")[2]))
    raw[40] ^= 1
    with pytest.raises(NixKeyError, match="corrupt"):
        parse_secret_key("c-1:" + base64.b64encode(bytes(raw)).decode())


def test_errors_never_echo_key_material() -> None:
    pair = generate_key_pair("c-1")
    broken = pair.secret_key[:-8] + "AAAAAAA="
    with pytest.raises(NixKeyError) as error:
        parse_secret_key(broken)
    assert pair.secret_key.partition(":")[2][:20] not in str(error.value)
