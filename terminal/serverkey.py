"""Which server key the kiosk verifies with, and when a failure means the server may have moved on.

The key pinned at enrolment (``KioskConfig.server_public_key``) holds until the
kiosk follows a planned rotation (:mod:`protocol.serverkeys`); from then on the
outbox holds the pinned key (:meth:`terminal.outbox.Outbox.pin_server_key`).  The
screen and the sync service are two processes on one outbox, so whoever
verifies a receipt, balance sheet, trust list or checkpoint asks
:func:`pinned_server_key` at that moment instead of keeping a key from start-up:
a key cached for the life of a process would keep refusing everything the
server signs once the other process has followed the rotation.

Only a signature that does not check is a reason to ask the server for
transitions (:func:`key_changed_symptom`); a document that verified is never
one, and a malformed one is not either.  Following needs a chain signed by the
pinned key itself (:func:`protocol.serverkeys.follow_transitions`), so asking
costs an attacker nothing they could use: without the old private key there is
nothing to follow, and the kiosk keeps its key (verification fails closed).
"""

from __future__ import annotations

from protocol import ProtocolError, PublicKey, Reason
from terminal.outbox import OutboxReader


def pinned_server_key(outbox: OutboxReader, enrolled_key: PublicKey) -> PublicKey:
    """The server key to verify with now: the one pinned by a followed rotation, else ``enrolled_key``."""
    pinned = outbox.server_key()
    return enrolled_key if pinned is None else pinned


def key_changed_symptom(exc: ProtocolError) -> bool:
    """Whether ``exc`` is what a server that signs with a newer key looks like to this kiosk.

    A receipt or trust list whose signature does not check comes as ``bad_receipt`` /
    ``bad_trust_list`` raised from a ``bad_signature``; a checkpoint without a signature
    by the pinned key is ``note_unverified``.  A checkpoint whose signature *by the pinned
    key* fails (``bad_signature``) is a forgery, not a rotation, and is not followed.
    """
    if exc.reason is Reason.NOTE_UNVERIFIED:
        return True
    cause = exc.__cause__
    return (
        exc.reason in (Reason.BAD_RECEIPT, Reason.BAD_TRUST_LIST)
        and isinstance(cause, ProtocolError)
        and cause.reason is Reason.BAD_SIGNATURE
    )


def key_prefix(key: PublicKey, length: int = 12) -> str:
    """The first ``length`` base64 characters of ``key``: enough to tell keys apart in a log line."""
    return key.to_b64()[:length]
