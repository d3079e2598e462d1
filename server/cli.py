"""``kokreativ server ...``: glue that parses arguments and calls :mod:`server`.

``run`` serves a data directory in the foreground with uvicorn, logging to
stderr.  uvicorn handles ``SIGTERM`` and ``SIGINT`` by finishing in-flight
requests; after a ``SIGKILL`` the next start is safe too, because every batch
is one SQLite transaction (WAL, ``synchronous=FULL``) and opening a data
directory only applies pending migrations.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server import config
from server.config import DEFAULT_PATH as DEFAULT_CONFIG
from server.config import ServerConfig
from server.errors import ConfigError

if TYPE_CHECKING:
    from server.storage import Storage

EXAMPLES = """\
examples:
  kokreativ server run --config /etc/kokreativ/server.toml
  kokreativ server run --data /var/lib/kokreativ-server
  kokreativ server run --data ./server-data --host 0.0.0.0 --port 8080
  kokreativ server run --data /var/lib/kokreativ-server --workers 2
  kokreativ server run --data /var/lib/kokreativ-server --trusted-proxy 127.0.0.1 --trusted-proxy ::1

--trusted-proxy names a reverse proxy (address or CIDR block) whose X-Forwarded-For header
tells the client's address to the guessing limits; without it the header is ignored.

Settings come from the flags, then the settings file, then the defaults
(docs/operations.md, "The server's settings file", shows a complete file).
"""

BACKUP_EXAMPLES = """\
example:
  kokreativ server backup --data /var/lib/kokreativ-server --out /backup/ledger-2026-11-29.db
"""

EXPORT_EXAMPLES = """\
examples:
  kokreativ server export-log --data /var/lib/kokreativ-server --out /srv/ledger-mirror
  kokreativ verify ledger /srv/ledger-mirror --key 'ledger.example.org+1a2b3c4d+AV…'
  kokreativ server export-log --data /var/lib/kokreativ-server --out /srv/ledger-mirror \
      --auditor /root/audit-office

Writes what GET /checkpoint, /tile/… and /v1/log/totals answer, as files under those
paths: a mirror of the public log that anyone checks without reaching the server.
Run it again to bring the mirror up to date; only missing tiles are written.
--auditor DIR also writes the designated auditor's material (what GET /v1/audit/balances
answers) into DIR, mode 0700/0600: personal data under pseudonyms, never for the mirror.
"""

ROTATE_EXAMPLES = """\
examples:
  kokreativ server rotate-key --data /var/lib/kokreativ-server            # step 1, then restart the server
  kokreativ server rotate-key --data /var/lib/kokreativ-server --finish   # step 2, once every kiosk synced

Step 1 makes a new server key and a transition signed by the old and the new key,
logs it, and prints one JSON line with the new log verifier key to publish.
After a restart the server signs with the new key and co-signs checkpoints with
the old one; kiosks follow the transition at their next sync.  Step 2 deletes
the old key.  docs/operations.md ("Rotating keys") has the whole procedure.
"""


TOKEN_EXAMPLES = """\
examples:
  kokreativ server token add --data /var/lib/kokreativ-server --name "Repair café coordinators" \\
      --permission read_personal --permission manage_cards --site s_…
  kokreativ server token list --data /var/lib/kokreativ-server
  kokreativ server token revoke --data /var/lib/kokreativ-server --name "Repair café coordinators"
  kokreativ server token rotate-admin --data /var/lib/kokreativ-server

A token is shown once (on stderr) and stored only as its SHA-256.  Without --site it holds its
permissions for the whole economy.  Permissions: {permissions}.
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``server`` sub-commands to ``parser``."""
    subparsers = parser.add_subparsers(dest="server_command", metavar="COMMAND", required=True)
    _configure_run(subparsers)
    _configure_copies(subparsers)
    _configure_migrate_db(subparsers)
    _configure_verify_store(subparsers)
    _configure_rotate_key(subparsers)
    _configure_tokens(subparsers)
    _configure_eligibility(subparsers)


def _configure_run(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server run``: serve the ledger in the foreground."""
    run = subparsers.add_parser(
        "run",
        help="serve the ledger from a data directory (foreground)",
        description="Serve the ledger HTTP API from DATA until stopped (SIGTERM or Ctrl-C).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"settings file (TOML; default: {DEFAULT_CONFIG} if it exists); flags override it",
    )
    run.add_argument("--data", type=Path, help="data directory made by 'provision init' (file: data_dir)")
    run.add_argument(
        "--database",
        metavar="URL",
        help="the ledger's PostgreSQL database, postgresql://… (file: database; default: where the data "
        "directory says: DATA/database, else DATA/ledger.db)",
    )
    run.add_argument("--host", help="address to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, help="TCP port (default: 8080)")
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="server processes on the one port, each with its own ledger connection (default: 1; "
        "docs/operations.md: one per core for ingest)",
    )
    run.add_argument(
        "--verify-workers", type=int, help="threads for signature checks (default: one per core, max 4)"
    )
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="default: info")
    limits = run.add_argument_group("limits (the file's [limits] table)")
    limits.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help="close a connection whose request (head and body) is not complete in time (default: 60)",
    )
    limits.add_argument(
        "--keep-alive-timeout", type=int, metavar="SECONDS", help="close idle connections (default: 5)"
    )
    limits.add_argument("--max-connections", type=int, metavar="N", help="open connections (default: 512)")
    limits.add_argument(
        "--max-connections-per-peer",
        type=int,
        metavar="N",
        help="open connections from one address; 0: no limit (default: 0)",
    )
    run.add_argument(
        "--trusted-proxy",
        action="append",
        default=None,
        type=_proxy,
        metavar="ADDR",
        help="a reverse proxy whose X-Forwarded-For is believed (address or CIDR; repeat for more; "
        "file: trusted_proxies; default: none)",
    )
    run.set_defaults(func=run_command)


def _proxy(text: str) -> str:
    """``--trusted-proxy``'s value, refused by argparse unless it is an IP address or CIDR block."""
    import ipaddress

    try:
        ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IP address or CIDR block") from None
    return text.strip()


def _configure_copies(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server backup`` and ``server export-log``: copies of the ledger and of its public log."""
    backup = subparsers.add_parser(
        "backup",
        help="copy the ledger with SQLite's online backup while the server runs",
        description="Copy DATA/ledger.db to FILE with SQLite's online backup API (safe while the server "
        "writes), check the copy's integrity and print one JSON line. The keys are not included.",
        epilog=BACKUP_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    backup.add_argument("--data", type=Path, required=True, help="the server's data directory")
    backup.add_argument("--out", type=Path, required=True, help="the backup file to create (must not exist)")
    backup.set_defaults(func=backup_command)
    restore = subparsers.add_parser(
        "restore",
        help="put a ledger backup into a new data folder (the restore drill)",
        description="Restore FILE, made by 'server backup', into DATA, a new folder that holds the keys "
        'already (docs/operations.md, "Restore drill"). A SQLite copy becomes DATA/ledger.db; a pg_dump '
        "archive is restored into the empty PostgreSQL database given by --database. Prints one JSON line; "
        "then check it with 'kokreativ verify ledger' and 'kokreativ server verify-store'.",
        epilog="example:\n  kokreativ server restore --data /tmp/restore --from /backup/ledger-2026-11-29.db",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restore.add_argument("--data", type=Path, required=True, help="the new data folder, with the keys in it")
    restore.add_argument("--from", dest="backup", type=Path, required=True, help="the backup file")
    restore.add_argument(
        "--database", metavar="URL", help="for a pg_dump archive: the empty database to fill"
    )
    restore.set_defaults(func=restore_command)
    keys = subparsers.add_parser(
        "backup-keys",
        help="copy the per-person keys into a dated folder and destroy key backups past the retention",
        description="Copy DATA/person-keys/ into OUT/person-keys-<UTC time>/ (0700, keys 0600), then "
        "destroy the key backups in OUT older than the retention, so an erased person's key is gone "
        'from every backup after it (docs/operations.md, "Backups"). Prints one JSON line.',
        epilog="example:\n  kokreativ server backup-keys --data /var/lib/kokreativ-server "
        "--out /backup/keys --retention-days 30",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keys.add_argument("--data", type=Path, required=True, help="the server's data directory")
    keys.add_argument("--out", type=Path, required=True, help="the folder that holds the key backups")
    keys.add_argument(
        "--retention-days", type=int, default=30, help="destroy key backups older than this (default: 30)"
    )
    keys.set_defaults(func=backup_keys_command)
    export = subparsers.add_parser(
        "export-log",
        help="write the public log's tiles into a folder, for an auditor (no HTTP needed)",
        description="Write the latest checkpoint, every tile of its tree and the balances of DATA "
        "into a folder, exactly as the server serves them, and print one JSON line.",
        epilog=EXPORT_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--data", type=Path, required=True, help="the server's data directory")
    export.add_argument("--out", type=Path, required=True, help="the mirror folder (created or refreshed)")
    export.add_argument(
        "--auditor",
        type=Path,
        metavar="DIR",
        help="also write the auditor's material (balances) into DIR, private (0700/0600)",
    )
    export.set_defaults(func=export_command)


def _configure_migrate_db(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server migrate-db``: move the ledger from SQLite to PostgreSQL, proved equal."""
    move = subparsers.add_parser(
        "migrate-db",
        help="move the ledger from DATA/ledger.db into an empty PostgreSQL database, proved equal",
        description="With the server stopped: copy every table of DATA/ledger.db into the empty PostgreSQL "
        "database URL, then prove the copy by the log's root hash, the latest checkpoint, every balance and "
        "each table's row count. Only then does DATA name the database (DATA/database); ledger.db is kept as "
        "ledger.db.migrated. Prints one JSON line.",
        epilog="example:\n  kokreativ server migrate-db --data /var/lib/kokreativ-server "
        "--to postgresql:///kokreativ?host=/run/postgresql",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    move.add_argument("--data", type=Path, required=True, help="the server's data directory")
    move.add_argument(
        "--to", required=True, metavar="URL", help="the empty PostgreSQL database, postgresql://…"
    )
    move.set_defaults(func=migrate_db_command)


def _configure_verify_store(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server verify-store``: the operator's cross-check of database and log."""
    store = subparsers.add_parser(
        "verify-store",
        help="compare the database with the log it publishes (the operator's cross-check)",
        description="Check that every stored event is in the transparency log at its index, byte for "
        "byte, that the log holds no other event, and that every stored balance is the sum of its "
        "ledger entries. Prints one JSON line; exits 1 if anything disagrees.",
        epilog="example:\n  kokreativ server verify-store --data /var/lib/kokreativ-server",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    store.add_argument("--data", type=Path, required=True, help="the server's data directory")
    store.set_defaults(func=verify_store_command)


def _configure_rotate_key(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server rotate-key``: the two-step planned key rotation."""
    rotate = subparsers.add_parser(
        "rotate-key",
        help="rotate the server key in two steps (planned rotation; see docs/operations.md)",
        description="Planned rotation of the server key: step 1 makes the new key and logs the transition, "
        "step 2 (--finish) deletes the old one.",
        epilog=ROTATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate.add_argument("--data", type=Path, required=True, help="the server's data directory")
    rotate.add_argument(
        "--finish", action="store_true", help="step 2: delete the old key once every kiosk has synced"
    )
    rotate.set_defaults(func=rotate_command)


def _configure_tokens(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server token add|list|revoke``: named admin tokens with some permissions, maybe for some sites."""
    from server.http.access import Permission

    epilog = TOKEN_EXAMPLES.format(permissions=", ".join(p.value for p in Permission))
    token = subparsers.add_parser(
        "token",
        help="named admin tokens with some permissions, for the economy or some sites",
        description="Add, list and revoke named admin tokens (server.tokens), on the data directory.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    add = commands.add_parser(
        "add",
        help="make a token and print it once",
        description="Make a named token with the given permissions (for the given sites) and print it once.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("--data", type=Path, required=True, help="the server's data directory")
    add.add_argument("--name", required=True, help="who holds it, e.g. the site's coordinators")
    add.add_argument(
        "--permission",
        action="append",
        required=True,
        choices=[p.value for p in Permission],
        metavar="PERMISSION",
        help="a permission (repeat for more): " + ", ".join(p.value for p in Permission),
    )
    add.add_argument(
        "--site",
        action="append",
        default=None,
        metavar="SITE_ID",
        help="only for this site (repeat for more)",
    )
    add.set_defaults(func=token_add_command)
    listing = commands.add_parser(
        "list",
        help="list named tokens (never their text)",
        description="Print every named token, revoked ones too, as one JSON line.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    listing.add_argument("--data", type=Path, required=True, help="the server's data directory")
    listing.set_defaults(func=token_list_command)
    revoke = commands.add_parser(
        "revoke",
        help="stop a named token from working, at once",
        description="Revoke the live token with this name; its name stays taken.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    revoke.add_argument("--data", type=Path, required=True, help="the server's data directory")
    revoke.add_argument("--name", required=True, help="the token's name")
    revoke.set_defaults(func=token_revoke_command)
    rotate = commands.add_parser(
        "rotate-admin",
        help="replace the shared admin token (for machines) and print the new one once",
        description="Replace the shared admin token; the old one stops working at once (no restart).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate.add_argument("--data", type=Path, required=True, help="the server's data directory")
    rotate.set_defaults(func=token_rotate_admin_command)


def _configure_eligibility(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``server eligibility``: the Ehrenamtskarte's thresholds (server.eligibility), shown or changed."""
    command = subparsers.add_parser(
        "eligibility",
        help="show or change the Ehrenamtskarte's thresholds",
        description="Print the eligibility thresholds as one JSON line; the options given change them first.",
        epilog="example:\n  kokreativ server eligibility --data /var/lib/kokreativ-server --years-required 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--data", type=Path, required=True, help="the server's data directory")
    for name, text in (
        ("hours-per-week", "hours a week, averaged over the rolling year (0: not a way to qualify)"),
        ("hours-per-year", "hours a year (0: not a way to qualify)"),
        ("years-required", "rolling years in a row that must be kept up (2; 3 in some sources)"),
        ("close-percent", "'close': each required year reached this share of the threshold"),
    ):
        command.add_argument(f"--{name}", type=int, metavar="N", help=text)
    command.set_defaults(func=eligibility_command)


def eligibility_command(args: argparse.Namespace) -> int:
    """Change the thresholds given, then print them all as one JSON line."""
    import json

    from server.eligibility import change_thresholds

    names = ("hours_per_week", "hours_per_year", "years_required", "close_percent")
    changes = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    with _ledger(args.data) as storage:
        print(json.dumps(change_thresholds(storage, changes).to_json(), ensure_ascii=False))
    return 0


def run_settings(args: argparse.Namespace, *, default_config: Path = DEFAULT_CONFIG) -> ServerConfig:
    """The settings ``server run`` uses: its flags over the settings file over the defaults.

    Raises :class:`server.errors.ConfigError` for a bad file or flag, and when
    no data directory is given anywhere.
    """
    file = config.resolve(args.config, default=default_config)
    limits = config.override(
        file.limits,
        {
            "request_timeout_s": args.request_timeout,
            "keep_alive_timeout_s": args.keep_alive_timeout,
            "max_connections": args.max_connections,
            "max_connections_per_peer": args.max_connections_per_peer,
        },
    )
    flags = {
        "data_dir": args.data,
        "database": args.database,
        "host": args.host,
        "port": args.port,
        "verify_workers": args.verify_workers,
        "workers": args.workers,
        "log_level": args.log_level,
        "trusted_proxies": tuple(args.trusted_proxy) if args.trusted_proxy else None,
    }
    settings = dataclasses.replace(config.override(file, flags), limits=limits)
    if settings.data_dir is None:
        where = args.config or default_config
        raise ConfigError(f"no data directory: give --data, or data_dir in {where}")
    return settings


def run_command(args: argparse.Namespace) -> int:
    """Open the data directory and serve it with uvicorn in the foreground (READY and pings under systemd).

    With ``--workers N`` above 1 the ledger is opened (and migrated) once here, then
    each of N forked processes opens its own (:mod:`server.workers`).
    """
    from server.datadir import open_data_dir
    from server.metrics import share_across_processes, shared_metrics_dir
    from server.runner import serve_forever
    from server.workers import serve_workers

    settings = run_settings(args)
    assert settings.data_dir is not None, "run_settings refuses a missing data directory"
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.workers > 1:
        with open_data_dir(settings.data_dir, database=settings.database):
            pass  # checks the folder and applies pending migrations once, before any worker opens it
        # Request and ingest counts in files every server process on this data folder adds to (/metrics).
        share_across_processes(shared_metrics_dir(settings.data_dir))
        return serve_workers(
            functools.partial(_served_app, settings),
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=True,
            limits=settings.limits,
        )
    with _served_app(settings) as app:
        serve_forever(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=True,
            limits=settings.limits,
        )
    return 0


def migrate_db_command(args: argparse.Namespace) -> int:
    """Move the ledger to PostgreSQL and print the proof as one JSON line."""
    import json

    from server.migratedb import migrate_to_postgres

    print(json.dumps(migrate_to_postgres(args.data, args.to).to_json(), ensure_ascii=False))
    return 0


@contextlib.contextmanager
def _served_app(settings: ServerConfig) -> Iterator[Any]:
    """The app ``server run`` serves, over the ledger opened here (in each worker, with several)."""
    from server.alerts import Alerter, Notifier
    from server.app import create_app
    from server.datadir import open_data_dir
    from server.metrics import share_across_processes, shared_metrics_dir
    from server.shopmap import map_layer

    assert settings.data_dir is not None, "run_settings refuses a missing data directory"
    with open_data_dir(settings.data_dir, database=settings.database) as context:
        # Request and ingest counts in files every server process on this data folder adds to (/metrics).
        share_across_processes(shared_metrics_dir(settings.data_dir))
        alerter = None
        if settings.alerts.enabled:
            # Every worker checks; a notice is claimed in the ledger before it is sent (server.alerts).
            alerter = Alerter(Notifier.from_settings(context, settings.alerts))
        yield create_app(
            context,
            verify_workers=settings.verify_workers,
            trusted_proxies=settings.trusted_proxies,
            map_layer=map_layer(settings.map_layer),
            alerts=alerter,
            close_after_batch=settings.workers > 1,
        )


def backup_command(args: argparse.Namespace) -> int:
    """Back up the ledger and print what was written as one JSON line."""
    import json

    from server.backup import backup_ledger

    print(json.dumps(backup_ledger(args.data, args.out).to_json(), ensure_ascii=False))
    return 0


def restore_command(args: argparse.Namespace) -> int:
    """Restore a ledger backup into a new data folder and print where as one JSON line."""
    import json

    from server.backup import restore_ledger

    print(json.dumps(restore_ledger(args.backup, args.data, database=args.database).to_json()))
    return 0


def backup_keys_command(args: argparse.Namespace) -> int:
    """Back up the person keys, prune past the retention, print what was done as one JSON line."""
    import json

    from protocol.clock import now_ms
    from server.backup import backup_person_keys

    result = backup_person_keys(args.data, args.out, now_ms=now_ms(), retention_days=args.retention_days)
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return 0


def export_command(args: argparse.Namespace) -> int:
    """Export the log's tiles and print what was written as one JSON line."""
    import json

    from server.logexport import export_tiles

    print(json.dumps(export_tiles(args.data, args.out, auditor=args.auditor).to_json(), ensure_ascii=False))
    return 0


def verify_store_command(args: argparse.Namespace) -> int:
    """Compare the database with its log and print the report as one JSON line; 1 if it disagrees."""
    import json

    from server.datadir import open_data_dir
    from server.verify import verify_store

    with open_data_dir(args.data) as context:
        report = verify_store(context.storage)
    print(json.dumps(report.to_json(), ensure_ascii=False))
    return 0 if report.ok else 1


def rotate_command(args: argparse.Namespace) -> int:
    """Run step 1 or step 2 of a server key rotation and print one JSON line."""
    import json

    from protocol.clock import now_ms
    from server.datadir import rotate_key
    from server.keyrotation import finish_rotation

    if args.finish:
        old = finish_rotation(args.data)
        print(
            json.dumps(
                {"finished": old is not None, "old_public_key": old.to_b64() if old else None},
                ensure_ascii=False,
            )
        )
        return 0
    done = rotate_key(args.data, now_ms=now_ms())
    print(
        json.dumps(
            {
                "old_public_key": done.old_public_key.to_b64(),
                "new_public_key": done.new_public_key.to_b64(),
                "log_index": done.log_index,
                "log_verifier_key": done.log_verifier_key,
                "next": "restart the server; run --finish once every kiosk has synced",
            },
            ensure_ascii=False,
        )
    )
    return 0


def _ledger(data: Path) -> Storage:
    """The data directory's ledger, migrated (a token needs the m015 tables)."""
    from server.datadir import open_ledger

    return open_ledger(Path(data))


def token_add_command(args: argparse.Namespace) -> int:
    """Add a named token; print its description as one JSON line and the token itself once, on stderr."""
    import json
    import sys

    from protocol.clock import now_ms
    from server.tokens import add_token

    with _ledger(args.data) as storage:
        token = add_token(
            storage, name=args.name, permissions=args.permission, sites=args.site, now_ms=now_ms()
        )
    sites = sorted(set(args.site)) if args.site else None
    print(
        json.dumps(
            {"name": args.name.strip(), "permissions": sorted(set(args.permission)), "sites": sites},
            ensure_ascii=False,
        )
    )
    print(f"\nToken (shown once, store it safely): {token}", file=sys.stderr)
    return 0


def token_list_command(args: argparse.Namespace) -> int:
    """Print every named token (name, permissions, sites, times) as one JSON line."""
    import json

    from server.tokens import list_tokens

    with _ledger(args.data) as storage:
        print(json.dumps({"tokens": list_tokens(storage)}, ensure_ascii=False))
    return 0


def token_revoke_command(args: argparse.Namespace) -> int:
    """Revoke a named token and print one JSON line."""
    import json

    from protocol.clock import now_ms
    from server.tokens import revoke_token

    with _ledger(args.data) as storage:
        revoke_token(storage, args.name, now_ms=now_ms())
    print(json.dumps({"revoked": args.name}, ensure_ascii=False))
    return 0


def token_rotate_admin_command(args: argparse.Namespace) -> int:
    """Rotate the shared admin token; print one JSON line and the new token once, on stderr."""
    import json
    import sys

    from server.tokens import rotate_admin_token

    with _ledger(args.data) as storage:
        token = rotate_admin_token(storage)
    print(json.dumps({"rotated": "admin token"}, ensure_ascii=False))
    print(f"\nAdmin token (shown once, store it safely): {token}", file=sys.stderr)
    return 0
