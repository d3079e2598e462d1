"""The facts a log states before the events that depend on them: sites, shops, kiosks, keys, cards.

:class:`Facts` keeps what the log has said so far and checks each new fact
against it (``docs/protocol.md``, "Auditing the ledger"): a fact about
something not yet logged is ``out_of_order``, a field of the wrong type is
``bad_field``, and a key or status that moves the wrong way is named by the
server's reason code.  Signed entries (decisions, clock references, server
keys) are in :mod:`.signed`; events are replayed by :mod:`.replay`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import GENESIS_PREV, ProtocolError, PublicKey, Reason, ShopLimits, coordinator_id, ids
from protocol.decisions import MAX_VOID_WINDOW_S
from protocol.economy import CoordinatorStatus, IssuerKeyStatus, KioskStatus, Site, SiteKind
from protocol.economy.models import StaffRole, TillStaff
from protocol.encoding import MAX_SAFE_INT
from protocol.events import MAX_AMOUNT
from provisioning.audit.book import CardState
from provisioning.audit.report import Problems

_ISSUER_ORDER: Final = {IssuerKeyStatus.ACTIVE: 0, IssuerKeyStatus.RETIRED: 1, IssuerKeyStatus.REVOKED: 2}
# What the server gives every shop (it records no shifts, so it earns nothing); not logged.
SHOP_TOKENS_PER_HOUR: Final = 0
SHOP_MAX_SHIFT_HOURS: Final = 12


class BadFact(ValueError):
    """A non-event entry whose fields have the wrong type."""


@dataclass(slots=True)
class KioskState:
    """An enrolled kiosk as the replay has it so far: its site, key, status and chain."""

    site_id: str
    key: bytes
    status: KioskStatus
    last_seq: int = 0
    head: str = GENESIS_PREV
    enrolled_ms: int = 0  # the kiosk_enrolled entry's at_ms: no shift may start before it


def text_field(entry: Mapping[str, Any], name: str, *kinds: str) -> str:
    """Field ``name``, a string (an ID of one of ``kinds`` when given); :class:`BadFact` if not."""
    value = entry[name]
    if not isinstance(value, str) or (kinds and not ids.is_id(value, *kinds)):
        raise BadFact(f"{name} is not {'an ID' if kinds else 'a string'}")
    return value


def int_field(entry: Mapping[str, Any], name: str, low: int = 0, high: int = MAX_SAFE_INT) -> int:
    """Field ``name``, an integer from ``low`` to ``high``; :class:`BadFact` if not."""
    value = entry[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadFact(f"{name} is not an integer from {low} to {high}")
    return value


def key_field(entry: Mapping[str, Any]) -> bytes:
    """The raw bytes of the entry's ``public_key``; :class:`BadFact` if it is not an Ed25519 key."""
    try:
        return PublicKey.from_b64(entry["public_key"]).raw
    except ProtocolError as exc:
        raise BadFact("public_key is not a base64 Ed25519 key") from exc


def enrolled_key(entry: Mapping[str, Any]) -> tuple[str, bytes] | None:
    """``(kiosk_id, public key)`` of a well-formed ``kiosk_enrolled`` entry, else ``None``."""
    try:
        return text_field(entry, "kiosk_id", ids.KIOSK), key_field(entry)
    except BadFact:
        return None


class Facts:
    """What the log has stated so far; each method checks and applies one entry of its kind.

    The methods are named for the entry kinds they take and raise
    :class:`BadFact` for a field of the wrong type; every other finding goes to
    ``problems``.
    """

    def __init__(self, problems: Problems) -> None:
        self.problem = problems
        self.sites: dict[str, Site] = {}
        self.kiosks: dict[str, KioskState] = {}
        self.cards: dict[str, CardState] = {}
        self.issuers: dict[str, tuple[bytes, IssuerKeyStatus]] = {}
        self.coordinators: dict[str, tuple[bytes, CoordinatorStatus]] = {}
        self.volunteers: set[str] = set()
        # site -> staff_id -> its active till staff (the redeem rules read it: LedgerBook.till_staff)
        self.staff: dict[str, dict[str, TillStaff]] = {}
        self.removed_staff: set[str] = set()
        # A new origin's hand-over: where each kiosk's chain stands (seq, head) when the new log starts.
        self.chain_starts: dict[str, tuple[int, str]] = {}
        self.handed_over: dict[str, Any] | None = None  # the hand-over entry, if the log has one
        self.card_commitments = 0  # v2 card registrations seen (opened or not)

    def out_of_order(self, index: int, message: str, **where: Any) -> None:
        """Report a fact about something the log has not stated yet, or states twice."""
        self.problem("out_of_order", message, index=index, **where)

    def site(self, index: int, entry: Mapping[str, Any]) -> None:
        """A site created, or its rate, maximum or card policy changed (its kind, cap and bonuses stay)."""
        site_id = text_field(entry, "site_id", ids.SITE)
        allow = entry["allow_uncredentialed"]
        if not isinstance(allow, bool):
            raise BadFact("allow_uncredentialed is not a boolean")
        tokens_per_hour = int_field(entry, "tokens_per_hour", 0, 1_000_000)
        max_shift_hours = int_field(entry, "max_shift_hours", 1, 168)
        int_field(entry, "at_ms")
        site = self.sites.get(site_id) or Site(site_id, "", tokens_per_hour, max_shift_hours)
        self.sites[site_id] = dataclasses.replace(
            site, tokens_per_hour=tokens_per_hour, max_shift_hours=max_shift_hours, allow_uncredentialed=allow
        )

    def shop(self, index: int, entry: Mapping[str, Any]) -> None:
        """A site created as a shop, with its first limits (its till presets are not logged: none)."""
        site_id = text_field(entry, "site_id", ids.SITE)
        limits = ShopLimits(
            max_amount=int_field(entry, "max_amount", 1, MAX_AMOUNT),
            offline_allowance=int_field(entry, "offline_allowance", 0, MAX_AMOUNT),
            offline_daily_cap=int_field(entry, "offline_daily_cap", 0, MAX_AMOUNT),
            void_window_s=int_field(entry, "void_window_s", 0, MAX_VOID_WINDOW_S),
        )
        int_field(entry, "at_ms")
        if site_id in self.sites:
            self.out_of_order(index, f"site {site_id} exists already and is created again as a shop")
            return
        self.sites[site_id] = Site(
            site_id,
            "",
            SHOP_TOKENS_PER_HOUR,
            SHOP_MAX_SHIFT_HOURS,
            kind=SiteKind.SHOP,
            shop=limits,
        )

    def till_staff(self, index: int, entry: Mapping[str, Any]) -> None:
        """A shop's till staff member added, changed or removed (removed stays removed; no other shop's)."""
        site_id = text_field(entry, "site_id", ids.SITE)
        staff_id = text_field(entry, "staff_id", ids.STAFF)
        try:
            role = StaffRole(entry["role"])
        except ValueError:
            raise BadFact("role is not cashier or manager") from None
        daily_max = int_field(entry, "daily_max", 1, MAX_AMOUNT)
        active = entry["active"]
        if not isinstance(active, bool):
            raise BadFact("active is not a boolean")
        int_field(entry, "at_ms")
        site = self.sites.get(site_id)
        if site is None or site.shop is None:
            self.out_of_order(index, f"till staff of {site_id}, no shop so far", staff_id=staff_id)
            return
        if staff_id in self.removed_staff or any(
            staff_id in members for other, members in self.staff.items() if other != site_id
        ):
            self.out_of_order(index, "till staff removed, or of another shop, comes back", staff_id=staff_id)
            return
        members = self.staff.setdefault(site_id, {})
        if active:
            members[staff_id] = TillStaff(staff_id, site_id, role, daily_max)
        else:
            members.pop(staff_id, None)
            self.removed_staff.add(staff_id)

    def kiosk_enrolled(self, index: int, entry: Mapping[str, Any]) -> None:
        """A kiosk enrolled at a known site, with a key no other kiosk has."""
        kiosk_id = text_field(entry, "kiosk_id", ids.KIOSK)
        site_id = text_field(entry, "site_id", ids.SITE)
        key = key_field(entry)
        enrolled_ms = int_field(entry, "at_ms")
        if kiosk_id in self.kiosks:
            self.out_of_order(index, "the kiosk is enrolled a second time", kiosk_id=kiosk_id)
            return
        if site_id not in self.sites:
            self.out_of_order(
                index, f"the kiosk is enrolled at site {site_id}, unknown so far", kiosk_id=kiosk_id
            )
            return
        if any(other.key == key for other in self.kiosks.values()):
            self.problem(
                Reason.KEY_ALREADY_ENROLLED.value,
                "the kiosk's key already belongs to another kiosk",
                index=index,
                kiosk_id=kiosk_id,
            )
        seq, head = self.chain_starts.get(kiosk_id, (0, GENESIS_PREV))
        self.kiosks[kiosk_id] = KioskState(
            site_id, key, KioskStatus.ACTIVE, last_seq=seq, head=head, enrolled_ms=enrolled_ms
        )

    def handover(self, index: int, entry: Mapping[str, Any]) -> None:
        """The first entry of a new origin: the old log's last checkpoint and each kiosk's chain head.

        The chains of the new log go on from those heads (``kiosks``: ``{kiosk_id: {"seq", "head"}}``,
        or a list of ``{"kiosk", "seq", "head"}``), so a kiosk's first event here is ``seq + 1``.
        """
        text_field(entry, "old_origin")
        int_field(entry, "old_size")
        text_field(entry, "old_root")
        int_field(entry, "at_ms")
        if index != 0 or self.handed_over is not None:
            self.out_of_order(index, "a hand-over is only ever the first entry of an origin")
            return
        kiosks = entry["kiosks"]
        items = (
            [{"kiosk": k, **v} if isinstance(v, dict) else {} for k, v in kiosks.items()]
            if isinstance(kiosks, dict)
            else kiosks
        )
        if not isinstance(items, list):
            raise BadFact("kiosks is not a map of kiosk IDs to {seq, head}")
        for item in items:
            if not isinstance(item, dict):
                raise BadFact("kiosks holds something that is not {kiosk, seq, head}")
            kiosk_id = text_field(item, "kiosk", ids.KIOSK)
            head = text_field(item, "head")
            if len(head) != 64:
                raise BadFact(f"the head of kiosk {kiosk_id} is not 64 hex digits")
            self.chain_starts[kiosk_id] = (int_field(item, "seq"), head)
        self.handed_over = dict(entry)

    def kiosk_status(self, index: int, entry: Mapping[str, Any]) -> None:
        """A kiosk suspended, cleared or revoked; a revoked kiosk stays revoked."""
        kiosk_id = text_field(entry, "kiosk_id", ids.KIOSK)
        try:
            status = KioskStatus(entry["status"])
        except ValueError:
            raise BadFact("status is not active, suspended or revoked") from None
        kiosk = self.kiosks.get(kiosk_id)
        if kiosk is None:
            self.out_of_order(index, "a status for a kiosk not enrolled so far", kiosk_id=kiosk_id)
            return
        if kiosk.status is KioskStatus.REVOKED and status is not KioskStatus.REVOKED:
            self.problem(
                Reason.KIOSK_REVOKED.value,
                f"a revoked kiosk is set {status.value}",
                index=index,
                kiosk_id=kiosk_id,
            )
            return
        kiosk.status = status

    def issuer_key(self, index: int, entry: Mapping[str, Any]) -> None:
        """A card issuer key added or moved on (active, retired, revoked: never back)."""
        key_id = text_field(entry, "key_id")
        key = key_field(entry)
        try:
            status = IssuerKeyStatus(entry["status"])
        except ValueError:
            raise BadFact("status is not active, retired or revoked") from None
        int_field(entry, "at_ms")
        known = self.issuers.get(key_id)
        if known is not None and known[0] != key:
            self.problem(Reason.BAD_FIELD.value, f"issuer key {key_id} changes its public key", index=index)
            return
        if known is not None and _ISSUER_ORDER[status] < _ISSUER_ORDER[known[1]]:
            self.problem(
                Reason.ISSUER_KEY_INACTIVE.value,
                f"issuer key {key_id} goes back from {known[1].value} to {status.value}",
                index=index,
            )
            return
        self.issuers[key_id] = (key, status)

    def card(self, index: int, entry: Mapping[str, Any]) -> None:
        """A card registered to a volunteer, once."""
        card_id = text_field(entry, "card_id", ids.CARD, ids.UID_CARD)
        volunteer_id = text_field(entry, "volunteer_id", ids.VOLUNTEER)
        at_ms = int_field(entry, "at_ms")
        if card_id in self.cards:
            self.problem(Reason.CARD_EXISTS.value, f"card {card_id} is registered a second time", index=index)
            return
        self.volunteers.add(volunteer_id)
        self.cards[card_id] = CardState(volunteer_id, at_ms)

    def card_blocked(self, index: int, entry: Mapping[str, Any]) -> None:
        """A registered card blocked from a time on."""
        card_id = text_field(entry, "card_id", ids.CARD, ids.UID_CARD)
        at_ms = int_field(entry, "at_ms")
        card = self.cards.get(card_id)
        if card is None:
            self.out_of_order(index, f"card {card_id} is blocked before it is registered")
            return
        if card.blocked_ms is None:  # blocking again keeps the first time, as the server does
            card.blocked_ms = at_ms

    def coordinator_key(self, index: int, entry: Mapping[str, Any]) -> None:
        """A coordinator key registered (``active``) or revoked; a key moves one way only."""
        coordinator = text_field(entry, "coordinator_id", ids.COORDINATOR)
        key = key_field(entry)
        try:
            status = CoordinatorStatus(entry["status"])
        except ValueError:
            raise BadFact("status is not active or revoked") from None
        int_field(entry, "at_ms")
        if coordinator_id(PublicKey(key)) != coordinator:
            raise BadFact(f"coordinator_id {coordinator} is not the ID of its public key")
        known = self.coordinators.get(coordinator)
        if known is not None and known[1] is CoordinatorStatus.REVOKED and status is not known[1]:
            self.problem(
                Reason.COORDINATOR_REVOKED.value,
                f"coordinator key {coordinator} is active again after it was revoked",
                index=index,
            )
            return
        self.coordinators[coordinator] = (key, status)
