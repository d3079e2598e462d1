"""The contract between kiosk and server: formats, canonical bytes, signatures.

Pure code with no I/O; everything else imports it.  ``docs/protocol.md`` is
the prose version of this package.
"""

from protocol.balances import BalanceSheet, sign_balances, verify_balances
from protocol.batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS, decode_batch, encode_batch
from protocol.cards import uid_pseudonym
from protocol.credentials import (
    CREDENTIAL_RECORD_TYPE,
    CardCredential,
    CardTrust,
    issue_credential,
    issuer_key_id,
    parse_credential,
    verify_credential,
)
from protocol.encoding import b64decode, b64encode, canonical_json, parse_canonical_json
from protocol.enrolment import enrolment_message
from protocol.errors import MalformedError, ProtocolError, VerificationError
from protocol.events import (
    GENESIS_PREV,
    MAX_EVENT_BYTES,
    ClockEvidence,
    Event,
    EventKind,
    SignedEvent,
    decode_wire_event,
    event_hash,
    parse_event,
    sign_event,
    verify_event,
)
from protocol.keys import PrivateKey, PublicKey
from protocol.reasons import Reason
from protocol.receipts import Receipt, sign_receipt, verify_receipt
from protocol.trust import TrustList, sign_trust_list, verify_trust_list

__all__ = [
    "CREDENTIAL_RECORD_TYPE",
    "GENESIS_PREV",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "MAX_EVENT_BYTES",
    "BalanceSheet",
    "CardCredential",
    "CardTrust",
    "ClockEvidence",
    "Event",
    "EventKind",
    "MalformedError",
    "PrivateKey",
    "ProtocolError",
    "PublicKey",
    "Reason",
    "Receipt",
    "SignedEvent",
    "TrustList",
    "VerificationError",
    "b64decode",
    "b64encode",
    "canonical_json",
    "decode_batch",
    "decode_wire_event",
    "encode_batch",
    "enrolment_message",
    "event_hash",
    "issue_credential",
    "issuer_key_id",
    "parse_canonical_json",
    "parse_credential",
    "parse_event",
    "sign_balances",
    "sign_event",
    "sign_receipt",
    "sign_trust_list",
    "uid_pseudonym",
    "verify_balances",
    "verify_credential",
    "verify_event",
    "verify_receipt",
    "verify_trust_list",
]
