"""``builderModule``: the builder signs every build, its hook only queues, the agent's service drains.

The module is parsed and evaluated by the real ``nix-instantiate``; the hook is run with bash exactly
as evaluated, and the agent's own ``decode_entry`` reads what it queued. The whole story with the
real Nix and MinIO is in ``tests/e2e/test_builder_hook.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.nix_cache_agent import Entry, Queue, decode_entry
from components.builder_module import (
    AGENT_SOURCE,
    HOOK_NAME,
    WRITER_CREDENTIALS_FILE,
    _indented_string,
    builder_module,
    post_build_hook,
)
from components.nix_text import AgentTarget
from devtools.nix_client import NixClient
from tests.conftest import RecordingMocks, deploy
from tests.e2e.agent_harness import AGENT
from tests.nix_module import evaluate_module, write_shell_script

TARGET = AgentTarget(
    endpoint="https://s3.example:9000",
    bucket="nix-cache",
    profile="nixbuilder",
    expire_days=30,
    upstream_keys=("cache.nixos.org-1",),
    key_name="s3.example-3",
)
PATHS = ("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-one", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-two")
DRV = "/nix/store/cccccccccccccccccccccccccccccccc-two-outputs.drv"


@pytest.fixture
def nix(tmp_path: Path) -> NixClient:
    return NixClient(tmp_path / "nix")


def test_hook_only_queues_and_always_ends_with_success() -> None:
    """Nix fails the build (and stops its build loop) when the hook fails: the hook never does."""
    script = post_build_hook("/c/bin/", "/q")
    assert script.endswith("\nexit 0\n")
    assert "set -e" not in script
    assert re.findall(r"/c/bin/(\w+)", script) == ["mkdir", "sync", "mv"], "no agent, no nix, no network"
    assert "2>&1" not in script, "paths are never mixed with a command's stderr"


def test_indented_string_refuses_what_nix_would_change() -> None:
    """Nix strips the indentation all lines share and the spaces of blank lines: refuse, never garble."""
    with pytest.raises(ValueError, match="shared indentation"):
        _indented_string("  a\n  b\n", "    ")
    with pytest.raises(ValueError, match="blank lines of spaces"):
        _indented_string("a\n   \nb\n", "    ")


def test_output_is_the_writer_s_module_and_holds_no_secret(mocks: RecordingMocks) -> None:
    result = deploy({"nix-cache:keyName": "homelab-2", "nix-cache:upstreamKeys": "[]"})
    target = AgentTarget("http://127.0.0.1:9000", "nix-cache", "nixbuilder", 30, (), "homelab-2")
    assert result["values"]["builderModule"] == builder_module(target)
    assert not result["secret"]["builderModule"]
    assert "writer-secret-from-provider" not in result["values"]["builderModule"]


def test_several_builders_get_a_module_each(mocks: RecordingMocks) -> None:
    result = deploy({"nix-cache:writers": '["nixbuilder", "pi-builder"]'})
    modules = result["values"]["builderModule"]
    assert set(modules) == {"nixbuilder", "pi-builder"}
    assert "pi-builder" in modules["pi-builder"]
    assert "pi-builder" not in modules["nixbuilder"]


@pytest.mark.nix
def test_module_evaluates_to_the_signing_key_the_hook_the_agent_and_its_service(
    nix: NixClient, tmp_path: Path
) -> None:
    evaluated = evaluate_module(nix, builder_module(TARGET), tmp_path)
    assert evaluated["settings"] == {
        "secret-key-files": ["/etc/nix/s3.example-3.sec"],
        "post-build-hook": {"name": HOOK_NAME, "text": post_build_hook("/usr/bin/")},
    }
    service = evaluated["service"]
    assert service["serviceConfig"] == {
        "ExecStart": "/stub/agent/bin/nix-cache-agent drain --config /etc/nix-cache-agent.json",
        "Restart": "always",
        "RestartSec": 5,
        "StateDirectory": "nix-cache-agent",
    }
    assert (service["after"], service["wants"]) == (["network-online.target"], ["network-online.target"])
    assert service["wantedBy"] == ["multi-user.target"]
    assert service["path"] == ["/stub/nix"], "drain stages with the system's own Nix"
    settings = json.loads(evaluated["etc"]["nix-cache-agent.json"]["text"])
    assert settings == {**TARGET.settings(), "queue_dir": "/var/lib/nix-cache-agent/queue"}
    assert settings["credentials_file"] == WRITER_CREDENTIALS_FILE
    assert evaluated["packages"] == 1, "the agent is on PATH for manual pushes"


@pytest.mark.nix
def test_the_embedded_agent_is_byte_for_byte_the_file_the_tests_run(nix: NixClient, tmp_path: Path) -> None:
    agent = evaluate_module(nix, builder_module(TARGET), tmp_path)["agent"]
    assert AGENT == AGENT_SOURCE
    assert agent["text"].encode() == AGENT.read_bytes()
    assert agent["name"] == "nix-cache-agent"
    assert agent["libraries"] == ["minio", "pynacl"]
    assert agent["flakeIgnore"] == ["E501"]


def test_the_agent_passes_flake8_as_writePython3Bin_runs_it() -> None:
    """NixOS runs ``flake8 --ignore <flakeIgnore>`` on the text when it builds the system."""
    result = subprocess.run(
        [sys.executable, "-m", "flake8", "--ignore", "E501", str(AGENT_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.nix
def test_indented_string_keeps_every_character(nix: NixClient) -> None:
    """Quotes, ``${``, ``''`` and a trailing ``$`` or ``'`` come out of Nix exactly as they went in."""
    texts = ["x ''y ''' '${z} $${w} ''${q} $ '$ ''$x \\n \t\n\n\nend'", "'", "''", "'${'", "tail$", "a\n  b"]
    expression = "[ " + " ".join(f"({_indented_string(text, '    ')})" for text in texts) + " ]"
    evaluated = nix.run("nix-instantiate", "--eval", "--strict", "--json", "-E", expression).stdout
    assert json.loads(evaluated) == texts


class Hook:
    """The evaluated hook, with this machine's coreutils, run as Nix runs it."""

    def __init__(self, nix: NixClient, workdir: Path) -> None:
        self.queue = workdir / "queue"
        evaluated = evaluate_module(nix, builder_module(TARGET, str(self.queue)), workdir)
        self.script = write_shell_script(evaluated["settings"]["post-build-hook"], workdir)

    def run(self, out_paths: str | None, drv_path: str | None = DRV) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("OUT_PATHS", "DRV_PATH")}
        env.update({k: v for k, v in (("OUT_PATHS", out_paths), ("DRV_PATH", drv_path)) if v is not None})
        return subprocess.run([self.script], env=env, capture_output=True, text=True, check=False, timeout=60)

    def entries(self) -> list[Any]:
        return [decode_entry(p.read_bytes()) for p in sorted(self.queue.glob("*.json"))]


@pytest.mark.nix
def test_hook_queues_every_output_path_in_one_entry(nix: NixClient, tmp_path: Path) -> None:
    hook = Hook(nix, tmp_path)
    started = time.perf_counter()
    result = hook.run(" ".join(PATHS))
    assert time.perf_counter() - started < 1, "no network, no interpreter, no waiting"
    assert (result.returncode, result.stderr) == (0, "")
    assert hook.entries() == [Entry(PATHS, DRV)]


@pytest.mark.nix
def test_without_out_paths_the_derivation_is_queued(nix: NixClient, tmp_path: Path) -> None:
    """Nix 2.8.0 (Debian's) runs the hook with OUT_PATHS empty: the agent asks DRV_PATH when it drains."""
    hook = Hook(nix, tmp_path)
    assert hook.run("").returncode == 0
    assert hook.entries() == [Entry((), DRV)]


@pytest.mark.nix
def test_no_outputs_nothing_to_do(nix: NixClient, tmp_path: Path) -> None:
    hook = Hook(nix, tmp_path)
    assert hook.run(None, drv_path=None).returncode == 0
    assert hook.entries() == []


@pytest.mark.nix
def test_a_queue_that_cannot_be_written_is_one_line_and_the_build_succeeds(
    nix: NixClient, tmp_path: Path
) -> None:
    hook = Hook(nix, tmp_path)
    hook.queue.write_text("a file where the queue folder should be")
    result = hook.run(PATHS[0])
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{HOOK_NAME}: not queued, {hook.queue} is not writable: {PATHS[0]}"
    ]


@pytest.mark.nix
def test_entries_the_hook_writes_drain_oldest_first(nix: NixClient, tmp_path: Path) -> None:
    """The hook names entries as the agent does (time first), so its own and enqueue's sort together."""
    hook = Hook(nix, tmp_path)
    hook.run(PATHS[0])
    Queue(str(hook.queue)).add(Entry((PATHS[1],)))
    hook.run(PATHS[1], drv_path=None)
    assert [decode_entry(p.read_bytes()) for p in Queue(str(hook.queue)).entries()] == [
        Entry((PATHS[0],), DRV),
        Entry((PATHS[1],)),
        Entry((PATHS[1],)),
    ]
