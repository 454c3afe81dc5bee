"""A Nix cache on a MinIO made straight from the program's documents, without Pulumi.

The bucket, its anonymous download policy, ``nix-cache-info`` and an upload-only writer, exactly as
the program's pure functions describe them; for the upload agent's tests and the benchmark, which
measure Nix and MinIO rather than the Pulumi engine.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field

from components.nix_text import CACHE_INFO_CONTENT_TYPE, nix_cache_info
from components.policies import anonymous_download_policy, to_json, writer_policy
from devtools.minio_server import MinioServer


@dataclass(frozen=True)
class DocumentCache:
    server: MinioServer
    bucket: str
    writer: str
    writer_secret: str = field(repr=False)

    @property
    def substituter_url(self) -> str:
        """What clients substitute from: the bucket over plain HTTP(S), anonymously."""
        return f"{self.server.endpoint_url}/{self.bucket}"


def create_document_cache(server: MinioServer, bucket: str, writer: str) -> DocumentCache:
    """Make ``bucket`` a cache on ``server`` and ``writer`` its upload-only user (with a new secret)."""
    clients = server.root_clients()
    client, admin = clients.s3, clients.admin
    client.make_bucket(bucket)
    client.set_bucket_policy(bucket, to_json(anonymous_download_policy(bucket)))
    info = nix_cache_info("/nix/store", True, 40).encode()
    client.put_object(bucket, "nix-cache-info", io.BytesIO(info), len(info), CACHE_INFO_CONTENT_TYPE)
    secret = secrets.token_hex(20)
    admin.user_add(writer, secret)
    admin.policy_add(f"{bucket}-write", policy=writer_policy(bucket))
    admin.attach_policy([f"{bucket}-write"], user=writer)
    return DocumentCache(server=server, bucket=bucket, writer=writer, writer_secret=secret)
