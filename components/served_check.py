"""After-deploy check that the cache is really served: ``nix-cache-info`` fetched as its clients do.

The check itself (``providers.served_check``) is plain Python in the engine's dynamic provider: no
shell, no curl, nothing on argv; it honours ``minio:minioCacertFile`` and ``minio:minioInsecure``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from providers.served_check import ReaderAccess
from providers.served_check import ServedCheck as ServedCheckResource


@dataclass(frozen=True)
class ServedCheckArgs:
    public_url: str
    expected_cache_info: str
    cacert_file: str | None
    insecure: bool
    #: A private cache is checked with its reader's credentials instead of anonymously.
    reader: ReaderAccess | None = None


class ServedCheck(pulumi.ComponentResource):
    fetch: ServedCheckResource

    def __init__(self, name: str, args: ServedCheckArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("nix-cache:index:ServedCheck", name, None, opts)
        self.fetch = ServedCheckResource(
            f"{name}-fetch-cache-info",
            url=args.public_url,
            expected=args.expected_cache_info,
            cacert_file=args.cacert_file,
            insecure=args.insecure,
            reader=args.reader,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"served": self.fetch.served})
