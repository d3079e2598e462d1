"""The contract between kiosk and server: formats, canonical bytes, signatures.

Pure code with no I/O; everything else imports it.  ``docs/protocol.md`` is
the prose version of this package.
"""

from protocol.balances import BalanceSheet, sign_balances, verify_balances
from protocol.batches import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    decode_batch,
    decode_batch_request,
    encode_batch,
)
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
from protocol.decisions import (
    Decision,
    coordinator_id,
    decision_hash,
    parse_decision,
    sign_decision,
    verify_decision,
)
from protocol.earning import EarningRules
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
from protocol.redemptions import moved_tokens, refusal
from protocol.trust import Preset, ShopLimits, TrustList, sign_trust_list, verify_trust_list

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
    "Decision",
    "EarningRules",
    "Event",
    "EventKind",
    "MalformedError",
    "Preset",
    "PrivateKey",
    "ProtocolError",
    "PublicKey",
    "Reason",
    "Receipt",
    "ShopLimits",
    "SignedEvent",
    "TrustList",
    "VerificationError",
    "b64decode",
    "b64encode",
    "canonical_json",
    "coordinator_id",
    "decision_hash",
    "decode_batch",
    "decode_batch_request",
    "decode_wire_event",
    "encode_batch",
    "enrolment_message",
    "event_hash",
    "issue_credential",
    "issuer_key_id",
    "moved_tokens",
    "parse_canonical_json",
    "parse_credential",
    "parse_decision",
    "parse_event",
    "refusal",
    "sign_balances",
    "sign_decision",
    "sign_event",
    "sign_receipt",
    "sign_trust_list",
    "uid_pseudonym",
    "verify_balances",
    "verify_credential",
    "verify_decision",
    "verify_event",
    "verify_receipt",
    "verify_trust_list",
]
