"""A realistic economy driven through the real server, with the ground truth of every entry.

Volunteers keep habits (a kiosk, a weekday, a session with their own offset
and length, a weekly purchase of the same amount), so the pattern attack has
a real chance; a few are registered by tag UID, a few lose their card half-way
(block, new card), some purchases are voided.  Every event is signed by a
kiosk's signing side (:class:`tests.server.server_helpers.FakeKiosk`) in the
chosen :class:`EventFormat` and sent to the server on loopback one batch per
tap, with the server's clock a little behind, as a kiosk syncing often would.

The ground truth (which volunteer, card and *unit* — one shift, one
redemption with its void, one card registration — each entry is about) is
recorded by the signed bytes' hash for events and by log index for the
entries an admin call appends.  Only the scoring reads it; the attacks never do.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final
from zoneinfo import ZoneInfo

from protocol import ClockEvidence, EventKind, SignedEvent, ids, sign_event, uid_pseudonym
from protocol.events import committed_event
from protocol.logentry import parse_entry
from tests.cardfactory import uid_for
from tests.server.server_helpers import Api, FakeKiosk

ZONE: Final = ZoneInfo("Europe/Berlin")
MINUTE: Final = 60_000
FIRST_DAY: Final = datetime.date(2025, 9, 1)  # a Monday
# The sessions a check-in site runs (local start time in minutes): volunteers come for one of them.
SESSIONS: Final = (9 * 60, 14 * 60, 18 * 60)
AMOUNTS: Final = (2, 3, 4, 5, 6, 8, 10, 12)


class EventFormat(StrEnum):
    """What the kiosks sign: v1 names the card (main before issue 17), v2 a commitment to it."""

    V1 = "v1"
    V2 = "v2"


@dataclass(frozen=True, slots=True)
class EconomySpec:
    """How large an economy to build; :meth:`from_env` scales it for ``make stranger``."""

    volunteers: int = 36
    weeks: int = 4
    sites: int = 2
    kiosks_per_site: int = 2
    uid_cards: int = 4  # volunteers registered by their tag's UID (a ``u_`` pseudonym)
    replaced_cards: int = 3  # volunteers who lose their card half-way: blocked, a new one registered
    attendance: float = 0.85  # how often a volunteer keeps a habit
    void_share: float = 0.15  # how many purchases the shop voids a minute or two later
    seed: int = 17

    @classmethod
    def from_env(cls) -> EconomySpec:
        """``KOKREATIV_STRANGER_SCALE=k`` multiplies volunteers and weeks by about ``k`` (default 1)."""
        scale = float(os.environ.get("KOKREATIV_STRANGER_SCALE", "1"))
        if scale == 1:
            return cls()
        return cls(
            volunteers=max(8, round(36 * scale)),
            weeks=max(2, round(4 * scale)),
            sites=max(2, round(2 * scale**0.5)),
            uid_cards=max(1, round(4 * scale)),
            replaced_cards=max(1, round(3 * scale)),
        )


@dataclass(frozen=True, slots=True)
class Subject:
    """The truth about one entry: whose card it is about, and the unit it belongs to."""

    volunteer: str
    card: str
    unit: str  # "shift:…", "redemption:…", "card:…": the entries the public may link to each other
    unit_type: str  # "shift", "redemption", "card"


@dataclass(slots=True)
class CardTruth:
    card_id: str
    uid: bytes
    uid_pseudonym: str


@dataclass(slots=True)
class PersonTruth:
    volunteer_id: str
    name: str
    ehrenamtskarte: str
    cards: list[CardTruth] = field(default_factory=list)


@dataclass(slots=True)
class GroundTruth:
    """Which person every entry of the log is about; read by the scoring only."""

    people: list[PersonTruth] = field(default_factory=list)
    by_event_hash: dict[str, Subject] = field(default_factory=dict)
    by_entry_index: dict[int, Subject] = field(default_factory=dict)

    def subjects(self, entries: list[bytes]) -> dict[int, Subject]:
        """The subject of each entry about a card, by log index (events found by their bytes' hash)."""
        found = dict(self.by_entry_index)
        for index, data in enumerate(entries):
            entry = parse_entry(data)
            digest = None
            if entry["kind"] == "event":
                digest = hashlib.sha256(entry["body"]).hexdigest()
            elif entry["kind"] == "event_sealed":
                digest = entry["hash"]
            if digest is not None and digest in self.by_event_hash:
                found[index] = self.by_event_hash[digest]
        return found


@dataclass(frozen=True, slots=True)
class Habit:
    kiosk: int
    weekday: int
    start_min: int  # local minutes after midnight
    minutes: int


@dataclass(slots=True)
class Person:
    name: str
    ehrenamtskarte: str
    habits: list[Habit]
    purchase: tuple[int, int, int] | None  # weekday, local minute, amount
    by_uid: bool
    replace_on_day: int | None
    truth: PersonTruth | None = None
    card: str = ""


@dataclass(frozen=True, slots=True)
class Economy:
    """What the builder leaves: the ground truth and how much happened."""

    truth: GroundTruth
    shifts: int
    redemptions: int
    voids: int
    events: int


def _wall_ms(day: int, minute: int) -> int:
    date = FIRST_DAY + datetime.timedelta(days=day)
    local = datetime.datetime.combine(date, datetime.time(minute // 60, minute % 60), tzinfo=ZONE)
    return int(local.timestamp()) * 1000


def _sessions(kiosks: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """Each kiosk's weekly sessions ``(kiosk, weekday, start minute)``: 2 or 3 days, 1 or 2 a day."""
    slots = []
    for kiosk in range(kiosks):
        for weekday in rng.sample(range(6), rng.choice((2, 3))):  # Monday to Saturday
            slots.extend((kiosk, weekday, start) for start in rng.sample(SESSIONS, rng.choice((1, 2))))
    return slots


def _people(spec: EconomySpec, kiosks: int, rng: random.Random) -> list[Person]:
    """Volunteers who come to some sessions (popular ones busier), each with their own habits."""
    people = []
    uid_people = set(rng.sample(range(spec.volunteers), spec.uid_cards))
    others = [n for n in range(spec.volunteers) if n not in uid_people]
    replaced = set(rng.sample(others, spec.replaced_cards))
    slots = _sessions(kiosks, rng)
    popularity = [1.0 / (rank + 1) ** 0.5 for rank in range(len(slots))]
    for n in range(spec.volunteers):
        habits: list[Habit] = []
        chosen = {rng.choices(range(len(slots)), popularity)[0] for _ in range(rng.choice((1, 1, 2)))}
        for kiosk, weekday, session in (slots[i] for i in sorted(chosen)):
            if any(habit.weekday == weekday for habit in habits):
                continue  # one shift a day: two the same day could overlap
            habits.append(
                Habit(
                    kiosk=kiosk,
                    weekday=weekday,
                    start_min=session + rng.choice((0, 0, 0, 5, 10, 15, 30)),
                    minutes=rng.choice((90, 120, 120, 150, 180, 180, 180, 210, 240)),
                )
            )
        purchase = None
        if rng.random() < 0.6:
            purchase = (rng.randrange(6), rng.randrange(10 * 60, 18 * 60, 5), rng.choice(AMOUNTS))
        people.append(
            Person(
                name=f"Freiwillige {n:03d} Musterfrau",
                ehrenamtskarte=f"EAK-{rng.randrange(10**7, 10**8)}",
                habits=habits,
                purchase=purchase,
                by_uid=n in uid_people,
                replace_on_day=rng.randrange(7, spec.weeks * 7 - 3) if n in replaced else None,
            )
        )
    return people


class _Builder:
    """Drives one economy through ``api``; see the module docstring."""

    def __init__(self, api: Api, spec: EconomySpec, fmt: EventFormat) -> None:
        self.api, self.spec, self.fmt = api, spec, fmt
        self.rng = random.Random(spec.seed)
        self.truth = GroundTruth()
        self.shifts = self.redemptions = self.voids = self.events = 0

    def log_size(self) -> int:
        with self.api.context.storage.read() as tx:
            return int(tx.tlog_size())

    @contextmanager
    def appended(self, subject: Subject) -> Iterator[None]:
        """Attribute the card entries an admin call appends to ``subject``."""
        before = self.log_size()
        yield
        with self.api.context.storage.read() as tx:
            fresh = tx.tlog_entry_range(before, tx.tlog_size())
        for offset, data in enumerate(fresh):
            if parse_entry(data)["kind"] in {"card", "card_blocked"}:
                self.truth.by_entry_index[before + offset] = subject

    def register(self, person: Person, site_id: str, volunteer_id: str | None) -> None:
        """A new card for ``person`` (a new volunteer unless ``volunteer_id``), with its truth."""
        uid = bytes([4]) + self.rng.randbytes(6)
        body: dict[str, Any] = {}
        if volunteer_id is None:
            body.update(name=person.name, ehrenamtskarte=person.ehrenamtskarte)
        else:
            body["volunteer_id"] = volunteer_id
        if person.by_uid:
            body["uid"] = uid.hex()
        before = self.log_size()
        # A new volunteer's home site (issue 17, branch D); a server before it refuses the field.
        response = self.api.admin("POST", "/v1/admin/cards", {**body, "site_id": site_id})
        if response.status_code == 400 and "site_id" in response.text:
            response = self.api.admin("POST", "/v1/admin/cards", body)
        assert response.status_code == 201, response.text
        answer = response.json()
        card_id = answer["card_id"]
        if not person.by_uid:
            uid = uid_for(card_id)
        pseudonym = uid_pseudonym(uid, self.api.context.uid_pseudonym_key)
        if person.truth is None:
            person.truth = PersonTruth(answer["volunteer_id"], person.name, person.ehrenamtskarte)
            self.truth.people.append(person.truth)
        person.truth.cards.append(CardTruth(card_id, uid, pseudonym))
        person.card = card_id
        subject = Subject(person.truth.volunteer_id, card_id, f"card:{card_id}", "card")
        with self.api.context.storage.read() as tx:
            fresh = tx.tlog_entry_range(before, tx.tlog_size())
        for offset, data in enumerate(fresh):
            if parse_entry(data)["kind"] == "card":
                self.truth.by_entry_index[before + offset] = subject

    def replace_card(self, person: Person, site_id: str) -> None:
        assert person.truth is not None
        old = person.card
        subject = Subject(person.truth.volunteer_id, old, f"card:{old}", "card")
        with self.appended(subject):
            self.api.block(old, "lost")
        self.register(person, site_id, person.truth.volunteer_id)

    def sign(
        self, kiosk: FakeKiosk, kind: EventKind, card: str, wall_ms: int, data: Mapping[str, Any]
    ) -> SignedEvent:
        """The kiosk's next event in this economy's format (advances its chain)."""
        if self.fmt is EventFormat.V1:
            return kiosk.event(
                kind,
                card,
                wall_ms,
                data=dict(data),
                mono_ms=wall_ms - self.boot_ms[kiosk.kiosk_id],
                version=1,  # FakeKiosk signs v2 by default since issue 17: the control signs as before it
            )
        clock = ClockEvidence(
            wall_ms=wall_ms, synced=True, boot_id=kiosk.boot, mono_ms=wall_ms - self.boot_ms[kiosk.kiosk_id]
        )
        event, opening = committed_event(
            kiosk=kiosk.kiosk_id,
            seq=kiosk.seq + 1,
            prev=kiosk.head,
            kind=kind,
            card=card,
            clock=clock,
            data=data,
        )
        signed = sign_event(event, kiosk.key, opening)
        kiosk.seq, kiosk.head = event.seq, signed.hash
        return signed

    def send(
        self,
        kiosk: FakeKiosk,
        kind: EventKind,
        person: Person,
        wall_ms: int,
        unit: str,
        data: Mapping[str, Any],
    ) -> list[str]:
        """Sign and send one tap a little after it happened; record its truth; the server's flags."""
        assert person.truth is not None
        signed = self.sign(kiosk, kind, person.card, wall_ms, data)
        self.truth.by_event_hash[signed.hash] = Subject(
            person.truth.volunteer_id, person.card, unit, unit.split(":", 1)[0]
        )
        self.api.clock.now = max(self.api.clock.now, wall_ms + self.rng.randrange(2_000, 90_000))
        response = self.api.send(kiosk.kiosk_id, [signed])
        assert response.status_code == 200, response.text
        self.events += 1
        return list(response.json()["results"][0]["flags"])

    def balance(self, person: Person) -> int:
        assert person.truth is not None
        with self.api.context.storage.read() as tx:
            return int(tx.balance(person.truth.volunteer_id))

    def build(self) -> Economy:
        spec, api, rng = self.spec, self.api, self.rng
        start = _wall_ms(0, 0)
        api.clock.now = start - 3 * 24 * 60 * MINUTE
        sites = [
            api.admin(
                "POST",
                "/v1/admin/sites",
                {"name": f"Standort {n}", "tokens_per_hour": 10, "allow_uncredentialed": True},
                expect=201,
            ).json()
            for n in range(spec.sites)
        ]
        shop = api.admin("POST", "/v1/admin/shops", {"name": "Laden"}, expect=201).json()
        kiosks = [api.enrol_kiosk(site["site_id"]) for site in sites for _ in range(spec.kiosks_per_site)]
        kiosk_site = [site["site_id"] for site in sites for _ in range(spec.kiosks_per_site)]
        till = api.enrol_kiosk(shop["site_id"])
        self.boot_ms = {kiosk.kiosk_id: start for kiosk in [*kiosks, till]}
        people = _people(spec, len(kiosks), rng)
        for person in people:
            self.register(person, kiosk_site[person.habits[0].kiosk], None)

        for day in range(spec.weeks * 7):
            weekday = (FIRST_DAY + datetime.timedelta(days=day)).weekday()
            for kiosk in [*kiosks, till]:  # every kiosk and the till start afresh each morning
                kiosk.reboot()
                self.boot_ms[kiosk.kiosk_id] = _wall_ms(day, 7 * 60)
            actions: list[tuple[int, int, Callable[[], None]]] = []
            for n, person in enumerate(people):
                if person.replace_on_day == day:
                    site = kiosk_site[person.habits[0].kiosk]
                    actions.append(
                        (_wall_ms(day, 7 * 60 + 30), n, lambda p=person, s=site: self.replace_card(p, s))
                    )
                for habit in person.habits:
                    if habit.weekday == weekday and rng.random() < spec.attendance:
                        begin = _wall_ms(day, habit.start_min) + round(rng.gauss(0, 4)) * MINUTE
                        end = begin + (habit.minutes + round(rng.gauss(0, 6))) * MINUTE
                        actions.extend(self._shift(kiosks[habit.kiosk], person, begin, end, n))
                if (
                    person.purchase is not None
                    and person.purchase[0] == weekday
                    and rng.random() < spec.attendance
                ):
                    at = _wall_ms(day, person.purchase[1]) + round(rng.gauss(0, 10)) * MINUTE
                    actions.append((at, n, lambda p=person, t=at, k=till: self._purchase(k, p, t)))
            for _, _, act in sorted(actions, key=lambda action: (action[0], action[1])):
                act()
        return Economy(self.truth, self.shifts, self.redemptions, self.voids, self.events)

    def _shift(
        self, kiosk: FakeKiosk, person: Person, begin: int, end: int, n: int
    ) -> list[tuple[int, int, Callable[[], None]]]:
        unit = f"shift:{ids.new_id(ids.REDEMPTION)[2:]}"

        def check_in() -> None:
            self.shifts += 1
            self.send(kiosk, EventKind.CHECK_IN, person, begin, unit, {})

        def check_out() -> None:
            self.send(kiosk, EventKind.CHECK_OUT, person, end, unit, {})

        return [(begin, n, check_in), (end, n, check_out)]

    def _purchase(self, till: FakeKiosk, person: Person, at: int) -> None:
        assert person.purchase is not None
        amount = person.purchase[2]
        if self.balance(person) < amount:
            return
        rid = ids.new_id(ids.REDEMPTION)
        unit = f"redemption:{rid}"
        self.redemptions += 1
        self.send(till, EventKind.REDEEM, person, at, unit, {"amount": amount, "id": rid, "online": True})
        if self.rng.random() < self.spec.void_share:
            self.voids += 1
            later = at + self.rng.randrange(1, 6) * MINUTE
            self.send(till, EventKind.VOID, person, later, unit, {"id": rid})


def build_economy(api: Api, spec: EconomySpec, fmt: EventFormat) -> Economy:
    """Drive an economy of ``spec`` through the server behind ``api`` with kiosks signing ``fmt``."""
    return _Builder(api, spec, fmt).build()
