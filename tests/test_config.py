"""Config is validated up front: every problem reported at once, each with its key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from components import config as cfg
from components import config_keys
from components.config import ConfigError, parse_config
from components.config_reader import ConfigReader
from components.config_rules import server_problem
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
    assert not config.adopt
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


def test_key_name_follows_the_host_of_a_custom_public_url() -> None:
    """The default key name is the public URL's host, without its port or path, plus "-1"."""
    config = parse(**{"nix-cache__publicUrl": "https://cache.example.org:8443/nix"})
    assert config.public_url == "https://cache.example.org:8443/nix"
    assert config.key_name == "cache.example.org-1"


def test_adopt_is_off_unless_asked_for() -> None:
    """Taking over a hand-made cache replaces its policies and the writer's secret: never by default."""
    assert parse().adopt is False
    assert parse(**{"nix-cache__adopt": "true"}).adopt is True
    assert parse(**{"nix-cache__adopt": "false"}).adopt is False


def test_adopt_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match=r"nix-cache:adopt: must be true or false, not 'sometimes'"):
        parse(**{"nix-cache__adopt": "sometimes"})


def test_defaults_agree_with_the_pulumi_yaml_schema() -> None:
    """Pulumi.yaml's schema defaults and the program's defaults are one set of values."""
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    program_defaults = {key.name: key.default for key in config_keys.ALL_KEYS if key.in_schema}
    assert {key: entry["default"] for key, entry in schema.items()} == program_defaults
    assert all(key in config_keys.CONFIG_KEYS for key in schema)


def test_every_key_parse_config_reads_is_in_the_table() -> None:
    """The reader refuses a key outside ``config_keys``: a setting cannot be read and miss the table
    (and so the unknown-key check, the schema and ``load_config``'s list)."""
    reader = ConfigReader({}, ())
    with pytest.raises(KeyError, match=r"not in config_keys\.ALL_KEYS"):
        reader.text(config_keys.Key("nix-cache:notInTheTable"))
    parse()  # every key of a full parse goes through the reader


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


@pytest.mark.parametrize(
    "name", ["a:b", "a b", "tab\t", "../../root/.ssh/x", "*", "$(id)", "-x", "x" * 300, "a/b"]
)
def test_key_names_are_safe_file_names(name: str) -> None:
    """The name becomes /etc/nix/<name>.sec on the builder and a word of the outputs' commands."""
    [problem] = problems(**{"nix-cache__keyName": name})
    assert problem.startswith(f"nix-cache:keyName: {name!r} ")
    assert "letters, digits" in problem or "at most 128" in problem


def test_the_longest_key_name_is_accepted() -> None:
    assert parse(**{"nix-cache__keyName": "k" * 128}).key_name == "k" * 128


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


def test_expire_days_is_bounded_far_below_minio_overflow() -> None:
    """MinIO wraps an expiry past its date range into the past and deletes everything at once (near
    106,750 days); 100 years is the most accepted, and the error says why and what "forever" is."""
    assert parse(**{"nix-cache__expireDays": "36500"}).expire_days == 36_500
    for value in ("36501", "106750", "1000000", str(2**70)):
        [problem] = problems(**{"nix-cache__expireDays": value})
        assert problem.startswith("nix-cache:expireDays: must be at most 36,500 (100 years")
        assert "0 keeps all" in problem


def test_priority_is_bounded_to_what_nix_reads() -> None:
    assert parse(**{"nix-cache__priority": str(2**31 - 1)}).priority == 2**31 - 1
    [problem] = problems(**{"nix-cache__priority": str(2**31)})
    assert problem.startswith("nix-cache:priority: must be at most 2,147,483,647")


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
        ("s3.homelab.local:0", "invalid port"),
        ("s3.homelab.local:65536", "invalid port"),
        ("bad host", "not host[:port]"),
        ("admin@s3.homelab.local", "without a login or fragment"),
        ("s3.homelab.local#top", "without a login or fragment"),
        ("s3.homelab.local:", "ends in ':' without a port"),
        ("[::1]:", "ends in ':' without a port"),
        ("::1", "write it in brackets"),
        ("[::1", "not host[:port]"),
        ("[::1]x", "not host[:port]"),
        ("[127.0.0.1]:9000", "only an IPv6 address goes in brackets"),
        ("[s3.homelab.local]:9000", "only an IPv6 address goes in brackets"),
    ],
)
def test_minio_server_is_host_and_port_only(server: str, message: str) -> None:
    """Anything but host[:port] is refused with the key named, and never escapes as a crash."""
    [problem] = problems(minio__minioServer=server)
    assert problem.startswith(f"minio:minioServer: {server!r} ")
    assert message in problem


@pytest.mark.parametrize("server", ["s3.homelab.local", "s3.homelab.local:9000", "10.0.0.5:9000"])
def test_minio_server_names_and_ipv4_addresses(server: str) -> None:
    assert parse(minio__minioServer=server).minio.server == server


def test_minio_server_may_be_a_bracketed_ipv6_address() -> None:
    """[::1]:9000 is how MinIO and its provider write an IPv6 endpoint."""
    assert server_problem("[::1]:9000") is None
    config = parse(
        minio__minioServer="[::1]:9000", minio__minioSsl="false", **{"nix-cache__keyName": "loopback-1"}
    )
    assert config.minio.endpoint_url == "http://[::1]:9000"
    assert config.public_url == "http://[::1]:9000/nix-cache"


def test_an_ipv6_public_host_needs_a_key_name_of_its_own() -> None:
    """The default key name would be '::1-1', and Nix cuts a key's name at its first ':'."""
    [problem] = problems(minio__minioServer="[::1]:9000")
    assert problem.startswith("nix-cache:keyName: the default '::1-1' ")
    assert "set a name of your own" in problem


def test_a_public_url_that_python_cannot_split_is_refused_not_a_crash() -> None:
    [problem] = problems(**{"nix-cache__publicUrl": "https://[::1/nix"})
    assert problem == "nix-cache:publicUrl: 'https://[::1/nix' is not a valid URL"


BOOLEAN_KEYS = [
    "minio:minioSsl",
    "minio:minioInsecure",
    "nix-cache:protect",
    "nix-cache:verify",
    "nix-cache:wantMassQuery",
    "nix-cache:adopt",
]
BOOLEAN_FIELDS = {
    "nix-cache:protect": "protect",
    "nix-cache:verify": "verify",
    "nix-cache:wantMassQuery": "want_mass_query",
    "nix-cache:adopt": "adopt",
}


def _boolean_value(config: cfg.CacheConfig, key: str) -> bool:
    if key == "minio:minioSsl":
        return config.minio.use_ssl
    if key == "minio:minioInsecure":
        return config.minio.insecure
    value: bool = getattr(config, BOOLEAN_FIELDS[key])
    return value


@pytest.mark.parametrize("key", BOOLEAN_KEYS)
@pytest.mark.parametrize(
    ("spelling", "meaning"),
    [
        ("true", True),
        ("True", True),
        ("1", True),
        ("yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
    ],
)
def test_boolean_spellings(key: str, spelling: str, meaning: bool) -> None:
    """true/1/yes and false/0/no, in any case, are the two values of every boolean setting."""
    assert _boolean_value(parse(**{key.replace(":", "__"): spelling}), key) is meaning


@pytest.mark.parametrize("key", BOOLEAN_KEYS)
def test_booleans_refuse_anything_else(key: str) -> None:
    """A value that is neither is an error naming its key, not a silent default."""
    [problem] = problems(**{key.replace(":", "__"): "maybe"})
    assert problem == f"{key}: must be true or false, not 'maybe'"


@pytest.mark.parametrize(
    "store_dir", ["nix/store", "/nix/store/", "/nix/my store", "/nix/store\nPriority: 1", "/nix/\x01store"]
)
def test_store_dir_is_an_absolute_path_without_trailing_slash(store_dir: str) -> None:
    """StoreDir must equal the clients' store path exactly, or Nix ignores the cache; a newline would
    add a line of its own to nix-cache-info."""
    [problem] = problems(**{"nix-cache__storeDir": store_dir})
    assert problem == (
        f"nix-cache:storeDir: {store_dir!r} must be an absolute path without trailing '/', "
        "whitespace or control characters"
    )


def test_another_store_dir_is_accepted() -> None:
    assert parse(**{"nix-cache__storeDir": "/opt/nix/store"}).store_dir == "/opt/nix/store"


@pytest.mark.parametrize(
    "writer",
    [
        "ab",  # too short
        "-builder",  # must start with a letter or digit
        "_builder",
        ".builder",
        "nix builder",  # no spaces
        "nix/builder",
        "nix@builder",
        "a" * 65,  # too long
    ],
)
def test_writer_name_format(writer: str) -> None:
    """3-64 letters, digits, '.', '_' or '-', starting with a letter or digit."""
    [problem] = problems(**{"nix-cache__writer": writer})
    assert problem == (
        f"nix-cache:writer: {writer!r} must be 3-64 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit"
    )


@pytest.mark.parametrize("writer", ["abc", "nix.builder_2-x", "9builder", "a" * 64])
def test_writer_names_at_the_limits_are_accepted(writer: str) -> None:
    assert parse(**{"nix-cache__writer": writer}).writer == writer


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


def test_one_writer_by_default_and_writer_is_its_one_item_form() -> None:
    """Existing stacks keep `nix-cache:writer`; it means the same as a one-item `writers`."""
    assert parse().writers == ("nixbuilder",)
    assert parse(**{"nix-cache__writer": "ci-builder"}).writers == ("ci-builder",)
    assert parse(**{"nix-cache__writers": '["ci-builder"]'}).writers == ("ci-builder",)


@pytest.mark.parametrize("value", ['["nixbuilder", "pi-builder"]', "nixbuilder, pi-builder"])
def test_several_writers_as_a_list(value: str) -> None:
    config = parse(**{"nix-cache__writers": value})
    assert config.writers == ("nixbuilder", "pi-builder")
    assert config.writer == "nixbuilder"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"nix-cache__writers": "[]"}, "nix-cache:writers: must name at least one writer"),
        ({"nix-cache__writers": "a1b,a1b"}, "nix-cache:writers: names a writer twice: ['a1b', 'a1b']"),
        ({"nix-cache__writers": "ok-builder,admin"}, "nix-cache:writers: 'admin' is the MinIO admin user"),
        ({"nix-cache__writers": "ok-builder,-x"}, "nix-cache:writers: '-x' must be 3-64 letters"),
        ({"nix-cache__writers": '["a", 1]'}, "nix-cache:writers: must be a list of names"),
        (
            {"nix-cache__writers": "one1,two2", "nix-cache__writer": "one1"},
            "nix-cache:writers: set either nix-cache:writer or nix-cache:writers, not both",
        ),
    ],
)
def test_bad_writer_lists_are_named(overrides: dict[str, str], message: str) -> None:
    assert any(p.startswith(message) for p in problems(**overrides)), problems(**overrides)


def test_public_by_default_private_on_request() -> None:
    assert parse().public is True
    config = parse(**{"nix-cache__public": "false"})
    assert (config.public, config.reader) == (False, "nixreader")


@pytest.mark.parametrize(
    ("reader", "message"),
    [
        ("nixbuilder", "nix-cache:reader: 'nixbuilder' is also a writer"),
        ("admin", "nix-cache:reader: 'admin' is the MinIO admin user"),
        ("r", "nix-cache:reader: 'r' must be 3-64 letters"),
    ],
)
def test_reader_is_a_user_of_its_own(reader: str, message: str) -> None:
    assert any(p.startswith(message) for p in problems(**{"nix-cache__reader": reader}))


def test_a_mistyped_key_is_named_with_the_closest_known_one() -> None:
    assert problems(**{"nix-cache__bukcet": "x"}) == (
        "nix-cache:bukcet: is not a setting of this program; did you mean nix-cache:bucket? "
        "(`pulumi config rm nix-cache:bukcet`)",
    )
    [problem] = problems(**{"nix-cache__zzzz": "x"})
    assert problem.startswith("nix-cache:zzzz: is not a setting of this program; see Pulumi.yaml")


def test_every_key_the_program_reads_is_known() -> None:
    """Each key of the schema in Pulumi.yaml and each key set in the example stack is read."""
    schema = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]
    example = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())["config"]
    assert set(schema) | set(example) <= set(config_keys.CONFIG_KEYS)


def test_a_list_setting_given_an_object_says_it_wants_a_list() -> None:
    assert problems(**{"nix-cache__retireKeys": '{"a":1}'}) == (
        "nix-cache:retireKeys: must be a list of names "
        "(`pulumi config set --path 'nix-cache:retireKeys[0]' NAME`), not '{\"a\":1}'",
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://cache.example/nix\nextra-substituters = http://evil.example",
        "http://cache.example/a b",
        "http://cache.example/\tx",
        "http://cache.example/\x7f",
        " http://cache.example",
    ],
)
def test_public_url_refuses_whitespace_and_control_characters(url: str) -> None:
    """The URL is written into nix.conf and Nix strings: a newline would add settings of its own."""
    assert problems(**{"nix-cache__publicUrl": url}) == (
        f"nix-cache:publicUrl: {url!r} must not contain whitespace or control characters",
    )


def test_at_most_forty_writers() -> None:
    """Each writer is claimed in a bucket tag, MinIO keeps 50: refused before anything is made."""
    forty = [f"builder{i:02}" for i in range(40)]
    assert len(parse(**{"nix-cache__writers": json.dumps(forty)}).writers) == 40
    [problem] = problems(**{"nix-cache__writers": json.dumps([*forty, "one-more"])})
    assert problem.startswith("nix-cache:writers: names 41 writers; at most 40 are allowed")


def test_retired_keys_are_names_and_never_the_current_key() -> None:
    config = parse(**{"nix-cache__keyName": "cache-3", "nix-cache__retireKeys": '["cache-1", "cache-2"]'})
    assert config.retire_keys == ("cache-1", "cache-2")
    assert problems(**{"nix-cache__keyName": "cache-3", "nix-cache__retireKeys": "cache-3"}) == (
        "nix-cache:retireKeys: 'cache-3' is the current signing key (nix-cache:keyName); "
        "rotate to a new name first",
    )
    assert problems(**{"nix-cache__retireKeys": "bad name"}) == (
        "nix-cache:retireKeys: 'bad name' must be letters, digits, '.', '_' and '-' only, starting with "
        "a letter or digit (it names the key file /etc/nix/<name>.sec)",
    )


def test_upstream_keys_default_to_cache_nixos_org_and_an_empty_list_turns_them_off() -> None:
    assert parse().upstream_keys == ("cache.nixos.org-1",)
    assert parse(**{"nix-cache__upstreamKeys": "[]"}).upstream_keys == ()
    assert parse(**{"nix-cache__upstreamKeys": '["a-1", "b-1", "a-1"]'}).upstream_keys == ("a-1", "b-1")


def test_upstream_keys_are_key_names_and_never_the_cache_s_own() -> None:
    [bad] = problems(**{"nix-cache__upstreamKeys": '["bad name"]'})
    assert bad.startswith("nix-cache:upstreamKeys: 'bad name' ")
    assert problems(**{"nix-cache__keyName": "mine-1", "nix-cache__upstreamKeys": "mine-1"}) == (
        "nix-cache:upstreamKeys: 'mine-1' is the cache's own signing key",
    )
