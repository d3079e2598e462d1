"""What every ``kokreativ provision`` command shares: the admin client, JSON output, parser glue.

Kept apart from the commands so the command modules (:mod:`provisioning.cli`
and :mod:`provisioning.economy_cli`) import it without importing each other.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any, TypeAlias

from protocol import Reason
from provisioning.client import ApiClient
from provisioning.errors import ProvisioningError

Handler = Callable[[argparse.Namespace], int]
# What ``add_subparsers`` returns; a string, because the class is not subscriptable at run time.
SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def print_json(obj: object) -> None:
    """``obj`` as indented JSON; umlauts stay readable (``Café``, not ``Caf\\u00e9``)."""
    print(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False))


def print_line(obj: object) -> None:
    """One JSON value on one line, for commands whose output a script reads line by line."""
    print(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False))


def server_url(args: argparse.Namespace) -> str:
    """``--server``, else ``KOKREATIV_SERVER``: never a guessed address.

    A guess (127.0.0.1:8080 once) turned a forgotten ``export`` into a raw
    connection error from some other machine's point of view; saying what is
    missing is the next step.  Read when the command runs, not when it is parsed.
    """
    url = args.server or os.environ.get("KOKREATIV_SERVER")
    if not url:
        raise ProvisioningError(
            Reason.SERVER_NOT_SET, "no server given: pass --server URL or set KOKREATIV_SERVER"
        )
    return str(url)


def admin_client(args: argparse.Namespace) -> ApiClient:
    url = server_url(args)
    token = args.token or os.environ.get("KOKREATIV_ADMIN_TOKEN")
    if not token:
        raise ProvisioningError("unauthorized", "give --token or set KOKREATIV_ADMIN_TOKEN")
    return ApiClient(url, admin_token=token)


def admin_call(call: Callable[[ApiClient, argparse.Namespace], Any]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        with admin_client(args) as client:
            print_json(call(client, args))
        return 0

    return handler


def yes_no(text: str) -> bool:
    answers = {"yes": True, "no": False}
    if text.lower() not in answers:
        raise argparse.ArgumentTypeError("answer yes or no")
    return answers[text.lower()]


def leaf(
    group: SubParsers,
    name: str,
    help_text: str,
    example: str,
    handler: Handler,
    *,
    admin: bool = True,
) -> argparse.ArgumentParser:
    parser = group.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if admin:
        add_server_option(parser)
        parser.add_argument("--token", help="admin token (env KOKREATIV_ADMIN_TOKEN)")
    parser.set_defaults(func=handler)
    return parser


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """``--server``; without it :func:`server_url` reads ``KOKREATIV_SERVER``."""
    parser.add_argument("--server", metavar="URL", help="ledger server URL (env KOKREATIV_SERVER)")


def group(parent: SubParsers, name: str, help_text: str) -> SubParsers:
    parser = parent.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)
