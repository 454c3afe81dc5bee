"""Stack configuration, parsed once into frozen, typed values and validated before anything is created.

``parse_config`` is pure: it takes the raw key/value strings Pulumi hands the program and either returns
a ``CacheConfig`` or raises one ``ConfigError`` listing every problem with its key. ``load_config`` is
the thin shell that reads Pulumi's runtime config.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import pulumi

from components.nix_keys import NixKeyError, NixKeyPair, key_name_problem, parse_secret_key

PROJECT = "nix-cache"

#: Defaults, mirrored in ``Pulumi.yaml``'s config schema (a test keeps the two equal).
DEFAULT_BUCKET = "nix-cache"
DEFAULT_WRITER = "nixbuilder"
DEFAULT_PROTECT = True
DEFAULT_EXPIRE_DAYS = 30
DEFAULT_STORE_DIR = "/nix/store"
DEFAULT_WANT_MASS_QUERY = True
DEFAULT_PRIORITY = 40
DEFAULT_VERIFY = True
DEFAULT_ADOPT = False
DEFAULT_PUBLIC = True
DEFAULT_READER = "nixreader"
#: Paths signed by these keys come from upstream caches and are not uploaded (``[]``: upload all).
DEFAULT_UPSTREAM_KEYS = ("cache.nixos.org-1",)

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_WRITER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{2,63}")
_HOST = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")
#: ``host[:port]``, where an IPv6 host is written in brackets; each part is checked on its own.
_SERVER = re.compile(r"(?:\[(?P<ipv6>[^\[\]]*)\]|(?P<host>[^\[\]:]*))(?::(?P<port>[^:]*))?")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


class ConfigError(Exception):
    """Every problem found in the stack's config, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class MinioConnection:
    """Where the S3 API is and how to reach it; the root password stays with the provider config."""

    server: str
    user: str
    use_ssl: bool
    cacert_file: str | None
    insecure: bool

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self.use_ssl else 'http'}://{self.server}"


@dataclass(frozen=True)
class CacheConfig:
    minio: MinioConnection
    bucket: str
    #: One MinIO user per builder, all with the same upload-only policy; the first is "the" writer.
    writers: tuple[str, ...]
    protect: bool
    expire_days: int
    store_dir: str
    want_mass_query: bool
    priority: int
    public_url: str
    key_name: str
    #: An imported key (``nix-cache:signingKey``); ``None`` means the program generates one.
    signing_key: NixKeyPair | None = field(repr=False)
    verify: bool
    #: Take over a cache made by hand (bucket, writer user, its policy) instead of refusing it.
    adopt: bool = False
    #: Anonymous download (true), or a private cache read through ``reader``'s credentials (false).
    public: bool = DEFAULT_PUBLIC
    reader: str = DEFAULT_READER
    #: Names of earlier signing keys that clients should no longer trust.
    retire_keys: tuple[str, ...] = ()
    upstream_keys: tuple[str, ...] = DEFAULT_UPSTREAM_KEYS

    @property
    def writer(self) -> str:
        """The first builder: the one-writer outputs and the default push command use it."""
        return self.writers[0]


class _Reader:
    """Reads raw values and collects problems instead of stopping at the first."""

    def __init__(self, raw: Mapping[str, str], secret_keys: Collection[str]) -> None:
        self.raw = raw
        self.secret_keys = secret_keys
        self.problems: list[str] = []

    def problem(self, key: str, what: str) -> None:
        self.problems.append(f"{key}: {what}")

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        return None if value is None or value == "" else str(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.text(key)
        if value is None:
            return default
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        self.problem(key, f"must be true or false, not {value!r}")
        return default

    def count(self, key: str, default: int) -> int:
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
        return number

    def names(self, key: str) -> tuple[str, ...] | None:
        """A list of names: a JSON list (``pulumi config set --path 'key[0]' a``) or comma-separated."""
        value = self.text(key)
        if value is None:
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

    def secret(self, key: str) -> str | None:
        value = self.text(key)
        if value is not None and key not in self.secret_keys:
            self.problem(key, f"is in clear text; set it with `pulumi config set --secret {key}`")
        return value


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


def _split_url(url: str) -> SplitResult | None:
    """``urlsplit``, or ``None`` where it refuses the URL (e.g. an unclosed or non-IPv6 ``[host]``)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def public_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a substituter URL (http or https, a host, no query, fragment or login)."""
    parts = _split_url(url)
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
    if not store_dir.startswith("/") or store_dir.endswith("/") or re.search(r"\s", store_dir):
        return f"{store_dir!r} must be an absolute path without trailing '/' or whitespace"
    return None


def parse_config(raw: Mapping[str, str], secret_keys: Collection[str] = ()) -> CacheConfig:
    """Parse and validate the whole config; raise one ``ConfigError`` that lists every problem."""
    read = _Reader(raw, secret_keys)

    server = read.text("minio:minioServer")
    server_fault = (
        "is required: the MinIO S3 API as host[:port]" if server is None else server_problem(server)
    )
    if server_fault:
        read.problem("minio:minioServer", server_fault)
    user = read.text("minio:minioUser")
    if user is None:
        read.problem("minio:minioUser", "is required: the MinIO admin user the program acts as")
    if read.secret("minio:minioPassword") is None:
        read.problem(
            "minio:minioPassword",
            "is required; set it with `pulumi config set --secret minio:minioPassword`",
        )
    use_ssl = read.boolean("minio:minioSsl", False)
    minio = MinioConnection(
        server=server or "",
        user=user or "",
        use_ssl=use_ssl,
        cacert_file=read.text("minio:minioCacertFile"),
        insecure=read.boolean("minio:minioInsecure", False),
    )

    bucket = read.text(f"{PROJECT}:bucket") or DEFAULT_BUCKET
    if problem := bucket_name_problem(bucket):
        read.problem(f"{PROJECT}:bucket", problem)
    writers = _writers(read, user)
    public = read.boolean(f"{PROJECT}:public", DEFAULT_PUBLIC)
    reader = read.text(f"{PROJECT}:reader") or DEFAULT_READER
    if problem := user_name_problem(reader, user):
        read.problem(f"{PROJECT}:reader", problem)
    elif reader in writers:
        read.problem(f"{PROJECT}:reader", f"{reader!r} is also a writer; the reader must be its own user")

    store_dir = read.text(f"{PROJECT}:storeDir") or DEFAULT_STORE_DIR
    if problem := store_dir_problem(store_dir):
        read.problem(f"{PROJECT}:storeDir", problem)

    public_url = read.text(f"{PROJECT}:publicUrl")
    if public_url is None:
        public_url = f"{minio.endpoint_url}/{bucket}"
        public_url_fault = server_fault
    elif public_url_fault := public_url_problem(public_url):
        read.problem(f"{PROJECT}:publicUrl", public_url_fault)
    public_url = public_url.rstrip("/")

    signing_key = _signing_key(read)
    key_name = read.text(f"{PROJECT}:keyName")
    if key_name is None:
        key_name = signing_key.name if signing_key else f"{_public_host(public_url)}-1"
        # An IPv6 host, e.g. http://[::1]:9000, gives a name with ':' in it; a bad URL is reported already.
        if public_url_fault is None and (problem := key_name_problem(key_name)):
            read.problem(
                f"{PROJECT}:keyName",
                f"the default {key_name!r} (the host of the public URL) {problem}; set a name of your own",
            )
    elif problem := key_name_problem(key_name):
        read.problem(f"{PROJECT}:keyName", f"{key_name!r} {problem}")
    if signing_key and signing_key.name != key_name:
        read.problem(
            f"{PROJECT}:signingKey",
            f"is named {signing_key.name!r} but {PROJECT}:keyName is {key_name!r}; make them agree",
        )
    retire_keys = read.names(f"{PROJECT}:retireKeys") or ()
    for name in retire_keys:
        if problem := key_name_problem(name):
            read.problem(f"{PROJECT}:retireKeys", f"{name!r} {problem}")
        elif name == key_name:
            read.problem(
                f"{PROJECT}:retireKeys",
                f"{name!r} is the current signing key ({PROJECT}:keyName); rotate to a new name first",
            )

    config = CacheConfig(
        minio=minio,
        bucket=bucket,
        writers=writers,
        protect=read.boolean(f"{PROJECT}:protect", DEFAULT_PROTECT),
        expire_days=read.count(f"{PROJECT}:expireDays", DEFAULT_EXPIRE_DAYS),
        store_dir=store_dir,
        want_mass_query=read.boolean(f"{PROJECT}:wantMassQuery", DEFAULT_WANT_MASS_QUERY),
        priority=read.count(f"{PROJECT}:priority", DEFAULT_PRIORITY),
        public_url=public_url,
        key_name=key_name,
        signing_key=signing_key,
        verify=read.boolean(f"{PROJECT}:verify", DEFAULT_VERIFY),
        adopt=read.boolean(f"{PROJECT}:adopt", DEFAULT_ADOPT),
        public=public,
        reader=reader,
        retire_keys=tuple(dict.fromkeys(retire_keys)),
        upstream_keys=_upstream_keys(read, key_name),
    )
    if read.problems:
        raise ConfigError(read.problems)
    return config


def _public_host(public_url: str) -> str:
    """The host of ``public_url``, the default signing key name's stem."""
    parts = _split_url(public_url)
    return (parts.hostname if parts else None) or "cache"


def user_name_problem(name: str, admin: str | None) -> str | None:
    """Why ``name`` cannot be a MinIO user of the cache (its format, or being the admin)."""
    if not _WRITER.fullmatch(name):
        return f"{name!r} must be 3-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    if name == admin:
        return f"{name!r} is the MinIO admin user; the cache's users must be their own"
    return None


def _writers(read: _Reader, admin: str | None) -> tuple[str, ...]:
    """``nix-cache:writers``, or ``nix-cache:writer`` as its one-item form; never both, never empty."""
    one = read.text(f"{PROJECT}:writer")
    many = read.names(f"{PROJECT}:writers")
    if one is not None and many is not None:
        read.problem(f"{PROJECT}:writers", f"set either {PROJECT}:writer or {PROJECT}:writers, not both")
    key = f"{PROJECT}:writers" if many is not None else f"{PROJECT}:writer"
    names = many if many is not None else (one or DEFAULT_WRITER,)
    if not names:
        read.problem(key, "must name at least one writer")
        return (DEFAULT_WRITER,)
    for name in names:
        if problem := user_name_problem(name, admin):
            read.problem(key, problem)
    if len(set(names)) != len(names):
        read.problem(key, f"names a writer twice: {list(names)}")
    return tuple(dict.fromkeys(names))


def _upstream_keys(read: _Reader, key_name: str) -> tuple[str, ...]:
    """``nix-cache:upstreamKeys``: Nix key names, never the cache's own; ``[]`` turns the filter off."""
    names = read.names(f"{PROJECT}:upstreamKeys")
    for name in names or ():
        if problem := key_name_problem(name):
            read.problem(f"{PROJECT}:upstreamKeys", f"{name!r} {problem}")
        elif name == key_name:
            read.problem(f"{PROJECT}:upstreamKeys", f"{name!r} is the cache's own signing key")
    return DEFAULT_UPSTREAM_KEYS if names is None else tuple(dict.fromkeys(names))


def _signing_key(read: _Reader) -> NixKeyPair | None:
    key = f"{PROJECT}:signingKey"
    text = read.secret(key)
    if text is None:
        return None
    try:
        return parse_secret_key(text)
    except NixKeyError as error:
        read.problem(key, str(error))
        return None


#: Every key the program reads; ``load_config`` hands exactly these to ``parse_config``.
CONFIG_KEYS = (
    "minio:minioServer",
    "minio:minioUser",
    "minio:minioPassword",
    "minio:minioSsl",
    "minio:minioCacertFile",
    "minio:minioInsecure",
    *(
        f"{PROJECT}:{name}"
        for name in (
            "bucket",
            "writer",
            "protect",
            "expireDays",
            "storeDir",
            "wantMassQuery",
            "priority",
            "publicUrl",
            "keyName",
            "signingKey",
            "verify",
            "adopt",
            "writers",
            "public",
            "reader",
            "retireKeys",
            "upstreamKeys",
        )
    ),
)


def load_config() -> CacheConfig:
    """Read the stack's config from the Pulumi runtime and validate it."""
    raw: dict[str, str] = {}
    secret_keys = set()
    for key in CONFIG_KEYS:
        value = pulumi.runtime.get_config(key)
        if value is not None:
            raw[key] = value
        if pulumi.runtime.is_config_secret(key):
            secret_keys.add(key)
    return parse_config(raw, secret_keys)
