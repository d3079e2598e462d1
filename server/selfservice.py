"""A volunteer's own page (``/ich``): what they see of themselves, and the two things they may do there.

Everything here is about the volunteer a live session proves (:mod:`server.sessions`);
no function takes anyone else's ID from a request.  The page shows:

* the balance, the shifts and the redemptions (the ledger's ``redeem`` and ``void`` lines);
* the hours in the rolling year toward the Ehrenamtskarte (:mod:`server.eligibility`);
* the hours certificates issued about them (:mod:`server.certificates`) and the log
  receipts they can check in the browser (:mod:`server.openings`).

And it lets them:

* report a card lost (:func:`report_lost`): their own cards are blocked at once, as a
  coordinator's block (:func:`server.cards.block_in`, with its log entry), and a
  second report changes nothing; a card that is not theirs answers ``404 unknown_card``
  exactly like one that does not exist, so no one learns which cards exist;
* print a fresh hours certificate of the last rolling year (:func:`issue_own_certificate`).
  The salt printed on a certificate is kept nowhere (it hides the name in the log),
  so an earlier one cannot be printed again; a new one is a new log entry, at most
  :data:`CERTIFICATES_PER_DAY` a day per volunteer (``429 quota_exceeded``).
"""

from __future__ import annotations

import datetime
from collections.abc import Collection
from typing import Any, Final

from protocol import Reason
from server import cards, certificates, eligibility, quotas, reads
from server.certificates import IssuedCertificate
from server.context import ServerContext
from server.errors import ServiceError
from server.principals import Principal
from server.storage.certificates import CertificateRow

LOST_REASON: Final = "lost: reported by the volunteer"  # stored with the card; no name in it
CERTIFICATES_PER_DAY: Final = 3
SHOWN_SHIFTS: Final = 50  # the newest; the export and the statement have all
SHOWN_RECEIPTS: Final = 100
# Who issued a certificate the volunteer printed themselves, in the activity log: no permission, no site.
SELF: Final = Principal("the volunteer, on /ich", sites=frozenset())


def _shifts(tx: Any, volunteer_id: str, names: dict[str, str]) -> list[dict[str, Any]]:
    found = [shift for card in tx.list_cards(volunteer_id) for shift in tx.shifts_for_card(card.card_id)]
    found.sort(key=lambda shift: (shift.start_ms, shift.shift_id), reverse=True)
    return [
        {
            "start_ms": shift.start_ms,
            "end_ms": shift.end_ms,
            "site": names.get(shift.site_id, shift.site_id),
            "minutes": shift.minutes,
            "tokens": shift.tokens,
            "status": shift.status.value,
            "undone": shift.reason == "undone",  # taken back at the kiosk: set aside, but no refusal
        }
        for shift in found[:SHOWN_SHIFTS]
    ]


def _redemptions(tx: Any, volunteer_id: str, names: dict[str, str]) -> list[dict[str, Any]]:
    lines = [
        {"at_ms": entry.created_ms, "kind": entry.kind, "tokens": -entry.delta, "shop": names.get(site, site)}
        for entry, site, _card in tx.ledger_lines(volunteer_id, 0, None)
        if entry.kind in ("redeem", "void")
    ]
    return list(reversed(lines))[:SHOWN_SHIFTS]


def _standing(tx: Any, volunteer_id: str, today: datetime.date) -> dict[str, Any]:
    rule = eligibility.read_thresholds(tx)
    first = today - datetime.timedelta(days=eligibility.YEAR_DAYS * rule.years_required - 1)
    spans = tx.worked_spans(
        [volunteer_id],
        eligibility.day_start_ms(first),
        eligibility.day_start_ms(today + datetime.timedelta(days=1)),
    )
    found = eligibility.standing(volunteer_id, None, spans, today, rule)
    return {
        "minutes": found.minutes_this_year,
        "needed_minutes": rule.year_minutes,
        "percent": min(100, found.minutes_this_year * 100 // max(1, rule.year_minutes)),
        "years_required": rule.years_required,
        "years_kept": found.years_kept,
        "status": found.status.value,
    }


def my_page(ctx: ServerContext, volunteer_id: str) -> dict[str, Any]:
    """Everything ``/ich`` shows of ``volunteer_id``, read in one transaction (so it agrees with itself).

    ``{"balance","cards","shifts","redemptions","standing","certificates","receipts","read_ms"}``;
    ``404 unknown_volunteer`` if the volunteer is gone (an erased one keeps their balance and history).
    """
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        names = {site.site_id: site.name for site in tx.list_sites()}
        own_cards = tx.list_cards(volunteer_id)
        page = {
            "balance": tx.balance(volunteer_id),
            "cards": [
                {"card_id": card.card_id, "blocked_ms": card.blocked_ms, "registered_ms": card.registered_ms}
                for card in own_cards
            ],
            "shifts": _shifts(tx, volunteer_id, names),
            "redemptions": _redemptions(tx, volunteer_id, names),
            "standing": _standing(tx, volunteer_id, eligibility.local_today(now)),
            "certificates": [_certificate(row) for row in reversed(tx.certificates_of(volunteer_id))],
            "receipts": [
                {"index": opening.log_index, "kind": opening.to_json().get("kind", "")}
                for opening in tx.openings_of_volunteer(volunteer_id)
            ][-SHOWN_RECEIPTS:][::-1],
            "read_ms": now,
        }
    return page


def _certificate(row: CertificateRow) -> dict[str, Any]:
    return {
        "log_index": row.log_index,
        "from_day": row.from_day,
        "to_day": row.to_day,
        "minutes": row.minutes,
        "issued_ms": row.issued_ms,
    }


def report_lost(
    ctx: ServerContext, volunteer_id: str, card_ids: Collection[str] | None = None
) -> dict[str, Any]:
    """Block ``volunteer_id``'s cards (``card_ids``, or every one not blocked yet) at once; idempotent.

    ``{"blocked": [card IDs blocked now], "already": [card IDs blocked before]}``.
    A card ID in ``card_ids`` that is not one of theirs (someone else's, or none at
    all) is ``404 unknown_card`` with the message of an unknown card, and nothing
    is blocked.  Kiosks deny the card from their next trust list on; the server
    flags its taps from now on, whatever a kiosk decided (:func:`server.cards.block_card`).
    """
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        if not tx.volunteer_exists(volunteer_id):
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        own = {card.card_id: card for card in tx.list_cards(volunteer_id)}
        if card_ids is None:
            chosen = list(own.values())
        else:
            if any(card_id not in own for card_id in card_ids):
                raise ServiceError(Reason.UNKNOWN_CARD, reads.UNKNOWN_CARD_MESSAGE)
            chosen = [own[card_id] for card_id in dict.fromkeys(card_ids)]
        already = [card.card_id for card in chosen if card.blocked_ms is not None]
        blocked = [
            cards.block_in(ctx, tx, card, LOST_REASON, now).card_id
            for card in chosen
            if card.blocked_ms is None
        ]
    return {"blocked": blocked, "already": already}


def issue_own_certificate(ctx: ServerContext, volunteer_id: str) -> IssuedCertificate:
    """A certificate of ``volunteer_id``'s hours in the rolling year that ends today, issued by themselves.

    At most :data:`CERTIFICATES_PER_DAY` per local day (``429 quota_exceeded``): each
    is an entry in the public log.  ``409 volunteer_erased`` when there is no name to print.
    """
    now = ctx.now_ms()
    today = eligibility.local_today(now)
    start = eligibility.day_start_ms(today)
    with ctx.storage.read() as tx:
        issued_today = sum(1 for row in tx.certificates_of(volunteer_id) if row.issued_ms >= start)
    quotas.check(issued_today, CERTIFICATES_PER_DAY, "certificates of this volunteer today")
    first = today - datetime.timedelta(days=eligibility.YEAR_DAYS - 1)
    return certificates.issue_certificate(
        ctx, volunteer_id=volunteer_id, from_day=first, to_day=today, by=SELF
    )
