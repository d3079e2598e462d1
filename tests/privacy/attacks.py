"""The stranger's attacks: plain functions over public material that return their claims.

None of them reads the ground truth.  :func:`search_ids` is given the
identifiers to look for (the worst case: a stranger who knows somebody's card
ID, or read their UID off the card); the two linking attacks are given nothing.

A linking claim is a pair of log indices the attack says are about the same
card (:data:`Pair`); scoring (:mod:`tests.privacy.scoring`) maps them to units
and people.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from protocol.logentry import parse_entry
from tests.privacy.material import PublicMaterial

Pair = tuple[int, int]
ZONE: Final = ZoneInfo("Europe/Berlin")

# Entry kinds about a card (or a person): everything else is about kiosks, sites, shops and keys,
# so every value in those is shared by a whole kiosk, site or the economy.
PERSONAL_KINDS: Final = frozenset({"event", "decision", "card", "card_blocked", "event_sealed"})
# Fields whose values a whole kiosk, boot, site or the economy shares: linking on them says nothing.
# ``prev`` links an event to the one before it at its kiosk (the chain, public by design; every
# kiosk's first event has the same all-zero ``prev``), not to its card.
SHARED_FIELDS: Final = frozenset(
    {
        "type",
        "kind",
        "v",
        "flags",
        "kiosk",
        "kiosk_id",
        "site_id",
        "clock.boot",
        "prev",
        "data.reason",
        "reason",
    }
)
# How close two units' habits must be to be claimed the same card (pattern attack).
TIME_TOLERANCE_MIN: Final = 20
DURATION_TOLERANCE_MIN: Final = 20
# A sealed event shows no kind, clock or amount: its place among its kiosk's taps of the day (a share
# of the day's taps there) is the nearest thing to a time of day it has.
POSITION_TOLERANCE: Final = 0.1


# --- 1. search every public byte for identifiers and their hashes ---------------------------------


@dataclass(frozen=True, slots=True)
class Needle:
    """One spelling of one identifier of a person: what to search for, and what it is."""

    person: str  # whose (the scoring's label; the search only reports it back)
    what: str  # e.g. "card ID", "sha256-hex(UID)"
    data: bytes


@dataclass(frozen=True, slots=True)
class Find:
    needle: Needle
    where: str


def spellings(person: str, what: str, value: bytes) -> Iterator[Needle]:
    """``value`` as it is and as SHA-256 (raw, hex in both cases, base64)."""
    digest = hashlib.sha256(value).digest()
    yield Needle(person, what, value)
    yield Needle(person, f"sha256({what})", digest)
    yield Needle(person, f"sha256-hex({what})", digest.hex().encode())
    yield Needle(person, f"SHA256-HEX({what})", digest.hex().upper().encode())
    yield Needle(person, f"sha256-b64({what})", base64.b64encode(digest))


def search_ids(material: PublicMaterial, needles: Sequence[Needle]) -> list[Find]:
    """Every place some public byte string holds one of ``needles`` (one find per needle and place)."""
    finds = []
    for where, blob in material.blobs():
        for needle in needles:
            if needle.data in blob:
                finds.append(Find(needle, where))
    return finds


# --- the entries as the stranger reads them ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seen:
    """One personal entry, decoded: its index, kind, signed body (if any) and the values in it."""

    index: int
    kind: str
    body: Mapping[str, Any]
    values: frozenset[str]  # the identifying values: strings outside SHARED_FIELDS and infrastructure
    received_ms: int | None = None  # the entry's receipt time as the log shows it (a day in entry v2)


def _leaves(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    elif isinstance(obj, list):
        for value in obj:
            yield from _leaves(value, path)
    else:
        yield path, obj


def _decoded(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The entry with its signed ``body`` decoded as JSON (an event or decision), ``sig`` dropped."""
    out = {key: value for key, value in entry.items() if key not in {"body", "sig"}}
    if isinstance(entry.get("body"), bytes):
        try:
            out["body"] = json.loads(entry["body"])
        except ValueError:
            out["body"] = {}
    return out


def read_entries(material: PublicMaterial) -> list[Seen]:
    """The personal entries, each with the string values that could identify a card."""
    parsed = [parse_entry(data) for data in material.entries]
    shared: set[str] = set()
    for entry in parsed:
        if entry["kind"] not in PERSONAL_KINDS:
            shared.update(str(value) for _, value in _leaves(_decoded(entry)))
    seen = []
    for index, entry in enumerate(parsed):
        if entry["kind"] not in PERSONAL_KINDS:
            continue
        decoded = _decoded(entry)
        values = set()
        for path, value in _leaves(decoded):
            field = path.removeprefix("body.")
            if isinstance(value, str) and field not in SHARED_FIELDS and value not in shared:
                values.add(value)
        body = decoded.get("body")
        received = entry.get("received_ms")
        seen.append(
            Seen(
                index,
                entry["kind"],
                body if isinstance(body, dict) else {},
                frozenset(values),
                received if isinstance(received, int) else None,
            )
        )
    return seen


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, item: Any) -> Any:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: Any, b: Any) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[Any]]:
        out: dict[Any, list[Any]] = defaultdict(list)
        for item in list(self.parent):
            out[self.find(item)].append(item)
        return list(out.values())


def _pairs_within(groups: Iterable[Sequence[int]]) -> set[Pair]:
    pairs = set()
    for group in groups:
        ordered = sorted(group)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                pairs.add((a, b))
    return pairs


def _value_groups(items: Iterable[tuple[Any, frozenset[str]]]) -> list[list[Any]]:
    """Items joined whenever they share an identifying value (transitively)."""
    union = _UnionFind()
    first: dict[str, Any] = {}
    for item, values in items:
        union.find(item)
        for value in values:
            if value in first:
                union.union(item, first[value])
            else:
                first[value] = item
    return union.groups()


# --- 2. link entries by any value they repeat -------------------------------------------------------


def link_by_repeated_values(material: PublicMaterial) -> set[Pair]:
    """Claim "same card" for every two personal entries that share an identifying value (transitively)."""
    seen = read_entries(material)
    return _pairs_within(_value_groups((entry.index, entry.values) for entry in seen))


# --- 3. pair by sequence order, timing and amounts --------------------------------------------------


@dataclass(slots=True)
class Unit:
    """What the attack thinks is one shift or one redemption: its entries and its habit features."""

    kind: str  # "shift", "redemption"
    kiosk: str
    entries: list[int]
    start_ms: int
    minutes: int = 0  # a shift's length
    amount: int = 0  # a redemption's amount
    values: frozenset[str] = frozenset()
    position: float = 0.0  # a sealed tap's place among its kiosk's taps of its day (0 to 1)

    @property
    def local(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.start_ms / 1000, tz=ZONE)


def reconstruct_units(seen: Sequence[Seen]) -> list[Unit]:
    """Shifts (check-in with check-out, per kiosk, in sequence order) and redemptions (with their voids).

    A check-out goes to the open check-in of its kiosk that shares a value with
    it if there is one (a card ID, say), else to the longest-open one of the
    same local day: volunteers of one session arrive and leave roughly together.
    """
    events = [entry for entry in seen if entry.kind == "event" and entry.body]
    by_kiosk: dict[str, list[Seen]] = defaultdict(list)
    for entry in events:
        by_kiosk[entry.body["kiosk"]].append(entry)
    units: list[Unit] = _sealed_taps(seen)
    redemptions: dict[str, Unit] = {}
    for kiosk, chain in by_kiosk.items():
        chain.sort(key=lambda entry: int(entry.body["seq"]))
        open_shifts: list[Unit] = []
        for entry in chain:
            if "kind" not in entry.body:  # a sealed v2 event: one of :func:`_sealed_taps`
                continue
            kind, wall = entry.body["kind"], int(entry.body["clock"]["wall_ms"])
            if kind == "check_in":
                unit = Unit("shift", kiosk, [entry.index], wall, values=entry.values)
                open_shifts.append(unit)
                units.append(unit)
            elif kind == "check_out":
                day = datetime.datetime.fromtimestamp(wall / 1000, tz=ZONE).date()
                same_day = [unit for unit in open_shifts if unit.local.date() == day]
                sharing = [unit for unit in same_day if unit.values & entry.values]
                if sharing or same_day:
                    unit = (sharing or same_day)[0]
                    open_shifts.remove(unit)
                    unit.entries.append(entry.index)
                    unit.minutes = (wall - unit.start_ms) // 60_000
                    unit.values |= entry.values
            elif kind == "redeem":
                data = entry.body["data"]
                unit = Unit(
                    "redemption", kiosk, [entry.index], wall, amount=int(data["amount"]), values=entry.values
                )
                redemptions[str(data["id"])] = unit
                units.append(unit)
            elif kind == "void" and str(entry.body["data"]["id"]) in redemptions:
                redemptions[str(entry.body["data"]["id"])].entries.append(entry.index)
    return units


def _sealed_taps(seen: Sequence[Seen]) -> list[Unit]:
    """Each sealed event (no kind, clock or data: entry v2 of the sealed format) as a ``tap`` unit.

    All a stranger has is its kiosk, its place in the kiosk's chain and the UTC
    day the server received it: the tap's ``position`` is its rank among that
    kiosk's taps of that day, as a share (a volunteer of the morning session taps
    early in the kiosk's day, week after week).
    """
    days: dict[tuple[str, int], list[tuple[int, Seen]]] = defaultdict(list)
    for entry in seen:
        if entry.received_ms is None or entry.kind != "event" or not entry.body or "kind" in entry.body:
            continue
        kiosk, seq = str(entry.body["kiosk"]), int(entry.body["seq"])
        days[(kiosk, entry.received_ms)].append((seq, entry))
    units = []
    for (kiosk, day), chain in days.items():
        chain.sort(key=lambda item: item[0])
        for rank, (_, entry) in enumerate(chain):
            position = (rank + 0.5) / len(chain)
            units.append(Unit("tap", kiosk, [entry.index], day, values=entry.values, position=position))
    return units


def _pattern_distance(a: Unit, b: Unit) -> float | None:
    """How unlike two units' habits are (minutes), or ``None`` when too unlike to claim."""
    if a.kind != b.kind or a.kiosk != b.kiosk or a.local.weekday() != b.local.weekday():
        return None
    if a.local.date() == b.local.date():
        return None
    if a.kind == "tap":
        gap = abs(a.position - b.position)
        return None if gap > POSITION_TOLERANCE else gap * 1000
    minute_a = a.local.hour * 60 + a.local.minute
    minute_b = b.local.hour * 60 + b.local.minute
    time = abs(minute_a - minute_b)
    if time > TIME_TOLERANCE_MIN:
        return None
    if a.kind == "redemption":
        return None if a.amount != b.amount else float(time)
    length = abs(a.minutes - b.minutes)
    return None if length > DURATION_TOLERANCE_MIN else float(time + length)


def pair_by_sequence_timing_amounts(material: PublicMaterial) -> set[Pair]:
    """Rebuild shifts and redemptions, then claim "same card" for units that recur alike across weeks.

    Units that share an identifying value are claimed together (the format gave
    them away); every other unit is claimed with its closest match (same kiosk,
    weekday, time of day within :data:`TIME_TOLERANCE_MIN`, length within
    :data:`DURATION_TOLERANCE_MIN`, or the same amount) on each other day.
    A claim is the pair of the two units' first entries.
    """
    units = reconstruct_units(read_entries(material))
    groups = _value_groups((n, unit.values) for n, unit in enumerate(units))
    claims: set[Pair] = set()
    linked: set[int] = set()
    for group in groups:
        if len(group) > 1:
            linked.update(group)
            claims |= _pairs_within([[units[n].entries[0] for n in group]])
    loose = [unit for n, unit in enumerate(units) if n not in linked]
    for unit in loose:
        best: dict[datetime.date, tuple[float, Unit]] = {}
        for other in loose:
            if other is unit:
                continue
            distance = _pattern_distance(unit, other)
            day = other.local.date()
            if distance is not None and (day not in best or distance < best[day][0]):
                best[day] = (distance, other)
        for _, other in best.values():
            a, b = unit.entries[0], other.entries[0]
            claims.add((min(a, b), max(a, b)))
    return claims
