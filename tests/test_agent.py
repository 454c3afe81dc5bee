"""The upload agent's pure core: narinfos, signatures, what a push does with each path, in which order.

No Nix and no MinIO here; ``tests/e2e/test_agent_on_minio.py`` runs the agent against both.
"""

from __future__ import annotations

import base64
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey, VerifyKey

from agent.nix_cache_agent import (
    AgentError,
    Entry,
    PathInfo,
    Queue,
    QueueEntryError,
    Settings,
    batch_of,
    decode_entry,
    drain_once,
    encode_entry,
    entry_name,
    is_upstream,
    narinfo_dependencies,
    narinfo_key,
    parse_narinfo,
    placeholder_narinfo,
    plan_push,
    read_credentials,
    read_secret_key,
    refresh_after,
    run_in_order,
    settings_from,
    signed_narinfo,
    topological_order,
)
from agent.nix_cache_agent import parser as agent_parser
from components.nix_keys import generate_key_pair

A = "/nix/store/" + "a" * 32 + "-a"
B = "/nix/store/" + "b" * 32 + "-b"
C = "/nix/store/" + "c" * 32 + "-c"
NARINFO = f"""StorePath: {B}
URL: nar/0w6hp3w0x0kq86an96qh5mhr39sdgizkkm6qdvxg1nw2zdirl0iq.nar.zst
Compression: zstd
FileHash: sha256:0w6hp3w0x0kq86an96qh5mhr39sdgizkkm6qdvxg1nw2zdirl0iq
FileSize: 133
NarHash: sha256:174z4w39fbksa0d0nmij5ydxbs2jfr7fsjgxx1l9p7zmrcmc7d1q
NarSize: 168
References: {"a" * 32}-a {"b" * 32}-b
Deriver: jmlxznfrxnqknj344sy29l29midfdxgh-b.drv
Sig: h-1:c2ln
"""


def test_narinfo_fields_and_fingerprint() -> None:
    """The fingerprint is what Nix signs: version, path, NAR hash and size, full reference paths."""
    info = parse_narinfo(NARINFO)
    assert info.url == "nar/0w6hp3w0x0kq86an96qh5mhr39sdgizkkm6qdvxg1nw2zdirl0iq.nar.zst"
    assert info.sigs == ("h-1:c2ln",)
    assert info.fingerprint() == (
        f"1;{B};sha256:174z4w39fbksa0d0nmij5ydxbs2jfr7fsjgxx1l9p7zmrcmc7d1q;168;{A},{B}"
    )


def test_narinfo_without_references_has_an_empty_list() -> None:
    """``nix copy`` writes ``References: `` with a trailing space for a path without references."""
    text = NARINFO.replace(f"References: {'a' * 32}-a {'b' * 32}-b", "References: ")
    assert parse_narinfo(text).references == ()
    assert parse_narinfo(text).fingerprint().endswith(";168;")


@pytest.mark.parametrize("drop", ["StorePath", "URL", "NarHash", "NarSize"])
def test_narinfo_without_a_needed_field_is_refused(drop: str) -> None:
    text = "\n".join(line for line in NARINFO.splitlines() if not line.startswith(f"{drop}:"))
    with pytest.raises(AgentError, match=f"narinfo without {drop}"):
        parse_narinfo(text)


def test_narinfo_key_is_the_hash_part() -> None:
    assert narinfo_key(B) == f"{'b' * 32}.narinfo"
    with pytest.raises(AgentError, match="not a store path"):
        narinfo_key("/nix/store/not-a-hash")


def test_resigning_adds_a_signature_that_verifies_and_is_idempotent() -> None:
    pair = generate_key_pair("h-2")
    name, seed = pair.secret_key.split(":")[0], base64.b64decode(pair.secret_key.split(":")[1])[:32]
    key = SigningKey(seed)
    signed = signed_narinfo(NARINFO, name, lambda data: bytes(key.sign(data).signature))
    assert signed is not None
    sig = parse_narinfo(signed).sigs[-1]
    assert sig.startswith("h-2:")
    verify = VerifyKey(base64.b64decode(pair.public_key.split(":")[1]))
    verify.verify(parse_narinfo(NARINFO).fingerprint().encode(), base64.b64decode(sig.split(":")[1]))
    assert parse_narinfo(signed).sigs[0] == "h-1:c2ln", "earlier signatures stay"
    assert signed_narinfo(signed, name, lambda data: b"never") is None


def test_secret_key_file_gives_name_and_seed(tmp_path: Path) -> None:
    pair = generate_key_pair("h-3")
    path = tmp_path / "k.sec"
    path.write_text(pair.secret_key + "\n")
    name, seed = read_secret_key(str(path))
    assert name == "h-3"
    assert SigningKey(seed).verify_key.encode() == base64.b64decode(pair.public_key.split(":")[1])
    path.write_text("h-3:c2hvcnQ=")
    with pytest.raises(AgentError, match="not a Nix secret key"):
        read_secret_key(str(path))


def test_upstream_is_decided_by_signature_key_names() -> None:
    assert is_upstream(["cache.nixos.org-1:abc", "mine-1:def"], ["cache.nixos.org-1"])
    assert not is_upstream(["mine-1:def"], ["cache.nixos.org-1"])
    assert not is_upstream(["cache.nixos.org-1:abc"], []), "an empty list turns the filter off"
    assert not is_upstream(["cache.nixos.org-10:abc"], ["cache.nixos.org-1"]), "names match whole"


def test_refresh_threshold_is_half_of_expire_days() -> None:
    assert refresh_after(30) == 15 * 86400
    assert refresh_after(0) is None, "nothing expires: nothing is refreshed"


CLOSURE = {
    A: PathInfo(A, (A,), ("cache.nixos.org-1:x",)),
    B: PathInfo(B, (A, B), ("mine-1:y",)),
    C: PathInfo(C, (B,), ()),
}


def test_plan_sorts_each_path_by_signature_and_narinfo_age() -> None:
    plan = plan_push(CLOSURE, {B: 100.0, C: None}, ["cache.nixos.org-1"], old_after=50.0)
    assert (plan.upstream, plan.refresh, plan.upload, plan.present) == ((A,), (B,), (C,), ())
    fresh = plan_push(CLOSURE, {B: 10.0, C: None}, ["cache.nixos.org-1"], old_after=50.0)
    assert (fresh.refresh, fresh.present) == ((), (B,))
    never = plan_push(CLOSURE, {B: 1e9, C: 1e9}, ["cache.nixos.org-1"], old_after=None)
    assert never.present == (B, C)


def test_plan_with_the_filter_off_uploads_upstream_paths() -> None:
    plan = plan_push(CLOSURE, {A: None, B: None, C: None}, [], old_after=None)
    assert plan.upload == (A, B, C)
    assert plan.upstream == ()


def test_dependencies_are_the_references_being_uploaded_without_self() -> None:
    """A narinfo waits for its references' narinfos only when they are uploaded in the same push."""
    assert narinfo_dependencies(CLOSURE, [B, C]) == {B: set(), C: {B}}
    assert narinfo_dependencies(CLOSURE, [A, B, C]) == {A: set(), B: {A}, C: {B}}


@st.composite
def dags(draw: st.DrawFn) -> dict[str, set[str]]:
    """Random reference graphs: node i may refer to any node before it (and to itself)."""
    size = draw(st.integers(0, 30))
    nodes = [f"n{i:02d}" for i in range(size)]
    return {
        node: set(draw(st.lists(st.sampled_from(nodes[: i + 1]), max_size=4))) - {node}
        for i, node in enumerate(nodes)
    }


@given(dags())
def test_topological_order_puts_every_path_after_its_references(graph: dict[str, set[str]]) -> None:
    order = topological_order(graph)
    assert sorted(order) == sorted(graph)
    position = {node: i for i, node in enumerate(order)}
    assert all(position[dep] < position[node] for node, deps in graph.items() for dep in deps)


@given(dags())
def test_parallel_run_starts_a_node_only_after_its_dependencies_finished(graph: dict[str, set[str]]) -> None:
    finished: set[str] = set()
    lock = threading.Lock()
    violations: list[str] = []

    def action(node: str) -> None:
        with lock:
            violations.extend(dep for dep in graph[node] if dep not in finished)
        time.sleep(0.0005)
        with lock:
            finished.add(node)

    with ThreadPoolExecutor(max_workers=8) as pool:
        run_in_order(graph, action, pool)
    assert violations == []
    assert finished == set(graph)


def test_parallel_run_stops_at_a_failure_and_never_starts_its_dependents() -> None:
    graph = {"a": set(), "b": {"a"}, "c": {"b"}, "x": set()}
    started: list[str] = []

    def action(node: str) -> None:
        started.append(node)
        if node == "a":
            raise RuntimeError("MinIO down")

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(RuntimeError, match="MinIO down"):
        run_in_order(graph, action, pool)
    assert "b" not in started
    assert "c" not in started


def test_queue_entry_round_trip() -> None:
    entry = Entry((A, B), "/nix/store/" + "d" * 32 + "-x.drv")
    assert decode_entry(encode_entry(entry)) == entry
    assert decode_entry(encode_entry(Entry((), entry.drv))).drv == entry.drv


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xfe", "not JSON"),
        (b'{"paths": []', "not JSON"),
        (b'{"version": 2, "paths": []}', "not a version 1"),
        (b'{"version": 1, "paths": "x"}', "not a list"),
        (b'{"version": 1, "paths": ["relative"]}', "not a store path"),
        (b'{"version": 1, "paths": ["/nix/store/a b"]}', "not a store path"),
        (b'{"version": 1, "paths": [], "drv": null}', "neither paths nor drv"),
    ],
)
def test_a_corrupt_queue_entry_is_refused(data: bytes, problem: str) -> None:
    with pytest.raises(QueueEntryError, match=problem):
        decode_entry(data)


def test_paths_with_stderr_in_them_are_never_queued() -> None:
    """Today's hook captured nix-store's warnings into its path list; an entry refuses such text."""
    with pytest.raises(QueueEntryError, match="not a store path"):
        encode_entry(Entry(("warning: something\n/nix/store/x",)))


def test_queue_names_sort_by_time() -> None:
    assert entry_name(5, 99999, "ff") < entry_name(10, 1, "00") < entry_name(10**18, 1, "00")


def test_queue_keeps_whole_entries_oldest_first(tmp_path: Path) -> None:
    queue = Queue(str(tmp_path / "queue"))
    first = queue.add(Entry((A,)))
    (tmp_path / "queue" / ".tmp-half-written.json").write_bytes(b'{"version": 1, "pa')
    second = queue.add(Entry((B,)))
    assert queue.entries() == [first, second]
    assert decode_entry(second.read_bytes()) == Entry((B,))


class NoNix:
    """Refuses every call: a drain over corrupt entries alone must not need Nix or MinIO."""

    def outputs(self, drv: str) -> list[str]:
        raise AssertionError("not called")

    def invalid_paths(self, paths: object) -> set[str]:
        raise AssertionError("not called")


def test_a_corrupt_entry_is_set_aside_with_one_line_and_the_rest_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = Queue(str(tmp_path / "queue"))
    (tmp_path / "queue").mkdir()
    corrupt = tmp_path / "queue" / entry_name(1, 1, "aa")
    corrupt.write_bytes(b"garbage")
    settings = Settings(
        endpoint="http://127.0.0.1:1", bucket="b", profile="p", queue_dir=str(queue.directory)
    )
    assert drain_once(queue, NoNix(), settings) == "idle"  # type: ignore[arg-type]
    assert queue.entries() == []
    assert (queue.aside / corrupt.name).read_bytes() == b"garbage"
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"nix-cache-agent: corrupt queue entry {corrupt.name} set aside in ")


def test_credentials_come_from_the_profile_and_never_show(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text("[other]\naws_access_key_id = o\naws_secret_access_key = x\n")
    with pytest.raises(AgentError, match=r"has no profile \[nixbuilder\]"):
        read_credentials(str(path), "nixbuilder")
    path.write_text("[nixbuilder]\naws_access_key_id = nixbuilder\naws_secret_access_key = s3cret%\n")
    credentials = read_credentials(str(path), "nixbuilder")
    assert (credentials.access_key, credentials.secret_key) == ("nixbuilder", "s3cret%")
    assert "s3cret" not in repr(credentials)
    with pytest.raises(AgentError, match="No such file"):
        read_credentials(str(tmp_path / "missing"), "nixbuilder")


def test_settings_come_from_the_config_file_and_the_command_line_wins(tmp_path: Path) -> None:
    config = tmp_path / "agent.json"
    config.write_text(
        '{"endpoint": "https://s3.example", "bucket": "c", "profile": "w", "upstream_keys": []}'
    )
    args = agent_parser().parse_args(["push", "--config", str(config), "--bucket", "d", "--", A])
    settings = settings_from(args)
    assert (settings.endpoint, settings.bucket, settings.profile) == ("https://s3.example", "d", "w")
    assert settings.upstream_keys == ()
    assert args.paths == [A]
    args = agent_parser().parse_args(["push", "--config", str(config), "--upstream-keys", "u-1,u-2"])
    assert settings_from(args).upstream_keys == ("u-1", "u-2")
    with pytest.raises(AgentError, match="missing --endpoint, --bucket, --profile"):
        settings_from(agent_parser().parse_args(["push"]))
    with pytest.raises(AgentError, match=r"none\.json"):
        settings_from(agent_parser().parse_args(["push", "--config", str(tmp_path / "none.json")]))


def test_a_placeholder_narinfo_is_a_narinfo_of_the_reference() -> None:
    """What stands in the staging store for a reference that is not staged parses as that path."""
    info = PathInfo(C, (B, C), (), "sha256-bMt+cTZ6DQLIn+0PMdKmK6WrIO+tfa8wx7K3f5rVawA=", 208)
    parsed = parse_narinfo(placeholder_narinfo(info))
    assert (parsed.store_path, parsed.nar_size) == (C, 208)
    assert parsed.references == (Path(B).name, Path(C).name)


def test_the_checkout_s_wrapper_runs_the_agent_from_the_venv(tmp_path: Path) -> None:
    """``agent/bin/nix-cache-agent`` is what the README puts on PATH on a builder that is not NixOS."""
    wrapper = Path(__file__).resolve().parents[1] / "agent" / "bin" / "nix-cache-agent"
    queue = tmp_path / "queue"
    result = subprocess.run(
        [str(wrapper), "enqueue", "--queue-dir", str(queue), "--", A],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    [entry] = queue.glob("*.json")
    assert decode_entry(entry.read_bytes()) == Entry((A,))


def test_after_a_failure_entries_are_tried_alone_in_turn_so_none_blocks_the_others() -> None:
    entries = [Path(f"/q/{n}.json") for n in "abc"]
    assert batch_of(entries, 0) == entries
    assert batch_of(entries, 0, size=2) == entries[:2]
    assert [batch_of(entries, f) for f in (1, 2, 3, 4)] == [
        [entries[0]],
        [entries[1]],
        [entries[2]],
        [entries[0]],
    ]
    assert batch_of([], 3) == []


class _Stop(Exception):
    pass


def test_drain_backs_off_doubling_and_counts_failures_until_a_success(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service loop: failures wait 1, 2, 4… s (capped) and make the next batch one entry in turn."""
    import agent.nix_cache_agent as module

    outcomes = iter(["failed", "failed", "failed", "done", "failed", "idle"])
    seen: list[int] = []
    slept: list[float] = []

    def fake_drain_once(queue: object, nix: object, settings: object, failures: int = 0) -> str:
        seen.append(failures)
        try:
            return next(outcomes)
        except StopIteration:
            raise _Stop from None

    monkeypatch.setattr(module, "drain_once", fake_drain_once)
    monkeypatch.setattr(time, "sleep", slept.append)
    settings = Settings(endpoint="http://127.0.0.1:1", bucket="b", profile="p")
    with pytest.raises(_Stop):
        module.drain(Queue("/nonexistent"), module.Nix(), settings, once=False, poll=0.5, max_backoff=3)
    assert seen == [0, 1, 2, 3, 0, 1, 0]
    assert slept == [1.0, 2.0, 3.0, 1.0, 0.5]


def test_a_missing_nix_is_one_clear_error(tmp_path: Path) -> None:
    """The service's PATH without Nix must be one journal line, not a traceback that restarts it."""
    from agent.nix_cache_agent import Nix

    with pytest.raises(AgentError, match=r"cannot run .*nix-store: No such file or directory"):
        Nix(str(tmp_path)).invalid_paths([A])
