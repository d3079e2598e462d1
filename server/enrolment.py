"""Enrolment: trading a one-time code for a kiosk identity bound to the kiosk's own key.

A coordinator creates a code for a site; only its SHA-256 is stored, so a
leaked database does not leak usable codes.  The kiosk proves it holds the key
it registers by signing :func:`protocol.enrolment_message` over the code's 20
digits (dashes and spaces stripped), so an intercepted code is useless without
that key.  A key enrols at most once: a new key means a new kiosk.

Guessing a code is hopeless twice over (``docs/protocol.md``, "Guessing"): a
code is 66.4 random bits, at most :data:`MAX_OUTSTANDING_CODES` are valid at
once for at most :data:`MAX_CODE_TTL_S`, and each lookup is an
:class:`~server.ratelimit.Attempt` the guessing limits count when it misses.

The answer carries the kiosk's first signed trust list (:mod:`server.trust`),
so a freshly enrolled kiosk can check card credentials before its first sync,
its ``mode`` (``checkin``, or ``shop`` for a kiosk enrolled with a shop's code:
a shop terminal, ``docs/economy.md``), and the transparency log's origin and
verifier key, which the kiosk pins to check checkpoints as a witness.  The enrolment itself is logged
(``kiosk_enrolled``, with the kiosk's public key).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any, Final

from protocol import (
    GENESIS_PREV,
    ProtocolError,
    PublicKey,
    Reason,
    b64decode,
    b64encode,
    enrolment_message,
    ids,
    sign_trust_list,
)
from protocol.enrolment import ENROL_CODE_DIGITS, ENROL_CODE_GROUP
from protocol.keys import SIGNATURE_BYTES
from server import quotas, tlog
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import require_str
from server.models import Kiosk, KioskStatus
from server.ratelimit import Attempt
from server.trust import build_trust_list

CODE_DIGITS: Final = ENROL_CODE_DIGITS
DEFAULT_CODE_TTL_S: Final = 24 * 3600
MAX_CODE_TTL_S: Final = 30 * 24 * 3600
# Codes valid at once, economy-wide: the guessing bound multiplies by it (docs/protocol.md, "Guessing").
MAX_OUTSTANDING_CODES: Final = 1000
ENROL_FIELDS: Final = frozenset({"code", "public_key", "signature"})


def normalise_code(text: str) -> str:
    """The 20 digits of a code as typed (``1234-5678-9012-3456-7890``), or ``enrolment_code_invalid``."""
    digits = text.replace("-", "").replace(" ", "")
    if len(digits) != CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        raise InputError(Reason.ENROLMENT_CODE_INVALID, f"an enrolment code has {CODE_DIGITS} digits")
    return digits


def format_code(digits: str) -> str:
    """How a code is shown to people: ``1234-5678-9012-3456-7890``."""
    return "-".join(digits[i : i + ENROL_CODE_GROUP] for i in range(0, CODE_DIGITS, ENROL_CODE_GROUP))


def code_sha256(digits: str) -> str:
    return hashlib.sha256(digits.encode("ascii")).hexdigest()


def create_enrolment_code(ctx: ServerContext, site_id: str, expires_in_s: int) -> dict[str, Any]:
    """A fresh one-time code for ``site_id``; the plain code is returned once and never stored.

    Refused with ``too_many_enrolment_codes`` while :data:`MAX_OUTSTANDING_CODES`
    codes are neither spent nor expired: more valid codes would make a guess likelier.
    """
    digits = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    now = ctx.now_ms()
    expires_ms = now + expires_in_s * 1000
    with ctx.storage.write() as tx:
        if tx.get_site(site_id) is None:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        # A day after it expired, an unused code answers ``enrolment_code_invalid`` rather than
        # ``enrolment_code_expired``: forgetting it frees its place in the site's quota.
        tx.delete_unused_codes(site_id, now - quotas.EXPIRED_CODES_KEPT_MS)
        quotas.check(tx.count_unused_codes(site_id), quotas.UNUSED_CODES_PER_SITE, "unused codes here")
        quotas.check(tx.count_kiosks(site_id), quotas.KIOSKS_PER_SITE, "kiosks at this site")
        if tx.count_outstanding_codes(now) >= MAX_OUTSTANDING_CODES:
            raise ServiceError(
                Reason.TOO_MANY_ENROLMENT_CODES,
                f"{MAX_OUTSTANDING_CODES} enrolment codes are valid already; use or let some expire first",
            )
        tx.insert_enrolment_code(code_sha256(digits), site_id, now, expires_ms)
    return {"code": format_code(digits), "site_id": site_id, "expires_ms": expires_ms}


def enrol(ctx: ServerContext, request: Mapping[str, Any], *, attempt: Attempt) -> dict[str, Any]:
    """Register the requesting kiosk's key under a fresh kiosk ID, spending the code.

    The signature is checked before the code is looked up, so an attacker
    without a key learns nothing about which codes exist.  Only the lookup is a
    guess: ``attempt`` is begun just before it (``429 rate_limited`` while the
    client or every client is locked out) and succeeds only for a code that is
    neither unknown, spent nor expired; a malformed request is not counted.
    """
    digits = normalise_code(require_str(request, "code", max_len=40))
    try:
        public_key = PublicKey.from_b64(request.get("public_key"))
        signature = b64decode(request.get("signature"), field="signature", length=SIGNATURE_BYTES)
    except ProtocolError as exc:
        raise InputError(Reason.MALFORMED_REQUEST, exc.message) from exc
    try:
        public_key.verify(enrolment_message(digits, public_key), signature)
    except ProtocolError as exc:
        raise InputError(Reason.BAD_SIGNATURE, "signature does not prove possession of the key") from exc

    attempt.begin()
    now = ctx.now_ms()
    valid = False
    try:
        with ctx.storage.write() as tx:
            code = tx.get_enrolment_code(code_sha256(digits))
            if code is None:
                raise InputError(Reason.ENROLMENT_CODE_INVALID, "no such enrolment code")
            if code.used_ms is not None:
                raise ServiceError(Reason.ENROLMENT_CODE_USED, "this enrolment code has been used")
            if now >= code.expires_ms:
                raise ServiceError(Reason.ENROLMENT_CODE_EXPIRED, "this enrolment code has expired")
            valid = True  # whatever happens next, this was no failed guess
            if tx.kiosk_id_for_key(public_key.raw) is not None:
                raise ServiceError(Reason.KEY_ALREADY_ENROLLED, "this key already belongs to a kiosk")
            site = tx.get_site(code.site_id)
            assert site is not None, "foreign key guarantees the site"
            quotas.check(tx.count_kiosks(site.site_id), quotas.KIOSKS_PER_SITE, "kiosks at this site")
            kiosk = Kiosk(
                kiosk_id=ids.new_id(ids.KIOSK),
                site_id=site.site_id,
                public_key=public_key.raw,
                status=KioskStatus.ACTIVE,
                last_seq=0,
                head=GENESIS_PREV,
                enrolled_ms=now,
            )
            tx.insert_kiosk(kiosk)
            tx.mark_code_used(code.code_sha256, now, kiosk.kiosk_id)
            tlog.append(ctx, tx, [tlog.kiosk_enrolled_entry(kiosk, version=tx.log_format())], now_ms=now)
            log_origin = tlog.origin(tx)
            trust = build_trust_list(tx, kiosk, site, now)
    finally:
        # After the transaction: the limiter writes its own (it may be in the same ledger).
        if valid:
            attempt.succeeded()
    return {
        "kiosk_id": kiosk.kiosk_id,
        "site_id": site.site_id,
        "site_name": site.name,
        "mode": site.kind.value,
        "server_public_key": ctx.server_key.public_key.to_b64(),
        "uid_pseudonym_key": b64encode(ctx.uid_pseudonym_key),
        "tokens_per_hour": site.tokens_per_hour,
        "max_shift_hours": site.max_shift_hours,
        "trust": sign_trust_list(trust, ctx.server_key),
        "log_origin": log_origin,
        "log_verifier_key": tlog.verifier_key(log_origin, ctx.server_key.public_key),
    }
