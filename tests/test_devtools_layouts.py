"""The helpers for the distributed layout and the state on MinIO, without starting anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from components.policies import SELF_SERVICE_ACTIONS, state_policy
from devtools import local, minio_server
from devtools.distributed_minio import (
    ADDRESS,
    NAMESPACE_PREFIX,
    DistributedMinio,
    NetworkNamespace,
    run_name,
)
from devtools.minio_server import MinioServer, RootCredentials, interfaces
from devtools.pulumi_stack import PulumiStack
from devtools.state_on_minio import STATE_BUCKET, backend_url
from devtools.toolchain import Toolchain


def _cluster(tmp_path: Path) -> DistributedMinio:
    return DistributedMinio(
        minio_binary="minio",
        home=tmp_path,
        credentials=RootCredentials("admin", "password"),
        namespace=NetworkNamespace("nixcache-test"),
    )


def test_every_node_is_started_with_the_same_four_endpoints_on_its_own_port(tmp_path: Path) -> None:
    """One erasure set: each node lists all four drives; a node knows its own by its --address port."""
    cluster = _cluster(tmp_path)
    nodes = [cluster.node(n) for n in range(1, 5)]
    assert cluster.endpoints == tuple(
        f"http://{ADDRESS}:{9200 + n}{tmp_path}/node{n}/drive" for n in range(1, 5)
    )
    assert {node.drive_args() == list(cluster.endpoints) for node in nodes} == {True}
    assert [node.address for node in nodes] == [f"{ADDRESS}:{9200 + n}" for n in range(1, 5)]
    assert {node.command_prefix for node in nodes} == {("ip", "netns", "exec", "nixcache-test")}


def test_a_node_never_probes_its_address_from_the_machine_s_own_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside the namespace 10.254.0.1 would go out through the default route: refuse before any socket."""
    if interfaces() == ["lo"]:
        pytest.skip("this process already runs in a namespace of only lo")
    sent: list[str] = []

    def record(url: str, context: object = None) -> bool:
        sent.append(url)
        return False

    # Should the guard ever break, this test must still send nothing: the in-process probe only records.
    monkeypatch.setattr(minio_server, "_healthy", record)
    unprefixed = MinioServer(
        minio_binary="minio",
        home=tmp_path,
        port=9201,
        console_port=9301,
        credentials=RootCredentials("admin", "password"),
        host=ADDRESS,
    )
    with pytest.raises(RuntimeError, match=r"refusing to contact 10\.254\.0\.1"):
        unprefixed.healthy()
    assert sent == []


def test_namespace_names_are_per_run() -> None:
    first, second = run_name(), run_name()
    assert first != second
    assert first.startswith(f"{NAMESPACE_PREFIX}{os.getpid()}-")


def test_a_stack_runs_as_before_unless_given_a_prefix_or_a_backend(tmp_path: Path) -> None:
    toolchain = Toolchain(tmp_path / "tools")
    plain = PulumiStack(toolchain, tmp_path, "plain")
    assert plain._command("preview")[0] == toolchain.tool("pulumi")
    assert plain.env()["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'backend'}"
    inside = PulumiStack(
        toolchain,
        tmp_path,
        "inside",
        command_prefix=("ip", "netns", "exec", "ns"),
        backend="s3://pulumi-state?endpoint=http://10.254.0.1:9201",
        extra_env={"AWS_SECRET_ACCESS_KEY": "hidden-secret"},
    )
    assert inside._command("preview")[:5] == ["ip", "netns", "exec", "ns", toolchain.tool("pulumi")]
    assert inside.env()["PULUMI_BACKEND_URL"].startswith("s3://pulumi-state?")
    assert inside.env()["AWS_SECRET_ACCESS_KEY"] == "hidden-secret"
    assert "hidden-secret" not in repr(inside)


def test_the_backend_url_names_the_endpoint_with_its_scheme_and_path_style() -> None:
    """No `disableSSL`: Pulumi turns it into `disable_https`, which overrides even an https endpoint."""
    assert backend_url("http://10.254.0.1:9201") == (
        "s3://pulumi-state?endpoint=http://10.254.0.1:9201&s3ForcePathStyle=true&region=us-east-1"
    )
    assert backend_url("https://s3.homelab.local", "state").startswith("s3://state?endpoint=https://")
    for bad in ("127.0.0.1:9000", "http://host/path", "ftp://host"):
        with pytest.raises(ValueError, match="endpoint must be"):
            backend_url(bad)


def test_the_state_policy_reaches_only_its_bucket() -> None:
    document = state_policy(STATE_BUCKET)
    allowed = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    resources = {r for statement in allowed for r in statement["Resource"]}
    actions = {a for statement in allowed for a in statement["Action"]}
    assert resources == {f"arn:aws:s3:::{STATE_BUCKET}", f"arn:aws:s3:::{STATE_BUCKET}/*"}
    assert actions == {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
    assert "*" not in json.dumps(document).replace(f"{STATE_BUCKET}/*", "")
    [denied] = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert denied == {"Effect": "Deny", "Action": list(SELF_SERVICE_ACTIONS)}


@pytest.fixture
def local_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``devtools.local`` pointed at an empty folder instead of the checkout's .local/."""
    monkeypatch.setattr(local, "LOCAL", tmp_path)
    monkeypatch.setattr(local, "SETTINGS", tmp_path / "minio.json")
    monkeypatch.setattr(local, "CHOICE", tmp_path / "choice.json")
    return tmp_path


def test_the_local_folder_is_private_to_its_user(local_dir: Path) -> None:
    """It holds MinIO's root password, the stack's passphrase and MinIO's drives: 0700, always."""
    local_dir.chmod(0o755)
    local._saved_secret(local_dir / "secret.json", {"password": "x"})
    assert local_dir.stat().st_mode & 0o777 == 0o700
    assert (local_dir / "secret.json").stat().st_mode & 0o777 == 0o600


def test_local_up_without_switches_is_the_single_minio_with_a_file_backend(local_dir: Path) -> None:
    assert local._choose(None, None) == local.Choice("single", "file")
    assert local._choose("distributed", "minio") == local.Choice("distributed", "minio")


def test_local_switches_stay_until_local_clean(local_dir: Path) -> None:
    """A cache made one way is not silently re-pointed: the stack's resources live in that MinIO."""
    (local_dir / "minio.json").write_text("{}")
    assert local._choose(None, None) == local.Choice()
    with pytest.raises(SystemExit, match="make local-clean` first to start over with LAYOUT=distributed"):
        local._choose("distributed", None)
    (local_dir / "choice.json").write_text(json.dumps({"layout": "distributed", "state": "minio"}))
    assert local._choose(None, None) == local.Choice("distributed", "minio")
    with pytest.raises(SystemExit, match="made with LAYOUT=distributed STATE=minio"):
        local._choose(None, "file")


def test_local_switches_go_with_up_only() -> None:
    with pytest.raises(SystemExit):
        local.main(["down", "--layout", "distributed"])
    with pytest.raises(SystemExit):
        local.main(["up", "--layout", "three-nodes"])
