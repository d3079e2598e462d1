"""Coordinator keys: the Ed25519 public keys coordinators sign their decisions with.

A coordinator creates their key pair on their own laptop (``kokreativ provision
coordinator init``); the server only ever sees the public half.  Its ID is
derived from the key (:func:`protocol.coordinator_id`, ``o_…``), so the laptop
knows the ID it signs as before the server answers, and one key never holds
two IDs.

Registering and revoking are logged (``coordinator_key`` entries) in the same
transaction, so an auditor knows which key could sign which decision.  The
coordinator's name is stored apart (``coordinator_names``) for the admin API
and never enters the log, which is public.

A key moves one way: ``active`` → ``revoked``.  Registering a known key again
returns it unchanged, whatever its status, so posting a revoked key never
reactivates it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

from protocol import ProtocolError, PublicKey, Reason, coordinator_id, ids
from server import quotas, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import require_str
from server.models import CoordinatorKey, CoordinatorStatus

COORDINATOR_FIELDS: Final = frozenset({"name", "public_key"})
MAX_NAME_CHARS: Final = 200


def register_coordinator(
    ctx: ServerContext, request: Mapping[str, Any], *, person_id: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Register ``{name, public_key}`` as an ``active`` coordinator key; return its JSON and if it is new.

    ``person_id``: the console person who registers it (through the admin API with
    their session).  The key is then theirs, like their browser's device key, so
    four eyes (``server.foureyes``) counts them once however many keys they hold.
    A machine token registers a key of nobody in particular.
    """
    name = require_str(request, "name", max_len=MAX_NAME_CHARS)
    try:
        public_key = PublicKey.from_b64(request.get("public_key"))
    except ProtocolError as exc:
        raise InputError(Reason.MALFORMED_REQUEST, exc.message) from exc
    key_id = coordinator_id(public_key)
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        existing = tx.get_coordinator(key_id)
        if existing is not None:
            return existing.to_json(), False
        quotas.check(tx.count_coordinators(), quotas.COORDINATORS, "coordinator keys")
        key = CoordinatorKey(
            key_id, public_key.raw, CoordinatorStatus.ACTIVE, created_ms=now, changed_ms=now, name=name
        )
        tx.insert_coordinator(key)
        if person_id is not None:
            tx.set_coordinator_person(key_id, person_id)
        tlog.append(ctx, tx, [tlog.coordinator_key_entry(key, now, version=tx.log_format())], now_ms=now)
    return key.to_json(), True


def list_coordinators(ctx: ServerContext) -> dict[str, Any]:
    """Every coordinator key with its name, oldest first."""
    with ctx.storage.read() as tx:
        return {"coordinators": [key.to_json() for key in tx.list_coordinators()]}


def revoke_coordinator(ctx: ServerContext, key_id: str) -> dict[str, Any]:
    """Refuse every later decision signed with this key (its decisions so far stand).  Idempotent."""
    now = ctx.now_ms()
    with ctx.storage.write() as tx:
        key = tx.get_coordinator(key_id) if ids.is_id(key_id, ids.COORDINATOR) else None
        if key is None:
            raise ServiceError(Reason.UNKNOWN_COORDINATOR, "no such coordinator key", status=404)
        if key.status is CoordinatorStatus.REVOKED:
            return key.to_json()  # revoking again changes nothing, not even changed_ms
        key = dataclasses.replace(key, status=CoordinatorStatus.REVOKED, changed_ms=now)
        tx.set_coordinator_status(key_id, CoordinatorStatus.REVOKED, now)
        tlog.append(ctx, tx, [tlog.coordinator_key_entry(key, now, version=tx.log_format())], now_ms=now)
    return key.to_json()
