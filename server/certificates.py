"""Hours certificates (Nachweis): issue one as a log entry, and check one against the live log.

:func:`issue_certificate` sums a volunteer's real hours in a period of local
days (as :mod:`server.eligibility` counts them), makes a fresh salt, hashes the
name under it and appends one ``certificate`` entry (:mod:`protocol.certificates`)
in the same transaction that records the certificate.  It answers the entry,
its inclusion proof and the signed checkpoint as one QR payload, and the salt,
which goes on the paper and nowhere else: the server keeps which volunteer a
certificate is about, not the salt, so the log's hash stays unlinkable.

:func:`check_certificate` is the public check (``GET /v1/log/certificates/check``):
the offline check with the server's own verifier keys, then against the live
log: the entry is at its index, and the certificate's checkpoint is an earlier
state of today's (an RFC 6962 consistency proof), so no fork can hide it.

Permission to issue is the caller's (``reports`` within the volunteer's home site).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol import ProtocolError, Reason
from protocol.certificates import (
    PAYLOAD_PARAMETER,
    CertificateFacts,
    CertificatePayload,
    certificate_entry,
    name_hash,
    normalise_name,
    verify_certificate,
    verify_entry,
)
from protocol.commitments import new_salt
from protocol.merkle import ProofError, root_hash, verify_consistency
from protocol.note import NoteVerifier
from server import eligibility, people, tlog
from server.accounts import record_activity_in
from server.context import ServerContext
from server.errors import InputError, ServiceError, from_protocol
from server.principals import Principal
from server.storage import ReadTx
from server.storage.certificates import CertificateRow
from server.tlog import StoredHashes

MAX_PERIOD_DAYS: Final = 10 * 366  # a certificate covers at most ten years
MAX_CHECK_NAME_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A certificate just issued: what goes on the paper (name, salt, payload) and where it is logged."""

    volunteer_id: str
    name: str
    salt: str
    from_day: datetime.date
    to_day: datetime.date
    minutes: int
    index: int
    entry: bytes
    payload: str
    issued_ms: int

    def url(self, base_url: str) -> str:
        """The URL the QR code opens: the public check page with the payload."""
        return f"{base_url.rstrip('/')}/nachweis?{PAYLOAD_PARAMETER}={self.payload}"

    def to_json(self) -> dict[str, Any]:
        return {
            "volunteer_id": self.volunteer_id,
            "name": self.name,
            "salt": self.salt,
            "from_day": self.from_day.isoformat(),
            "to_day": self.to_day.isoformat(),
            "minutes": self.minutes,
            "index": self.index,
            "payload": self.payload,
            "issued_ms": self.issued_ms,
        }


def parse_day(value: object, field: str) -> datetime.date:
    """A ``YYYY-MM-DD`` form or query value; ``bad_field`` otherwise."""
    if not isinstance(value, str):
        raise InputError(Reason.BAD_FIELD, f"{field} is a date YYYY-MM-DD")
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(Reason.BAD_FIELD, f"{field} is a date YYYY-MM-DD") from exc


def period_minutes(tx: ReadTx, volunteer_id: str, from_day: datetime.date, to_day: datetime.date) -> int:
    """Real minutes of ``volunteer_id`` in the local days ``from_day`` to ``to_day`` (inclusive)."""
    start = eligibility.day_start_ms(from_day)
    end = eligibility.day_start_ms(to_day + datetime.timedelta(days=1))
    return eligibility.minutes_in(tx.worked_spans([volunteer_id], start, end), start, end)


def issue_certificate(
    ctx: ServerContext,
    *,
    volunteer_id: str,
    from_day: datetime.date,
    to_day: datetime.date,
    by: Principal | None = None,
) -> IssuedCertificate:
    """Issue a certificate of ``volunteer_id``'s hours from ``from_day`` to ``to_day``; log it; answer it.

    Refuses ``unknown_volunteer`` (404), ``volunteer_erased`` (409: no name to print),
    ``bad_field`` for a period that ends before it starts, lies in the future or spans
    more than ten years.  Who issued it (``by``: a person or token; ``None``, the CLI or a
    test) is recorded in ``certificates`` and the activity log, never in the transparency log.
    """
    now = ctx.now_ms()
    eligibility.check_day(from_day)
    eligibility.check_day(to_day)
    if to_day < from_day or (to_day - from_day).days >= MAX_PERIOD_DAYS:
        raise InputError(Reason.BAD_FIELD, "the period runs forward and covers at most ten years")
    if to_day > eligibility.local_today(now):
        raise InputError(Reason.BAD_FIELD, "the period ends in the future")
    with ctx.storage.write() as tx:
        person = people.person(ctx, tx, volunteer_id)
        if person is None:
            raise ServiceError(Reason.UNKNOWN_VOLUNTEER, "no such volunteer")
        if person.name is None:
            raise ServiceError(Reason.VOLUNTEER_ERASED, "the volunteer was erased: there is no name to print")
        name = normalise_name(person.name)
        minutes = period_minutes(tx, volunteer_id, from_day, to_day)
        salt = new_salt()
        entry = certificate_entry(
            from_day=from_day,
            to_day=to_day,
            minutes=minutes,
            hashed_name=name_hash(salt, name),
            at_ms=now,
            version=tx.log_format(),
        )
        index = tx.tlog_size()
        appended = tlog.append(ctx, tx, [entry], now_ms=now)
        proof = tlog.inclusion(appended.hashes, index, appended.size)
        payload = CertificatePayload(entry, index, tuple(proof), appended.checkpoint).encode()
        tx.insert_certificate(
            CertificateRow(
                index,
                volunteer_id,
                from_day.isoformat(),
                to_day.isoformat(),
                minutes,
                now,
                by.name if by else "",
            )
        )
        record_activity_in(
            tx,
            now,
            by,
            "certificate_issued",
            volunteer_id,
            site_id=tx.home_site(volunteer_id),
            data={"log_index": index, "from_day": from_day.isoformat(), "to_day": to_day.isoformat()},
        )
    return IssuedCertificate(volunteer_id, name, salt, from_day, to_day, minutes, index, entry, payload, now)


def certificates_of(ctx: ServerContext, volunteer_id: str) -> list[CertificateRow]:
    """The certificates issued about ``volunteer_id``, oldest first."""
    with ctx.storage.read() as tx:
        return tx.certificates_of(volunteer_id)


def verifiers(ctx: ServerContext) -> list[NoteVerifier]:
    """The server's note verifiers: its key, the keys co-signing now, and every key a rotation left behind."""
    with ctx.storage.read() as tx:
        origin = tlog.origin(tx)
        keys = [ctx.server_key.public_key, *(key.public_key for key in ctx.cosign_keys)]
        for signed in tx.server_key_transitions():
            keys.extend((signed.transition.old, signed.transition.new))
    found: dict[bytes, NoteVerifier] = {}
    for key in keys:
        found.setdefault(key.raw, NoteVerifier.for_key(origin, key))
    return list(found.values())


def _live_check(tx: ReadTx, facts: CertificateFacts) -> int:
    """Raise ``certificate_not_in_log`` unless the live log holds the entry and extends its checkpoint."""
    size, _ = tlog.latest_checkpoint(tx)
    if facts.checkpoint.size > size or tx.tlog_entry(facts.index) != facts.entry:
        raise ServiceError(Reason.CERTIFICATE_NOT_IN_LOG, "the live log does not hold this certificate")
    hashes = StoredHashes(tx)
    try:
        proof = tlog.consistency(hashes, facts.checkpoint.size, size)
        verify_consistency(
            facts.checkpoint.size, size, proof, facts.checkpoint.root_hash, root_hash(size, hashes)
        )
    except ProofError as exc:
        raise ServiceError(
            Reason.CERTIFICATE_NOT_IN_LOG, "the certificate's checkpoint is not an earlier state of the log"
        ) from exc
    return size


def check_certificate(ctx: ServerContext, params: Mapping[str, str]) -> dict[str, Any]:
    """The public check: ``payload`` (or the QR's URL), and optionally ``name`` with ``salt``.

    Answers ``{"valid": true, "name_checked", "certificate": {...}, "log_size"}``;
    refuses with the reason of the first failed check (``bad_certificate``,
    ``note_unverified``, ``bad_proof``, ``certificate_name_mismatch`` (400),
    ``certificate_not_in_log`` (409)).  Without a name the facts are checked, not the holder.
    """
    unknown = set(params) - {"payload", "name", "salt"}
    if unknown:
        raise InputError(Reason.BAD_FIELD, f"unknown parameter {sorted(unknown)[0]!r}")
    payload = params.get("payload")
    name, salt = params.get("name"), params.get("salt")
    if payload is None:
        raise InputError(Reason.BAD_FIELD, "payload is required")
    if (name is None) != (salt is None) or (name is not None and len(name) > MAX_CHECK_NAME_CHARS):
        raise InputError(Reason.BAD_FIELD, "name and salt come together; a name has at most 200 characters")
    keys = verifiers(ctx)
    with ctx.storage.read() as tx:
        origin = tlog.origin(tx)
    try:
        if name is not None and salt is not None:
            facts = verify_certificate(payload, keys, name=name, salt=salt.strip().lower(), origin=origin)
        else:
            facts = verify_entry(payload, keys, origin=origin)
    except ProtocolError as exc:
        raise from_protocol(exc) from exc
    with ctx.storage.read() as tx:
        size = _live_check(tx, facts)
    return {"valid": True, "name_checked": name is not None, "certificate": facts.to_json(), "log_size": size}


__all__ = ["IssuedCertificate", "check_certificate", "issue_certificate", "parse_day"]
