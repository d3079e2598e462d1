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
the kind's own checks       4xx     as :data:`server.errors.STATUS` lists
==========================  ======  ===================================================

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

from collections.abc import Mapping
from typing import Any, Final

from protocol import (
    ProtocolError,
    PublicKey,
    Reason,
    b64decode,
    decision_hash,
    parse_decision,
    verify_decision,
)
from protocol.commitments import Opening, parse_opening
from protocol.decisions import Decision
from protocol.economy.decisions import MAX_CLOCK_SKEW_MS, MAX_SHIFT_MS, apply_decision
from protocol.errors import EconomyError
from protocol.keys import SIGNATURE_BYTES
from protocol.logentry import ENTRY_VERSION
from server import tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.models import AppliedDecision, CoordinatorStatus, LogOpening

DECISION_FIELDS: Final = frozenset({"body", "sig", "opening"})

__all__ = ["DECISION_FIELDS", "MAX_CLOCK_SKEW_MS", "MAX_SHIFT_MS", "apply_decision", "submit_decision"]


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


def submit_decision(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    """Check and apply one signed decision ``{"body", "sig"}`` (and ``"opening"``); answer what it did.

    Returns ``{"decision": <hash>, "kind", "log_index", "duplicate", "result"}``;
    ``result`` is the site, shift or redemption as it is after the decision.
    """
    try:
        body = b64decode(request.get("body"), field="body")
        sig = b64decode(request.get("sig"), field="sig", length=SIGNATURE_BYTES)
        opening = parse_opening(request["opening"]) if "opening" in request else None
        decision = _open(parse_decision(body), opening)
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
        log_index = tx.tlog_size()  # where the decision's entry goes, appended below in this transaction
        try:
            result = apply_decision(tx, decision, digest, now_ms=now, log_index=log_index)
        except EconomyError as exc:  # raised inside the transaction: it rolls back whole
            raise from_protocol(exc) from exc
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
        entry = tlog.decision_entry(body, sig, now, version=version)
        appended = tlog.append(ctx, tx, [entry], now_ms=now)
        assert appended.first_index == log_index
        applied = AppliedDecision(
            digest, decision.coordinator, decision.kind, body, sig, result, now, log_index
        )
        tx.insert_decision(applied)
    return _answer(applied, duplicate=False)
