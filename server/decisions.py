"""Signed coordinator decisions: check them, apply them once, log them as signed (``docs/economy.md``).

A decision (:mod:`protocol.decisions`) arrives as ``{"body", "sig"}`` behind the
admin token; a v2 ``manual_shift`` adds ``"opening"`` (``{"card", "salt"}``), which
opens the commitment it names instead of the card.  The server checks, in this
order, and the first failure decides:

==========================  ======  ===================================================
check                       status  reason
==========================  ======  ===================================================
the body parses             400     its own code (``bad_field``, ``unknown_kind``, …)
its opening opens it        400     ``opening_missing``, ``opening_mismatch``,
                                    ``bad_field`` (an opening for no ``ref``)
the coordinator key exists  403     ``unknown_coordinator``
the signature verifies      400     ``bad_signature``
(the same bytes again)      200     the stored answer, ``"duplicate": true``
the key is active           403     ``coordinator_revoked``
``at_ms`` within ±24 h      400     ``decision_stale``
v1 ``manual_shift``, v2 log  400     ``opening_missing`` (the log names no card)
a ``cosig``, if it came     4xx     ``unknown_coordinator``, ``bad_signature``,
                                    ``coordinator_revoked``, ``cosigner_same_person``
over the four-eyes limit    202     ``four_eyes_required``: kept, not applied (no ``cosig``)
the kind's own checks       4xx     as :data:`server.errors.STATUS` lists
==========================  ======  ===================================================

A console user (:class:`Signer`, :mod:`server.console_decisions`) may sign only
with their own device keys (``403 not_your_key``) and only about sites where
they hold ``decide`` (else the ``404`` of an unknown shift, redemption or site);
those two checks follow the signature's.  A cosigner is checked the same way.

Four eyes (:mod:`server.foureyes`): a decision that credits more than the
threshold waits in ``pending_decisions`` until the same request comes again with
``"cosig": {"coordinator", "sig"}``, a second key's signature over
:func:`protocol.decisions.cosign_message` of the body; the key must be another
one, of another person where the server knows its holder.  The log entry then
carries ``cosig``.

A duplicate is answered after the signature check, so only the key's holder
can read a stored answer back, and before the status and clock checks, so a
retry of a decision that was applied still gets its answer after the key was
revoked or a day has passed.

A log that names no card (``log_format`` 2) refuses a v1 ``manual_shift``,
which names its card, with ``opening_missing``: the coordinator's tool signs v2.

An accepted decision is applied in one write transaction together with one
``decision`` log entry and its row in ``decisions`` (by the hash of its bytes);
ledger entries it makes point at that log entry.  In a log that names no card,
every decision gets a row in ``openings`` at the entry's index: how it moved the
economy's totals (``issued``, ``redeemed``; the public sees them summed per day in
``totals`` entries) and, for a v2 ``manual_shift``, the opening of its card
reference.  A refusal raises inside the transaction, so it rolls back whole and
changes nothing.

The effects are :func:`protocol.economy.decisions.apply_decision`, the same
code an auditor replays the log with; its refusals (``EconomyError``) become
:class:`~server.errors.ServiceError` with the status of their reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import (
    ProtocolError,
    PublicKey,
    Reason,
    b64decode,
    b64encode,
    decision_hash,
    parse_decision,
    verify_decision,
)
from protocol.commitments import Opening, parse_opening
from protocol.decisions import Decision, verify_cosignature
from protocol.economy.decisions import MAX_CLOCK_SKEW_MS, MAX_SHIFT_MS, apply_decision
from protocol.errors import EconomyError
from protocol.ids import COORDINATOR, require_id
from protocol.keys import SIGNATURE_BYTES
from protocol.logentry import ENTRY_VERSION
from server import foureyes, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.models import AppliedDecision, CoordinatorStatus, LogOpening
from server.storage import ReadTx, Tx
from server.storage.foureyes import PendingDecision

DECISION_FIELDS: Final = frozenset({"body", "sig", "opening", "cosig"})
_HIDDEN: Final[Mapping[str, Reason]] = {  # what a site outside the signer's scope answers, per kind
    "review": Reason.UNKNOWN_SHIFT,
    "acknowledge": Reason.UNKNOWN_REDEMPTION,
    "redemption_review": Reason.UNKNOWN_REDEMPTION,
}


@dataclass(frozen=True, slots=True)
class Signer:
    """A console user handing in a decision or a cosignature with their own device key.

    ``person_id`` must hold the key; ``may_decide(site_id)`` says where they hold ``decide``.
    """

    person_id: str
    may_decide: Callable[[str], bool]


__all__ = [
    "COSIGN_FIELDS",
    "DECISION_FIELDS",
    "MAX_CLOCK_SKEW_MS",
    "MAX_SHIFT_MS",
    "Signer",
    "apply_decision",
    "cosign_pending",
    "list_pending",
    "submit_decision",
]


def _refuse(reason: Reason, message: str) -> ServiceError:
    return ServiceError(reason, message)


def _answer(applied: AppliedDecision, *, duplicate: bool) -> dict[str, Any]:
    return {
        "decision": applied.decision_hash,
        "kind": applied.kind,
        "log_index": applied.log_index,
        "duplicate": duplicate,
        "result": applied.result,
    }


def _open(decision: Decision, opening: Opening | None) -> Decision:
    """``decision`` opened with ``opening`` when it names a card reference; refused as the table says."""
    if decision.ref is None and opening is None:
        return decision
    if opening is None:
        raise InputError(Reason.OPENING_MISSING, "a v2 manual_shift needs the opening of its card reference")
    return decision.opened(opening)


def _parse_cosig(value: object) -> tuple[str, bytes]:
    if not isinstance(value, dict) or set(value) != {"coordinator", "sig"}:
        raise InputError(Reason.BAD_FIELD, "cosig is {coordinator, sig}")
    coordinator = require_id(value["coordinator"], COORDINATOR, field="cosig.coordinator")
    return coordinator, b64decode(value["sig"], field="cosig.sig", length=SIGNATURE_BYTES)


def _check_owner(tx: ReadTx, coordinator: str, signer: Signer | None) -> None:
    if signer is not None and tx.coordinator_person(coordinator) != signer.person_id:
        raise _refuse(Reason.NOT_YOUR_KEY, "sign with a device key of your own account")


def _check_scope(tx: ReadTx, decision: Decision, signer: Signer | None) -> None:
    """Refuse, as unknown, a decision about a site where ``signer`` does not hold ``decide``."""
    if signer is None:
        return
    site = foureyes.decision_site(tx, decision)
    if site is not None and not signer.may_decide(site):
        raise ServiceError(_HIDDEN.get(decision.kind, Reason.UNKNOWN_SITE), "no such object", status=404)


def _check_cosig(
    tx: ReadTx, decision: Decision, body: bytes, cosig: tuple[str, bytes], cosigner: Signer | None
) -> None:
    """A cosignature: a known, active key, not the signer's, of another person, over this body."""
    coordinator, sig = cosig
    key = tx.get_coordinator(coordinator)
    if key is None:
        raise _refuse(Reason.UNKNOWN_COORDINATOR, "no coordinator key has the cosigner's ID")
    try:
        verify_cosignature(body, sig, PublicKey(key.public_key))
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    _check_owner(tx, coordinator, cosigner)
    _check_scope(tx, decision, cosigner)
    if key.status is not CoordinatorStatus.ACTIVE:
        raise _refuse(Reason.COORDINATOR_REVOKED, "the cosigner's key was revoked")
    person = tx.coordinator_person(coordinator)
    if coordinator == decision.coordinator or (
        person is not None and person == tx.coordinator_person(decision.coordinator)
    ):
        raise _refuse(Reason.COSIGNER_SAME_PERSON, "four eyes: a second person cosigns, with their own key")


def _wait(
    tx: Tx, decision: Decision, digest: str, body: bytes, sig: bytes, opening: Opening | None, *, now: int
) -> dict[str, Any]:
    """Keep a decision over the four-eyes threshold until it is cosigned; answer ``four_eyes_required``."""
    _, minutes = foureyes.needs_cosignature(tx, decision)
    pending = tx.get_pending_decision(digest)
    if pending is None:
        pending = PendingDecision(
            digest,
            decision.coordinator,
            tx.coordinator_person(decision.coordinator),
            decision.kind,
            foureyes.decision_site(tx, decision) or "",
            minutes,
            body,
            sig,
            None if opening is None else json.dumps(opening.to_json(), sort_keys=True),
            now,
        )
        tx.insert_pending_decision(pending)
    return {
        "decision": digest,
        "kind": decision.kind,
        "log_index": None,
        "duplicate": False,
        "result": None,
        "pending": True,
        "reason": Reason.FOUR_EYES_REQUIRED.value,
        "minutes": minutes,
        "threshold_minutes": foureyes.threshold_minutes(tx),
    }


def _apply(tx: Tx, decision: Decision, digest: str, *, now: int, log_index: int) -> dict[str, Any]:
    try:
        return apply_decision(tx, decision, digest, now_ms=now, log_index=log_index)
    except EconomyError as exc:  # raised inside the transaction: it rolls back whole
        raise from_protocol(exc) from exc


def submit_decision(
    ctx: ServerContext,
    request: Mapping[str, Any],
    *,
    signer: Signer | None = None,
    cosigner: Signer | None = None,
) -> dict[str, Any]:
    """Check and apply one signed decision ``{"body", "sig"}`` (and ``"opening"``, ``"cosig"``).

    Returns ``{"decision": <hash>, "kind", "log_index", "duplicate", "result"}``;
    ``result`` is the site, shift or redemption as it is after the decision.  A
    decision over the four-eyes threshold without ``cosig`` is kept, not applied:
    the answer has ``"pending": true`` and ``"reason": "four_eyes_required"``.
    ``signer`` and ``cosigner`` are a console user's (the module's docstring).
    """
    try:
        body = b64decode(request.get("body"), field="body")
        sig = b64decode(request.get("sig"), field="sig", length=SIGNATURE_BYTES)
        opening = parse_opening(request["opening"]) if "opening" in request else None
        decision = _open(parse_decision(body), opening)
        cosig = _parse_cosig(request["cosig"]) if "cosig" in request else None
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    digest = decision_hash(body)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        coordinator = tx.get_coordinator(decision.coordinator)
        if coordinator is None:
            raise _refuse(Reason.UNKNOWN_COORDINATOR, "no coordinator key has this ID")
        try:
            verify_decision(body, sig, PublicKey(coordinator.public_key))
        except ProtocolError as exc:
            raise from_protocol(exc) from exc
        _check_owner(tx, decision.coordinator, signer)
        _check_scope(tx, decision, signer)
        stored = tx.get_decision(digest)
        if stored is not None:
            return _answer(stored, duplicate=True)
        if coordinator.status is not CoordinatorStatus.ACTIVE:
            raise _refuse(Reason.COORDINATOR_REVOKED, "the coordinator key was revoked")
        if abs(decision.at_ms - now) > MAX_CLOCK_SKEW_MS:
            raise _refuse(Reason.DECISION_STALE, "at_ms is more than 24 h from the server's time")
        version = tx.log_format()
        if version != ENTRY_VERSION and decision.kind == "manual_shift" and opening is None:
            raise InputError(
                Reason.OPENING_MISSING,
                "this log names no card: sign the manual_shift as decision v2 (ref) and send its opening",
            )
        if cosig is not None:
            _check_cosig(tx, decision, body, cosig, cosigner)
        log_index = tx.tlog_size()  # where the decision's entry goes, appended below in this transaction
        if cosig is None and foureyes.needs_cosignature(tx, decision)[0]:
            with tx.trial():  # only a decision the rules take now waits for its second person
                _apply(tx, decision, digest, now=now, log_index=log_index)
            return _wait(tx, decision, digest, body, sig, opening, now=now)
        result = _apply(tx, decision, digest, now=now, log_index=log_index)
        if (
            version != ENTRY_VERSION
        ):  # every decision's totals go to the auditor, its card too if it names one
            issued, redeemed = tx.ledger_moves(log_index).get(log_index, (0, 0))
            card, salt = (None, None) if opening is None else (opening.card, opening.salt)
            tx.insert_openings(
                [LogOpening(log_index, "decision", card, salt, issued=issued, redeemed=redeemed)]
            )
        elif opening is not None:
            tx.insert_openings([LogOpening(log_index, "decision", opening.card, opening.salt)])
        entry = tlog.decision_entry(body, sig, now, version=version, cosig=cosig)
        appended = tlog.append(ctx, tx, [entry], now_ms=now)
        assert appended.first_index == log_index
        applied = AppliedDecision(
            digest, decision.coordinator, decision.kind, body, sig, result, now, log_index
        )
        tx.insert_decision(applied)
        if cosig is not None:
            tx.insert_cosignature(digest, cosig[0], tx.coordinator_person(cosig[0]), cosig[1], now)
        tx.delete_pending_decision(digest)
    return _answer(applied, duplicate=False)


COSIGN_FIELDS: Final = frozenset({"coordinator", "sig"})


def list_pending(ctx: ServerContext) -> dict[str, Any]:
    """``{"pending": [...]}``: every decision waiting for a cosignature, with its signed ``body`` (b64).

    For a coordinator's laptop (``kokreativ provision decision pending``): the body
    is what the cosignature covers, read before signing.  Never the opening.
    """
    with ctx.storage.read() as tx:
        waiting = tx.pending_decisions()
    return {"pending": [{**p.to_json(), "body": b64encode(p.body)} for p in waiting]}


def cosign_pending(ctx: ServerContext, digest: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the waiting decision ``digest`` with the cosignature ``{coordinator, sig}``.

    The stored body, signature and opening go the way of :func:`submit_decision`
    with ``cosig``; ``404 not_pending`` if nothing waits under ``digest``.
    """
    with ctx.storage.read() as tx:
        pending = tx.get_pending_decision(digest) if isinstance(digest, str) else None
    if pending is None:
        raise ServiceError(Reason.NOT_PENDING, "no decision waits for a cosignature under this hash")
    wire: dict[str, Any] = {
        "body": b64encode(pending.body),
        "sig": b64encode(pending.sig),
        "cosig": {"coordinator": request.get("coordinator"), "sig": request.get("sig")},
    }
    if pending.opening is not None:
        wire["opening"] = json.loads(pending.opening)
    return submit_decision(ctx, wire)
