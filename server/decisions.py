"""Signed coordinator decisions: check them, apply them once, log them as signed (``docs/economy.md``).

A decision (:mod:`protocol.decisions`) arrives as ``{"body", "sig"}`` behind the
admin token.  The server checks, in this order, and the first failure decides:

==========================  ======  ===================================================
check                       status  reason
==========================  ======  ===================================================
the body parses             400     its own code (``bad_field``, ``unknown_kind``, …)
the coordinator key exists  403     ``unknown_coordinator``
the signature verifies      400     ``bad_signature``
(the same bytes again)      200     the stored answer, ``"duplicate": true``
the key is active           403     ``coordinator_revoked``
``at_ms`` within ±24 h      400     ``decision_stale``
the kind's own checks       4xx     as :data:`server.errors.STATUS` lists
==========================  ======  ===================================================

A duplicate is answered after the signature check, so only the key's holder
can read a stored answer back, and before the status and clock checks, so a
retry of a decision that was applied still gets its answer after the key was
revoked or a day has passed.

An accepted decision is applied in one write transaction together with one
``decision`` log entry and its row in ``decisions`` (by the hash of its bytes);
ledger entries it makes point at that log entry.  A refusal raises inside the
transaction, so it rolls back whole and changes nothing.

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
from protocol.economy.decisions import MAX_CLOCK_SKEW_MS, MAX_SHIFT_MS, apply_decision
from protocol.errors import EconomyError
from protocol.keys import SIGNATURE_BYTES
from server import tlog
from server.context import ServerContext
from server.errors import ServiceError, from_protocol
from server.models import AppliedDecision, CoordinatorStatus

DECISION_FIELDS: Final = frozenset({"body", "sig"})

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


def submit_decision(ctx: ServerContext, request: Mapping[str, Any]) -> dict[str, Any]:
    """Check and apply one signed decision ``{"body", "sig"}``; answer what it did.

    Returns ``{"decision": <hash>, "kind", "log_index", "duplicate", "result"}``;
    ``result`` is the site, shift or redemption as it is after the decision.
    """
    try:
        body = b64decode(request.get("body"), field="body")
        sig = b64decode(request.get("sig"), field="sig", length=SIGNATURE_BYTES)
        decision = parse_decision(body)
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
        log_index = tx.tlog_size()  # where the decision's entry goes, appended below in this transaction
        try:
            result = apply_decision(tx, decision, digest, now_ms=now, log_index=log_index)
        except EconomyError as exc:  # raised inside the transaction: it rolls back whole
            raise from_protocol(exc) from exc
        appended = tlog.append(ctx, tx, [tlog.decision_entry(body, sig, now)], now_ms=now)
        assert appended.first_index == log_index
        applied = AppliedDecision(
            digest, decision.coordinator, decision.kind, body, sig, result, now, log_index
        )
        tx.insert_decision(applied)
    return _answer(applied, duplicate=False)
