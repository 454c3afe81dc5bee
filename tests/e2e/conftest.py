"""End-to-end fixtures: the pinned tools, a fresh MinIO for this run, a stack on a local backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.minio_server import MinioServer, RootCredentials, free_port
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain, ensure_tools


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return ensure_tools()


@pytest.fixture(scope="module")
def minio(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A fresh MinIO in erasure mode whose scanner runs every second, so expiry happens in seconds."""
    server = MinioServer(
        minio_binary=toolchain.tool("minio"),
        home=tmp_path_factory.mktemp("minio"),
        port=free_port(),
        console_port=free_port(),
        credentials=RootCredentials.generate(),
        extra_env={"MINIO_SCANNER_SPEED": "fastest"},
    )
    server.start()
    yield server
    server.stop()


def new_stack(toolchain: Toolchain, minio: MinioServer, state_dir: Path, name: str) -> PulumiStack:
    """A stack on its own backend, its config outside the checkout, pointed at ``minio``."""
    stack = PulumiStack(
        toolchain=toolchain, state_dir=state_dir, stack=name, config_file=state_dir / f"Pulumi.{name}.yaml"
    )
    stack.init()
    stack.use_minio(minio)
    return stack
