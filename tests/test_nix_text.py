"""The text users paste into Nix and their shell."""

from __future__ import annotations

import shlex

from agent.nix_cache_agent import parser as agent_parser
from agent.nix_cache_agent import settings_from
from components.nix_text import (
    AgentTarget,
    aws_credentials,
    nix_cache_info,
    nix_conf,
    nixos_module,
    push_command,
    resign_command,
    sign_command,
)

TARGET = AgentTarget(
    endpoint="https://s3.example",
    bucket="nix-cache",
    profile="nixbuilder",
    expire_days=30,
    upstream_keys=("cache.nixos.org-1", "nix-community.cachix.org-1"),
    key_name="s3.example-2",
)


def test_nix_cache_info_fields() -> None:
    assert nix_cache_info("/nix/store", True, 40) == (
        "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n"
    )
    assert "WantMassQuery: 0\n" in nix_cache_info("/nix/store", False, 40)


def test_nixos_module_sets_extra_settings() -> None:
    module = nixos_module("https://s3.example/nix-cache", "s3.example-1:AAAA")
    assert 'extra-substituters = [ "https://s3.example/nix-cache" ];' in module
    assert 'extra-trusted-public-keys = [ "s3.example-1:AAAA" ];' in module


def test_nixos_module_escapes_interpolation() -> None:
    """A ${ in a value must not become Nix string interpolation."""
    assert "\\${x}" in nixos_module("https://h/${x}", "k-1:AAAA")


def test_nix_conf_lines() -> None:
    assert nix_conf("http://h:9000/c", "h-1:K") == (
        "extra-substituters = http://h:9000/c\nextra-trusted-public-keys = h-1:K\n"
    )


def test_aws_credentials_profile() -> None:
    assert aws_credentials("nixbuilder", "nixbuilder", "s3cret") == (
        "[nixbuilder]\naws_access_key_id = nixbuilder\naws_secret_access_key = s3cret\n"
    )


def test_push_command_is_the_agent_s_push_with_the_target_s_settings() -> None:
    """What the agent reads from pushCommand's words is exactly the target: no secret, key file by name."""
    words = shlex.split(push_command(TARGET))
    assert words[:2] == ["nix-cache-agent", "push"]
    assert words[-2:] == ["--", "./result"]
    settings = settings_from(agent_parser().parse_args(words[1:]))
    assert (settings.endpoint, settings.bucket, settings.profile) == (
        "https://s3.example",
        "nix-cache",
        "nixbuilder",
    )
    assert settings.credentials_file == "/etc/nix/nix-cache-writer.credentials"
    assert settings.upstream_keys == TARGET.upstream_keys
    assert (settings.expire_days, settings.key_file) == (30, "/etc/nix/s3.example-2.sec")
    assert {k: getattr(settings, k) for k in TARGET.settings()} == {
        **TARGET.settings(),
        "upstream_keys": TARGET.upstream_keys,
    }, "the settings file and the options say the same"


def test_an_empty_upstream_list_reaches_the_agent_as_off() -> None:
    target = AgentTarget("http://h:9000", "b", "w", 0, (), "k-1")
    words = shlex.split(push_command(target, "/run/current-system"))
    assert settings_from(agent_parser().parse_args(words[1:])).upstream_keys == ()
    assert words[-1] == "/run/current-system"


def test_resign_command_signs_with_the_current_key_file() -> None:
    words = shlex.split(resign_command(TARGET))
    assert words[:2] == ["nix-cache-agent", "resign"]
    assert settings_from(agent_parser().parse_args(words[1:])).key_file == "/etc/nix/s3.example-2.sec"


def test_sign_command_uses_a_key_file_named_after_the_key() -> None:
    assert shlex.split(sign_command("s3.example-2")) == [
        "nix",
        "store",
        "sign",
        "--recursive",
        "--key-file",
        "/etc/nix/s3.example-2.sec",
        "./result",
    ]


def test_every_trusted_key_is_listed_newest_first() -> None:
    """After a rotation both keys are trusted, in the order given, in both snippets."""
    keys = ["h-2:BBBB", "h-1:AAAA"]
    assert 'extra-trusted-public-keys = [ "h-2:BBBB" "h-1:AAAA" ];' in nixos_module("https://h/c", keys)
    assert nix_conf("https://h/c", keys).splitlines()[1] == "extra-trusted-public-keys = h-2:BBBB h-1:AAAA"
