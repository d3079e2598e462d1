"""The signed entries of a log besides events: coordinator decisions, clock references, server keys.

Each is checked as the server checked it when it took it (signature, signer's
status, freshness, order), then applied: a decision with the economy rules
(:func:`protocol.economy.apply_decision`) to the replay's book, a clock
reference to the references later events of its boot are timed by, a key
transition to the chain of server keys (``docs/protocol.md``, "Auditing the
ledger").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

from protocol import ProtocolError, PublicKey, Reason, decision_hash, parse_decision, verify_decision
from protocol.clockref import ClockRef, wants_ref
from protocol.decisions import Decision, verify_cosignature
from protocol.economy import MAX_CLOCK_SKEW_MS, CoordinatorStatus, EconomyError, apply_decision
from protocol.heartbeat import parse_heartbeat
from protocol.serverkeys import parse_transition, verify_transition
from provisioning.audit.book import LedgerBook
from provisioning.audit.facts import Facts, int_field

# Opens the card commitment ``ref`` of entry ``index``: the card, or ``None`` (the finding is reported).
Opened: TypeAlias = Callable[[int, str], str | None]


def _signed_by(key: bytes, body: bytes, sig: bytes) -> bool:
    try:
        PublicKey(key).verify(body, sig)
    except ProtocolError:
        return False
    return True


class SignedEntries:
    """Decisions, clock references and server key transitions so far; one method per entry kind.

    Reads the coordinators and kiosks of ``facts`` (logged before the entries
    they sign) and applies decisions to ``book``.
    """

    def __init__(self, facts: Facts, book: LedgerBook) -> None:
        self.problem = facts.problem
        self._facts = facts
        self._book = book
        self.decisions = 0
        self._applied: set[str] = set()  # hashes of the decisions applied so far
        self.clock_refs: dict[tuple[str, str], list[ClockRef]] = {}  # (kiosk, boot) -> references
        self.server_key: PublicKey | None = None  # the newest key a logged transition moved to

    def decision(self, index: int, entry: Mapping[str, Any], opened: Opened | None = None) -> None:
        """Check a coordinator decision as the server did when it took it, then apply it with its rules.

        ``opened`` opens the decision's card commitment: for a v2 entry it is
        ``None`` in a public audit, which then checks the signature and signer
        only (the rules need the cards, which only the auditor has).
        """
        body, sig = entry["body"], entry["sig"]
        received_ms = int_field(entry, "received_ms")
        try:
            decision = parse_decision(body)
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the decision does not parse: {exc.message}", index=index)
            return
        self.decisions += 1
        what = f"the {decision.kind} decision"
        self._check_signer(index, decision, body, sig, what)
        if "cosig" in entry:
            self._check_cosigner(index, decision, body, entry["cosig"], what)
        if abs(decision.at_ms - received_ms) > MAX_CLOCK_SKEW_MS:
            self.problem(
                Reason.DECISION_STALE.value,
                f"{what} was signed more than 24 h from when the server took it",
                index=index,
            )
        digest = decision_hash(body)
        if digest in self._applied:
            self.problem(
                Reason.DUPLICATE.value,
                f"{what} was applied before: the server takes the same bytes once",
                index=index,
            )
            return
        self._applied.add(digest)
        if entry["v"] != 1 and opened is None:
            return
        if decision.ref is not None:  # a decision v2 names a commitment to its card
            card = None if opened is None else opened(index, decision.ref)
            if card is None:
                return
            decision = dataclasses.replace(decision, card=card)  # what Decision.opened gives
        try:
            apply_decision(self._book, decision, digest, now_ms=received_ms, log_index=index)
        except EconomyError as exc:
            self.problem(exc.reason.value, f"the server's rules refuse {what}: {exc.message}", index=index)

    def _check_signer(self, index: int, decision: Decision, body: bytes, sig: bytes, what: str) -> None:
        """Report a decision whose coordinator key is unknown, does not verify it, or was revoked."""
        self._check_key(
            index,
            decision.coordinator,
            lambda key: verify_decision(body, sig, key),
            what,
            "signed",
            "signature",
        )

    def _check_cosigner(
        self, index: int, decision: Decision, body: bytes, cosig: Mapping[str, Any], what: str
    ) -> None:
        """Report a four-eyes cosignature by the signer's own key, an unknown or revoked key, or a bad one.

        The log does not say which person holds a key, so "another person" is checked as
        "another key" here; the server also refuses two keys of one console account.
        """
        coordinator, sig = cosig["coordinator"], cosig["sig"]
        if coordinator == decision.coordinator:
            self.problem(
                Reason.COSIGNER_SAME_PERSON.value,
                f"{what} is cosigned by the key that signed it: four eyes need a second key",
                index=index,
            )
            return
        self._check_key(
            index,
            coordinator,
            lambda key: verify_cosignature(body, sig, key),
            what,
            "cosigned",
            "cosignature",
        )

    def _check_key(
        self,
        index: int,
        coordinator: str,
        verify: Callable[[PublicKey], object],
        what: str,
        verb: str,
        noun: str,
    ) -> None:
        """Report a coordinator key that was not logged before, does not ``verify``, or was revoked."""
        known = self._facts.coordinators.get(coordinator)
        if known is None:
            self.problem(
                Reason.UNKNOWN_COORDINATOR.value,
                f"{what} is {verb} by coordinator key {coordinator}, not logged before it",
                index=index,
            )
            return
        try:
            verify(PublicKey(known[0]))
        except ProtocolError:
            self.problem(
                Reason.BAD_SIGNATURE.value,
                f"{what}'s {noun} does not verify with coordinator key {coordinator}",
                index=index,
            )
        if known[1] is not CoordinatorStatus.ACTIVE:
            self.problem(
                Reason.COORDINATOR_REVOKED.value,
                f"{what} was {'taken' if verb == 'signed' else verb} after coordinator key {coordinator} "
                "was revoked",
                index=index,
            )

    def clock_ref(self, index: int, entry: Mapping[str, Any]) -> None:
        """A kiosk's clock sample the server took as a reference for the events of its boot after it."""
        received_ms = int_field(entry, "received_ms")
        try:
            beat = parse_heartbeat(entry["body"])
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the clock reference does not parse: {exc.message}", index=index)
            return
        kiosk = self._facts.kiosks.get(beat.kiosk)
        if kiosk is None:
            self.problem(
                "unknown_kiosk", "the clock reference comes before its kiosk's enrolment", index=index
            )
        elif not _signed_by(kiosk.key, entry["body"], entry["sig"]):
            self.problem(
                Reason.BAD_SIGNATURE.value,
                "the clock reference's signature does not verify with the kiosk's enrolled key",
                index=index,
                kiosk_id=beat.kiosk,
            )
        refs = self.clock_refs.setdefault((beat.kiosk, beat.boot), [])
        if not wants_ref(refs, beat.mono_ms):
            self._facts.out_of_order(
                index,
                "the clock reference is not later than its boot's previous one by the refresh interval",
                kiosk_id=beat.kiosk,
            )
        refs.append(ClockRef(beat.mono_ms, received_ms))

    def server_key_transition(self, index: int, entry: Mapping[str, Any]) -> None:
        """A server key transition: signed by both keys, and chained to the one before it."""
        body = entry["body"]
        try:
            transition = parse_transition(body)
            if self.server_key is not None and transition.old != self.server_key:
                self.problem(
                    Reason.SERVER_KEY_MISMATCH.value,
                    "the server key transition does not start from the key the previous one ended with",
                    index=index,
                )
            verify_transition(body, entry["sig_old"], entry["sig_new"], transition.old)
        except ProtocolError as exc:
            self.problem(exc.reason.value, f"the server key transition: {exc.message}", index=index)
            return
        self.server_key = transition.new
