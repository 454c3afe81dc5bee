"""End-to-end fixtures: the pinned tools, a fresh MinIO for this run, a stack on a local backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.minio_server import MinioServer, RootCredentials, free_port
from devtools.pulumi_stack import PulumiStack
from devtools.tls import generate_test_certificates
from devtools.toolchain import Toolchain, ensure_tools


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    return ensure_tools()


def _serving(toolchain: Toolchain, home: Path, **options: Any) -> Iterator[MinioServer]:
    """A MinIO of its own under ``home``, from start to stop."""
    server = MinioServer(
        minio_binary=toolchain.tool("minio"),
        home=home,
        port=free_port(),
        console_port=free_port(),
        credentials=RootCredentials.generate(),
        **options,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def minio(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A fresh MinIO in erasure mode whose scanner runs every second, so expiry happens in seconds."""
    home = tmp_path_factory.mktemp("minio")
    yield from _serving(toolchain, home, extra_env={"MINIO_SCANNER_SPEED": "fastest"})


@pytest.fixture(scope="module")
def https_minio(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A fresh MinIO serving https with a certificate from a CA made for this module (its ``ca_file``)."""
    home = tmp_path_factory.mktemp("https-minio")
    certs = generate_test_certificates(home / "certs")
    yield from _serving(toolchain, home / "server", certs_dir=certs.certs_dir, ca_file=certs.ca_file)


def stopped_with(stack: PulumiStack, *messages: str) -> None:
    """Both ``preview`` and ``up`` fail, saying each of ``messages`` in one plain line, and make nothing."""
    for attempt in (stack.preview(check=False), stack.up(check=False)):
        text = attempt.stdout + attempt.stderr
        assert attempt.returncode != 0
        for message in messages:
            assert message in text, text
        assert "Traceback" not in text
    resources = json.loads(stack.export_state())["deployment"].get("resources") or []
    assert not [r for r in resources if r["type"].startswith("pulumi-python:dynamic/minio")]


def new_stack(toolchain: Toolchain, minio: MinioServer, state_dir: Path, name: str) -> PulumiStack:
    """A stack on its own backend, its config outside the checkout, pointed at ``minio``."""
    stack = PulumiStack(
        toolchain=toolchain, state_dir=state_dir, stack=name, config_file=state_dir / f"Pulumi.{name}.yaml"
    )
    stack.init()
    stack.use_minio(minio)
    return stack
