"""Hours from places without a kiosk: a single-use, expiring link for the organisation's contact."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from protocol import Reason
from server import cardissuing, hoursconfirm
from server.context import ServerContext
from server.errors import ServiceError
from tests.server.ledger_file import INTEGRITY_ERRORS
from tests.server.server_helpers import T0, FakeClock, World

DAY = (date.fromtimestamp(T0 / 1000) - timedelta(days=3)).isoformat()


def _volunteer(context: ServerContext, world: World, name: str = "Alex Beispiel") -> str:
    return str(
        cardissuing.register_volunteer(context, name=name, site_id=world.site["site_id"])["volunteer_id"]
    )


def _create(context: ServerContext, world: World, lines: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return hoursconfirm.create_list(
        context,
        site_id=world.site["site_id"],
        created_by=kw.pop("created_by", "p_coordinator"),
        contact_label="Tafel Nord",
        lines=lines,
        volunteer_sites=kw.pop("volunteer_sites", None),
    )


def _code(exc: pytest.ExceptionInfo[ServiceError]) -> Reason:
    return exc.value.reason


def test_the_contact_sees_only_short_names_and_times_confirms_once_and_the_coordinator_gets_form_links(
    context: ServerContext, world: World
) -> None:
    alex = _volunteer(context, world)
    kim = _volunteer(context, world, "Kim")
    made = _create(
        context,
        world,
        [
            {"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "12:30"},
            {"volunteer_id": kim, "day": DAY, "start": "14:00", "end": "16:00"},
            {"volunteer_id": alex, "day": DAY, "start": "17:00", "end": "18:00"},
        ],
    )
    assert made["path"] == "/bestaetigen/" + made["token"]
    with context.storage.read() as tx:  # only the token's hash is stored
        assert tx.hours_list_by_token(hashlib.sha256(made["token"].encode()).hexdigest()) is not None
        assert tx.hours_list_by_token(made["token"]) is None
    view = hoursconfirm.public_view(context, made["token"])
    assert [(line["who"], line["start"], line["end"]) for line in view["lines"]] == [
        ("Alex B.", "09:00", "12:30"),
        ("Kim", "14:00", "16:00"),
        ("Alex B.", "17:00", "18:00"),
    ]
    assert alex not in repr(view) and "Beispiel" not in repr(view)
    answers = {
        1: {"answer": "confirmed"},
        2: {"answer": "corrected", "start": "14:00", "end": "15:00"},
        3: {"answer": "rejected"},
    }
    assert hoursconfirm.submit(context, made["token"], answers) == 2
    with pytest.raises(ServiceError) as again:
        hoursconfirm.submit(context, made["token"], answers)
    assert _code(again) is Reason.CONFIRMATION_CLOSED
    with pytest.raises(ServiceError) as view_again:
        hoursconfirm.public_view(context, made["token"])
    assert _code(view_again) is Reason.CONFIRMATION_CLOSED

    detail = hoursconfirm.coordinator_detail(context, made["list_id"], frozenset({world.site["site_id"]}))
    assert detail["state"] == "answered"
    assert [line["answer"] for line in detail["lines"]] == ["confirmed", "corrected", "rejected"]
    assert detail["lines"][2]["shift_form"] is None
    form = urlparse(detail["lines"][1]["shift_form"])
    assert form.path == "/console/hours/new"
    assert parse_qs(form.query) == {
        "volunteer": [kim],
        "site": [world.site["site_id"]],
        "start": [f"{DAY}T14:00"],
        "end": [f"{DAY}T15:00"],
        "reason": ["external_confirmed"],
    }
    with pytest.raises(ServiceError) as elsewhere:
        hoursconfirm.coordinator_detail(context, made["list_id"], frozenset({"s_other"}))
    assert _code(elsewhere) is Reason.UNKNOWN_CONFIRMATION


def test_every_line_needs_an_answer_and_a_correction_valid_times(
    context: ServerContext, world: World
) -> None:
    alex = _volunteer(context, world)
    made = _create(context, world, [{"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "10:00"}])
    for answers in (
        {},
        {1: {"answer": "maybe"}},
        {1: {"answer": "corrected", "start": "10:00", "end": "09:00"}},
    ):
        with pytest.raises(ServiceError) as refused:
            hoursconfirm.submit(context, made["token"], answers)
        assert _code(refused) is Reason.MALFORMED_REQUEST
    assert hoursconfirm.public_view(context, made["token"])["lines"]  # still open


def test_a_link_expires_and_an_unknown_one_is_unknown(
    context: ServerContext, world: World, clock: FakeClock
) -> None:
    alex = _volunteer(context, world)
    made = _create(context, world, [{"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "10:00"}])
    clock.now += hoursconfirm.LINK_TTL_MS
    with pytest.raises(ServiceError) as expired:
        hoursconfirm.submit(context, made["token"], {1: {"answer": "confirmed"}})
    assert _code(expired) is Reason.CONFIRMATION_CLOSED
    assert hoursconfirm.coordinator_lists(context, None)[0]["state"] == "expired"
    for token in ("x" * 43, "short", "ü" * 500):
        with pytest.raises(ServiceError) as unknown:
            hoursconfirm.public_view(context, token)
        assert _code(unknown) is Reason.UNKNOWN_CONFIRMATION


def test_lists_are_bounded_and_name_only_volunteers_of_the_coordinators_sites(
    context: ServerContext, world: World
) -> None:
    alex = _volunteer(context, world)
    line = {"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "10:00"}
    with pytest.raises(ServiceError) as too_long:
        _create(context, world, [line] * (hoursconfirm.MAX_LINES + 1))
    assert _code(too_long) is Reason.MALFORMED_REQUEST
    with pytest.raises(ServiceError) as outside:
        _create(context, world, [line], volunteer_sites=frozenset({"s_other"}))
    assert _code(outside) is Reason.UNKNOWN_VOLUNTEER
    for bad in ({**line, "day": "2020-01-01"}, {**line, "start": "25:00"}, {**line, "end": "08:00"}):
        with pytest.raises(ServiceError) as malformed:
            _create(context, world, [bad])
        assert _code(malformed) is Reason.MALFORMED_REQUEST
    for _ in range(hoursconfirm.MAX_LISTS_PER_DAY):
        _create(context, world, [line], created_by="p_busy")
    with pytest.raises(ServiceError) as too_many:
        _create(context, world, [line], created_by="p_busy")
    assert _code(too_many) is Reason.QUOTA_EXCEEDED
    _create(context, world, [line], created_by="p_other")  # the bound is per coordinator


def test_the_schema_refuses_an_answer_outside_the_vocabulary(context: ServerContext, world: World) -> None:
    alex = _volunteer(context, world)
    made = _create(context, world, [{"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "10:00"}])
    with pytest.raises(INTEGRITY_ERRORS), context.storage.write() as tx:
        tx._conn.execute("UPDATE hours_lines SET answer = 'maybe' WHERE list_id = ?", (made["list_id"],))


def test_a_coordinator_lists_only_the_lists_of_their_sites(context: ServerContext, world: World) -> None:
    alex = _volunteer(context, world)
    made = _create(context, world, [{"volunteer_id": alex, "day": DAY, "start": "09:00", "end": "10:00"}])
    assert [
        h["list_id"] for h in hoursconfirm.coordinator_lists(context, frozenset({world.site["site_id"]}))
    ] == [made["list_id"]]
    assert hoursconfirm.coordinator_lists(context, frozenset({"s_other"})) == []
    assert hoursconfirm.coordinator_lists(context, frozenset()) == []
