"""Shops: sites whose terminals redeem tokens, their limits and their till presets.

A shop is a site of kind ``shop`` (``docs/economy.md``, "Sites and shops"):
it earns nothing (``tokens_per_hour`` 0) and its kiosks, enrolled with one of
its codes, run in shop mode.  Creating one logs a ``shop`` entry with its first
limits in the same transaction, so an auditor knows every limit a redemption
was judged by; later limits come from signed ``shop_limits`` decisions.  Till
presets are display settings, stored with the shop and sent in trust lists,
but not logged: they decide no balance.

Every call is authorised by :func:`server.admin.check_admin_token` first (in
the HTTP layer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from protocol import MalformedError, Preset, Reason, ShopLimits, ids
from protocol.decisions import MAX_VOID_WINDOW_S
from protocol.events import MAX_AMOUNT
from protocol.trust import parse_presets
from server import quotas, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import optional_bool, optional_int, require_str
from server.models import Site, SiteKind

SHOP_FIELDS: Final = frozenset(
    {
        "name",
        "max_amount",
        "offline_allowance",
        "offline_daily_cap",
        "void_window_s",
        "presets",
        "allow_uncredentialed",
    }
)
PRESET_FIELDS: Final = frozenset({"presets"})
# A shop records no shifts; the schema still wants a maximum, so it gets the usual default.
_SHOP_MAX_SHIFT_HOURS: Final = 12
DEFAULT_LIMITS: Final = ShopLimits(
    max_amount=50, offline_allowance=10, offline_daily_cap=200, void_window_s=900
)


def _presets(request: Mapping[str, Any], max_amount: int) -> tuple[Preset, ...]:
    """``presets`` of a request (``[]`` when absent): at most 12, each priced 1 to ``max_amount``."""
    try:
        presets = parse_presets(request.get("presets", []))
    except MalformedError as exc:
        raise InputError(Reason.MALFORMED_REQUEST, exc.message) from exc
    for preset in presets:
        if preset.amount > max_amount:
            raise InputError(
                Reason.MALFORMED_REQUEST, f"preset {preset.label!r} costs more than max_amount {max_amount}"
            )
    return presets


def _not_a_shop(site_id: str) -> ServiceError:
    return ServiceError(Reason.NOT_A_SHOP, f"site {site_id} is a check-in site, not a shop")


def create_shop(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    """A new shop with its limits (defaults: :data:`DEFAULT_LIMITS`); return the site JSON.

    Logged as one ``shop`` entry.  A shop created with ``allow_uncredentialed`` also
    logs its card policy as a ``site`` entry right after it, exactly as
    :func:`server.admin.set_site_policy` would, because the ``shop`` entry has no
    field for it and an auditor needs it to judge ``uncredentialed_card``.
    """
    name = require_str(request, "name")
    limits = ShopLimits(
        max_amount=optional_int(
            request, "max_amount", default=DEFAULT_LIMITS.max_amount, minimum=1, maximum=MAX_AMOUNT
        ),
        offline_allowance=optional_int(
            request,
            "offline_allowance",
            default=DEFAULT_LIMITS.offline_allowance,
            minimum=0,
            maximum=MAX_AMOUNT,
        ),
        offline_daily_cap=optional_int(
            request,
            "offline_daily_cap",
            default=DEFAULT_LIMITS.offline_daily_cap,
            minimum=0,
            maximum=MAX_AMOUNT,
        ),
        void_window_s=optional_int(
            request,
            "void_window_s",
            default=DEFAULT_LIMITS.void_window_s,
            minimum=0,
            maximum=MAX_VOID_WINDOW_S,
        ),
    )
    limits = dataclasses.replace(limits, presets=_presets(request, limits.max_amount))
    site = Site(
        site_id=ids.new_id(ids.SITE),
        name=name,
        tokens_per_hour=0,
        max_shift_hours=_SHOP_MAX_SHIFT_HOURS,
        allow_uncredentialed=optional_bool(request, "allow_uncredentialed", default=False),
        kind=SiteKind.SHOP,
        shop=limits,
    )
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        quotas.check(tx.count_sites(), quotas.SITES, "sites and shops")
        version = tx.log_format()
        entries = [tlog.shop_entry(site, now, version=version)]
        if site.allow_uncredentialed:
            entries.append(tlog.site_entry(site, now, version=version))
        tx.insert_site(site, now)
        tlog.append(ctx, tx, entries, now_ms=now)
    return site.to_json()


def set_presets(ctx: ServerContext, site_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Replace a shop's till presets (not logged: display only); return the site JSON.

    ``404 unknown_site``; ``409 not_a_shop`` for a check-in site.  Terminals get the new
    presets with their next trust list.
    """
    if "presets" not in request:
        raise InputError(Reason.MALFORMED_REQUEST, "presets is required")
    with ctx.storage.write() as tx:
        site = tx.get_site(site_id)
        if site is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if site.shop is None:
            raise _not_a_shop(site_id)
        shop = dataclasses.replace(site.shop, presets=_presets(request, site.shop.max_amount))
        site = dataclasses.replace(site, shop=shop)
        tx.update_site(site)
    return site.to_json()
