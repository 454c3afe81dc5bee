"""Every setting the program reads, once: its key, its default, and whether ``Pulumi.yaml`` declares it.

The reader takes only these ``Key`` objects, so a key cannot be read without being here; the list of
keys ``load_config`` hands over, the unknown-key check and the schema test all come from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROJECT = "nix-cache"


@dataclass(frozen=True)
class Key:
    """One setting: ``name`` as Pulumi spells it (``nix-cache:bucket``) and the program's default."""

    name: str
    default: Any = None
    #: Declared with this default in ``Pulumi.yaml``'s config schema (a test keeps the two equal).
    in_schema: bool = False

    def __str__(self) -> str:
        return self.name


def _cache(name: str, default: Any = None, *, in_schema: bool = False) -> Key:
    return Key(f"{PROJECT}:{name}", default, in_schema)


MINIO_SERVER = Key("minio:minioServer")
MINIO_USER = Key("minio:minioUser")
MINIO_PASSWORD = Key("minio:minioPassword")
MINIO_SSL = Key("minio:minioSsl", False)
MINIO_CACERT_FILE = Key("minio:minioCacertFile")
MINIO_INSECURE = Key("minio:minioInsecure", False)

BUCKET = _cache("bucket", "nix-cache", in_schema=True)
WRITER = _cache("writer", "nixbuilder")
WRITERS = _cache("writers")
PUBLIC = _cache("public", True, in_schema=True)
READER = _cache("reader", "nixreader", in_schema=True)
PROTECT = _cache("protect", True, in_schema=True)
EXPIRE_DAYS = _cache("expireDays", 30, in_schema=True)
STORE_DIR = _cache("storeDir", "/nix/store", in_schema=True)
WANT_MASS_QUERY = _cache("wantMassQuery", True, in_schema=True)
PRIORITY = _cache("priority", 40, in_schema=True)
PUBLIC_URL = _cache("publicUrl")
KEY_NAME = _cache("keyName")
SIGNING_KEY = _cache("signingKey")
RETIRE_KEYS = _cache("retireKeys")
#: Paths signed by keys of these names are left to upstream caches; ``[]`` uploads all.
UPSTREAM_KEYS = _cache("upstreamKeys", ["cache.nixos.org-1"], in_schema=True)
VERIFY = _cache("verify", True, in_schema=True)
ADOPT = _cache("adopt", False, in_schema=True)

ALL_KEYS: tuple[Key, ...] = (
    MINIO_SERVER,
    MINIO_USER,
    MINIO_PASSWORD,
    MINIO_SSL,
    MINIO_CACERT_FILE,
    MINIO_INSECURE,
    BUCKET,
    WRITER,
    WRITERS,
    PUBLIC,
    READER,
    PROTECT,
    EXPIRE_DAYS,
    STORE_DIR,
    WANT_MASS_QUERY,
    PRIORITY,
    PUBLIC_URL,
    KEY_NAME,
    SIGNING_KEY,
    RETIRE_KEYS,
    UPSTREAM_KEYS,
    VERIFY,
    ADOPT,
)
#: Every key the program reads; ``load_config`` hands exactly these (and any other ``nix-cache:`` key,
#: to be refused) to ``parse_config``.
CONFIG_KEYS: tuple[str, ...] = tuple(key.name for key in ALL_KEYS)
