"""The ILM prefix cover: every narinfo expires, NARs later, and ``nix-cache-info`` never."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.expiry import (
    CACHE_INFO_KEY,
    NAR_GRACE_DAYS,
    NAR_PREFIX,
    NIX_BASE32,
    expiry_rules,
    rules_matching,
    safe_prefixes,
)
from tests.strategies import listing_key, nar_key, narinfo_key, store_hash

RULES = expiry_rules(30)
days = st.integers(min_value=1, max_value=36500)


def test_alphabet_is_nix_base32() -> None:
    """Nix's base-32 leaves out e, o, u and t; 32 distinct letters."""
    assert len(set(NIX_BASE32)) == 32
    assert not set("eout") & set(NIX_BASE32)


def test_no_rules_when_kept_forever() -> None:
    """expireDays = 0 means no lifecycle rule at all."""
    assert expiry_rules(0) == ()


def test_negative_days_are_refused() -> None:
    for days in (-1, 36_501):
        with pytest.raises(ValueError, match="from 0 to 36500"):
            expiry_rules(days)


@given(days)
def test_cache_info_never_expires(n: int) -> None:
    """No rule may ever match nix-cache-info, or Nix stops accepting the cache."""
    assert rules_matching(CACHE_INFO_KEY, expiry_rules(n)) == []


@given(narinfo_key, days)
def test_every_narinfo_expires_exactly_once(key: str, n: int) -> None:
    """Each narinfo is matched by exactly one rule, which expires it after the configured days."""
    matching = rules_matching(key, expiry_rules(n))
    assert [rule.days for rule in matching] == [n]


@given(listing_key)
def test_listings_expire_with_their_narinfo(key: str) -> None:
    """``<hash>.ls`` shares the narinfo's first letters, so it goes at the same time."""
    assert [rule.days for rule in rules_matching(key, RULES)] == [30]


@given(nar_key, days)
def test_every_nar_outlives_its_narinfo(key: str, n: int) -> None:
    """NARs are matched only by the NAR rule, which fires a grace period after the narinfos."""
    matching = rules_matching(key, expiry_rules(n))
    assert [(rule.prefix, rule.days) for rule in matching] == [(NAR_PREFIX, n + NAR_GRACE_DAYS)]


def test_prefixes_are_disjoint() -> None:
    """No prefix is a prefix of another, so no key is expired by two rules."""
    prefixes = [rule.prefix for rule in RULES]
    for a in prefixes:
        for b in prefixes:
            assert a == b or not b.startswith(a), (a, b)


def test_rule_ids_are_unique_and_within_s3_limits() -> None:
    """S3 allows at most 1000 rules with distinct ids of at most 255 characters."""
    ids = [rule.rule_id for rule in RULES]
    assert len(ids) == len(set(ids)) <= 1000
    assert max(map(len, ids)) <= 255


@given(store_hash, st.text(alphabet=NIX_BASE32 + "-/._!", max_size=20))
def test_safe_prefixes_cover_every_key_that_starts_with_a_store_hash(hash_: str, rest: str) -> None:
    """Whatever follows a store hash (``.narinfo``, ``.ls``, ``!out.doi``), the key is covered."""
    assert any((hash_ + rest).startswith(p) for p in safe_prefixes((CACHE_INFO_KEY, NAR_PREFIX)))


@given(st.text(alphabet=NIX_BASE32 + "-/._", max_size=60))
def test_safe_prefixes_never_reach_under_a_reserved_key(rest: str) -> None:
    """No prefix matches the reserved keys or anything below them."""
    prefixes = safe_prefixes((CACHE_INFO_KEY, NAR_PREFIX))
    for key in (CACHE_INFO_KEY + rest, NAR_PREFIX + rest):
        assert not any(key.startswith(p) for p in prefixes), key


def test_nars_outlive_narinfos_by_the_grace_period() -> None:
    """Every narinfo rule has the configured days; the NAR rule one day more."""
    assert {(rule.prefix == "nar/", rule.days) for rule in expiry_rules(7)} == {(False, 7), (True, 8)}
