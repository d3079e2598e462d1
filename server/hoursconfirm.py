"""Hours from places without a kiosk: a list the organisation's contact confirms through a single-use link.

A coordinator writes down who worked where no kiosk stands (volunteer, day,
from, to, for one of their sites) and gets a link ``/bestaetigen/<token>`` for
the organisation's contact, who has no account.  The token is 32 random bytes;
only its SHA-256 is stored.  The contact sees no more than they must confirm:
each volunteer's first name and the initial of their last name (opened from
the vault as the page renders, never stored with the list), the day and the
times; not the volunteer ID, balance or anything else.  They confirm, correct
(new times) or reject each line and submit once; the link is then closed, as
it is after :data:`LINK_TTL_MS`.

Nothing is credited here: the answers go back to the coordinator, whose
console links each confirmed or corrected line to the manual shift form
(``/console/hours/new?…&reason=external_confirmed``), where the coordinator
signs the decision as for any shift entered by hand.

Bounds: :data:`MAX_LINES` per list, :data:`MAX_LISTS_PER_DAY` per coordinator
in any 24 hours, and the link's lifetime.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Final
from urllib.parse import urlencode

from protocol import Reason, ids
from protocol.localtime import local
from server import people
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import require_str
from server.storage import ReadTx
from server.storage.issuing import HoursLine, HoursList

MAX_LINES: Final = 50
MAX_LISTS_PER_DAY: Final = 20
DAY_MS: Final = 86_400_000
LINK_TTL_MS: Final = 14 * DAY_MS
MAX_CONTACT_CHARS: Final = 80
PAGE: Final = "/bestaetigen/"
ANSWERS: Final = ("confirmed", "corrected", "rejected")
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_LIST_PREFIX: Final = "hl"


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_time(value: object, field: str) -> int:
    """Minutes after midnight from ``HH:MM``; ``malformed_request`` otherwise."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InputError(Reason.MALFORMED_REQUEST, f"{field} must be a time as HH:MM")
    return int(match[1]) * 60 + int(match[2])


def _parse_day(value: object, now_ms: int) -> str:
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise InputError(Reason.MALFORMED_REQUEST, "day must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(Reason.MALFORMED_REQUEST, "day must be a real date") from exc
    today = local(now_ms).date()  # the site's day (Europe/Berlin), not the server machine's zone
    if not 0 <= (today - day).days <= 366:
        raise InputError(Reason.MALFORMED_REQUEST, "day must be within the last year, not in the future")
    return value


def _span(start: object, end: object) -> tuple[int, int]:
    start_min, end_min = parse_time(start, "start"), parse_time(end, "end")
    if end_min <= start_min:
        raise InputError(Reason.MALFORMED_REQUEST, "end must be after start, on the same day")
    return start_min, end_min


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def short_name(name: str | None) -> str:
    """What the contact sees of a volunteer: first name and last initial (``Alex B.``); ``—`` once erased."""
    if not name:
        return "—"
    parts = name.split()
    return parts[0] if len(parts) == 1 else f"{parts[0]} {parts[-1][0]}."


def create_list(
    ctx: ServerContext,
    *,
    site_id: str,
    created_by: str,
    contact_label: str,
    lines: Sequence[Mapping[str, Any]],
    volunteer_sites: frozenset[str] | None,
) -> dict[str, Any]:
    """Make a list and its link; answers ``{"list_id","token","path","expires_ms"}`` (the token shown once).

    ``lines`` are ``{"volunteer_id","day","start","end"}`` (``HH:MM``).  Each
    volunteer's home site must be in ``volunteer_sites`` (``None``: any), or the
    line is ``404 unknown_volunteer``, as for one that does not exist.
    """
    label = require_str({"contact": contact_label}, "contact", max_len=MAX_CONTACT_CHARS)
    if not lines:
        raise InputError(Reason.MALFORMED_REQUEST, "a list needs at least one line")
    if len(lines) > MAX_LINES:
        raise InputError(Reason.MALFORMED_REQUEST, f"a list has at most {MAX_LINES} lines")
    now = ctx.now_ms()
    parsed: list[HoursLine] = []
    for number, given in enumerate(lines, start=1):
        volunteer_id = require_str(given, "volunteer_id", max_len=40)
        start_min, end_min = _span(given.get("start"), given.get("end"))
        parsed.append(HoursLine(number, volunteer_id, _parse_day(given.get("day"), now), start_min, end_min))
    token = secrets.token_urlsafe(32)
    hours = HoursList(
        ids.new_id(_LIST_PREFIX), site_id, created_by[:200], label, now, now + LINK_TTL_MS, None
    )
    with ctx.storage.write() as tx:
        if tx.get_site(site_id) is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if tx.count_hours_lists_since(hours.created_by, now - DAY_MS) >= MAX_LISTS_PER_DAY:
            raise ServiceError(
                Reason.QUOTA_EXCEEDED, f"at most {MAX_LISTS_PER_DAY} lists a day per coordinator"
            )
        for line in parsed:
            home = tx.home_site(line.volunteer_id) if tx.volunteer_exists(line.volunteer_id) else None
            if home is None or (volunteer_sites is not None and home not in volunteer_sites):
                raise ServiceError(Reason.UNKNOWN_VOLUNTEER, f"line {line.line_no}: no such volunteer")
        tx.insert_hours_list(hours, _sha256(token), parsed)
    return {"list_id": hours.list_id, "token": token, "path": PAGE + token, "expires_ms": hours.expires_ms}


def _open_list(tx: ReadTx, token: str, now_ms: int) -> HoursList:
    hours = tx.hours_list_by_token(_sha256(token)) if 20 <= len(token) <= 64 else None
    if hours is None:
        raise ServiceError(Reason.UNKNOWN_CONFIRMATION, "no such confirmation link")
    if hours.submitted_ms is not None:
        raise ServiceError(Reason.CONFIRMATION_CLOSED, "this list was confirmed already")
    if now_ms >= hours.expires_ms:
        raise ServiceError(Reason.CONFIRMATION_CLOSED, "this link has expired")
    return hours


def public_view(ctx: ServerContext, token: str) -> dict[str, Any]:
    """What the contact sees: who asks (site, contact label), and per line a short name, day and times."""
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        hours = _open_list(tx, token, now)
        site = tx.get_site(hours.site_id)
        lines = [
            {
                "line_no": line.line_no,
                "who": short_name(_name(ctx, tx, line.volunteer_id)),
                "day": line.day,
                "start": _clock(line.start_min),
                "end": _clock(line.end_min),
                "minutes": line.end_min - line.start_min,
            }
            for line in tx.hours_lines(hours.list_id)
        ]
    return {
        "site": "" if site is None else site.name,
        "contact": hours.contact_label,
        "expires_ms": hours.expires_ms,
        "lines": lines,
    }


def _name(ctx: ServerContext, tx: ReadTx, volunteer_id: str) -> str | None:
    person = people.person(ctx, tx, volunteer_id)
    return None if person is None else person.name


def submit(ctx: ServerContext, token: str, answers: Mapping[int, Mapping[str, str]]) -> int:
    """Record the contact's answer to every line, once; how many lines were confirmed or corrected.

    ``answers`` maps each line number to ``{"answer": confirmed|corrected|rejected}``
    plus ``start``/``end`` for a correction.  Every line needs an answer.  A second
    submission (or one after expiry) is ``410 confirmation_closed``.
    """
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        hours = _open_list(tx, token, now)
        recorded: list[HoursLine] = []
        for line in tx.hours_lines(hours.list_id):
            given = answers.get(line.line_no)
            answer = None if given is None else given.get("answer")
            if answer not in ANSWERS:
                raise InputError(Reason.MALFORMED_REQUEST, f"line {line.line_no} needs an answer")
            start, end = line.start_min, line.end_min
            if answer == "corrected":
                assert given is not None
                start, end = _span(given.get("start"), given.get("end"))
            recorded.append(
                HoursLine(line.line_no, line.volunteer_id, line.day, start, end, answer, start, end)
            )
        if not tx.submit_hours(hours.list_id, recorded, now):
            raise ServiceError(Reason.CONFIRMATION_CLOSED, "this list was confirmed already")
    return sum(1 for line in recorded if line.answer != "rejected")


def shift_form_link(hours: HoursList, line: HoursLine) -> str | None:
    """The manual shift form pre-filled for a confirmed or corrected line; ``None`` otherwise."""
    if line.answer not in ("confirmed", "corrected") or line.answer_start_min is None:
        return None
    assert line.answer_end_min is not None
    query = {
        "volunteer": line.volunteer_id,
        "site": hours.site_id,
        "start": f"{line.day}T{_clock(line.answer_start_min)}",
        "end": f"{line.day}T{_clock(line.answer_end_min)}",
        "reason": "external_confirmed",
    }
    return "/console/hours/new?" + urlencode(query)


def coordinator_lists(
    ctx: ServerContext, site_ids: frozenset[str] | None, limit: int = 100
) -> list[dict[str, Any]]:
    """The newest lists of ``site_ids`` (``None``: all) with their state, for the console."""
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        found = tx.hours_lists(site_ids, limit)
    return [_list_json(h, now) for h in found]


def _list_json(hours: HoursList, now_ms: int) -> dict[str, Any]:
    if hours.submitted_ms is not None:
        state = "answered"
    elif now_ms >= hours.expires_ms:
        state = "expired"
    else:
        state = "open"
    return {
        "list_id": hours.list_id,
        "site_id": hours.site_id,
        "contact": hours.contact_label,
        "created_by": hours.created_by,
        "created_ms": hours.created_ms,
        "expires_ms": hours.expires_ms,
        "submitted_ms": hours.submitted_ms,
        "state": state,
    }


def coordinator_detail(ctx: ServerContext, list_id: str, site_ids: frozenset[str] | None) -> dict[str, Any]:
    """One list with every line as asked and as answered, and the shift form link per usable line.

    A list of a site outside ``site_ids`` is ``404 unknown_confirmation``, as an unknown one.
    """
    now = ctx.now_ms()
    with ctx.storage.read() as tx:
        hours = tx.hours_list(list_id)
        if hours is None or (site_ids is not None and hours.site_id not in site_ids):
            raise ServiceError(Reason.UNKNOWN_CONFIRMATION, "no such list")
        lines = []
        for line in tx.hours_lines(list_id):
            answered = line.answer_start_min is not None and line.answer_end_min is not None
            lines.append(
                {
                    "line_no": line.line_no,
                    "volunteer_id": line.volunteer_id,
                    "name": _name(ctx, tx, line.volunteer_id),
                    "day": line.day,
                    "start": _clock(line.start_min),
                    "end": _clock(line.end_min),
                    "answer": line.answer,
                    "answer_start": _clock(line.answer_start_min) if answered else None,  # type: ignore[arg-type]
                    "answer_end": _clock(line.answer_end_min) if answered else None,  # type: ignore[arg-type]
                    "shift_form": shift_form_link(hours, line),
                }
            )
    return {**_list_json(hours, now), "lines": lines}
