"""Who did what in the volunteers and confirmations pages, through the accounts' activity log.

:func:`server.accounts.record_activity` (H1's accounts core) records every
console action with who, what and when.  This branch was written before the
accounts core reached main, so it looks the function up when it runs: with
accounts present every action is recorded; without them (this branch on its
own) nothing is, and nothing fails.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from server.context import ServerContext
from server.http import access
from server.http.access import Scope, economy

ANYWHERE: Scope = getattr(access, "anywhere", economy)
"""H1's ``anywhere`` scope (a principal holding the permission at some site) once it is on main."""


def record(
    ctx: ServerContext,
    principal: object,
    action: str,
    object_id: str = "",
    *,
    site_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Record ``action`` on ``object_id`` by ``principal`` in the activity log, where there is one."""
    try:
        accounts = importlib.import_module("server.accounts")
    except ImportError:
        return
    accounts.record_activity(ctx, principal, action, object_id, site_id=site_id, data=data)
