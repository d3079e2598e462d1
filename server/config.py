"""The server's settings file: TOML, read by ``kokreativ server run --config FILE``.

Every setting has a default, so an empty file is valid; a flag of ``server run``
overrides the file, and the file overrides the defaults.  Without ``--config``
the server reads :data:`DEFAULT_PATH` when it exists.  A key the loader does not
know, or a value of the wrong type or range, is a :class:`ConfigError` naming
the key, never a traceback: a typo must not silently fall back to a default.
docs/operations.md ("The server's settings file") shows a complete file, and
deploy/server.toml is the one the systemd unit reads.  Example::

    config = load(Path("/etc/kokreativ/server.toml"))
    config.limits.request_timeout_s   # 60.0 unless the file says otherwise

Settings are plain frozen dataclasses; a table of the file (``[limits]``) is a
nested one.  To add a setting, add a field with a default (and a ``check`` in
its metadata when not every value of its type is valid); the loader, its
errors and the tests of unknown keys and wrong types follow from the fields.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

from server.errors import ConfigError

DEFAULT_PATH: Final = Path("/etc/kokreativ/server.toml")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
SMTP_SECURITY: Final = ("starttls", "ssl", "none")

C = TypeVar("C")


def _check(predicate: Callable[[Any], bool], wanted: str) -> dict[str, Any]:
    """Field metadata: values of the right type must also satisfy ``predicate`` (``wanted`` says how)."""
    return {"check": (predicate, wanted)}


def _networks(values: tuple[str, ...]) -> bool:
    """Whether every value is an IP address or CIDR block (``--trusted-proxy``'s rule)."""
    try:
        for value in values:
            ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return len(values) <= 1000


def _positive_seconds(value: float) -> bool:
    return math.isfinite(value) and 0 < value <= 86_400


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Limits that keep slow or numerous clients from holding the server: the file's ``[limits]`` table.

    ``request_timeout_s`` bounds the time from a request's first byte (or the
    connection's opening) to the end of its body; uvicorn alone waits for ever
    once a byte has come.  Connections over ``max_connections`` (in total) or
    ``max_connections_per_peer`` (from one address; 0 means no such limit) are
    closed as they open.  Behind a reverse proxy every connection comes from the
    proxy's address, so there the per-peer limit would only be a second total.
    """

    request_timeout_s: float = dataclasses.field(
        default=60.0, metadata=_check(_positive_seconds, "a number of seconds above 0, at most 86400")
    )
    keep_alive_timeout_s: int = dataclasses.field(
        default=5, metadata=_check(lambda n: 1 <= n <= 86_400, "a whole number of seconds, 1 to 86400")
    )
    max_connections: int = dataclasses.field(
        default=512, metadata=_check(lambda n: 1 <= n <= 1_000_000, "an integer from 1 to 1000000")
    )
    max_connections_per_peer: int = dataclasses.field(
        default=0, metadata=_check(lambda n: 0 <= n <= 1_000_000, "an integer from 0 (no limit) to 1000000")
    )


def _addresses(values: tuple[str, ...]) -> bool:
    """Whether every value looks like one e-mail address (no spaces, one ``@``, something either side)."""
    return len(values) <= 100 and all(_address(value) for value in values)


def _address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and domain) and "@" not in domain and not any(c.isspace() for c in value)


def _site_addresses(values: tuple[str, ...]) -> bool:
    """Whether every value is ``SITE_ID=ADDRESS`` (a site's own alert address, :mod:`server.alerts`)."""
    for value in values:
        site, eq, address = value.partition("=")
        if not (eq and site.strip() and _address(address.strip())):
            return False
    return len(values) <= 1000


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Smtp:
    """How the server sends e-mail: the file's ``[alerts.smtp]`` table.  No ``host``: no e-mail.

    ``security`` is ``starttls`` (port 587), ``ssl`` (port 465) or ``none`` (a relay on
    the same machine only).  The password is read from ``password_file`` at each send,
    so it never sits in the settings file and can be changed without a restart.
    """

    host: str = ""
    port: int = dataclasses.field(default=587, metadata=_check(lambda n: 1 <= n <= 65535, "a TCP port"))
    security: str = dataclasses.field(
        default="starttls",
        metadata=_check(lambda s: s in SMTP_SECURITY, "one of " + ", ".join(SMTP_SECURITY)),
    )
    username: str = ""
    password_file: Path | None = None
    from_address: str = dataclasses.field(
        default="", metadata=_check(lambda s: s == "" or _address(s), "an e-mail address")
    )
    timeout_s: float = dataclasses.field(
        default=10.0, metadata=_check(_positive_seconds, "a number of seconds above 0, at most 86400")
    )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Alerts:
    """Notices about silent kiosks, equivocations and log inconsistencies: the file's ``[alerts]`` table.

    Off until ``smtp.host`` or ``webhook_url`` is set (:mod:`server.alerts`).  A site's
    notices go to the persons holding ``manage_fleet`` for that site, else to its
    ``site_to`` address (``"s_…=koordination@example.org"``), else to ``to``; the
    log's go to ``to`` and the economy-wide fleet managers.  ``console_url`` (the
    server's public address) makes the link in a notice.
    """

    check_interval_s: int = dataclasses.field(
        default=60, metadata=_check(lambda n: 5 <= n <= 86_400, "a whole number of seconds, 5 to 86400")
    )
    silent_after_s: int = dataclasses.field(
        default=900, metadata=_check(lambda n: 60 <= n <= 366 * 86_400, "seconds, 60 to 31622400")
    )
    log_check_interval_s: int = dataclasses.field(
        default=3600,
        metadata=_check(lambda n: 60 <= n <= 7 * 86_400, "a whole number of seconds, 60 to 604800"),
    )
    retry_after_s: int = dataclasses.field(
        default=300, metadata=_check(lambda n: 5 <= n <= 86_400, "a whole number of seconds, 5 to 86400")
    )
    console_url: str = dataclasses.field(
        default="",
        metadata=_check(lambda s: s == "" or s.startswith(("https://", "http://")), "an http(s) URL"),
    )
    to: tuple[str, ...] = dataclasses.field(
        default=(), metadata=_check(_addresses, "a list of e-mail addresses")
    )
    site_to: tuple[str, ...] = dataclasses.field(
        default=(), metadata=_check(_site_addresses, 'a list of "SITE_ID=ADDRESS" strings')
    )
    webhook_url: str = dataclasses.field(
        default="",
        metadata=_check(lambda s: s == "" or s.startswith(("https://", "http://")), "an http(s) URL"),
    )
    webhook_secret_file: Path | None = None
    webhook_timeout_s: float = dataclasses.field(
        default=5.0,
        metadata=_check(lambda x: math.isfinite(x) and 0 < x <= 60, "seconds above 0, at most 60"),
    )
    smtp: Smtp = dataclasses.field(default_factory=Smtp)

    @property
    def enabled(self) -> bool:
        """Whether any channel is configured: otherwise nothing is checked or sent."""
        return bool(self.smtp.host or self.webhook_url)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ServerConfig:
    """Everything ``kokreativ server run`` needs to know; the defaults are its defaults.

    ``data_dir`` has no default (``None``): ``server run`` refuses to start
    without one.  ``verify_workers`` ``None`` picks one thread per core, at most 4.
    ``workers`` is the number of server processes (1: one process, as before).
    ``trusted_proxies`` is empty by default: no ``X-Forwarded-For`` is believed.
    """

    data_dir: Path | None = None
    # Where the ledger is, if not where the data directory says: a postgresql:// URL (server.storage).
    database: str | None = dataclasses.field(
        default=None,
        metadata=_check(lambda s: _is_postgres(s), "a postgresql:// URL"),
    )
    host: str = dataclasses.field(default="127.0.0.1", metadata=_check(bool, "a host name or address"))
    port: int = dataclasses.field(
        default=8080, metadata=_check(lambda n: 1 <= n <= 65535, "a TCP port, 1 to 65535")
    )
    verify_workers: int | None = dataclasses.field(
        default=None, metadata=_check(lambda n: 0 <= n <= 256, "an integer from 0 (check inline) to 256")
    )
    # Server processes on the one port (server.workers); docs/operations.md says how many to choose.
    workers: int = dataclasses.field(
        default=1, metadata=_check(lambda n: 1 <= n <= 64, "an integer, 1 to 64")
    )
    log_level: str = dataclasses.field(
        default="info", metadata=_check(lambda s: s in LOG_LEVELS, "one of " + ", ".join(LOG_LEVELS))
    )
    # Reverse proxies whose X-Forwarded-For names the client to the guessing limits (server.http.clients).
    trusted_proxies: tuple[str, ...] = dataclasses.field(
        default=(), metadata=_check(_networks, "a list of IP addresses or CIDR blocks")
    )
    limits: Limits = dataclasses.field(default_factory=Limits)
    # The map on /laeden (server.shopmap.MAP_LAYERS): "schematic", our own district map, needs no network.
    map_layer: str = dataclasses.field(
        default="schematic", metadata=_check(lambda s: s in _map_layers(), "one of the map layers: schematic")
    )
    # Notices to coordinators by e-mail and webhook (server.alerts); off until a channel is set.
    alerts: Alerts = dataclasses.field(default_factory=Alerts)


def _is_postgres(database: str) -> bool:
    from server.storage import is_postgres  # here, not at the top: reading settings stays cheap

    return is_postgres(database)


def _map_layers() -> tuple[str, ...]:
    from server.shopmap import MAP_LAYERS  # here, not at the top: reading settings stays cheap

    return tuple(MAP_LAYERS)


def load(path: Path) -> ServerConfig:
    """The settings in the TOML file at ``path``; relative paths in it are relative to its folder.

    Raises :class:`ConfigError` if the file cannot be read, is not TOML, or has
    a key or value the server does not accept.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the settings file is not UTF-8 text") from None
    return loads(text, source=str(path), base=path.parent)


def loads(text: str, *, source: str = "settings", base: Path | None = None) -> ServerConfig:
    """The settings in TOML ``text``; ``source`` names it in errors, ``base`` anchors relative paths."""
    try:
        table = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:  # deep nesting is a RecursionError
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    return _build(ServerConfig, table, source=source, prefix="", base=base or Path.cwd())


def resolve(explicit: Path | None, *, default: Path = DEFAULT_PATH) -> ServerConfig:
    """The settings of ``explicit`` (it must exist), else of ``default`` if it exists, else the defaults."""
    if explicit is not None:
        return load(explicit)
    if default.is_file():
        return load(default)
    return ServerConfig()


def override(config: C, changes: Mapping[str, Any], *, source: str = "command line") -> C:
    """``config`` with the fields in ``changes`` replaced (``None`` values skipped), checked like the file."""
    given = {name: value for name, value in changes.items() if value is not None}
    for name, value in given.items():
        _check_value(type(config), name, value, source=source, key=name)
    return dataclasses.replace(config, **given)  # type: ignore[type-var]


def _build(cls: type[C], table: Mapping[str, Any], *, source: str, prefix: str, base: Path) -> C:
    """An instance of the settings dataclass ``cls`` from ``table``, every key and value checked."""
    fields = {field.name: field for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, raw in table.items():
        key = f"{prefix}{name}"
        if name not in fields:
            known = ", ".join(f"{prefix}{known}" for known in fields)
            raise ConfigError(f"{source}: unknown key {key!r} (known keys: {known})")
        wanted = hints[name]
        if isinstance(wanted, type) and dataclasses.is_dataclass(wanted):
            if not isinstance(raw, dict):
                raise ConfigError(f"{source}: {key!r} must be a table ([{key}]), not {_kind(raw)}")
            values[name] = _build(wanted, raw, source=source, prefix=f"{key}.", base=base)
            continue
        value = _convert(wanted, raw, source=source, key=key)
        if isinstance(value, Path) and not value.is_absolute():
            value = base / value
        _check_value(cls, name, value, source=source, key=key)
        values[name] = value
    return cls(**values)


def _convert(wanted: Any, raw: Any, *, source: str, key: str) -> Any:
    """``raw`` as the field type ``wanted`` (``X | None`` means ``X``: TOML has no null)."""
    if isinstance(wanted, types.UnionType):
        wanted = next(arg for arg in typing.get_args(wanted) if arg is not type(None))
    if wanted == tuple[str, ...]:
        if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            return tuple(item.strip() for item in raw)
        raise ConfigError(f"{source}: {key!r} must be a list of strings, not {_kind(raw)}")
    if wanted is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return float(raw)
        except OverflowError:  # an integer beyond any float
            raise ConfigError(f"{source}: {key!r} is far too large") from None
    if wanted is Path and isinstance(raw, str) and raw and "\0" not in raw:
        return Path(raw)
    if wanted in (int, str, bool) and type(raw) is wanted:
        return raw
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false", Path: "a path"}
    raise ConfigError(f"{source}: {key!r} must be {names.get(wanted, wanted)}, not {_kind(raw)}")


def _check_value(cls: type[Any], name: str, value: Any, *, source: str, key: str) -> None:
    """Raise :class:`ConfigError` if ``value`` is outside what the field's ``check`` allows."""
    check = next(field for field in dataclasses.fields(cls) if field.name == name).metadata.get("check")
    if check is not None and not check[0](value):
        shown = repr(value)
        raise ConfigError(
            f"{source}: {key!r} must be {check[1]}, not {shown[:40]}{'…' if len(shown) > 40 else ''}"
        )


def _kind(raw: object) -> str:
    """How TOML calls the type of ``raw``, for errors."""
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    kinds |= {list: "an array", dict: "a table"}
    return kinds.get(type(raw), "a date or time")
