"""The Pulumi state in a bucket of the same MinIO, reached by a user that may touch nothing else.

Pulumi's S3 backend (the DIY backend on gocloud.dev's ``s3blob``, AWS SDK v2) with a custom endpoint::

    s3://pulumi-state?endpoint=http://host:9000&s3ForcePathStyle=true&region=us-east-1

with the state user's keys in ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``. The CLI (v3.260) hands the
query to gocloud.dev v0.46.1, which knows ``endpoint``, ``region``, ``profile``, ``use_path_style`` (or its
old name ``s3ForcePathStyle``), ``disable_https`` and a few more, and refuses any other ("unknown query
parameter"); Pulumi first rewrites the old ``disableSSL`` into ``disable_https`` and gives a bare ``endpoint``
a scheme (https, or http with ``disableSSL=true``). An endpoint with its scheme and no ``disableSSL`` means
the same to every CLI version, and ``disable_https`` can never silently turn an https endpoint into http.

The bucket, the user and its policy are made here with the MinIO admin API, before any stack exists: the
program cannot make the bucket its own state lives in.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from dataclasses import dataclass, field

from minio.error import MinioAdminException

from components.policies import state_policy
from devtools.minio_server import MinioServer, RootCredentials, refuse_to_leave_the_machine
from devtools.toolchain import ROOT
from providers.errors import is_already_applied
from providers.policy_attachment import attached_policies

STATE_BUCKET = "pulumi-state"
STATE_USER = "pulumi-state"


def backend_url(endpoint_url: str, bucket: str = STATE_BUCKET, region: str = "us-east-1") -> str:
    """``PULUMI_BACKEND_URL`` / ``pulumi login`` for a bucket on MinIO at ``endpoint_url`` (with its scheme).

    ``s3ForcePathStyle``: MinIO serves ``host/bucket``; without it the SDK asks DNS for ``bucket.host``. The
    region is any name MinIO accepts (its default is us-east-1). A private CA goes in ``AWS_CA_BUNDLE``.
    """
    scheme, _, host = endpoint_url.partition("://")
    if scheme not in {"http", "https"} or not host or any(c in host for c in "/?&#= "):
        raise ValueError(f"endpoint must be http(s)://host[:port], got {endpoint_url!r}")
    return f"s3://{bucket}?endpoint={endpoint_url}&s3ForcePathStyle=true&region={region}"


@dataclass(frozen=True)
class StateBackend:
    """Where a stack's state lives on MinIO, and the credentials of the one user allowed there."""

    url: str
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)

    def env(self) -> dict[str, str]:
        """The CLI's environment for this backend (never its argv)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}


def ensure_state_backend(
    server: MinioServer,
    *,
    bucket: str = STATE_BUCKET,
    user: str = STATE_USER,
    secret_key: str | None = None,
) -> StateBackend:
    """Make (or keep) the state bucket, the state user and its policy on ``server``, as its root user.

    ``secret_key``: the user's secret to (re)set; None makes a new one. Idempotent. For a server in a network
    namespace (a ``command_prefix``) the work is done by a process started inside it.
    """
    secret = secret_key or secrets.token_urlsafe(30)
    if server.command_prefix:
        return _inside(server, bucket=bucket, user=user, secret_key=secret)
    refuse_to_leave_the_machine(server.host)
    clients = server.root_clients()
    s3, admin = clients.s3, clients.admin
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    elif any(True for _ in s3.list_objects(bucket, prefix="nix-cache-info")):
        raise ValueError(f"bucket {bucket!r} holds nix-cache-info: the state needs a bucket of its own")
    policy = f"{bucket}-readwrite"
    admin.policy_add(policy, policy=state_policy(bucket))
    admin.user_add(user, secret)
    try:
        admin.attach_policy([policy], user=user)
    except MinioAdminException as error:
        if not is_already_applied(error):
            raise
    # Exactly that one policy: anything attached by hand is taken off again.
    extra = [name for name in attached_policies(json.loads(admin.user_info(user))) if name != policy]
    if extra:
        admin.detach_policy(extra, user=user)
    url = backend_url(server.endpoint_url, bucket)
    return StateBackend(url=url, bucket=bucket, access_key=user, secret_key=secret)


def _inside(server: MinioServer, *, bucket: str, user: str, secret_key: str) -> StateBackend:
    """:func:`ensure_state_backend` run by ``python -m devtools.state_on_minio`` inside the namespace."""
    request = {
        "host": server.host,
        "port": server.port,
        "root_user": server.credentials.user,
        "root_password": server.credentials.password,
        "bucket": bucket,
        "user": user,
        "secret_key": secret_key,
    }
    command = [*server.command_prefix, sys.executable, "-m", "devtools.state_on_minio"]
    done = subprocess.run(
        command, cwd=ROOT, input=json.dumps(request), capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"setting up the state backend inside the namespace failed:\n{done.stderr}")
    answer = json.loads(done.stdout)
    return StateBackend(answer["url"], answer["bucket"], answer["access_key"], secret_key)


def main() -> None:
    """Inside a namespace: the request as JSON on stdin (secrets never on argv), the backend on stdout."""
    request = json.load(sys.stdin)
    server = MinioServer(
        minio_binary="minio",
        home=ROOT,
        port=request["port"],
        console_port=0,
        credentials=RootCredentials(request["root_user"], request["root_password"]),
        host=request["host"],
    )
    backend = ensure_state_backend(
        server, bucket=request["bucket"], user=request["user"], secret_key=request["secret_key"]
    )
    print(json.dumps({"url": backend.url, "bucket": backend.bucket, "access_key": backend.access_key}))


if __name__ == "__main__":
    main()
