"""What makes a value of the stack config wrong: one pure check per kind of value, each saying why.

Each returns ``None`` for a good value, else the problem in words (the key is added by the caller), so
that every rule is unit tested without Pulumi and reused where the same kind of value appears twice.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
_HOST = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
#: ``host[:port]``, where an IPv6 host is written in brackets; each part is checked on its own.
_SERVER = re.compile(r"(?:\[(?P<ipv6>[^\[\]]*)\]|(?P<host>[^\[\]:]*))(?::(?P<port>[^:]*))?")

#: Nix reads ``Priority`` as a C ``int``.
MAX_PRIORITY = 2**31 - 1
#: MinIO keeps at most 50 tags on a bucket, and the stack claims one for its own mark, one per user and
#: one per policy before it makes them; 40 writers leave room for the reader, its policy and the
#: owner's own tags.
MAX_WRITERS = 40


def bucket_name_problem(name: str) -> str | None:
    """Why S3 would reject ``name`` as a bucket name (the AWS naming rules MinIO enforces)."""
    if not _BUCKET.fullmatch(name):
        return (
            f"{name!r} is not a valid bucket name: use 3-63 lower-case letters, digits, '.' and '-', "
            "starting and ending with a letter or digit"
        )
    if ".." in name or ".-" in name or "-." in name:
        return f"{name!r} is not a valid bucket name: no '..', '.-' or '-.'"
    if _is_ip_address(name):
        return f"{name!r} is not a valid bucket name: it must not look like an IP address"
    if name.startswith("xn--") or name.endswith("-s3alias"):
        return f"{name!r} is not a valid bucket name: 'xn--' and '-s3alias' are reserved"
    return None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def server_problem(server: str) -> str | None:
    """Why ``server`` is not the ``host[:port]`` that the MinIO provider wants."""
    if "://" in server:
        return f"{server!r} must be host[:port] without a scheme; use minio:minioSsl for https"
    if "/" in server or "?" in server:
        return f"{server!r} must be host[:port] without a path"
    if "@" in server or "#" in server:
        return f"{server!r} must be host[:port] without a login or fragment"
    match = _SERVER.fullmatch(server)
    if match is None:
        if _is_ipv6_address(server):
            return f"{server!r} is an IPv6 address: write it in brackets, as in '[::1]:9000'"
        return f"{server!r} is not host[:port]"
    port = match["port"]
    if port == "":
        return f"{server!r} ends in ':' without a port"
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f"{server!r} has an invalid port"
    if match["ipv6"] is not None:
        if not _is_ipv6_address(match["ipv6"]):
            return f"{server!r} is not host[:port]: only an IPv6 address goes in brackets"
    elif not _HOST.fullmatch(match["host"]):
        return f"{server!r} is not host[:port]"
    return None


def _is_ipv6_address(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a substituter URL (http or https, a host, no query, fragment or login).

    No whitespace or control character either: the URL is written into nix.conf lines and Nix strings,
    where a newline would add settings of its own.
    """
    if any(char.isspace() or not char.isprintable() for char in url):
        return f"{url!r} must not contain whitespace or control characters"
    parts = split_url(url)
    if parts is None:
        return f"{url!r} is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"{url!r} must start with http:// or https://"
    if not parts.hostname:
        return f"{url!r} has no host"
    if parts.query or "?" in url:
        return f"{url!r} must not have a query: Nix appends paths to it"
    if parts.fragment or "#" in url:
        return f"{url!r} must not have a fragment"
    if parts.username or parts.password:
        return f"{url!r} must not carry a login: the cache is read anonymously"
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{url!r} has an invalid port"
    return None


def store_dir_problem(store_dir: str) -> str | None:
    if (
        not store_dir.startswith("/")
        or store_dir.endswith("/")
        or any(char.isspace() or not char.isprintable() for char in store_dir)
    ):
        return (
            f"{store_dir!r} must be an absolute path without trailing '/', whitespace or control characters"
        )
    return None


def user_name_problem(name: str, admin: str | None) -> str | None:
    """Why ``name`` cannot be a MinIO user of the cache (its format, or being the admin)."""
    if not _USER.fullmatch(name):
        return f"{name!r} must be 3-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if name == admin:
        return f"{name!r} is the MinIO admin user; the cache's users must be their own"
    return None


def split_url(url: str) -> SplitResult | None:
    """``urlsplit``, or ``None`` where it refuses the URL (e.g. an unclosed or non-IPv6 ``[host]``)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None
