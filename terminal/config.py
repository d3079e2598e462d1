"""The kiosk's configuration file (TOML), written at enrolment and read at start-up.

The whole file, key by key, is in docs/hardware.md, "kiosk.toml".  It holds
the UID-pseudonym key, so it is written with mode 0600.  Unknown keys are
refused, so a typo never silently falls back to a default.
``tokens_per_hour`` and ``max_shift_hours`` are the site's rules at
enrolment, used only while the trust list carries none (:mod:`terminal.tap`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from protocol import MalformedError, PublicKey, Reason, b64decode, b64encode, ids
from protocol.cards import UID_PSEUDONYM_KEY_BYTES
from protocol.economy.undo import UNDO_MAX_MS
from protocol.note import NoteVerifier
from terminal._files import write_private
from terminal.errors import ConfigError

_log = logging.getLogger(__name__)

READERS = ("nfc", "stdin", "sim")
INDICATORS = ("console", "gpio")
# The screen's languages (terminal/ui/i18n.py, LANGUAGES): terminal/ui/locale/<language>/LC_MESSAGES/kiosk.po;
# "de@leicht" is German in Leichte Sprache (plain language).
LANGUAGES = ("de", "en", "tr", "ar", "uk", "ru", "de@leicht")
NFC_PATH_KINDS = ("usb", "tty", "udp")  # nfcpy's path prefixes for the readers we support
# Keys kiosk.toml had under another name: still read (deprecated), written under the new one.
DEPRECATED_KEYS = {"nfc_path": "device"}
# Where enrolment on a kiosk writes its config (the systemd units' StateDirectory), and the variable
# that points elsewhere; every command that needs the config finds it here without --config.
DEFAULT_CONFIG_PATH = Path("/var/lib/kokreativ/kiosk.toml")
CONFIG_ENV = "KOKREATIV_CONFIG"


@dataclass(frozen=True, kw_only=True)
class KioskConfig:
    """Everything a kiosk needs to record and sync taps; see the module docstring for the file."""

    kiosk_id: str
    site_id: str
    site_name: str
    server_url: str
    server_public_key: PublicKey
    uid_pseudonym_key: bytes = dataclasses.field(repr=False)
    tokens_per_hour: int
    max_shift_hours: int = 12
    double_tap_window_s: float = 10.0
    # How long the screen offers to undo a check-in or check-out (issue 20); 0: never.  At most the
    # protocol's cap (protocol.economy.UNDO_MAX_MS, 30 s), so the server honours what the screen offers.
    undo_window_s: float = 10.0
    data_dir: Path
    reader: str = "stdin"
    indicator: str = "console"
    green_pin: int = 17
    red_pin: int = 27
    buzzer_pin: int = 22
    button_pin: int | None = None
    # The nfcpy device of an ``nfc`` reader (``usb``, ``tty:AMA0:pn532``, …); kiosk.toml before issue 20
    # called it ``nfc_path``, which is still read (see DEPRECATED_KEYS).
    device: str = "usb"
    # The origin the server's log checkpoints are signed under (from the enrolment answer).  Kiosks
    # enrolled before the log existed have none and pin the first origin that verifies (terminal.witness).
    log_origin: str | None = None
    language: str = "de"
    # The coordinator PIN's argon2id hash (terminal.pin), never the PIN; None: no PIN, only coordinator cards.
    coordinator_pin: str | None = dataclasses.field(default=None, repr=False)
    # node_exporter's textfile collector reads the kiosk's figures here (terminal.metricsfile); None: none.
    metrics_file: Path | None = None

    @property
    def key_path(self) -> Path:
        """Where the kiosk's private key lives."""
        return self.data_dir / "kiosk.key"

    @property
    def outbox_path(self) -> Path:
        """Where the outbox database lives."""
        return self.data_dir / "outbox.db"


def _require(raw: dict[str, Any], name: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if name not in raw:
        raise ConfigError(Reason.MISSING_FIELD, f"{path}: missing {name!r}")
    value = raw[name]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ConfigError(Reason.BAD_FIELD, f"{path}: {name!r} has the wrong type")
    return value


def _check(condition: bool, path: Path, name: str, what: str) -> None:
    if not condition:
        raise ConfigError(Reason.BAD_FIELD, f"{path}: {name!r} {what}")


# Optional settings: each one's type and the range it must fall in.
_OPTIONAL: dict[str, tuple[type | tuple[type, ...], Callable[[Any], bool]]] = {
    "max_shift_hours": (int, lambda v: v >= 1),
    "double_tap_window_s": ((int, float), lambda v: v >= 0),
    "undo_window_s": ((int, float), lambda v: 0 <= v <= UNDO_MAX_MS / 1000),
    "reader": (str, lambda v: v in READERS),
    "indicator": (str, lambda v: v in INDICATORS),
    "green_pin": (int, lambda v: 0 <= v <= 27),
    "red_pin": (int, lambda v: 0 <= v <= 27),
    "buzzer_pin": (int, lambda v: 0 <= v <= 27),
    "button_pin": (int, lambda v: 0 <= v <= 27),
    "device": (str, lambda v: v.split(":", 1)[0] in NFC_PATH_KINDS),
    "language": (str, lambda v: v in LANGUAGES),
    "coordinator_pin": (str, lambda v: v.startswith("$argon2id$")),
}


def config_path(given: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """The kiosk config to use: ``--config`` if given, else ``$KOKREATIV_CONFIG``, else the default.

    An empty variable counts as unset, so ``KOKREATIV_CONFIG=`` in a unit file never means "./".
    """
    if given is not None:
        return given
    from_env = (os.environ if environ is None else environ).get(CONFIG_ENV, "")
    return Path(from_env) if from_env else DEFAULT_CONFIG_PATH


def load_config(path: Path) -> KioskConfig:
    """Read and validate ``path``; raise :class:`ConfigError` naming the first bad field."""
    raw = _renamed_keys(_read_toml(path), path)
    known = {f.name for f in dataclasses.fields(KioskConfig)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(Reason.UNKNOWN_FIELD, f"{path}: unknown setting {unknown[0]!r}")
    values = _required_values(raw, path)
    values.update(_optional_values(raw, values["server_public_key"], path))
    folder = path.resolve().parent
    data_dir = Path(_require(raw, "data_dir", str, path)) if "data_dir" in raw else folder
    values["data_dir"] = data_dir if data_dir.is_absolute() else folder / data_dir
    return KioskConfig(**values)


def _renamed_keys(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """``raw`` with each deprecated key under its new name; both names at once is refused."""
    for old, new in DEPRECATED_KEYS.items():
        if old in raw:
            if new in raw:
                raise ConfigError(
                    Reason.BAD_FIELD, f"{path}: {old!r} is the old name of {new!r}; keep only {new!r}"
                )
            raw[new] = raw.pop(old)
            _log.warning("%s: %r is deprecated; rename it to %r (same value)", path, old, new)
    return raw


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(
            Reason.NOT_FOUND,
            f"no kiosk config at {path}: enrol this kiosk, or point at its kiosk.toml "
            f"with --config PATH or {CONFIG_ENV}",
        ) from exc
    except OSError as exc:
        raise ConfigError(Reason.MISSING_FIELD, f"cannot read config {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(Reason.BAD_ENCODING, f"{path} is not valid TOML: {exc}") from exc


def _required_values(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    """The settings every kiosk has, checked in a fixed order so an error names the first bad one."""
    values: dict[str, Any] = {}
    for name, kinds in (("kiosk_id", ids.KIOSK), ("site_id", ids.SITE)):
        values[name] = _require(raw, name, str, path)
        _check(ids.is_id(values[name], kinds), path, name, f"is not a {kinds}_ ID")
    values["site_name"] = _require(raw, "site_name", str, path)
    url = _require(raw, "server_url", str, path).rstrip("/")
    _check(url.startswith(("http://", "https://")), path, "server_url", "must start with http:// or https://")
    values["server_url"] = url
    try:
        values["server_public_key"] = PublicKey.from_b64(
            _require(raw, "server_public_key", str, path), field="server_public_key"
        )
        values["uid_pseudonym_key"] = b64decode(
            _require(raw, "uid_pseudonym_key", str, path),
            field="uid_pseudonym_key",
            length=UID_PSEUDONYM_KEY_BYTES,
        )
    except MalformedError as exc:
        raise ConfigError(exc.reason, f"{path}: {exc.message}") from exc
    values["tokens_per_hour"] = _require(raw, "tokens_per_hour", int, path)
    _check(values["tokens_per_hour"] >= 0, path, "tokens_per_hour", "must be >= 0")
    return values


def _optional_values(raw: dict[str, Any], server_key: PublicKey, path: Path) -> dict[str, Any]:
    """The optional settings present in ``raw``, checked; ``log_origin`` must name ``server_key``."""
    values: dict[str, Any] = {}
    for name, (kind, valid) in _OPTIONAL.items():
        if name in raw:
            values[name] = _require(raw, name, kind, path)
            _check(valid(values[name]), path, name, "is out of range")
    if "log_origin" in raw:
        origin = _require(raw, "log_origin", str, path)
        try:
            NoteVerifier.for_key(origin, server_key)  # the origin is the key's name
        except MalformedError as exc:
            raise ConfigError(Reason.BAD_FIELD, f"{path}: 'log_origin' {exc.message}") from exc
        values["log_origin"] = origin
    if "metrics_file" in raw:
        given = _require(raw, "metrics_file", str, path)
        _check(bool(given) and "\0" not in given, path, "metrics_file", "must be a file path")
        file = Path(given)
        values["metrics_file"] = file if file.is_absolute() else path.resolve().parent / file
    for name in ("double_tap_window_s", "undo_window_s"):
        if name in values:
            values[name] = float(values[name])
    return values


def config_to_toml(config: KioskConfig, *, folder: Path | None = None) -> dict[str, Any]:
    """The TOML table for ``config``; ``data_dir`` is written absolute, or left out when it is ``folder``."""
    table: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:  # TOML has no null: an unset option is simply absent
            continue
        if isinstance(value, PublicKey):
            value = value.to_b64()
        elif isinstance(value, bytes):
            value = b64encode(value)
        elif isinstance(value, Path):
            # Absolute, so the file means the same whatever directory reads it later.
            value = value.resolve()
            if folder is not None and value == folder.resolve():
                continue
            value = str(value)
        table[f.name] = value
    return table


def write_config(path: Path, config: KioskConfig) -> None:
    """Write ``config`` to ``path`` atomically with mode 0600 (it holds the UID-pseudonym key)."""
    table = config_to_toml(config, folder=path.resolve().parent)
    write_private(path, tomli_w.dumps(table).encode("utf-8"), overwrite=True)
