"""The real Pulumi engine: the main program's config errors, and the signing key's life in the state.

These need no MinIO provider plugin: a bad config stops the program before any resource is
registered, and the signing key is a Python dynamic resource run by the engine itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from devtools.nix_client import NixClient
from devtools.pulumi_stack import PulumiStack
from devtools.toolchain import ROOT, Toolchain
from tests.e2e.conftest import stopped_with

KEY_PROJECT = Path(__file__).resolve().parent / "signing_key_project"


def test_bad_config_fails_preview_and_up_with_every_problem(toolchain: Toolchain, tmp_path: Path) -> None:
    stack = PulumiStack(toolchain, tmp_path / "state", "bad", config_file=tmp_path / "Pulumi.bad.yaml")
    stack.init()
    stack.set_config("minio:minioServer", "https://s3.homelab.local")
    stack.set_config("minio:minioUser", "admin")
    stack.set_config("minio:minioPassword", "in-clear-by-mistake")
    stack.set_config("nix-cache:keyName", "has space")
    stack.set_config("nix-cache:expireDays", "-1")
    stack.set_config("nix-cache:bukcet", "typo")
    stack.set_config(
        "nix-cache:publicUrl", "http://cache.example/nix\nextra-substituters = http://evil.example"
    )
    expected = [
        "minio:minioServer: 'https://s3.homelab.local' must be host[:port] without a scheme",
        "minio:minioPassword: is in clear text; set it with `pulumi config set --secret minio:minioPassword`",
        "nix-cache:expireDays: must not be negative, got -1",
        "nix-cache:keyName: 'has space' must be letters, digits, '.', '_' and '-' only",
        "nix-cache:bukcet: is not a setting of this program; did you mean nix-cache:bucket?",
        "nix-cache:publicUrl: 'http://cache.example/nix\\nextra-substituters = http://evil.example' must not "
        "contain whitespace or control characters",
    ]
    stopped_with(stack, *expected)
    state = json.loads(stack.export_state())
    assert [r["type"] for r in state["deployment"].get("resources") or []] in ([], ["pulumi:pulumi:Stack"])
    assert not (ROOT / "Pulumi.bad.yaml").exists()


def test_a_config_value_of_the_wrong_type_is_refused_by_the_schema(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    """Pulumi.yaml's typed schema stops `expireDays: soon` before the program even starts."""
    stack = PulumiStack(toolchain, tmp_path / "state", "typed", config_file=tmp_path / "Pulumi.typed.yaml")
    stack.init()
    stack.set_config("nix-cache:expireDays", "soon")
    attempt = stack.preview(check=False)
    text = attempt.stdout + attempt.stderr
    assert attempt.returncode != 0
    # The CLI's own check (sdk/go/common/workspace/config.go, validateStackConfigValue), not the program's.
    assert (
        "validating stack config: Stack 'typed' with configuration key 'nix-cache:expireDays' "
        "must be of type 'integer'"
    ) in text
    assert "must be a whole number" not in text
    assert "invalid stack configuration" not in text


@pytest.fixture(scope="module")
def key_stack(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> PulumiStack:
    state = tmp_path_factory.mktemp("key-stack")
    stack = PulumiStack(
        toolchain, state, "key", config_file=state / "Pulumi.key.yaml", project_dir=KEY_PROJECT
    )
    stack.init()
    stack.set_config("nix-cache:keyName", "e2e-1")
    return stack


def test_key_is_made_once_and_converges(key_stack: PulumiStack) -> None:
    key_stack.up()
    first = key_stack.outputs(show_secrets=True)
    assert first["publicKey"].startswith("e2e-1:")
    key_stack.preview("--expect-no-changes")
    key_stack.refresh()
    key_stack.preview("--expect-no-changes")
    key_stack.up()
    assert key_stack.outputs(show_secrets=True) == first, "a second up must not make a new key"


def test_nix_accepts_the_key_from_the_state(key_stack: PulumiStack, tmp_path: Path) -> None:
    outputs = key_stack.outputs(show_secrets=True)
    nix = NixClient(tmp_path)
    public = nix.run("nix", "key", "convert-secret-to-public", stdin=outputs["secretKey"]).stdout
    assert public.strip() == outputs["publicKey"]


def test_secret_key_is_encrypted_in_the_state(key_stack: PulumiStack) -> None:
    secret = key_stack.outputs(show_secrets=True)["secretKey"].partition(":")[2]
    assert key_stack.outputs()["secretKey"] == "[secret]"
    assert secret not in key_stack.export_state()
    backend = key_stack.state_dir / "backend"
    for path in backend.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_renaming_the_key_rotates_it(key_stack: PulumiStack) -> None:
    before = key_stack.outputs(show_secrets=True)
    key_stack.set_config("nix-cache:keyName", "e2e-2")
    preview = key_stack.preview()
    assert "replace" in preview.stdout
    key_stack.up()
    after = key_stack.outputs(show_secrets=True)
    assert after["publicKey"].startswith("e2e-2:")
    assert after["secretKey"].partition(":")[2] != before["secretKey"].partition(":")[2]
    key_stack.preview("--expect-no-changes")


def test_no_engine_plugin_beyond_pulumi_s_own(toolchain: Toolchain, tmp_path: Path) -> None:
    """The MinIO resources are this project's dynamic providers: no minio or command plugin anywhere."""
    stack = PulumiStack(
        toolchain, tmp_path / "state", "plugins", config_file=tmp_path / "Pulumi.plugins.yaml"
    )
    listed = stack.run("plugin", "ls", "--json").stdout
    names = {plugin["name"] for plugin in json.loads(listed or "[]")}
    assert not names & {"minio", "command"}, names
    sources = [p for p in ROOT.rglob("*.py") if ".venv" not in p.parts and ".local" not in p.parts]
    importing = [
        p for p in sources if re.search(r"^\s*(import|from) pulumi_(minio|command)\b", p.read_text(), re.M)
    ]
    assert importing == []
