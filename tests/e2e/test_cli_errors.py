"""What the user sees through the real CLI when MinIO cannot be used: one line, the endpoint, what to check.

Each case is a fresh stack on its own backend; the check runs before anything is created, so
`preview` and `up` both stop with the same line and the state stays empty.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from minio.credentials.providers import StaticProvider
from minio.minioadmin import MinioAdmin

from devtools.minio_server import MinioServer, free_port
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.conftest import new_stack, stopped_with


@pytest.fixture
def stack(toolchain: Toolchain, minio: MinioServer, tmp_path: Path) -> PulumiStack:
    return new_stack(toolchain, minio, tmp_path, "errors")


def test_wrong_root_password(stack: PulumiStack, minio: MinioServer) -> None:
    stack.set_config("minio:minioPassword", "not-the-password", secret=True)
    stopped_with(stack, f"MinIO at {minio.endpoint_url} refused the credentials; check minio:minioUser")


def test_minio_unreachable(stack: PulumiStack) -> None:
    address = f"127.0.0.1:{free_port()}"
    stack.set_config("minio:minioServer", address)
    stopped_with(stack, f"MinIO at http://{address} is unreachable (connection refused)")


def test_credentials_that_are_not_an_admin(stack: PulumiStack, minio: MinioServer) -> None:
    admin = MinioAdmin(
        endpoint=minio.address,
        credentials=StaticProvider(minio.credentials.user, minio.credentials.password),
        secure=False,
    )
    password = secrets.token_hex(16)
    admin.user_add("not-an-admin", password)
    admin.attach_policy(["readonly"], user="not-an-admin")
    stack.set_config("minio:minioUser", "not-an-admin")
    stack.set_config("minio:minioPassword", password, secret=True)
    stopped_with(stack, f"minio:minioUser 'not-an-admin' is not an admin of MinIO at {minio.endpoint_url}")


def test_http_against_the_console_port(stack: PulumiStack, minio: MinioServer) -> None:
    """Pointing minioServer at something that is not an S3 API says so, instead of a parser error."""
    stack.set_config("minio:minioServer", f"127.0.0.1:{minio.console_port}")
    attempt = stack.preview(check=False)
    text = attempt.stdout + attempt.stderr
    assert attempt.returncode != 0
    assert "Traceback" not in text
    assert "MinIO at http://127.0.0.1" in text
