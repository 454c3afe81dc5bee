"""Text the user pastes or runs: ``nix-cache-info``, NixOS and nix.conf snippets, push commands.

Pure functions of config, so every line is unit tested and checked with the real ``nix-instantiate``.
"""

from __future__ import annotations

import json
import shlex
from urllib.parse import urlencode

CACHE_INFO_CONTENT_TYPE = "text/x-nix-cache-info"


def nix_cache_info(store_dir: str, want_mass_query: bool, priority: int) -> str:
    """The object at the bucket root that makes Nix accept the bucket as a binary cache."""
    return f"StoreDir: {store_dir}\nWantMassQuery: {1 if want_mass_query else 0}\nPriority: {priority}\n"


def _nix_string(value: str) -> str:
    """A Nix string literal; JSON escapes are valid Nix escapes except ``${``, which is escaped too."""
    return json.dumps(value).replace("${", "\\${")


def nixos_module(substituter_url: str, public_key: str) -> str:
    """A NixOS module that adds the cache next to the ones already configured."""
    return (
        "{ ... }:\n"
        "{\n"
        "  nix.settings = {\n"
        f"    extra-substituters = [ {_nix_string(substituter_url)} ];\n"
        f"    extra-trusted-public-keys = [ {_nix_string(public_key)} ];\n"
        "  };\n"
        "}\n"
    )


def nix_conf(substituter_url: str, public_key: str) -> str:
    """The same two settings for ``/etc/nix/nix.conf`` on machines without NixOS."""
    return f"extra-substituters = {substituter_url}\nextra-trusted-public-keys = {public_key}\n"


def aws_credentials(profile: str, access_key: str, secret_key: str) -> str:
    """An ``~/.aws/credentials`` profile for the writer; the result is secret."""
    return f"[{profile}]\naws_access_key_id = {access_key}\naws_secret_access_key = {secret_key}\n"


def s3_store_url(bucket: str, profile: str, endpoint: str, use_ssl: bool) -> str:
    """The ``s3://`` store URL ``nix copy`` uploads to.

    zstd with parallel compression: it compresses several times faster than Nix's default xz at a similar
    ratio and decompresses far faster on the clients (a Raspberry Pi feels it most).
    """
    query = urlencode(
        {
            "profile": profile,
            "endpoint": endpoint,
            "scheme": "https" if use_ssl else "http",
            "compression": "zstd",
            "parallel-compression": "true",
        },
        safe=":",
    )
    return f"s3://{bucket}?{query}"


def key_file_path(key_name: str) -> str:
    """Where the README tells the builder to keep the secret key, named after the key for rotation."""
    return f"/etc/nix/{key_name}.sec"


def sign_command(key_name: str, path: str = "./result") -> str:
    return f"nix store sign --recursive --key-file {shlex.quote(key_file_path(key_name))} {path}"


def push_command(store_url: str, path: str = "./result") -> str:
    return f"nix copy --to {shlex.quote(store_url)} {path}"
