"""The activity log: who did what, when, to what and where, for every console action.

Routers call :func:`record_activity` after a service succeeded (a refusal is
not an action).  Rows hold IDs and short facts only, never a volunteer's name
or a secret: the activity page shows them to admins (``read_activity``), and a
site's coordinator with ``read_activity`` sees their sites' rows only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from server.context import ServerContext
from server.principals import Principal
from server.storage import Tx
from server.storage.accounts import ActivityRow

MAX_ACTION: Final = 64
MAX_OBJECT: Final = 200
MAX_DATA_BYTES: Final = 4096
OPERATOR: Final = "operator"  # the actor of an action with no principal: the CLI or the shell


def _bounded(data: Mapping[str, Any] | None) -> dict[str, Any]:
    value = dict(data or {})
    text = json.dumps(value, sort_keys=True, default=str)
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        return {"truncated": text[: MAX_DATA_BYTES // 2]}
    return json.loads(text)  # type: ignore[no-any-return]


def record_activity_in(
    tx: Tx,
    now_ms: int,
    principal: Principal | None,
    action: str,
    object_id: str = "",
    *,
    site_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """:func:`record_activity` inside an open transaction (recorded only if it commits)."""
    tx.insert_activity(
        now_ms,
        None if principal is None else principal.person_id,
        OPERATOR if principal is None else principal.name,
        action[:MAX_ACTION],
        object_id[:MAX_OBJECT],
        site_id,
        _bounded(data),
    )


def record_activity(
    ctx: ServerContext,
    principal: Principal | None,
    action: str,
    object_id: str = "",
    *,
    site_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Record that ``principal`` (``None``: the operator) did ``action`` (``"team.add"``) to ``object_id``.

    ``site_id`` is the site it concerns (the activity page filters by it);
    ``data`` a few more facts as JSON (at most 4 KiB; a longer one is cut).
    """
    with ctx.storage.write() as tx:
        record_activity_in(tx, ctx.now_ms(), principal, action, object_id, site_id=site_id, data=data)


def list_activity(
    ctx: ServerContext,
    viewer: Principal,
    permission: Any,
    *,
    person_id: str | None = None,
    action: str | None = None,
    site_id: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
    limit: int = 500,
) -> list[ActivityRow]:
    """Recorded actions ``viewer`` may see (``permission``'s sites; everything economy-wide), newest first."""
    sites = viewer.sites_for(permission)
    if site_id is not None:
        sites = frozenset({site_id}) if sites is None or site_id in sites else frozenset()
    with ctx.storage.read() as tx:
        return tx.activity(
            person_id=person_id, action=action, site_ids=sites, from_ms=from_ms, to_ms=to_ms, limit=limit
        )
