"""The cache on a distributed MinIO of four nodes, and what one node down changes.

Four ``minio server`` processes, one drive each, one erasure set: EC:2, two data and two parity shards per
object. MinIO reads with any 2 of the 4 drives; it writes with 3 (with as many parity as data shards it
needs one more than the data shards). So with one node down everything works, `pulumi up` included; with
two down, reads (preview with its refresh, substitution) still work and every write fails: `pulumi up`
stops with the provider's one-line error (MinIO answers 503 until the client gives up, in seconds).

The cluster lives in a network namespace of its own; the Pulumi CLI runs inside it (the stack's command
prefix) and so do the clients' checks (``tests.e2e.in_namespace``). Tests run in file order on one stack.
The stack and the clients point at node 1; node 4 is the one that goes down.

Every `up` here runs with the engine's default parallelism: MinIO keeps a bucket's policy, lifecycle and
tags in one metadata document and loses some of several changes to it made at the same moment (seen here:
3 concurrent changes to each of 10 fresh buckets on this layout; 9 buckets lost one or two of them, for
good), so the providers write one bucket's settings one at a time (``providers/bucket_lock.py``), and the
first test here fails if one of them is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.distributed_minio import DistributedMinio, NamespaceError, namespace_unavailable, start_for_run
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import Toolchain
from tests.e2e.harness import ANONYMOUS_EXPECTED, WRITER_EXPECTED
from tests.e2e.in_namespace import NamespacedCache

DOWN = 4


@pytest.fixture(scope="module")
def cluster(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedMinio]:
    if reason := namespace_unavailable():
        pytest.skip(reason)
    try:
        started = start_for_run(toolchain.tool("minio"), tmp_path_factory.mktemp("distributed"))
    except NamespaceError as error:
        pytest.skip(f"no network namespace here: {error}")
    yield started
    started.stop()


@pytest.fixture(scope="module")
def stack(
    toolchain: Toolchain, cluster: DistributedMinio, tmp_path_factory: pytest.TempPathFactory
) -> PulumiStack:
    state_dir = tmp_path_factory.mktemp("distributed-state")
    stack = PulumiStack(
        toolchain=toolchain,
        state_dir=state_dir,
        stack="distributed",
        config_file=state_dir / "Pulumi.distributed.yaml",
        command_prefix=cluster.namespace.prefix,
    )
    stack.init()
    stack.use_minio(cluster.node(1))
    return stack


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    """What earlier tests published and read, for the later ones to check."""
    return {}


def cache_at(stack: PulumiStack, cluster: DistributedMinio, node: int, workdir: Path) -> NamespacedCache:
    return NamespacedCache(cluster.node(node), stack.outputs(show_secrets=True), workdir)


@pytest.fixture
def cache(stack: PulumiStack, cluster: DistributedMinio, tmp_path: Path) -> NamespacedCache:
    return cache_at(stack, cluster, 1, tmp_path)


def test_up_on_four_nodes_converges(stack: PulumiStack) -> None:
    stack.up()
    stack.preview("--expect-no-changes")


def test_who_may_do_what_and_the_nix_round_trip(cache: NamespacedCache, seen: dict[str, Any]) -> None:
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    assert cache.writer_results() == WRITER_EXPECTED
    path = cache.publish()
    substituted = cache.substitute(path)
    assert substituted.returncode == 0, substituted.stderr
    seen["published before"] = path
    seen["objects before"] = cache.object_digests()


def test_one_node_down_the_cache_still_serves_and_takes_uploads(
    cluster: DistributedMinio, cache: NamespacedCache, seen: dict[str, Any]
) -> None:
    """Read quorum is 2 drives, write quorum 3: with 3 of 4 up, clients and the builder see no difference."""
    cluster.kill_node(DOWN)
    assert cluster.running() == [1, 2, 3]
    assert cluster.node(1).healthy("cluster"), "MinIO's own check: write quorum holds with 3 of 4"
    earlier = cache.substitute(seen["published before"])
    assert earlier.returncode == 0, earlier.stderr
    assert cache.anonymous_results() == ANONYMOUS_EXPECTED
    during = cache.publish()
    assert cache.substitute(during).returncode == 0
    seen["published while down"] = during


def test_one_node_down_preview_refreshes_and_up_applies_a_change(
    stack: PulumiStack, cluster: DistributedMinio, cache: NamespacedCache
) -> None:
    """`refresh: always` reads every resource from 3 nodes; the change is a write, which quorum allows."""
    assert cluster.running() == [1, 2, 3]
    stack.preview("--expect-no-changes")
    stack.set_config("nix-cache:priority", "41")
    proposed = stack.preview("--expect-no-changes", check=False)
    assert proposed.returncode != 0
    assert "BucketObject: (update)" in proposed.stdout, proposed.stdout
    stack.up()
    assert "Priority: 41" in cache.cache_info()
    stack.preview("--expect-no-changes")


def test_two_nodes_down_reads_still_work_and_up_fails_plainly(
    stack: PulumiStack, cluster: DistributedMinio, cache: NamespacedCache, seen: dict[str, Any]
) -> None:
    """Past the write quorum: 2 of 4 drives still serve reads (preview, substitution), but no write."""
    cluster.kill_node(3)
    try:
        assert cluster.running() == [1, 2]
        assert not cluster.node(1).healthy("cluster")
        assert cluster.node(1).healthy("cluster/read")
        stack.preview("--expect-no-changes")
        assert cache.substitute(seen["published before"]).returncode == 0
        stack.set_config("nix-cache:priority", "42")
        failed = stack.up(check=False)
        assert failed.returncode != 0
        expected = "error: writing 'nix-cache-info' in bucket 'nix-cache': MinIO at"
        assert expected in failed.stdout, failed.stdout
        assert "Traceback" not in failed.stdout + failed.stderr
    finally:
        cluster.restart_node(3)


def test_node_back_up_converges_and_no_object_was_lost(
    stack: PulumiStack, cluster: DistributedMinio, tmp_path: Path, seen: dict[str, Any]
) -> None:
    """Every object from before is there with the same content, read through the node that was down too."""
    cluster.restart_node(DOWN)
    assert cluster.running() == [1, 2, 3, 4]
    stack.up()
    stack.preview("--expect-no-changes")
    assert "Priority: 42" in cache_at(stack, cluster, 1, tmp_path).cache_info(), "the failed change, applied"
    for node in (1, DOWN):
        cache = cache_at(stack, cluster, node, tmp_path / f"node{node}")
        now = cache.object_digests()
        before = {k: v for k, v in seen["objects before"].items() if k != "nix-cache-info"}
        assert {k: now.get(k) for k in before} == before, f"objects lost or changed, read through node {node}"
        for path in (seen["published before"], seen["published while down"]):
            substituted = cache.substitute(path)
            assert substituted.returncode == 0, substituted.stderr
