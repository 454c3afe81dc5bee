"""Expiry rules for a Nix binary cache, as prefix-only ILM filters.

Prefix filters are the one kind every S3 lifecycle implementation has, and a rule on the
whole bucket would one day delete ``nix-cache-info``, after which Nix refuses the cache. So the rules
here are computed over Nix's base-32 alphabet: narinfos (``<hash>.narinfo``, plus the ``<hash>.ls``,
``log/``, ``realisations/`` and ``debuginfo/`` keys that share their first letters) are covered by a set
of prefixes that provably avoids every reserved key, and NARs (``nar/``) expire a grace period later,
so a NAR always outlives the narinfo that points at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: The alphabet of Nix store path hashes (no e, o, u, t), see ``libutil/hash.cc``.
NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
CACHE_INFO_KEY = "nix-cache-info"
NAR_PREFIX = "nar/"
#: Days a NAR outlives its narinfo: Nix uploads the NAR first, so its clock starts earlier.
NAR_GRACE_DAYS = 1
#: 100 years: the most a narinfo may be kept (``nix-cache:expireDays``). MinIO adds the days to today
#: without a range check and wraps a date past its range into the past (near 106,750 days), which
#: deletes everything at once.
MAX_DAYS = 36_500


@dataclass(frozen=True)
class ExpiryRule:
    """One ILM rule: delete objects whose key starts with ``prefix`` ``days`` after upload."""

    rule_id: str
    prefix: str
    days: int


def _touches(prefix: str, reserved: str) -> bool:
    """True when a rule on ``prefix`` could match a key under ``reserved`` (or ``reserved`` itself)."""
    return reserved.startswith(prefix) or prefix.startswith(reserved)


def safe_prefixes(reserved: Sequence[str], alphabet: str = NIX_BASE32) -> tuple[str, ...]:
    """The fewest prefixes that match every key starting with an ``alphabet`` letter, except the reserved.

    A prefix that could touch a reserved key is split into one longer prefix per letter; a reserved key
    always has a character outside the alphabet (``-``, ``/``) or ends, so splitting stops there.
    """
    done: list[str] = []
    pending = list(alphabet)
    while pending:
        prefix = pending.pop(0)
        if any(_touches(prefix, r) for r in reserved):
            if len(prefix) > max(len(r) for r in reserved):
                raise ValueError(f"reserved keys {reserved!r} cannot be avoided by prefixes")
            pending.extend(prefix + letter for letter in alphabet)
        else:
            done.append(prefix)
    return tuple(sorted(done))


def expiry_rules(days: int) -> tuple[ExpiryRule, ...]:
    """The cache's ILM rules; none when ``days`` is 0 (keep forever)."""
    if not 0 <= days <= MAX_DAYS:
        raise ValueError(f"days must be from 0 to {MAX_DAYS}")
    if days == 0:
        return ()
    narinfo_rules = (
        ExpiryRule(f"narinfo-{prefix}", prefix, days)
        for prefix in safe_prefixes((CACHE_INFO_KEY, NAR_PREFIX))
    )
    return (*narinfo_rules, ExpiryRule("nar", NAR_PREFIX, days + NAR_GRACE_DAYS))


def rules_matching(key: str, rules: Iterable[ExpiryRule]) -> list[ExpiryRule]:
    """The rules whose prefix filter matches ``key``, as MinIO would apply them."""
    return [rule for rule in rules if key.startswith(rule.prefix)]
