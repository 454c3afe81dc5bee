"""Config is validated up front: every problem reported at once, each with its key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components import config as cfg
from components.config import ConfigError, parse_config
from components.nix_keys import generate_key_pair

ROOT = Path(__file__).resolve().parent.parent
GOOD = {
    "minio:minioServer": "s3.homelab.local",
    "minio:minioUser": "admin",
    "minio:minioPassword": "correct-horse",
    "minio:minioSsl": "true",
}
SECRET = {"minio:minioPassword", "nix-cache:signingKey"}


def parse(**overrides: str | None) -> cfg.CacheConfig:
    raw = {**GOOD, **{k.replace("__", ":"): v for k, v in overrides.items()}}
    return parse_config({k: v for k, v in raw.items() if v is not None}, SECRET)


def problems(**overrides: str | None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as error:
        parse(**overrides)
    return error.value.problems


def test_defaults_are_the_safe_choice() -> None:
    config = parse()
    assert (config.bucket, config.writer) == ("nix-cache", "nixbuilder")
    assert config.protect
    assert config.verify
    assert config.expire_days == 30
    assert (config.store_dir, config.want_mass_query, config.priority) == ("/nix/store", True, 40)
    assert config.public_url == "https://s3.homelab.local/nix-cache"
    assert config.key_name == "s3.homelab.local-1"
    assert config.signing_key is None


def test_public_url_follows_ssl_and_port() -> None:
    config = parse(minio__minioServer="127.0.0.1:9000", minio__minioSsl="false")
    assert config.public_url == "http://127.0.0.1:9000/nix-cache"
    assert config.key_name == "127.0.0.1-1"


def test_public_url_trailing_slash_is_dropped() -> None:
    assert parse(**{"nix-cache__publicUrl": "https://cache.example/"}).public_url == ("https://cache.example")


def test_defaults_agree_with_the_pulumi_yaml_schema() -> None:
    """Pulumi.yaml's schema defaults and the program's defaults are one set of values."""
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    program_defaults = {
        "nix-cache:bucket": cfg.DEFAULT_BUCKET,
        "nix-cache:writer": cfg.DEFAULT_WRITER,
        "nix-cache:protect": cfg.DEFAULT_PROTECT,
        "nix-cache:expireDays": cfg.DEFAULT_EXPIRE_DAYS,
        "nix-cache:storeDir": cfg.DEFAULT_STORE_DIR,
        "nix-cache:wantMassQuery": cfg.DEFAULT_WANT_MASS_QUERY,
        "nix-cache:priority": cfg.DEFAULT_PRIORITY,
        "nix-cache:verify": cfg.DEFAULT_VERIFY,
    }
    assert {key: entry["default"] for key, entry in schema.items()} == program_defaults
    assert all(key in cfg.CONFIG_KEYS for key in schema)


def test_homelab_example_stack_is_valid_once_the_password_is_set() -> None:
    """The shipped example holds no secret, and is complete but for the password."""
    example = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())["config"]
    assert "minio:minioPassword" not in example
    assert problems(**{k.replace(":", "__"): v for k, v in example.items()}, minio__minioPassword=None) == (
        "minio:minioPassword: is required; set it with `pulumi config set --secret minio:minioPassword`",
    )


@pytest.mark.parametrize(
    "bucket",
    [
        "ab",
        "Nix-Cache",
        "-nix",
        "nix-",
        "a" * 64,
        "nix..cache",
        "nix_cache",
        "192.168.1.10",
        "xn--nix",
        "nix-s3alias",
        "nix.-cache",
    ],
)
def test_bucket_names_s3_rejects(bucket: str) -> None:
    [problem] = problems(**{"nix-cache__bucket": bucket})
    assert problem.startswith("nix-cache:bucket: ")


@pytest.mark.parametrize("name", ["a:b", "a b", "tab\t"])
def test_key_names_with_colon_or_whitespace(name: str) -> None:
    [problem] = problems(**{"nix-cache__keyName": name})
    assert problem.startswith("nix-cache:keyName: ")


def test_signing_key_must_be_a_nix_secret_key() -> None:
    [problem] = problems(**{"nix-cache__signingKey": "s3.homelab.local-1:bm9wZQ=="})
    assert problem.startswith("nix-cache:signingKey: is not a Nix ed25519 secret key")


def test_signing_key_name_must_agree_with_key_name() -> None:
    key = generate_key_pair("other-1").secret_key
    [problem] = problems(**{"nix-cache__signingKey": key, "nix-cache__keyName": "s3.homelab.local-1"})
    assert "named 'other-1'" in problem
    assert problem.startswith("nix-cache:signingKey: ")


def test_imported_signing_key_names_the_key() -> None:
    pair = generate_key_pair("mine-7")
    config = parse(**{"nix-cache__signingKey": pair.secret_key})
    assert config.key_name == "mine-7"
    assert config.signing_key == pair
    assert pair.secret_key not in repr(config)


def test_secrets_in_clear_are_refused() -> None:
    """A password or key set without --secret would sit in Pulumi.<stack>.yaml in clear."""
    with pytest.raises(ConfigError) as error:
        parse_config({**GOOD, "nix-cache:signingKey": generate_key_pair("k-1").secret_key}, set())
    assert sorted(p.split(":", 2)[0] + ":" + p.split(":", 2)[1] for p in error.value.problems) == [
        "minio:minioPassword",
        "nix-cache:signingKey",
    ]
    assert all("--secret" in p for p in error.value.problems)


@pytest.mark.parametrize("key", ["nix-cache:expireDays", "nix-cache:priority"])
@pytest.mark.parametrize(
    ("value", "message"),
    [("-1", "must not be negative"), ("1.5", "must be a whole number"), ("soon", "must be a whole number")],
)
def test_days_and_priority_are_non_negative_integers(key: str, value: str, message: str) -> None:
    [problem] = problems(**{key.replace(":", "__"): value})
    assert problem.startswith(f"{key}: {message}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://cache.example/nix", "http:// or https://"),
        ("cache.example/nix", "http:// or https://"),
        ("https://cache.example/nix?x=1", "query"),
        ("https://cache.example/nix#top", "fragment"),
        ("https://user:pw@cache.example/nix", "login"),
        ("https:///nix", "no host"),
        ("https://cache.example:99999/", "invalid port"),
    ],
)
def test_public_url_must_be_plain_http_or_https(url: str, message: str) -> None:
    [problem] = problems(**{"nix-cache__publicUrl": url})
    assert problem.startswith("nix-cache:publicUrl: ")
    assert message in problem


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ("https://s3.homelab.local", "without a scheme"),
        ("s3.homelab.local/minio", "without a path"),
        ("s3.homelab.local:http", "invalid port"),
        ("bad host", "not host[:port]"),
    ],
)
def test_minio_server_is_host_and_port_only(server: str, message: str) -> None:
    messages = problems(minio__minioServer=server)
    assert any(p.startswith("minio:minioServer: ") and message in p for p in messages)


@pytest.mark.parametrize(
    "key", ["minio:minioSsl", "nix-cache:protect", "nix-cache:verify", "nix-cache:wantMassQuery"]
)
def test_booleans(key: str) -> None:
    [problem] = problems(**{key.replace(":", "__"): "maybe"})
    assert problem == f"{key}: must be true or false, not 'maybe'"


def test_store_dir_must_be_absolute() -> None:
    [problem] = problems(**{"nix-cache__storeDir": "nix/store"})
    assert problem.startswith("nix-cache:storeDir: ")


def test_writer_must_not_be_the_admin() -> None:
    [problem] = problems(**{"nix-cache__writer": "admin"})
    assert problem.startswith("nix-cache:writer: ")
    assert "admin user" in problem


def test_missing_connection_is_named() -> None:
    messages = problems(minio__minioServer=None, minio__minioUser=None, minio__minioPassword=None)
    assert [m.split(": ")[0] for m in messages] == [
        "minio:minioServer",
        "minio:minioUser",
        "minio:minioPassword",
    ]


def test_all_problems_are_reported_together() -> None:
    """One run shows everything that is wrong, not one problem per attempt."""
    messages = problems(
        **{
            "nix-cache__bucket": "Bad_Bucket",
            "nix-cache__expireDays": "-3",
            "nix-cache__priority": "high",
            "nix-cache__keyName": "with space",
            "nix-cache__publicUrl": "ftp://x",
        }
    )
    assert sorted(m.split(": ")[0] for m in messages) == sorted(
        [
            "nix-cache:bucket",
            "nix-cache:expireDays",
            "nix-cache:priority",
            "nix-cache:keyName",
            "nix-cache:publicUrl",
        ]
    )
    assert "5 problem(s)" in str(ConfigError(list(messages)))
