"""Stack configuration, parsed once into frozen, typed values and validated before anything is created.

``parse_config`` is pure: it takes the raw key/value strings Pulumi hands the program and either returns
a ``CacheConfig`` or raises one ``ConfigError`` listing every problem with its key. The keys and their
defaults are in ``config_keys``, the rules for each kind of value in ``config_rules``, the raw reading
in ``config_reader``; ``load_config`` is the thin shell that reads Pulumi's runtime config.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi.runtime.config

from components import config_keys as keys
from components.config_keys import CONFIG_KEYS, PROJECT, Key
from components.config_reader import ConfigReader
from components.config_rules import (
    MAX_PRIORITY,
    MAX_WRITERS,
    bucket_name_problem,
    public_url_problem,
    server_problem,
    split_url,
    store_dir_problem,
    user_name_problem,
)
from components.expiry import MAX_DAYS as MAX_EXPIRE_DAYS
from components.nix_keys import NixKeyError, NixKeyPair, key_name_problem, parse_secret_key
from providers.connection import endpoint_url


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
        return endpoint_url(self.server, self.use_ssl)


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
    adopt: bool
    #: Anonymous download (true), or a private cache read through ``reader``'s credentials (false).
    public: bool
    reader: str
    #: Names of earlier signing keys that clients should no longer trust.
    retire_keys: tuple[str, ...]
    #: Paths signed by keys of these names come from upstream caches and are not uploaded.
    upstream_keys: tuple[str, ...]

    @property
    def writer(self) -> str:
        """The first builder: the one-writer outputs and the default push command use it."""
        return self.writers[0]


def parse_config(raw: Mapping[str, str], secret_keys: Collection[str] = ()) -> CacheConfig:
    """Parse and validate the whole config; raise one ``ConfigError`` that lists every problem."""
    read = ConfigReader(raw, secret_keys)
    minio, server_fault = _connection(read)
    bucket = read.text_or_default(keys.BUCKET)
    if problem := bucket_name_problem(bucket):
        read.problem(keys.BUCKET, problem)
    writers = _writers(read, minio.user or None)
    store_dir = read.text_or_default(keys.STORE_DIR)
    if problem := store_dir_problem(store_dir):
        read.problem(keys.STORE_DIR, problem)
    public_url, public_url_fault = _public_url(read, minio, bucket, server_fault)
    signing_key = _signing_key(read)
    key_name = _key_name(read, signing_key, public_url, public_url_fault)
    config = CacheConfig(
        minio=minio,
        bucket=bucket,
        writers=writers,
        protect=read.boolean(keys.PROTECT),
        expire_days=read.count(
            keys.EXPIRE_DAYS,
            MAX_EXPIRE_DAYS,
            " (100 years: MinIO wraps longer expiry into the past and deletes everything; 0 keeps all)",
        ),
        store_dir=store_dir,
        want_mass_query=read.boolean(keys.WANT_MASS_QUERY),
        priority=read.count(keys.PRIORITY, MAX_PRIORITY, " (Nix reads an int)"),
        public_url=public_url,
        key_name=key_name,
        signing_key=signing_key,
        verify=read.boolean(keys.VERIFY),
        adopt=read.boolean(keys.ADOPT),
        public=read.boolean(keys.PUBLIC),
        reader=_reader(read, minio.user or None, writers),
        retire_keys=_retire_keys(read, key_name),
        upstream_keys=_upstream_keys(read, key_name),
    )
    if read.problems:
        raise ConfigError(read.problems)
    return config


def _connection(read: ConfigReader) -> tuple[MinioConnection, str | None]:
    """The ``minio:*`` settings, and what is wrong with the server (the default public URL needs it)."""
    server = read.text(keys.MINIO_SERVER)
    server_fault = (
        "is required: the MinIO S3 API as host[:port]" if server is None else server_problem(server)
    )
    if server_fault:
        read.problem(keys.MINIO_SERVER, server_fault)
    user = read.text(keys.MINIO_USER)
    if user is None:
        read.problem(keys.MINIO_USER, "is required: the MinIO admin user the program acts as")
    if read.secret(keys.MINIO_PASSWORD) is None:
        read.problem(
            keys.MINIO_PASSWORD,
            f"is required; set it with `pulumi config set --secret {keys.MINIO_PASSWORD}`",
        )
    connection = MinioConnection(
        server=server or "",
        user=user or "",
        use_ssl=read.boolean(keys.MINIO_SSL),
        cacert_file=read.text(keys.MINIO_CACERT_FILE),
        insecure=read.boolean(keys.MINIO_INSECURE),
    )
    return connection, server_fault


def _writers(read: ConfigReader, admin: str | None) -> tuple[str, ...]:
    """``nix-cache:writers``, or ``nix-cache:writer`` as its one-item form; never both, never empty."""
    one = read.text(keys.WRITER)
    many = read.names(keys.WRITERS)
    if one is not None and many is not None:
        read.problem(keys.WRITERS, f"set either {keys.WRITER} or {keys.WRITERS}, not both")
    key = keys.WRITERS if many is not None else keys.WRITER
    names = many if many is not None else (one or str(keys.WRITER.default),)
    if not names:
        read.problem(key, "must name at least one writer")
        return (str(keys.WRITER.default),)
    for name in names:
        if problem := user_name_problem(name, admin):
            read.problem(key, problem)
    if len(set(names)) != len(names):
        read.problem(key, f"names a writer twice: {list(names)}")
    if len(set(names)) > MAX_WRITERS:
        read.problem(
            key,
            f"names {len(set(names))} writers; at most {MAX_WRITERS} are allowed (each is claimed in "
            "one of the bucket's tags, and MinIO keeps at most 50)",
        )
    return tuple(dict.fromkeys(names))


def _reader(read: ConfigReader, admin: str | None, writers: tuple[str, ...]) -> str:
    reader = read.text_or_default(keys.READER)
    if problem := user_name_problem(reader, admin):
        read.problem(keys.READER, problem)
    elif reader in writers:
        read.problem(keys.READER, f"{reader!r} is also a writer; the reader must be its own user")
    return reader


def _public_url(
    read: ConfigReader, minio: MinioConnection, bucket: str, server_fault: str | None
) -> tuple[str, str | None]:
    """``nix-cache:publicUrl`` or the bucket's URL on the server; and why it is wrong, if it is."""
    public_url = read.text(keys.PUBLIC_URL)
    if public_url is None:
        return f"{minio.endpoint_url}/{bucket}", server_fault
    fault = public_url_problem(public_url)
    if fault:
        read.problem(keys.PUBLIC_URL, fault)
    return public_url.rstrip("/"), fault


def _key_name(
    read: ConfigReader, signing_key: NixKeyPair | None, public_url: str, public_url_fault: str | None
) -> str:
    """``nix-cache:keyName``, else the imported key's name, else ``<host of the public URL>-1``."""
    key_name = read.text(keys.KEY_NAME)
    if key_name is None:
        key_name = signing_key.name if signing_key else f"{_public_host(public_url)}-1"
        # An IPv6 host, e.g. http://[::1]:9000, gives a name with ':' in it; a bad URL is reported already.
        if public_url_fault is None and (problem := key_name_problem(key_name)):
            read.problem(
                keys.KEY_NAME,
                f"the default {key_name!r} (the host of the public URL) {problem}; set a name of your own",
            )
    elif problem := key_name_problem(key_name):
        read.problem(keys.KEY_NAME, f"{key_name!r} {problem}")
    if signing_key and signing_key.name != key_name:
        read.problem(
            keys.SIGNING_KEY,
            f"is named {signing_key.name!r} but {keys.KEY_NAME} is {key_name!r}; make them agree",
        )
    return key_name


def _other_key_names(read: ConfigReader, key: Key, key_name: str, if_own: str) -> tuple[str, ...] | None:
    """A list setting of Nix key names other than the cache's own (``if_own`` says why not), once each."""
    names = read.names(key)
    for name in names or ():
        if problem := key_name_problem(name):
            read.problem(key, f"{name!r} {problem}")
        elif name == key_name:
            read.problem(key, f"{name!r} {if_own}")
    return None if names is None else tuple(dict.fromkeys(names))


def _retire_keys(read: ConfigReader, key_name: str) -> tuple[str, ...]:
    own = f"is the current signing key ({keys.KEY_NAME}); rotate to a new name first"
    return _other_key_names(read, keys.RETIRE_KEYS, key_name, own) or ()


def _upstream_keys(read: ConfigReader, key_name: str) -> tuple[str, ...]:
    """``nix-cache:upstreamKeys``: Nix key names, never the cache's own; ``[]`` turns the filter off."""
    names = _other_key_names(read, keys.UPSTREAM_KEYS, key_name, "is the cache's own signing key")
    return tuple(keys.UPSTREAM_KEYS.default) if names is None else names


def _public_host(public_url: str) -> str:
    """The host of ``public_url``, the default signing key name's stem."""
    parts = split_url(public_url)
    return (parts.hostname if parts else None) or "cache"


def _signing_key(read: ConfigReader) -> NixKeyPair | None:
    text = read.secret(keys.SIGNING_KEY)
    if text is None:
        return None
    try:
        return parse_secret_key(text)
    except NixKeyError as error:
        read.problem(keys.SIGNING_KEY, str(error))
        return None


def _project_keys() -> list[str]:
    """Every ``nix-cache:`` key the stack sets, read or not, so that a mistyped one can be named."""
    return [key for key in pulumi.runtime.config.CONFIG.get() if key.startswith(f"{PROJECT}:")]


def load_config() -> CacheConfig:
    """Read the stack's config from the Pulumi runtime and validate it."""
    raw: dict[str, str] = {}
    secret_keys = set()
    for key in dict.fromkeys([*CONFIG_KEYS, *_project_keys()]):
        value = pulumi.runtime.get_config(key)
        if value is not None:
            raw[key] = value
        if pulumi.runtime.is_config_secret(key):
            secret_keys.add(key)
    return parse_config(raw, secret_keys)
