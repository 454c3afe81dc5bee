"""Which public keys clients trust across rotations: the current one, then earlier ones until retired."""

from __future__ import annotations

from providers.trusted_keys import TrustedKeysProvider, trusted_keys


def test_the_current_key_comes_first_and_earlier_keys_follow_newest_first() -> None:
    assert trusted_keys("c-3:C", ["c-2:B", "c-1:A"], []) == ["c-3:C", "c-2:B", "c-1:A"]


def test_retired_names_are_dropped() -> None:
    assert trusted_keys("c-3:C", ["c-2:B", "c-1:A"], ["c-1"]) == ["c-3:C", "c-2:B"]


def test_one_key_per_name() -> None:
    """A re-imported key of the same name replaces the earlier one: Nix keeps one key per name."""
    assert trusted_keys("c-1:NEW", ["c-1:OLD"], []) == ["c-1:NEW"]


def test_a_rotation_remembers_the_previous_key() -> None:
    """The provider keeps what it had: rotating twice trusts all three until retired."""
    provider = TrustedKeysProvider()
    first = provider.create({"current": "c-1:A", "retired": []}).outs
    assert first is not None
    second = provider.update("id", first, {"current": "c-2:B", "retired": []}).outs
    assert second is not None
    third = provider.update("id", second, {"current": "c-3:C", "retired": []}).outs
    assert third is not None
    assert third["keys"] == ["c-3:C", "c-2:B", "c-1:A"]
    assert provider.diff("id", third, {"current": "c-3:C", "retired": []}).changes is False
    assert provider.diff("id", third, {"current": "c-3:C", "retired": ["c-1"]}).changes is True
    retired = provider.update("id", third, {"current": "c-3:C", "retired": ["c-1"]}).outs
    assert retired is not None
    assert retired["keys"] == ["c-3:C", "c-2:B"]
