"""kiosk.toml round-trips, is private, and names the first bad field; the key file is written once."""

from __future__ import annotations

import dataclasses
import os
import stat
import tomllib
from pathlib import Path

import pytest
import tomli_w

from protocol import PrivateKey, Reason
from terminal.config import DEFAULT_CONFIG_PATH, config_path, load_config, write_config
from terminal.errors import ConfigError, KeyExistsError
from terminal.keystore import create_key, load_key


def test_config_round_trips_with_mode_0600_and_data_dir_defaulting_to_its_folder(tmp_path, make_config):
    config = make_config(
        data_dir=tmp_path, reader="sim", indicator="gpio", red_pin=5, double_tap_window_s=2.5
    )
    path = tmp_path / "kiosk.toml"
    write_config(path, config)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "data_dir" not in path.read_text()  # relocatable: the folder travels with the file
    assert load_config(path) == config
    assert config.key_path == tmp_path / "kiosk.key" and config.outbox_path == tmp_path / "outbox.db"


def test_config_keeps_an_explicit_data_dir_and_resolves_relative_ones(tmp_path, make_config):
    elsewhere = tmp_path / "data"
    path = tmp_path / "etc" / "kiosk.toml"
    write_config(path, make_config(data_dir=elsewhere))
    assert load_config(path).data_dir == elsewhere
    text = path.read_text().replace(str(elsewhere), "var")
    path.write_text(text)
    assert load_config(path).data_dir == tmp_path / "etc" / "var"


def test_a_relative_data_dir_is_written_absolute(tmp_path, make_config, monkeypatch):
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    path = tmp_path / "etc" / "kiosk.toml"
    write_config(path, make_config(data_dir=Path("data")))
    written = tomllib.loads(path.read_text())["data_dir"]
    assert written == str(workdir / "data")
    assert load_config(path).data_dir == workdir / "data"  # not etc/data: the meaning did not change


def test_defaults_apply_when_optional_settings_are_absent(tmp_path, make_config):
    path = tmp_path / "kiosk.toml"
    write_config(path, make_config())
    loaded = load_config(path)
    assert (loaded.max_shift_hours, loaded.double_tap_window_s, loaded.reader, loaded.indicator) == (
        12,
        10.0,
        "stdin",
        "console",
    )
    assert (loaded.green_pin, loaded.red_pin, loaded.buzzer_pin) == (17, 27, 22)


def test_a_config_from_before_the_log_has_no_origin_and_loads(tmp_path, make_config):
    path = tmp_path / "kiosk.toml"
    write_config(path, make_config(log_origin=None))
    assert "log_origin" not in tomllib.loads(path.read_text())  # TOML has no null: left out
    assert load_config(path).log_origin is None  # the kiosk pins the origin on first use
    write_config(path, make_config(log_origin="ledger.example.org"))
    assert load_config(path).log_origin == "ledger.example.org"


def _table(make_config, tmp_path) -> dict:
    path = tmp_path / "kiosk.toml"
    write_config(path, make_config())
    return tomllib.loads(path.read_text())


@pytest.mark.parametrize(
    ("change", "reason", "mentions"),
    [
        (lambda t: t.pop("kiosk_id"), Reason.MISSING_FIELD, "kiosk_id"),
        (lambda t: t.update(kiosk_id="s_" + "0" * 32), Reason.BAD_FIELD, "kiosk_id"),
        (lambda t: t.update(tokens_per_hour="10"), Reason.BAD_FIELD, "tokens_per_hour"),
        (lambda t: t.update(tokens_per_hour=True), Reason.BAD_FIELD, "tokens_per_hour"),
        (lambda t: t.update(server_public_key="AAAA"), Reason.BAD_FIELD, "server_public_key"),
        (lambda t: t.update(uid_pseudonym_key="not base64!"), Reason.BAD_ENCODING, "uid_pseudonym_key"),
        (lambda t: t.update(server_url="ftp://x"), Reason.BAD_FIELD, "server_url"),
        (lambda t: t.update(reader="usb"), Reason.BAD_FIELD, "reader"),
        (lambda t: t.update(device="i2c:1:pn532"), Reason.BAD_FIELD, "device"),
        (lambda t: t.update(max_shift_hours=0), Reason.BAD_FIELD, "max_shift_hours"),
        (lambda t: t.update(tokens_per_huor=3), Reason.UNKNOWN_FIELD, "tokens_per_huor"),
        (lambda t: t.update(log_origin="ledger example"), Reason.BAD_FIELD, "log_origin"),
        (lambda t: t.update(log_origin=""), Reason.BAD_FIELD, "log_origin"),
        (lambda t: t.update(log_origin=7), Reason.BAD_FIELD, "log_origin"),
    ],
)
def test_invalid_config_names_the_field(tmp_path, make_config, change, reason, mentions):
    table = _table(make_config, tmp_path)
    change(table)
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(table))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.reason is reason
    assert mentions in info.value.message


def test_the_old_nfc_path_key_is_read_as_device_and_rewritten_under_the_new_name(
    tmp_path, make_config, caplog
):
    table = _table(make_config, tmp_path)
    table.pop("device")
    table.update(reader="nfc", nfc_path="tty:AMA0:pn532")  # a kiosk.toml from before issue 20
    path = tmp_path / "kiosk.toml"
    path.write_text(tomli_w.dumps(table))
    loaded = load_config(path)
    assert (loaded.reader, loaded.device) == ("nfc", "tty:AMA0:pn532")
    assert "'nfc_path' is deprecated; rename it to 'device'" in caplog.text
    write_config(path, loaded)  # e.g. terminal set-pin: the file is saved in today's words
    rewritten = tomllib.loads(path.read_text())
    assert rewritten["device"] == "tty:AMA0:pn532" and "nfc_path" not in rewritten


def test_both_names_of_the_device_at_once_are_refused(tmp_path, make_config):
    table = _table(make_config, tmp_path)
    table.update(device="usb", nfc_path="tty:AMA0:pn532")
    path = tmp_path / "kiosk.toml"
    path.write_text(tomli_w.dumps(table))
    with pytest.raises(ConfigError, match="'nfc_path' is the old name of 'device'") as info:
        load_config(path)
    assert info.value.reason is Reason.BAD_FIELD


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"no kiosk config at .*--config PATH or KOKREATIV_CONFIG") as info:
        load_config(tmp_path / "nope.toml")
    assert info.value.reason is Reason.NOT_FOUND
    (tmp_path / "broken.toml").write_text("kiosk_id = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(tmp_path / "broken.toml")


def test_key_is_created_private_and_loads_back(tmp_path):
    path = tmp_path / "kiosk.key"
    key = create_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key(path).public_key == key.public_key
    assert [p.name for p in tmp_path.iterdir()] == ["kiosk.key"]  # no temporary file left behind


def test_key_is_never_overwritten(tmp_path):
    path = tmp_path / "kiosk.key"
    create_key(path)
    before = path.read_bytes()
    with pytest.raises(KeyExistsError) as info:
        create_key(path)
    assert info.value.reason is Reason.KEY_ALREADY_ENROLLED
    assert isinstance(info.value, FileExistsError)
    assert path.read_bytes() == before


def test_a_stale_temporary_file_does_not_block_creating_the_key(tmp_path):
    path = tmp_path / "kiosk.key"
    for leftover in (f".kiosk.key.{os.getpid()}.tmp", ".kiosk.key.tmp"):  # a crashed run's leftovers
        (tmp_path / leftover).write_bytes(b"junk")
    key = create_key(path)
    assert load_key(path).public_key == key.public_key


def test_only_an_existing_key_is_key_exists(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")
    with pytest.raises(OSError) as info:
        create_key(not_a_folder / "kiosk.key")
    assert not isinstance(info.value, KeyExistsError)


def test_key_is_written_completely_even_when_the_os_writes_short(tmp_path, monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:5])))
    path = tmp_path / "kiosk.key"
    key = create_key(path)
    monkeypatch.undo()
    assert path.read_bytes() == key.seed


def test_bad_key_files_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_key(tmp_path / "missing.key")
    short = tmp_path / "short.key"
    short.write_bytes(b"x" * 31)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="32-byte"):
        load_key(short)
    shared = tmp_path / "shared.key"
    shared.write_bytes(PrivateKey.generate().seed)
    shared.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(shared)


def test_config_repr_hides_the_pseudonym_key(make_config):
    config = make_config(uid_pseudonym_key=b"\xab" * 32)
    assert repr(b"\xab" * 32) not in repr(config)
    assert dataclasses.replace(config, site_name="x").uid_pseudonym_key == b"\xab" * 32


def test_config_path_is_the_flag_else_the_variable_else_where_enrolment_writes_it(tmp_path):
    flag, env = tmp_path / "flag.toml", tmp_path / "env.toml"
    assert config_path(flag, {"KOKREATIV_CONFIG": str(env)}) == flag
    assert config_path(None, {"KOKREATIV_CONFIG": str(env)}) == env
    assert config_path(None, {"KOKREATIV_CONFIG": ""}) == DEFAULT_CONFIG_PATH
    assert config_path(None, {}) == DEFAULT_CONFIG_PATH == Path("/var/lib/kokreativ/kiosk.toml")
