"""The server's settings file: TOML, typed, unknown keys and wrong types refused by name, flags win."""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from kokreativ.cli import main
from server import cli, config
from server.config import ConfigError, Limits, ServerConfig

REPO = Path(__file__).resolve().parents[2]

FULL = """\
data_dir = "/var/lib/kokreativ-server"
host = "127.0.0.1"
port = 8081
verify_workers = 2
workers = 2
log_level = "warning"

[limits]
request_timeout_s = 30
keep_alive_timeout_s = 10
max_connections = 100
max_connections_per_peer = 20
"""


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kokreativ server")
    cli.configure(parser)
    return parser.parse_args(["run", *argv])


def test_a_full_file_is_read() -> None:
    assert config.loads(FULL) == ServerConfig(
        data_dir=Path("/var/lib/kokreativ-server"),
        port=8081,
        verify_workers=2,
        workers=2,
        log_level="warning",
        limits=Limits(
            request_timeout_s=30.0, keep_alive_timeout_s=10, max_connections=100, max_connections_per_peer=20
        ),
    )


def test_an_empty_file_is_the_defaults() -> None:
    assert config.loads("") == ServerConfig()


def test_the_shipped_example_is_valid_and_matches_the_unit(tmp_path: Path) -> None:
    shipped = config.load(REPO / "deploy" / "server.toml")
    assert shipped.data_dir == Path("/var/lib/kokreativ-server")
    assert (shipped.host, shipped.port) == ("127.0.0.1", 8080)
    assert shipped.trusted_proxies == ("127.0.0.1", "::1")  # the proxy on the same host


def test_the_documented_example_is_valid() -> None:
    text = (REPO / "docs" / "operations.md").read_text()
    start = text.index("```toml\n", text.index("## The server's settings file")) + len("```toml\n")
    example = text[start : text.index("```", start)]
    assert config.loads(example).limits.request_timeout_s == 60


def test_relative_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "server.toml").write_text('data_dir = "data"\n')
    assert config.load(tmp_path / "server.toml").data_dir == tmp_path / "data"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("prot = 8080", "'prot'"),
        ("[limits]\nmax_conections = 5", "'limits.max_conections'"),
        ("[smtp]\nhost = 'x'", "'smtp'"),
        ('port = "8080"', "'port' must be an integer, not a string"),
        ("port = 8080.0", "'port' must be an integer, not a number"),
        ("verify_workers = true", "'verify_workers' must be an integer, not a boolean"),
        ("workers = 0", "'workers' must be an integer, 1 to 64"),
        ("host = 1", "'host' must be a string"),
        ("limits = 5", "'limits' must be a table"),
        ("port = 0", "'port' must be a TCP port"),
        ("log_level = 'loud'", "'log_level' must be one of"),
        ("[limits]\nrequest_timeout_s = -1", "'limits.request_timeout_s'"),
        ("[limits]\nrequest_timeout_s = inf", "'limits.request_timeout_s'"),
        ("[limits]\nmax_connections = 0", "'limits.max_connections'"),
        ("data_dir = ''", "'data_dir' must be a path"),
        ("port = [", "not valid TOML"),
        ("trusted_proxies = '127.0.0.1'", "'trusted_proxies' must be a list of strings, not a string"),
        ("trusted_proxies = [1]", "'trusted_proxies' must be a list of strings"),
        ("trusted_proxies = ['proxy.example']", "'trusted_proxies' must be a list of IP addresses"),
    ],
)
def test_bad_keys_and_values_are_named(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.loads(text, source="server.toml")
    assert named in str(info.value)
    assert str(info.value).startswith("server.toml: ")


TOML_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "data_dir",
        "host",
        "port",
        "verify_workers",
        "workers",
        "log_level",
        "trusted_proxies",
        "limits",
        "smtp",
        "",
    ]
) | st.text(max_size=12)
LIMIT_KEYS = st.sampled_from([field for field in Limits.__dataclass_fields__]) | st.text(max_size=12)


def _toml(table: dict[str, Any]) -> str | None:
    """``table`` as TOML, or ``None`` where TOML cannot say it (``None`` values, mixed arrays)."""
    try:
        return tomli_w.dumps(table)
    except (TypeError, ValueError):
        return None


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(KEYS, TOML_VALUES, max_size=4),
    st.dictionaries(LIMIT_KEYS, TOML_VALUES, max_size=3),
)
def test_any_toml_is_settings_or_one_clear_error(top: dict[str, Any], limits: dict[str, Any]) -> None:
    if limits:
        top = {**top, "limits": limits}
    text = _toml(top)
    if text is None:
        return
    try:
        loaded = config.loads(text, source="f.toml")
    except ConfigError as exc:
        assert str(exc).startswith("f.toml: ") and "\n" not in str(exc).strip()
    else:
        assert isinstance(loaded, ServerConfig)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_settings_or_one_clear_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        config.loads(text)


def test_flags_override_the_file_which_overrides_the_defaults(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text(FULL)
    args = _parse("--config", str(file), "--port", "9000", "--request-timeout", "5", "--data", "d")
    settings_ = cli.run_settings(args, default_config=tmp_path / "absent.toml")
    assert settings_.port == 9000  # flag
    assert settings_.data_dir == Path("d")  # flag (relative to the working directory, as flags are)
    assert settings_.limits.request_timeout_s == 5.0  # flag
    assert settings_.log_level == "warning" and settings_.limits.max_connections == 100  # file
    bare = cli.run_settings(_parse("--data", "d"), default_config=tmp_path / "absent.toml")
    assert bare == ServerConfig(data_dir=Path("d"))  # defaults


def test_trusted_proxies_come_from_the_file_and_the_flags_replace_them(tmp_path: Path) -> None:
    file = tmp_path / "server.toml"
    file.write_text('trusted_proxies = ["10.0.0.5", "fd00::/64"]\n' + FULL)
    absent = tmp_path / "absent.toml"
    from_file = cli.run_settings(_parse("--config", str(file)), default_config=absent)
    assert from_file.trusted_proxies == ("10.0.0.5", "fd00::/64")
    flagged = _parse("--config", str(file), "--trusted-proxy", "192.0.2.1")
    assert cli.run_settings(flagged, default_config=absent).trusted_proxies == ("192.0.2.1",)
    assert cli.run_settings(_parse("--data", "d"), default_config=absent).trusted_proxies == ()


def test_the_default_file_is_read_when_it_exists(tmp_path: Path) -> None:
    default = tmp_path / "server.toml"
    default.write_text(FULL)
    assert cli.run_settings(_parse(), default_config=default).port == 8081
    assert cli.run_settings(_parse("--port", "1234"), default_config=default).port == 1234


def test_a_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        cli.run_settings(_parse("--config", str(tmp_path / "nope.toml"), "--data", "d"))


def test_no_data_directory_anywhere_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no data directory"):
        cli.run_settings(_parse(), default_config=tmp_path / "absent.toml")


def test_bad_flag_values_are_refused_like_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'request_timeout_s'"):
        cli.run_settings(_parse("--data", "d", "--request-timeout", "0"), default_config=tmp_path / "a.toml")


def test_the_cli_prints_one_line_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "server.toml"
    file.write_text("[limits]\nmax_conections = 5\n")
    assert main(["server", "run", "--config", str(file)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unknown key 'limits.max_conections'" in err


def test_the_database_comes_from_the_file_or_the_flag_and_must_be_postgresql(tmp_path: Path) -> None:
    absent = tmp_path / "absent.toml"
    file = tmp_path / "server.toml"
    file.write_text('database = "postgresql:///kokreativ?host=/run/postgresql"\n' + FULL)
    assert cli.run_settings(_parse("--config", str(file)), default_config=absent).database == (
        "postgresql:///kokreativ?host=/run/postgresql"
    )
    flagged = _parse("--config", str(file), "--database", "postgresql://db.example.org/ledger")
    assert cli.run_settings(flagged, default_config=absent).database == "postgresql://db.example.org/ledger"
    assert cli.run_settings(_parse("--data", "d"), default_config=absent).database is None  # DATA says
    with pytest.raises(ConfigError, match="postgresql://"):
        cli.run_settings(_parse("--data", "d", "--database", "ledger.db"), default_config=absent)
    with pytest.raises(ConfigError, match="'database'"):
        config.loads('database = "sqlite:///ledger.db"\n')
