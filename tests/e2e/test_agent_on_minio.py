"""The upload agent against a real MinIO with the real Nix 2.8: push, filter, refresh, re-sign, drain.

Each test has a cache of its own (bucket and upload-only writer made from the program's documents,
``devtools.cache_on_minio``): the writer may get, put and list, and can neither delete nor write
``nix-cache-info``. Clients substitute anonymously over HTTP from the bucket, checking signatures.
"""

from __future__ import annotations

import random
import secrets
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from minio.datatypes import Object

from components.nix_keys import NixKeyPair, generate_key_pair
from devtools import s3
from devtools.cache_on_minio import DocumentCache, create_document_cache
from devtools.minio_server import MinioServer
from devtools.nix_client import NixClient
from tests.e2e.agent_harness import Agent, build_closure, closure_of, narinfo_key


@pytest.fixture
def cache(minio: MinioServer) -> DocumentCache:
    """A new cache whose writer is also denied ``nix-cache-info``: the agent never needs to touch it."""
    name = f"agent-{secrets.token_hex(4)}"
    made = create_document_cache(minio, name, f"w-{name}")
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"arn:aws:s3:::{name}/nix-cache-info"],
            }
        ],
    }
    admin = minio.root_clients().admin
    admin.policy_add(f"{name}-no-cache-info", policy=deny)
    admin.attach_policy([f"{name}-no-cache-info"], user=made.writer)
    return made


@pytest.fixture
def key() -> NixKeyPair:
    return generate_key_pair("agent-test-1")


@pytest.fixture
def nix(tmp_path: Path) -> NixClient:
    return NixClient(tmp_path / "builder")


@pytest.fixture
def agent(cache: DocumentCache, nix: NixClient, tmp_path: Path) -> Agent:
    return Agent(cache, nix, tmp_path)


def stat(cache: DocumentCache, key: str) -> Object | None:
    """The object's stat as the admin sees it, or None when it is not there."""
    from minio.error import S3Error

    try:
        return cache.server.root_clients().s3.stat_object(cache.bucket, key)
    except S3Error as error:
        if error.code == "NoSuchKey":
            return None
        raise


def present(cache: DocumentCache, key: str) -> Object:
    found = stat(cache, key)
    assert found is not None, f"{key} is not in {cache.bucket}"
    return found


def modified(cache: DocumentCache, key: str) -> datetime:
    when = present(cache, key).last_modified
    assert when is not None
    return when


def nar_key(cache: DocumentCache, path: str) -> str:
    response = cache.server.root_clients().s3.get_object(cache.bucket, narinfo_key(path))
    try:
        text = bytes(response.read()).decode()
    finally:
        response.close()
        response.release_conn()
    [url] = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("URL: ")]
    return url


def test_push_uploads_the_closure_and_a_fresh_store_substitutes_it(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair, tmp_path: Path
) -> None:
    """The README's round trip: build, push with the agent (signing as it stages), substitute over HTTP."""
    writer = s3.client(cache.server.endpoint_url, cache.writer, cache.writer_secret)
    assert (
        s3.error_code(writer.put_object, Bucket=cache.bucket, Key="nix-cache-info", Body=b"x")
        == "AccessDenied"
    )
    assert s3.error_code(writer.delete_object, Bucket=cache.bucket, Key="nix-cache-info") == "AccessDenied"
    root = build_closure(nix, leaves=3, mids=2)
    paths = closure_of(nix, root)
    key_file = nix.key_file(key.secret_key)
    pushed = agent.run("push", "--key-file", str(key_file), paths=[root])
    assert pushed.stdout.strip().endswith(
        f"uploaded {len(paths)}, refreshed 0, skipped as upstream 0, already there 0"
    ), pushed.stderr
    for path in paths:
        narinfo = present(cache, narinfo_key(path))
        assert narinfo.content_type == "text/x-nix-narinfo"
        nar = present(cache, nar_key(cache, path))
        assert nar.content_type == "application/x-nix-nar"
    assert nar_key(cache, root).endswith(".nar.zst")
    client = NixClient(tmp_path / "client")
    fetched = client.substitute(root, cache.substituter_url, key.public_key)
    assert fetched.returncode == 0, fetched.stderr
    for path in paths:
        assert f"copying path '{path}' from '{cache.substituter_url}'" in fetched.stderr
    again = agent.run("push", "--key-file", str(key_file), paths=[root])
    assert again.stdout.strip().endswith(
        f"uploaded 0, refreshed 0, skipped as upstream 0, already there {len(paths)}"
    )


def test_paths_signed_by_an_upstream_key_are_skipped_their_dependents_uploaded(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair
) -> None:
    upstream = build_closure(nix, leaves=1, mids=1)
    upstream_paths = closure_of(nix, upstream)
    for path in upstream_paths:
        nix.sign(path, generate_key_pair("cache.nixos.org-1").secret_key)
    root = build_closure(nix, leaves=1, mids=1, extra=[upstream])
    own = sorted(set(closure_of(nix, root)) - set(upstream_paths))
    key_file = str(nix.key_file(key.secret_key))
    pushed = agent.run("push", "--key-file", key_file, paths=[root])
    assert pushed.stdout.strip().endswith(
        f"uploaded {len(own)}, refreshed 0, skipped as upstream {len(upstream_paths)}, already there 0"
    )
    assert all(stat(cache, narinfo_key(p)) is None for p in upstream_paths)
    assert all(stat(cache, narinfo_key(p)) is not None for p in own)
    unfiltered = agent.run("push", "--key-file", key_file, "--upstream-keys", "", paths=[root])
    assert unfiltered.stdout.strip().endswith(
        f"uploaded {len(upstream_paths)}, refreshed 0, skipped as upstream 0, already there {len(own)}"
    )
    assert all(stat(cache, narinfo_key(p)) is not None for p in upstream_paths)


def test_old_paths_are_refreshed_nar_first_and_fresh_ones_left_alone(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair
) -> None:
    """With "old" shortened to 2.5 s: a push rewrites what is older, keeps its content types, and no more."""
    key_file = str(nix.key_file(key.secret_key))
    old = build_closure(nix, leaves=2, mids=1)
    old_paths = closure_of(nix, old)
    agent.run("push", "--key-file", key_file, paths=[old])
    time.sleep(4)
    fresh = build_closure(nix, leaves=1, mids=1)
    fresh_paths = closure_of(nix, fresh)
    agent.run("push", "--key-file", key_file, paths=[fresh])
    before = {
        p: (modified(cache, narinfo_key(p)), modified(cache, nar_key(cache, p)))
        for p in old_paths + fresh_paths
    }
    root = build_closure(nix, leaves=1, mids=1, extra=[old, fresh])
    new = sorted(set(closure_of(nix, root)) - set(old_paths) - set(fresh_paths))
    pushed = agent.run("push", "--key-file", key_file, "--refresh-after", "2.5", paths=[root])
    assert pushed.stdout.strip().endswith(
        f"uploaded {len(new)}, refreshed {len(old_paths)}, skipped as upstream 0, "
        f"already there {len(fresh_paths)}"
    )
    for path in old_paths:
        narinfo, nar = present(cache, narinfo_key(path)), present(cache, nar_key(cache, path))
        old_narinfo, old_nar = before[path]
        assert modified(cache, narinfo_key(path)) > old_narinfo
        assert modified(cache, nar_key(cache, path)) > old_nar
        assert modified(cache, nar_key(cache, path)) <= modified(cache, narinfo_key(path)), "NAR first"
        assert narinfo.content_type == "text/x-nix-narinfo"
        assert nar.content_type == "application/x-nix-nar"
    for path in fresh_paths:
        assert modified(cache, narinfo_key(path)) == before[path][0]


def test_resign_adds_the_new_key_so_clients_trusting_only_it_substitute(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair, tmp_path: Path
) -> None:
    root = build_closure(nix, leaves=2, mids=1)
    paths = closure_of(nix, root)
    agent.run("push", "--key-file", str(nix.key_file(key.secret_key)), paths=[root])
    new_key = generate_key_pair("agent-test-2")
    client = NixClient(tmp_path / "client")
    refused = client.substitute(root, cache.substituter_url, new_key.public_key)
    assert refused.returncode != 0, "only the old key signed it yet"
    new_file = str(nix.key_file(new_key.secret_key))
    signed = agent.run("resign", "--key-file", new_file)
    assert signed.stdout.strip().endswith(f"signed {len(paths)} narinfos, 0 were signed already")
    fetched = NixClient(tmp_path / "client2").substitute(root, cache.substituter_url, new_key.public_key)
    assert fetched.returncode == 0, fetched.stderr
    again = agent.run("resign", "--key-file", new_file)
    assert again.stdout.strip().endswith(f"signed 0 narinfos, {len(paths)} were signed already")


def test_drain_drops_a_path_gone_from_the_store_and_uploads_the_rest(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair
) -> None:
    root = build_closure(nix, leaves=1, mids=1)
    gone = "/nix/store/" + "0" * 32 + "-collected"
    agent.run("enqueue", paths=[gone, root])
    drained = agent.run("drain", "--once", "--key-file", str(nix.key_file(key.secret_key)))
    assert f"nix-cache-agent: {gone} is no longer in the local store" in drained.stderr
    assert "nix-cache-agent: pushed 1 queue entries (2 paths): uploaded 3," in drained.stderr
    assert list(agent.queue.glob("*.json")) == []
    assert stat(cache, narinfo_key(root)) is not None


def test_wrong_or_missing_credentials_keep_the_queue_with_one_line(
    cache: DocumentCache, nix: NixClient, key: NixKeyPair, tmp_path: Path
) -> None:
    agent = Agent(cache, nix, tmp_path, secret="0" * 40)
    root = build_closure(nix, leaves=1, mids=1)
    agent.run("enqueue", paths=[root])
    refused = agent.run("drain", "--once", check=False)
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "refused the writer's credentials (SignatureDoesNotMatch)" in line
    assert "0" * 40 not in refused.stderr
    agent.credentials.unlink()
    missing = agent.run("drain", "--once", check=False)
    [line] = missing.stderr.splitlines()
    assert f"credentials file {agent.credentials}: No such file or directory" in line
    assert len(list(agent.queue.glob("*.json"))) == 1, "nothing queued is lost"


def consistency_violations(cache: DocumentCache, stop: threading.Event, seen: list[int]) -> list[str]:
    """Read the bucket over and over as a client would: every narinfo's NAR and references must be there."""
    from minio.error import S3Error

    s3 = cache.server.root_clients().s3
    problems: list[str] = []
    while not stop.is_set():
        keys = [
            o.object_name for o in s3.list_objects(cache.bucket) if str(o.object_name).endswith(".narinfo")
        ]
        seen.append(len(keys))
        for key in keys:
            response = s3.get_object(cache.bucket, str(key))
            text = bytes(response.read()).decode()
            response.close()
            response.release_conn()
            fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
            wanted = [fields["URL"]] + [
                f"{ref.split('-')[0]}.narinfo" for ref in fields.get("References", "").split()
            ]
            for needed in wanted:
                try:
                    s3.stat_object(cache.bucket, needed)
                except S3Error:
                    problems.append(f"{key} is visible without {needed}")
    return problems


def test_drain_killed_again_and_again_converges_and_no_reader_sees_a_broken_closure(
    cache: DocumentCache, agent: Agent, nix: NixClient, key: NixKeyPair, tmp_path: Path
) -> None:
    roots = [build_closure(nix, leaves=40, mids=8) for _ in range(4)]
    paths = sorted({p for root in roots for p in closure_of(nix, root)})
    for root in roots:
        agent.run("enqueue", paths=[root])
    key_file = str(nix.key_file(key.secret_key))
    stop, seen, found = threading.Event(), list[int](), list[str]()
    reader = threading.Thread(target=lambda: found.extend(consistency_violations(cache, stop, seen)))
    reader.start()
    rng = random.Random(14)  # noqa: S311 - when to kill, not a secret
    try:
        for _ in range(5):
            draining = agent.popen("drain", "--key-file", key_file, "--workers", "2", "--poll", "0.2")
            time.sleep(rng.uniform(0.4, 1.2))
            draining.send_signal(signal.SIGKILL)
            draining.wait(10)
        final = agent.run("drain", "--once", "--key-file", key_file)
    finally:
        stop.set()
        reader.join(60)
    assert found == [], found[:5]
    assert len(seen) > 5, "the reader looked while the agent ran"
    assert list(agent.queue.glob("*.json")) == [], final.stderr
    assert all(stat(cache, narinfo_key(p)) is not None for p in paths)
    fetched = NixClient(tmp_path / "client").substitute(roots[-1], cache.substituter_url, key.public_key)
    assert fetched.returncode == 0, fetched.stderr
