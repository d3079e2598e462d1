"""The console's fleet: kiosks and tills with their health and alarms, enrolment codes, revocation.

A thin layer over :mod:`server.health` (each row is :func:`~server.health.kiosk_report`),
:mod:`server.enrolment` and :func:`server.admin.revoke_kiosk` that keeps each
caller to their sites (:mod:`server.visibility`): a kiosk or site outside them
answers ``404`` as if unknown.

Alarms, in the order a row lists them:

* ``equivocation``: the kiosk signed two bodies for one seq (it is suspended, or was);
* ``silent``: nothing from it for longer than ``silent_after_s`` (never for a revoked one);
* ``clock``: its last heartbeat said its clock is not synced, or was more than
  :data:`CLOCK_ALARM_MS` off the server's.
"""

from __future__ import annotations

from typing import Any, Final

import segno

from protocol import Reason
from protocol.economy import SiteKind
from server import admin, enrolment, health
from server.accounts import record_activity
from server.context import ServerContext
from server.errors import ServiceError
from server.models import KioskStatus
from server.principals import Principal
from server.visibility import Sites, visible

CLOCK_ALARM_MS: Final = 120_000  # a heartbeat's offset beyond this (either way) is a clock alarm
ALARMS: Final = ("equivocation", "silent", "clock")


def _clock_state(report: dict[str, Any]) -> str:
    """``unknown`` (no heartbeat yet), ``unsynced``, ``off`` (beyond :data:`CLOCK_ALARM_MS`) or ``ok``."""
    if report["clock_synced"] is None:
        return "unknown"
    if not report["clock_synced"]:
        return "unsynced"
    if abs(report["clock_offset_ms"]) > CLOCK_ALARM_MS:
        return "off"
    return "ok"


def fleet(
    ctx: ServerContext, sites: Sites, *, silent_after_s: int = health.DEFAULT_SILENT_AFTER_S
) -> list[dict[str, Any]]:
    """The kiosks and tills of ``sites``, oldest enrolment first, each a health report with more.

    Beside :func:`server.health.kiosk_report`'s fields: ``site_name``, ``terminal``
    (``kiosk`` at a check-in site, ``till`` at a shop), ``equivocations`` (how many on
    record), ``clock`` (:func:`_clock_state`) and ``alarms`` (names from :data:`ALARMS`).
    """
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        kiosks = [k for k in tx.list_kiosks() if visible(sites, k.site_id)]
        beats = tx.kiosk_health()
        batches = tx.last_batch_ms()
        equivocations = tx.equivocation_counts()
        names = {s.site_id: s for s in tx.list_sites()}
    rows = []
    for kiosk in kiosks:
        report = health.kiosk_report(
            kiosk,
            beats.get(kiosk.kiosk_id),
            batches.get(kiosk.kiosk_id),
            now_ms=now,
            silent_after_s=silent_after_s,
        )
        site = names[kiosk.site_id]
        report["site_name"] = site.name
        report["terminal"] = "till" if site.kind is SiteKind.SHOP else "kiosk"
        report["equivocations"] = equivocations.get(kiosk.kiosk_id, 0)
        report["clock"] = _clock_state(report)
        alarms = []
        if kiosk.status is not KioskStatus.REVOKED:
            if report["equivocations"] or kiosk.status is KioskStatus.SUSPENDED:
                alarms.append("equivocation")
            if report["silent"]:
                alarms.append("silent")
            if report["clock"] in ("unsynced", "off"):
                alarms.append("clock")
        report["alarms"] = alarms
        rows.append(report)
    return rows


def enrolment_sites(ctx: ServerContext, sites: Sites) -> list[dict[str, Any]]:
    """The sites and shops of ``sites`` a code can be made for: ``{"site_id", "name", "kind"}``, by name."""
    with ctx.storage.read() as tx:
        found = [s for s in tx.list_sites() if visible(sites, s.site_id)]
    return [{"site_id": s.site_id, "name": s.name, "kind": s.kind.value} for s in sorted(found, key=_by_name)]


def _by_name(site: Any) -> tuple[str, str]:
    return (site.name.casefold(), site.site_id)


def create_code(
    ctx: ServerContext,
    sites: Sites,
    site_id: str,
    *,
    expires_in_s: int = enrolment.DEFAULT_CODE_TTL_S,
    by: Principal | None = None,
) -> dict[str, Any]:
    """A one-time enrolment code for ``site_id``, with its digit groups and a QR code (inline SVG).

    ``404 unknown_site`` for a site outside ``sites``, as for one that does not exist.
    The QR code holds the 20 digits only (numeric mode: the smallest code), which a
    kiosk's set-up reads as if typed.  The activity log records who made a code for
    which site (``kiosk.code``), never the code.
    """
    if not visible(sites, site_id):
        raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
    made = enrolment.create_enrolment_code(ctx, site_id, expires_in_s)
    record_activity(ctx, by, "kiosk.code", site_id, site_id=site_id, data={"expires_ms": made["expires_ms"]})
    digits = enrolment.normalise_code(made["code"])
    return {**made, "groups": made["code"].split("-"), "qr_svg": qr_svg(digits)}


def qr_svg(text: str) -> str:
    """``text`` as a QR code: an ``<svg>`` element to put inline in a page (no external file, no JS)."""
    qr = segno.make(text, error="m", micro=False)
    svg: str = qr.svg_inline(scale=6, border=4, dark="#000", light="#fff", title="QR-Code")
    return svg


def revoke(ctx: ServerContext, sites: Sites, kiosk_id: str, *, by: Principal | None = None) -> dict[str, Any]:
    """Revoke ``kiosk_id`` (:func:`server.admin.revoke_kiosk`); ``404 unknown_kiosk`` outside ``sites``.

    Recorded in the activity log as ``kiosk.revoke`` by ``by`` (``None``: the operator).
    """
    with ctx.storage.read() as tx:
        kiosk = tx.get_kiosk(kiosk_id)
    if kiosk is None or not visible(sites, kiosk.site_id):
        raise ServiceError(Reason.UNKNOWN_KIOSK, "no such kiosk")
    revoked = admin.revoke_kiosk(ctx, kiosk_id)
    record_activity(ctx, by, "kiosk.revoke", kiosk_id, site_id=kiosk.site_id)
    return revoked
