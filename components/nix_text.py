"""Text the user pastes or runs: ``nix-cache-info``, NixOS and nix.conf snippets, push commands.

Pure functions of config, so every line is unit tested and checked with the real ``nix-instantiate``.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from agent.nix_cache_agent import DEFAULT_CREDENTIALS_FILE

CACHE_INFO_CONTENT_TYPE = "text/x-nix-cache-info"
#: Where the README puts the stack's ``awsCredentials`` on the builder (root-owned, mode 600): the
#: agent reads the writer's profile from it, so the secret is never on a command line. The agent's
#: own default, so the two cannot disagree.
WRITER_CREDENTIALS_FILE = DEFAULT_CREDENTIALS_FILE
#: The upload agent's command on a builder with ``builderModule`` (``agent/nix_cache_agent.py``).
AGENT_COMMAND = "nix-cache-agent"


def nix_cache_info(store_dir: str, want_mass_query: bool, priority: int) -> str:
    """The object at the bucket root that makes Nix accept the bucket as a binary cache."""
    return f"StoreDir: {store_dir}\nWantMassQuery: {1 if want_mass_query else 0}\nPriority: {priority}\n"


#: What must be escaped inside a Nix "…" string; every other character, UTF-8 too, stands as itself.
_NIX_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def nix_string(value: str) -> str:
    """``value`` as a Nix ``"…"`` string literal that evaluates to exactly ``value``.

    Not JSON: Nix reads ``\\uXXXX`` as ``uXXXX``, and ``${`` would start an interpolation.
    """
    escaped = "".join(_NIX_ESCAPES.get(char, char) for char in value)
    return '"' + escaped.replace("${", "\\${") + '"'


def _keys(public_keys: str | Sequence[str]) -> list[str]:
    return [public_keys] if isinstance(public_keys, str) else list(public_keys)


def nixos_module(substituter_url: str, public_keys: str | Sequence[str]) -> str:
    """A NixOS module that adds the cache next to the ones already configured.

    ``public_keys`` is every key clients trust, newest first: after a rotation the earlier keys stay
    until retired, so paths signed before it keep substituting.
    """
    keys = " ".join(nix_string(key) for key in _keys(public_keys))
    return (
        "{ ... }:\n"
        "{\n"
        "  nix.settings = {\n"
        f"    extra-substituters = [ {nix_string(substituter_url)} ];\n"
        f"    extra-trusted-public-keys = [ {keys} ];\n"
        "  };\n"
        "}\n"
    )


def nix_conf(substituter_url: str, public_keys: str | Sequence[str]) -> str:
    """The same two settings for ``/etc/nix/nix.conf`` on machines without NixOS."""
    keys = " ".join(_keys(public_keys))
    return f"extra-substituters = {substituter_url}\nextra-trusted-public-keys = {keys}\n"


def aws_credentials(profile: str, access_key: str, secret_key: str) -> str:
    """An ``~/.aws/credentials`` profile for the writer; the result is secret."""
    return f"[{profile}]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"


def s3_substituter_url(bucket: str, profile: str, endpoint: str, use_ssl: bool) -> str:
    """The ``s3://`` URL a private cache is substituted from, with the reader's credentials profile.

    The Nix daemon reads the profile from root's ``~/.aws/credentials``.
    """
    query = urlencode(
        {"profile": profile, "endpoint": endpoint, "scheme": "https" if use_ssl else "http"}, safe=":"
    )
    return f"s3://{bucket}?{query}"


def key_file_path(key_name: str) -> str:
    """Where the README tells the builder to keep the secret key, named after the key for rotation."""
    return f"/etc/nix/{key_name}.sec"


def sign_command(key_name: str, path: str = "./result") -> str:
    return f"nix store sign --recursive --key-file {shlex.quote(key_file_path(key_name))} {path}"


@dataclass(frozen=True)
class AgentTarget:
    """Where one builder's upload agent pushes to, and as whom; no secret (that is in its credentials)."""

    endpoint: str
    bucket: str
    profile: str
    expire_days: int
    upstream_keys: tuple[str, ...]
    key_name: str
    credentials_file: str = WRITER_CREDENTIALS_FILE

    def settings(self) -> dict[str, Any]:
        """The agent's settings file (``/etc/nix-cache-agent.json``): the same values as ``options``."""
        return {
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "profile": self.profile,
            "credentials_file": self.credentials_file,
            "expire_days": self.expire_days,
            "upstream_keys": list(self.upstream_keys),
            "key_file": key_file_path(self.key_name),
        }

    def options(self) -> list[str]:
        """The same settings as command-line options (``--expire-days 30``, lists comma-joined)."""
        return [
            word
            for name, value in self.settings().items()
            for word in (
                f"--{name.replace('_', '-')}",
                ",".join(value) if isinstance(value, list) else str(value),
            )
        ]


def push_command(target: AgentTarget, path: str = "./result") -> str:
    """The agent's push of ``path``'s closure: upstream paths skipped, old ones refreshed, narinfos signed."""
    return " ".join([AGENT_COMMAND, "push", *map(shlex.quote, target.options()), "--", path])


def resign_command(target: AgentTarget) -> str:
    """Add the current key's signature to every narinfo in the cache (run on the builder, as the writer).

    Afterwards the earlier keys can be retired without clients losing the cache.
    """
    return " ".join([AGENT_COMMAND, "resign", *map(shlex.quote, target.options())])
