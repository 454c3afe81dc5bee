"""The text users paste into Nix and their shell."""

from __future__ import annotations

import shlex

from components.nix_text import (
    aws_credentials,
    nix_cache_info,
    nix_conf,
    nixos_module,
    push_command,
    s3_store_url,
    sign_command,
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


def test_store_url_carries_profile_endpoint_scheme_and_zstd() -> None:
    url = s3_store_url("nix-cache", "nixbuilder", "127.0.0.1:9000", use_ssl=False)
    assert url == (
        "s3://nix-cache?profile=nixbuilder&endpoint=127.0.0.1:9000&scheme=http"
        "&compression=zstd&parallel-compression=true"
    )
    assert "scheme=https" in s3_store_url("b", "p", "s3.example", use_ssl=True)


def test_push_command_quotes_the_url_for_the_shell() -> None:
    url = s3_store_url("nix-cache", "nixbuilder", "s3.example", use_ssl=True)
    assert shlex.split(push_command(url)) == ["nix", "copy", "--to", url, "./result"]


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
