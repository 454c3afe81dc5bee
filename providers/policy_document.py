"""IAM and bucket policy documents compared by meaning, not by text.

MinIO re-encodes what it stores: it reorders actions (even between two reads), turns a one-item list
into a string and back, drops an identity policy's ``Principal``. ``canonical_policy`` maps every
spelling of one policy to one value, so a diff is a change of meaning and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

_SET_KEYS = ("Action", "NotAction", "Resource", "NotResource")


def _as_sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _principal(value: Any) -> Any:
    """``"*"`` and ``{"AWS": "*"}`` and ``{"AWS": ["*"]}`` are one principal."""
    if value == "*":
        return {"AWS": ["*"]}
    if isinstance(value, dict):
        return {key: _as_sorted_list(item) for key, item in sorted(value.items())}
    return value


def _statement(statement: dict[str, Any], *, identity: bool) -> dict[str, Any]:
    canonical: dict[str, Any] = {"Effect": statement.get("Effect", "Allow")}
    for key in _SET_KEYS:
        if key in statement and statement[key] not in (None, [], ""):
            canonical[key] = _as_sorted_list(statement[key])
    for key in ("Principal", "NotPrincipal"):
        if key in statement and statement[key] not in (None, {}, "") and not identity:
            canonical[key] = _principal(statement[key])
    if statement.get("Condition"):
        canonical["Condition"] = json.loads(json.dumps(statement["Condition"], sort_keys=True))
    if statement.get("Sid"):
        canonical["Sid"] = statement["Sid"]
    return canonical


def canonical_policy(document: str | dict[str, Any], *, identity: bool = False) -> dict[str, Any]:
    """The meaning of a policy as one value: statements as a sorted set, their lists sorted.

    ``identity=True`` for a user's policy: MinIO ignores (and drops) a ``Principal`` there.
    """
    parsed = json.loads(document) if isinstance(document, str) else document
    statements = parsed.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    unique = {
        json.dumps(_statement(s, identity=identity), sort_keys=True): _statement(s, identity=identity)
        for s in statements
    }
    return {
        "Version": parsed.get("Version", "2012-10-17"),
        "Statement": [unique[key] for key in sorted(unique)],
    }


def to_json(document: Any) -> str:
    """Compact, key-sorted JSON, so that the same document is always the same string."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def canonical_policy_text(document: str | dict[str, Any], *, identity: bool = False) -> str:
    """``canonical_policy`` as ``to_json``: equal meaning, equal text."""
    return to_json(canonical_policy(document, identity=identity))


def same_policy(
    a: str | dict[str, Any] | None, b: str | dict[str, Any] | None, *, identity: bool = False
) -> bool:
    if not a or not b:
        return not a and not b
    return canonical_policy(a, identity=identity) == canonical_policy(b, identity=identity)
