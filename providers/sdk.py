"""The MinIO SDK (and urllib3), imported on first use rather than with ``providers``.

The program's own process imports every provider module to declare its resources, but only the
dynamic providers' host ever talks to MinIO. Importing the SDK there alone takes about 0.1 s off
every ``pulumi preview`` and ``up`` (``BENCH.md``). Use ``sdk.S3Error``, ``sdk.Minio``…: the name is
looked up when the line runs, so an ``except sdk.S3Error`` clause loads the SDK only once an
exception reaches it. mypy sees the real names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Each name this module gives, and the module it comes from (``urllib3`` is the module itself).
_SOURCES = {
    "Minio": "minio",
    "MinioAdmin": "minio.minioadmin",
    "StaticProvider": "minio.credentials.providers",
    "S3Error": "minio.error",
    "ServerError": "minio.error",
    "InvalidResponseError": "minio.error",
    "MinioAdminException": "minio.error",
    "ENABLED": "minio.commonconfig",
    "Filter": "minio.commonconfig",
    "Tags": "minio.commonconfig",
    "Expiration": "minio.lifecycleconfig",
    "LifecycleConfig": "minio.lifecycleconfig",
    "Rule": "minio.lifecycleconfig",
    "decrypt": "minio.crypto",
    "urllib3": "urllib3",
}

if TYPE_CHECKING:
    import urllib3 as urllib3
    from minio import Minio as Minio
    from minio.commonconfig import ENABLED as ENABLED
    from minio.commonconfig import Filter as Filter
    from minio.commonconfig import Tags as Tags
    from minio.credentials.providers import StaticProvider as StaticProvider
    from minio.crypto import decrypt as decrypt
    from minio.error import InvalidResponseError as InvalidResponseError
    from minio.error import MinioAdminException as MinioAdminException
    from minio.error import S3Error as S3Error
    from minio.error import ServerError as ServerError
    from minio.lifecycleconfig import Expiration as Expiration
    from minio.lifecycleconfig import LifecycleConfig as LifecycleConfig
    from minio.lifecycleconfig import Rule as Rule
    from minio.minioadmin import MinioAdmin as MinioAdmin
else:

    def __getattr__(name: str) -> Any:
        """Import the name's module on first use and keep the name here, so later uses are plain lookups."""
        source = _SOURCES.get(name)
        if source is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = importlib.import_module(source)
        value = module if name == source else getattr(module, name)
        globals()[name] = value
        return value
