"""The console's views of volunteers: search within a coordinator's sites, and one volunteer's page.

A coordinator sees volunteers whose home site is among the sites they hold
the permission for (``site_ids``; ``None`` for the whole economy).  A volunteer
outside them answers ``404 unknown_volunteer``, as one that does not exist.
Names are opened from the vault here, for the page, and never leave it in a
log or a list stored elsewhere.

Real hours and credited tokens are shown apart: ``minutes_worked`` counts every
shift that was paid (by the kiosk or by a coordinator's decision, including
shifts entered by hand), ``tokens_credited`` what those shifts credited, and
``balance`` what is left after redemptions.  A daily cap or a rule change
makes tokens and hours drift apart; the Ehrenamtskarte counts hours.
"""

from __future__ import annotations

from typing import Any, Final

from protocol import Reason
from protocol.economy.models import ShiftStatus
from protocol.localtime import shown
from server import cardissuing, people
from server.context import ServerContext
from server.errors import ServiceError
from server.storage import ReadTx

MAX_RESULTS: Final = 50
MAX_QUERY_CHARS: Final = 80


def _in_scope(tx: ReadTx, volunteer_id: str, site_ids: frozenset[str] | None) -> str | None:
    """The volunteer's home site if they are known and in scope; else ``404 unknown_volunteer``."""
    if not tx.volunteer_exists(volunteer_id):
        raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
    home = tx.home_site(volunteer_id)
    if site_ids is not None and home not in site_ids:
        raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
    return home


def search(ctx: ServerContext, query: str, site_ids: frozenset[str] | None) -> list[dict[str, Any]]:
    """Volunteers of ``site_ids`` whose name contains ``query`` (any case), or whose volunteer or card ID
    or Ehrenamtskarte number starts with it; all of them for an empty query; at most :data:`MAX_RESULTS`.
    """
    needle = query.strip().casefold()[:MAX_QUERY_CHARS]
    found: list[dict[str, Any]] = []
    with ctx.storage.read() as tx:
        cards_of = tx.cards_by_volunteer()
        for person in people.people(ctx, tx):
            home = tx.home_site(person.volunteer_id)
            if site_ids is not None and home not in site_ids:
                continue
            card_ids = cards_of.get(person.volunteer_id, [])
            numbers = [person.volunteer_id, *card_ids, person.ehrenamtskarte or ""]
            if needle and not (
                (person.name is not None and needle in person.name.casefold())
                or any(n and n.casefold().startswith(needle) for n in numbers)
            ):
                continue
            found.append(
                {
                    "volunteer_id": person.volunteer_id,
                    "name": person.name,
                    "home_site_id": home,
                    "cards": len(cards_of.get(person.volunteer_id, ())),
                }
            )
            if len(found) >= MAX_RESULTS:
                break
    return found


def _shown(ms: int) -> str:
    """A shift's start as the coordinator reads it: local time, the zone named (protocol.localtime)."""
    return shown(ms)


def detail(ctx: ServerContext, volunteer_id: str, site_ids: frozenset[str] | None) -> dict[str, Any]:
    """One volunteer for the console: name, home site, balance, hours and tokens apart, shifts and cards."""
    with ctx.storage.read() as tx:
        home = _in_scope(tx, volunteer_id, site_ids)
        person = people.person(ctx, tx, volunteer_id)
        shifts = tx.volunteer_shifts(volunteer_id)
        balance = tx.balance(volunteer_id)
        cards = cardissuing.volunteer_cards(ctx, tx, volunteer_id)
        erased = tx.erased_ms(volunteer_id) is not None
    paid = [s for s in shifts if s.status is ShiftStatus.PAID]
    return {
        "volunteer_id": volunteer_id,
        "name": None if person is None else person.name,
        "ehrenamtskarte": None if person is None else person.ehrenamtskarte,
        "home_site_id": home,
        "erased": erased,
        "balance": balance,
        "minutes_worked": sum(s.minutes for s in paid),
        "tokens_credited": sum(s.tokens for s in paid),
        "shifts": [{**s.to_json(), "start": _shown(s.start_ms)} for s in reversed(shifts)],
        "cards": cards,
    }
