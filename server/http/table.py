"""The route × access table in Markdown, generated from the routes' own declarations.

``docs/architecture.md`` holds it between ``<!-- routes:begin -->`` and
``<!-- routes:end -->``; regenerate it after changing a route::

    python -m server.http.table --write docs/architecture.md

``--check`` exits 1 when the file's table is out of date (a test does the same).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from fastapi import FastAPI
from starlette.routing import BaseRoute

from server.http.access import declared_routes

BEGIN: Final = "<!-- routes:begin -->"
END: Final = "<!-- routes:end -->"
HEADER: Final = (
    "| method | path | audience | access | scope | quota | note |",
    "|---|---|---|---|---|---|---|",
)


class UndeclaredRoutes(ValueError):
    """Some routes declare no access (or more than one), so no true table can be made."""


def route_table(routes: Iterable[BaseRoute]) -> str:
    """One Markdown row per route: method, path, audience (the router's tag), access, scope, quota, note."""
    declared = declared_routes(routes)
    missing = [str(route) for route in declared if len(route.access) != 1]
    if missing:
        raise UndeclaredRoutes(f"routes without exactly one declared access: {', '.join(missing)}")
    rows = list(HEADER)
    for route in declared:
        (access,) = route.access
        method = ", ".join(route.methods)
        bound = "; ".join(q.text for q in route.quotas)
        rows.append(
            f"| {method} | `{route.path}` | {route.audience} | {access.label} | {access.scope_label} "
            f"| {bound} | {access.note} |"
        )
    return "\n".join(rows) + "\n"


def with_table(document: str, table: str) -> str:
    """``document`` with the text between the route markers replaced by ``table``."""
    head, begin, rest = document.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the document lacks the markers {BEGIN} … {END}")
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def app_table() -> str:
    """The table of the server's routers (:data:`server.app.ROUTERS`)."""
    from server.app import mount_routers  # the app imports every router; only the command needs them

    return route_table(mount_routers(FastAPI(docs_url=None, redoc_url=None, openapi_url=None)).routes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server.http.table",
        description="Print the route × access table, or write it into a Markdown file between "
        f"{BEGIN} and {END}.  Example: python -m server.http.table --write docs/architecture.md",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="FILE", help="replace the table in FILE")
    group.add_argument("--check", type=Path, metavar="FILE", help="exit 1 if FILE's table is out of date")
    args = parser.parse_args(argv)
    table = app_table()
    if args.write is not None:
        args.write.write_text(with_table(args.write.read_text(encoding="utf-8"), table), encoding="utf-8")
    elif args.check is not None:
        text = args.check.read_text(encoding="utf-8")
        if with_table(text, table) != text:
            print(f"{args.check}: the route table is out of date; run with --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
