"""What the program hands out works with the real Nix client (Debian nix-bin)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.nix_keys import NixKeyPair, generate_key_pair, parse_secret_key
from components.nix_text import nix_cache_info, nix_conf, nix_string, nixos_module
from devtools.nix_client import NixClient
from tests.http_server import serve_directory

pytestmark = pytest.mark.nix


@pytest.fixture
def nix(tmp_path: Path) -> NixClient:
    return NixClient(tmp_path / "nix")


def test_nix_derives_the_same_public_key(nix: NixClient) -> None:
    """`nix key convert-secret-to-public` reads the program's secret key and agrees on the public key."""
    pair = generate_key_pair("interop-1")
    converted = nix.run("nix", "key", "convert-secret-to-public", stdin=pair.secret_key).stdout
    assert converted.strip() == pair.public_key


def test_nix_made_key_imports(nix: NixClient) -> None:
    """A key from `nix key generate-secret` parses, and its public half matches Nix's."""
    secret = nix.run("nix", "key", "generate-secret", "--key-name", "made-by-nix-1").stdout
    public = nix.run("nix", "key", "convert-secret-to-public", stdin=secret).stdout.strip()
    assert parse_secret_key(secret).public_key == public


def test_signature_verifies_only_with_the_exported_key(nix: NixClient) -> None:
    pair = generate_key_pair("interop-2")
    other = generate_key_pair("interop-2")
    path = nix.build_input_addressed()
    nix.sign(path, pair.secret_key)
    verify = ("nix", "store", "verify", "--no-contents", "--sigs-needed", "1", path)
    assert nix.run(*verify, "--option", "trusted-public-keys", pair.public_key, check=False).returncode == 0
    refused = nix.run(*verify, "--option", "trusted-public-keys", other.public_key, check=False)
    assert refused.returncode != 0
    assert "untrusted" in refused.stderr


def test_nixos_module_parses_and_evaluates(nix: NixClient, tmp_path: Path) -> None:
    """The module is valid Nix and sets exactly the two settings, with the right values."""
    module = tmp_path / "nix-cache.nix"
    module.write_text(nixos_module("https://s3.example/nix-cache", "s3.example-1:QUJD"))
    nix.run("nix-instantiate", "--parse", str(module))
    evaluated = nix.run(
        "nix-instantiate", "--eval", "--strict", "--json", "-E", f"(import {module} {{}}).nix.settings"
    ).stdout
    assert json.loads(evaluated) == {
        "extra-substituters": ["https://s3.example/nix-cache"],
        "extra-trusted-public-keys": ["s3.example-1:QUJD"],
    }


#: Values every module writes as Nix strings could hold: escapes, interpolation, UTF-8, control characters.
AWKWARD_STRINGS = [
    "plain",
    'a"b',
    "back\\slash",
    "${x}",
    "$${x}",
    "\\${x}",
    "$",
    "a$",
    "tab\tline\nret\r",
    "é☃",
    "\x01",
]


def test_nix_string_evaluates_to_exactly_the_value(nix: NixClient, tmp_path: Path) -> None:
    """The one Nix string literal every module uses: the real Nix reads back each value unchanged."""
    source = tmp_path / "strings.nix"
    source.write_text("[ " + " ".join(nix_string(value) for value in AWKWARD_STRINGS) + " ]\n")
    evaluated = nix.run("nix-instantiate", "--eval", "--strict", "--json", str(source)).stdout
    assert json.loads(evaluated) == AWKWARD_STRINGS


def show_config(nix: NixClient, extra: str) -> tuple[dict[str, list[str]], str]:
    """`nix show-config` with ``extra`` appended to the client's config: settings as lists, and stderr."""
    env = {**nix.env, "NIX_CONFIG": nix.env["NIX_CONFIG"] + "\n" + extra}
    shown = subprocess.run(["nix", "show-config"], env=env, capture_output=True, text=True, check=True)
    settings = {}
    for line in shown.stdout.splitlines():
        name, _, value = line.partition(" = ")
        settings[name] = value.split()
    return settings, shown.stderr


def test_nix_conf_is_accepted(nix: NixClient) -> None:
    """The nix.conf lines are settings Nix knows: they land in its settings, and it warns about none."""
    settings, warnings = show_config(nix, nix_conf("http://127.0.0.1:1/nix-cache", "k-1:QUJD"))
    assert "http://127.0.0.1:1/nix-cache" in settings["substituters"]
    assert "k-1:QUJD" in settings["trusted-public-keys"]
    assert "unknown setting" not in warnings
    # The check above watches the right stream: Nix does report a setting it does not know, on stderr.
    _, control = show_config(nix, "extra-substituterz = http://127.0.0.1:1/nix-cache")
    assert "unknown setting 'extra-substituterz'" in control


def signed_file_cache(nix: NixClient, tmp_path: Path) -> tuple[NixKeyPair, str, Path]:
    """A new input-addressed path signed with a new key, copied to a file:// cache as nix copy would."""
    pair = generate_key_pair("interop-cache")
    path = nix.build_input_addressed()
    nix.sign(path, pair.secret_key)
    cache = tmp_path / "cache"
    nix.copy_to_file_cache(path, cache)
    return pair, path, cache


def test_signed_path_substitutes_over_http_only_when_trusted(nix: NixClient, tmp_path: Path) -> None:
    """Sign, upload as nix copy would, serve the program's nix-cache-info, substitute."""
    pair, path, cache = signed_file_cache(nix, tmp_path)
    (cache / "nix-cache-info").write_text(nix_cache_info("/nix/store", True, 40))
    with serve_directory(cache) as url:
        trusted = nix.substitute(path, url, pair.public_key)
        assert trusted.returncode == 0, trusted.stderr
        assert f"copying path '{path}' from '{url}'" in trusted.stderr
        refused = nix.substitute(path, url, generate_key_pair("interop-cache").public_key)
        assert refused.returncode != 0
        assert "is not signed by any of the keys in 'trusted-public-keys'" in refused.stderr


def test_cache_without_nix_cache_info_is_refused(nix: NixClient, tmp_path: Path) -> None:
    """Why expiry must never touch nix-cache-info: without it Nix does not use the cache at all."""
    pair, path, cache = signed_file_cache(nix, tmp_path)
    (cache / "nix-cache-info").unlink()
    with serve_directory(cache) as url:
        result = nix.substitute(path, url, pair.public_key)
    assert result.returncode != 0
    assert "does not appear to be a binary cache" in result.stderr
