"""The ``kokreativ`` command: thin glue over the packages' own command modules.

Each package that has commands exposes ``configure(parser)`` in its ``cli``
module; ``configure`` adds sub-commands whose ``func(args) -> int`` does the
work by calling library functions.  Errors that carry a reason code print one
line and exit 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from kokreativ import __version__

EXAMPLES = """\
examples:
  kokreativ demo                                  run the whole loop on embedded defaults
  kokreativ provision init --data /var/lib/kokreativ-server
  kokreativ server run --data /var/lib/kokreativ-server --port 8080
  kokreativ terminal sync --config /var/lib/kokreativ/kiosk.toml --once
  kokreativ doctor --device tty:AMA0:pn532
  kokreativ card inspect --device usb --config /var/lib/kokreativ/kiosk.toml
  kokreativ report volunteer v_… --from 2026-11-01 --to 2026-11-30
"""


def _commands() -> list[tuple[str, str, Callable[[argparse.ArgumentParser], None]]]:
    # Imported here so that ``kokreativ --help`` works with only some extras installed.
    from kokreativ import demo, tools, verify_cli
    from provisioning import cli as provisioning_cli
    from provisioning import economy_cli
    from server import cli as server_cli
    from terminal import cli as terminal_cli

    return [
        ("card", "look at a card on a reader (what would a kiosk make of it?)", tools.configure_card),
        ("demo", "run a simulated day end to end: server, kiosk offline, sync, report", demo.configure),
        ("doctor", "find the NFC reader and print the fix for what stops it", tools.configure_doctor),
        ("provision", "set up servers, sites, kiosks and cards (coordinators)", provisioning_cli.configure),
        ("report", "statements for a volunteer or a shop (coordinators)", economy_cli.configure_report),
        ("server", "run the ledger server", server_cli.configure),
        ("terminal", "run a kiosk and its background sync", terminal_cli.configure),
        ("verify", "audit the ledger, or check one checkpoint or proof (auditors)", verify_cli.configure),
    ]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kokreativ",
        description="Reward volunteer work with local tokens.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"kokreativ {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, configure in _commands():
        sub = subparsers.add_parser(
            name, help=help_text, description=help_text, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        configure(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func  # every sub-command sets one
    try:
        return func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for every error the user can cause
        if args.debug:
            raise
        # Packages name their codes ``reason`` (a Reason) or ``code`` (a local string).
        reason = getattr(exc, "reason", None) or getattr(exc, "code", None)
        prefix = f"{getattr(reason, 'value', reason)}: " if reason else ""
        message = getattr(exc, "message", None) or str(exc)
        print(f"kokreativ: error: {prefix}{message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
