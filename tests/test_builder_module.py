"""``builderModule``: the builder signs every build and uploads it from Nix's post-build hook.

The module is parsed and evaluated by the real ``nix-instantiate``; the hook it carries is run with
bash exactly as evaluated, with stand-ins for ``nix`` and ``logger`` that record what they are asked.
The hook run by the real Nix against MinIO is in ``tests/e2e/test_builder_hook.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from components.builder_module import (
    HOOK_NAME,
    WRITER_CREDENTIALS_FILE,
    _indented_string,
    builder_module,
    post_build_hook,
)
from components.nix_text import s3_store_url
from tests.conftest import RecordingMocks
from tests.nix_client import NixClient
from tests.nix_module import evaluate_module, write_shell_script
from tests.test_program import deploy

PUSH_URL = s3_store_url("nix-cache", "nixbuilder", "s3.example:9000", True)
PATHS = ("/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-one", "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-two")


@pytest.fixture
def nix(tmp_path: Path) -> NixClient:
    return NixClient(tmp_path / "nix")


def test_hook_pushes_with_the_program_s_url_and_the_writer_s_credentials_file() -> None:
    script = post_build_hook(PUSH_URL)
    assert f"store='{PUSH_URL}'\n" in script
    assert "compression=zstd&parallel-compression=true" in PUSH_URL
    assert f"export AWS_SHARED_CREDENTIALS_FILE={WRITER_CREDENTIALS_FILE}\n" in script
    assert WRITER_CREDENTIALS_FILE == "/etc/nix/nix-cache-writer.credentials"


def test_hook_always_ends_with_success() -> None:
    """Nix fails the build (and stops its build loop) when the hook fails: the hook never does."""
    script = post_build_hook(PUSH_URL)
    assert script.endswith("\nexit 0\n")
    assert "set -e" not in script


def test_hook_that_breaks_midway_still_exits_0(tmp_path: Path) -> None:
    """Past its first lines nothing the hook runs into (here an unset variable under ``set -u``) fails it."""
    script = post_build_hook(PUSH_URL).replace("store=", "echo $NIX_CACHE_UNSET_VARIABLE\nstore=", 1)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False, timeout=60)
    assert "NIX_CACHE_UNSET_VARIABLE: unbound variable" in result.stderr
    assert result.returncode == 0


def test_indented_string_refuses_what_nix_would_change() -> None:
    """Nix strips the indentation all lines share and the spaces of blank lines: refuse, never garble."""
    with pytest.raises(ValueError, match="shared indentation"):
        _indented_string("  a\n  b\n", "    ")
    with pytest.raises(ValueError, match="blank lines of spaces"):
        _indented_string("a\n   \nb\n", "    ")


def test_output_is_the_writer_s_module(mocks: RecordingMocks) -> None:
    """One builder: the module pushes as that writer, signs with the key the README puts on it; plain."""
    result = deploy({"nix-cache:keyName": "homelab-2"})
    url = "s3://nix-cache?profile=nixbuilder&endpoint=127.0.0.1:9000&scheme=http"
    url += "&compression=zstd&parallel-compression=true"
    assert result["values"]["builderModule"] == builder_module("homelab-2", url)
    assert not result["secret"]["builderModule"]


def test_several_builders_get_a_module_each(mocks: RecordingMocks) -> None:
    result = deploy({"nix-cache:writers": '["nixbuilder", "pi-builder"]'})
    modules = result["values"]["builderModule"]
    assert set(modules) == {"nixbuilder", "pi-builder"}
    assert "profile=pi-builder&" in modules["pi-builder"]
    assert "profile=pi-builder" not in modules["nixbuilder"]


@pytest.mark.nix
def test_module_parses_and_evaluates_to_exactly_the_two_settings(nix: NixClient, tmp_path: Path) -> None:
    """secret-key-files is the README's key file; post-build-hook is the hook, byte for byte."""
    settings = evaluate_module(nix, builder_module("s3.example-3", PUSH_URL), tmp_path)
    assert settings == {
        "secret-key-files": ["/etc/nix/s3.example-3.sec"],
        "post-build-hook": {
            "name": HOOK_NAME,
            "text": post_build_hook(
                PUSH_URL,
                nix="/stub/nix/bin/nix",
                nix_store="/stub/nix/bin/nix-store",
                logger="/stub/util-linux/bin/logger",
            ),
        },
    }


@pytest.mark.nix
def test_indented_string_keeps_every_character(nix: NixClient) -> None:
    """Quotes, ``${``, ``''`` and a trailing ``$`` or ``'`` come out of Nix exactly as they went in."""
    texts = ["x ''y ''' '${z} $${w} ''${q} $ '$ ''$x \\n \t\n\n\nend'", "'", "''", "'${'", "tail$", "a\n  b"]
    expression = "[ " + " ".join(f"({_indented_string(text, '    ')})" for text in texts) + " ]"
    evaluated = nix.run("nix-instantiate", "--eval", "--strict", "--json", "-E", expression).stdout
    assert json.loads(evaluated) == texts


DRV = "/nix/store/cccccccccccccccccccccccccccccccc-two-outputs.drv"


class Hook:
    """The evaluated hook with a recording ``nix``, ``nix-store`` and ``logger``, run as Nix runs it."""

    def __init__(self, nix: NixClient, workdir: Path, nix_exit: int = 0) -> None:
        self.workdir = workdir
        self.calls = workdir / "calls"
        fake_nix, fake_logger = workdir / "nix-pkg", workdir / "util-linux"
        self._fake(
            fake_nix / "bin" / "nix",
            f'echo "$AWS_SHARED_CREDENTIALS_FILE $*" >> {self.calls}/nix\n'
            f"echo 'error: boom'; echo 'second line' >&2; exit {nix_exit}",
        )
        # The derivation's outputs, one a line, as `nix-store --query --outputs` prints them.
        self._fake(
            fake_nix / "bin" / "nix-store",
            f'echo "$*" >> {self.calls}/nix-store\n' + "".join(f"echo {p}\n" for p in PATHS),
        )
        # Like logger without /dev/log: it records the message, then fails.
        self._fake(fake_logger / "bin" / "logger", f'echo "$*" >> {self.calls}/logger; exit 1')
        self.credentials = workdir / "writer.credentials"
        module = builder_module("k-1", PUSH_URL, credentials_file=str(self.credentials))
        settings = evaluate_module(nix, module, workdir, str(fake_nix), str(fake_logger))
        self.script = write_shell_script(settings["post-build-hook"], workdir)

    def _fake(self, path: Path, body: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)

    def run(self, out_paths: str | None, drv_path: str | None = DRV) -> subprocess.CompletedProcess[str]:
        self.calls.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("OUT_PATHS", "DRV_PATH")}
        env.update({k: v for k, v in (("OUT_PATHS", out_paths), ("DRV_PATH", drv_path)) if v is not None})
        return subprocess.run([self.script], env=env, capture_output=True, text=True, check=False, timeout=60)

    def recorded(self, command: str) -> list[str]:
        path = self.calls / command
        return path.read_text().splitlines() if path.exists() else []


@pytest.mark.nix
def test_hook_copies_every_output_path_as_the_writer(nix: NixClient, tmp_path: Path) -> None:
    hook = Hook(nix, tmp_path)
    hook.credentials.write_text("[nixbuilder]\n")
    result = hook.run(" ".join(PATHS))
    assert result.returncode == 0
    assert hook.recorded("nix") == [
        f"{hook.credentials} --extra-experimental-features nix-command copy --to {PUSH_URL} {' '.join(PATHS)}"
    ]
    assert f"{HOOK_NAME}: uploaded {' '.join(PATHS)}" in result.stderr
    assert hook.recorded("logger") == [], "a good upload is not a warning"
    assert hook.recorded("nix-store") == [], "OUT_PATHS is enough"


@pytest.mark.nix
def test_without_out_paths_the_derivation_names_its_outputs(nix: NixClient, tmp_path: Path) -> None:
    """Nix 2.8.0 (Debian's) runs the hook with OUT_PATHS empty: the outputs are asked of DRV_PATH."""
    hook = Hook(nix, tmp_path)
    hook.credentials.write_text("[nixbuilder]\n")
    result = hook.run("")
    assert result.returncode == 0
    assert hook.recorded("nix-store") == [f"--query --outputs {DRV}"]
    assert hook.recorded("nix") == [
        f"{hook.credentials} --extra-experimental-features nix-command copy --to {PUSH_URL} {' '.join(PATHS)}"
    ]


@pytest.mark.nix
def test_failed_upload_is_logged_and_the_build_succeeds(nix: NixClient, tmp_path: Path) -> None:
    """The hook exits 0; the failure, with Nix's own words, goes to the journal and the build's output."""
    hook = Hook(nix, tmp_path, nix_exit=3)
    hook.credentials.write_text("[nixbuilder]\n")
    result = hook.run(PATHS[0])
    assert result.returncode == 0
    message = f"upload failed (exit 3), the build is kept: {PATHS[0]}: error: boom second line"
    assert f"{HOOK_NAME}: {message}" in result.stderr
    assert hook.recorded("logger") == [f"-t {HOOK_NAME} -p user.warning -- {message}"]


@pytest.mark.nix
def test_missing_credentials_are_logged_without_trying(nix: NixClient, tmp_path: Path) -> None:
    hook = Hook(nix, tmp_path)
    result = hook.run(PATHS[0])
    assert result.returncode == 0
    assert hook.recorded("nix") == []
    [logged] = hook.recorded("logger")
    assert f"{hook.credentials} is missing (the stack's awsCredentials): {PATHS[0]}" in logged


@pytest.mark.nix
def test_no_outputs_nothing_to_do(nix: NixClient, tmp_path: Path) -> None:
    hook = Hook(nix, tmp_path)
    hook.credentials.write_text("[nixbuilder]\n")
    assert hook.run(None, drv_path=None).returncode == 0
    assert hook.recorded("nix") == hook.recorded("nix-store") == hook.recorded("logger") == []
