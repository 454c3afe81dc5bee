"""Raw config values (the strings Pulumi hands over) turned into typed ones, collecting every problem.

``ConfigReader`` reads only keys of the table in ``config_keys``, with their defaults, so a setting the
program reads cannot be missing from the table (and hence from the unknown-key check or the schema).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping

from components.config_keys import ALL_KEYS, CONFIG_KEYS, PROJECT, Key
from providers.connection import FALSE_WORDS, TRUE_WORDS


def unknown_key_problem(key: str) -> str:
    """What to say of a ``nix-cache:`` key the program does not read (a typo is otherwise ignored)."""
    known = [k.partition(":")[2] for k in CONFIG_KEYS if k.startswith(f"{PROJECT}:")]
    close = difflib.get_close_matches(key.partition(":")[2], known, n=1)
    hint = f"did you mean {PROJECT}:{close[0]}?" if close else f"see Pulumi.yaml for the {PROJECT}: keys"
    return f"is not a setting of this program; {hint} (`pulumi config rm {key}`)"


class ConfigReader:
    """Reads raw values and collects problems instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str], secret_keys: Collection[str]) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.problems: list[str] = []
        for key in sorted(raw):
            if key.startswith(f"{PROJECT}:") and key not in CONFIG_KEYS:
                self.problems.append(f"{key}: {unknown_key_problem(key)}")

    def problem(self, key: Key, what: str) -> None:
        self.problems.append(f"{key}: {what}")

    def text(self, key: Key) -> str | None:
        if key not in ALL_KEYS:
            raise KeyError(f"{key} is not in config_keys.ALL_KEYS")
        value = self.raw.get(key.name)
        return None if value is None or value == "" else str(value)

    def text_or_default(self, key: Key) -> str:
        value = self.text(key)
        return str(key.default) if value is None else value

    def boolean(self, key: Key) -> bool:
        value = self.text(key)
        if value is None:
            return bool(key.default)
        if value.strip().lower() in TRUE_WORDS:
            return True
        if value.strip().lower() in FALSE_WORDS:
            return False
        self.problem(key, f"must be true or false, not {value!r}")
        return bool(key.default)

    def count(self, key: Key, maximum: int, meaning: str = "") -> int:
        """A whole number from 0 to ``maximum``; ``meaning`` says why the bound is where it is."""
        default = int(key.default)
        value = self.text(key)
        if value is None:
            return default
        try:
            number = int(value.strip())
        except ValueError:
            self.problem(key, f"must be a whole number, not {value!r}")
            return default
        if number < 0:
            self.problem(key, f"must not be negative, got {number}")
            return default
        if number > maximum:
            self.problem(key, f"must be at most {maximum:,}{meaning}, got {number:,}")
            return default
        return number

    def names(self, key: Key) -> tuple[str, ...] | None:
        """A list of names: a JSON list (``pulumi config set --path 'key[0]' a``) or comma-separated."""
        value = self.text(key)
        if value is None:
            return None
        if value.lstrip().startswith("{"):
            self.problem(
                key, f"must be a list of names (`pulumi config set --path '{key}[0]' NAME`), not {value!r}"
            )
            return None
        if value.lstrip().startswith("["):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = None
            if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
                self.problem(key, f"must be a list of names, not {value!r}")
                return None
            return tuple(item.strip() for item in parsed)
        return tuple(item.strip() for item in value.split(","))

    def secret(self, key: Key) -> str | None:
        value = self.text(key)
        if value is not None and key.name not in self.secret_keys:
            self.problem(key, f"is in clear text; set it with `pulumi config set --secret {key}`")
        return value
