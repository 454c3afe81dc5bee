"""How the providers reach MinIO: settings from the stack config, and one set of clients per process.

The engine hands every dynamic provider the whole stack config (secrets decrypted) through ``configure``;
nothing of it is stored in the state. Clients are built once per settings and shared by all provider
threads: the SDK clients sit on urllib3 pools, which are thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from providers import sdk

#: Seconds to wait for a TCP connection, and for an answer once connected. MinIO answers admin and
#: bucket calls in milliseconds; a minute without an answer means it is stuck, and the user should hear.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0

#: How a boolean of the stack config may be spelled; the program's config reader refuses anything else.
TRUE_WORDS = frozenset({"true", "1", "yes"})
FALSE_WORDS = frozenset({"false", "0", "no"})


def endpoint_url(server: str, use_ssl: bool) -> str:
    """The S3 API's URL for ``host[:port]``: what every message and client names MinIO by."""
    return f"{'https' if use_ssl else 'http'}://{server}"


@dataclass(frozen=True)
class MinioSettings:
    """The ``minio:*`` keys of the stack config; the password hides itself in ``repr``."""

    server: str
    user: str
    password: str = field(repr=False)
    use_ssl: bool = False
    cacert_file: str | None = None
    insecure: bool = False

    @property
    def endpoint_url(self) -> str:
        return endpoint_url(self.server, self.use_ssl)

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> MinioSettings:
        """Read the settings with ``get`` (``ConfigureRequest.config.get``); the program validated them."""

        def text(key: str) -> str:
            value = get(key)
            return "" if value is None else str(value)

        def flag(key: str) -> bool:
            return text(key).strip().lower() in TRUE_WORDS

        return cls(
            server=text("minio:minioServer"),
            user=text("minio:minioUser"),
            password=text("minio:minioPassword"),
            use_ssl=flag("minio:minioSsl"),
            cacert_file=text("minio:minioCacertFile") or None,
            insecure=flag("minio:minioInsecure"),
        )


def http_pool(settings: MinioSettings) -> sdk.urllib3.PoolManager:
    """A pool with short timeouts and a couple of retries on connect, trusting the configured CA."""
    tls: dict[str, Any] = {}
    if settings.use_ssl:
        if settings.insecure:
            tls = {"cert_reqs": "CERT_NONE"}
        elif settings.cacert_file:
            tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": settings.cacert_file}
        else:
            tls = {"cert_reqs": "CERT_REQUIRED"}
    return sdk.urllib3.PoolManager(
        timeout=sdk.urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
        maxsize=8,
        retries=sdk.urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.3, redirect=False),
        **tls,
    )


@dataclass(frozen=True)
class MinioClients:
    s3: sdk.Minio
    admin: sdk.MinioAdmin


_clients: dict[MinioSettings, MinioClients] = {}
_clients_lock = threading.Lock()


def clients_for(settings: MinioSettings) -> MinioClients:
    """The S3 and admin clients for ``settings``, made once per provider process."""
    with _clients_lock:
        found = _clients.get(settings)
        if found is None:
            pool = http_pool(settings)
            found = MinioClients(
                s3=sdk.Minio(
                    settings.server,
                    access_key=settings.user,
                    secret_key=settings.password,
                    secure=settings.use_ssl,
                    http_client=pool,
                ),
                admin=sdk.MinioAdmin(
                    endpoint=settings.server,
                    credentials=sdk.StaticProvider(settings.user, settings.password),
                    secure=settings.use_ssl,
                    http_client=pool,
                ),
            )
            _clients[settings] = found
        return found
