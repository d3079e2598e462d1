"""What the public pages (``/``, ``/anzeige``) show: the public totals and the latest checkpoint.

Only :func:`server.totals.public_totals` feeds the figures, so the pages can
never show more than ``GET /v1/log/totals`` does: no figure about fewer than
:data:`server.totals.MIN_PUBLIC_COUNT` people, nothing of the open month.
The checkpoint is the same as ``GET /checkpoint`` serves, with when it was
signed.
"""

from __future__ import annotations

from typing import Any

from server import tlog, totals
from server.context import ServerContext


def economy(ctx: ServerContext) -> dict[str, Any]:
    """The public totals, the numbers of sites and shops taking part, and the latest checkpoint.

    ``checkpoint`` is ``{"size", "signed_ms"}``; ``places`` and ``shops`` count
    the check-in sites and the shops (public: each is a log entry of its own).
    """
    figures = totals.public_totals(ctx)
    with ctx.storage.read() as tx:
        size, _ = tlog.latest_checkpoint(tx)  # the totals are of the log's first figures["size"] entries
        signed_ms = tx.checkpoint_created_ms(size)
    return {
        **figures,
        "places": len(figures["sites"]),
        "shop_count": len(figures["shops"]),
        "checkpoint": {"size": size, "signed_ms": signed_ms},
        "at_ms": ctx.now_ms(),
    }
