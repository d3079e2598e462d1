"""``kokreativ server ...``: glue that parses arguments and calls :mod:`server`.

``run`` serves a data directory in the foreground with uvicorn, logging to
stderr.  uvicorn handles ``SIGTERM`` and ``SIGINT`` by finishing in-flight
requests; after a ``SIGKILL`` the next start is safe too, because every batch
is one SQLite transaction (WAL, ``synchronous=FULL``) and opening a data
directory only applies pending migrations.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

EXAMPLES = """\
examples:
  kokreativ server run --data /var/lib/kokreativ-server
  kokreativ server run --data ./server-data --host 0.0.0.0 --port 8080
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``server`` sub-commands to ``parser``."""
    subparsers = parser.add_subparsers(dest="server_command", metavar="COMMAND", required=True)
    run = subparsers.add_parser(
        "run",
        help="serve the ledger from a data directory (foreground)",
        description="Serve the ledger HTTP API from DATA until stopped (SIGTERM or Ctrl-C).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--data", type=Path, required=True, help="data directory made by 'provision init'")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    run.add_argument("--port", type=int, default=8080, help="TCP port (default: %(default)s)")
    run.add_argument(
        "--verify-workers",
        type=int,
        default=None,
        help="threads for signature checks (default: one per core, max 4)",
    )
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Open the data directory and serve it with uvicorn in the foreground."""
    import uvicorn

    from server.app import create_app
    from server.datadir import open_data_dir

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with open_data_dir(args.data) as context:
        app = create_app(context, verify_workers=args.verify_workers)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=True)
    return 0
