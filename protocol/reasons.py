"""The fixed vocabulary of reason codes.

Codes are part of the public contract (``docs/protocol.md`` lists them): the
server returns them in JSON error bodies, the kiosk stores them in ``denied``
events and coordinators see them in reports.  Never rename a code; add new ones.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """A stable, machine-readable reason for a refusal, a flag or a denial."""

    # Encoding of a single object (event, receipt, request part).
    BAD_ENCODING = "bad_encoding"
    NOT_CANONICAL = "not_canonical"
    TOO_LARGE = "too_large"
    UNKNOWN_VERSION = "unknown_version"
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_KIND = "unknown_kind"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    BAD_SIGNATURE = "bad_signature"
    OPENING_MISMATCH = "opening_mismatch"  # an opening that does not open the commitment it came with
    OPENING_MISSING = "opening_missing"  # a v2 event sent without the opening of its card reference

    # Requests to the server.
    MALFORMED_REQUEST = "malformed_request"
    BATCH_TOO_LARGE = "batch_too_large"
    BODY_TOO_LARGE = "body_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    REQUEST_TIMEOUT = "request_timeout"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    NOT_FOUND = "not_found"
    INTERNAL_ERROR = "internal_error"
    STORAGE_FULL = "storage_full"  # the disk is full: nothing was written; retry when space returns
    STORAGE_UNAVAILABLE = "storage_unavailable"  # the disk is read-only or failing: nothing was written
    ACCESS_SECRET_INVALID = "access_secret_invalid"  # a volunteer's access secret that is wrong or revoked
    SESSION_REQUIRED = "session_required"  # a volunteer's route without a live session cookie
    STALE_REQUEST = "stale_request"  # a signed request whose at_ms is too far from the server's clock
    REPLAYED = "replayed"  # a signed request whose nonce was used before
    CSRF_FAILED = "csrf_failed"  # a page's form without the token of the page it came from
    LOGIN_FAILED = "login_failed"  # a console login: wrong e-mail address or password (one answer for both)
    TOTP_INVALID = "totp_invalid"  # a console login's second factor: wrong, stale or already used code
    ACCOUNT_LOCKED = "account_locked"  # a console account locked after too many failed logins
    DUTIES_CONFLICT = "duties_conflict"  # a grant would let one person both decide and settle shops
    GRANT_EXCEEDS_OWN = "grant_exceeds_own"  # a grant of more than the granting person holds
    INVITATION_INVALID = "invitation_invalid"  # an unknown, used, revoked or expired invitation link
    ACCOUNT_DISABLED = "account_disabled"  # a console login (right password) to an account an admin disabled
    DISABLE_REFUSED = "disable_refused"  # disabling oneself, or the last active admin

    # Ingest.
    UNKNOWN_KIOSK = "unknown_kiosk"
    KIOSK_REVOKED = "kiosk_revoked"
    KIOSK_SUSPENDED = "kiosk_suspended"
    KIOSK_MISMATCH = "kiosk_mismatch"
    SEQUENCE_GAP = "sequence_gap"
    CHAIN_BROKEN = "chain_broken"
    EQUIVOCATION = "equivocation"
    DUPLICATE = "duplicate"

    # Enrolment.
    ENROLMENT_CODE_INVALID = "enrolment_code_invalid"
    ENROLMENT_CODE_USED = "enrolment_code_used"
    ENROLMENT_CODE_EXPIRED = "enrolment_code_expired"
    KEY_ALREADY_ENROLLED = "key_already_enrolled"
    TOO_MANY_ENROLMENT_CODES = "too_many_enrolment_codes"
    SERVER_KEY_MISMATCH = "server_key_mismatch"
    SERVER_KEY_ROTATED = "server_key_rotated"

    # Entities.
    UNKNOWN_SITE = "unknown_site"
    UNKNOWN_CARD = "unknown_card"
    UNKNOWN_VOLUNTEER = "unknown_volunteer"
    UNKNOWN_ISSUER = "unknown_issuer"
    ISSUER_KEY_INACTIVE = "issuer_key_inactive"
    CARD_EXISTS = "card_exists"
    VOLUNTEER_ERASED = "volunteer_erased"
    UNKNOWN_PERSON = "unknown_person"
    UNKNOWN_TEAM = "unknown_team"
    UNKNOWN_ORGANISATION = "unknown_organisation"
    PERSON_EXISTS = "person_exists"
    CARD_NOT_PENDING = "card_not_pending"  # a prepared card confirmed or cancelled already
    READ_BACK_MISMATCH = "read_back_mismatch"  # the tag read back holds no genuine credential for this card
    TOO_MANY_PENDING_CARDS = "too_many_pending_cards"  # a volunteer with prepared cards not yet written
    UNKNOWN_CONFIRMATION = "unknown_confirmation"  # an hours confirmation link that does not exist
    CONFIRMATION_CLOSED = "confirmation_closed"  # an hours confirmation link already answered, or expired
    UNKNOWN_STAFF = "unknown_staff"  # a till staff member the shop does not have (or no longer has)

    # Cards at the kiosk: why a tap was denied (also flags on admitted events).
    BAD_CREDENTIAL = "bad_credential"
    BAD_NDEF_CHUNK = "bad_ndef_chunk"
    NDEF_CHUNK_TOO_LARGE = "ndef_chunk_too_large"
    CREDENTIAL_FORGED = "credential_forged"
    UID_MISMATCH = "uid_mismatch"
    CREDENTIAL_NOT_YET_VALID = "credential_not_yet_valid"
    CREDENTIAL_EXPIRED = "credential_expired"
    CARD_BLOCKED = "card_blocked"
    UNCREDENTIALED_CARD = "uncredentialed_card"

    # The transparency log: notes, checkpoints, proofs.
    BAD_NOTE = "bad_note"
    NOTE_UNVERIFIED = "note_unverified"
    BAD_CHECKPOINT = "bad_checkpoint"
    BAD_PROOF = "bad_proof"
    BAD_HANDOVER = "bad_handover"
    LOG_HANDED_OVER = "log_handed_over"
    BAD_CERTIFICATE = "bad_certificate"  # an hours certificate's QR payload that does not parse
    CERTIFICATE_NAME_MISMATCH = "certificate_name_mismatch"  # name and salt do not reproduce its hash
    CERTIFICATE_NOT_IN_LOG = "certificate_not_in_log"  # the live log disagrees with the certificate

    # Flags on admitted events and shifts (they go to the review list).
    CLOCK_OUT_OF_RANGE = "clock_out_of_range"
    CLOCK_INCONSISTENT = "clock_inconsistent"
    CLOCK_UNSYNCED = "clock_unsynced"
    SHIFT_TOO_LONG = "shift_too_long"
    MISSING_CHECK_OUT = "missing_check_out"
    CHECK_OUT_WITHOUT_CHECK_IN = "check_out_without_check_in"
    # Shifts a kiosk's key could sign but no volunteer could work: held for review (docs/economy.md).
    BEFORE_ENROLMENT = "before_enrolment"
    BACKDATED = "backdated"
    SHIFT_OVERLAP = "shift_overlap"
    DAY_TOO_LONG = "day_too_long"
    # A volunteer's undo of a mistaken tap at the kiosk (flags on admitted ``undo`` events: nothing undone).
    UNDO_UNKNOWN_TAP = "undo_unknown_tap"  # the undo names no check-in or check-out of its card at its kiosk
    UNDO_TOO_LATE = "undo_too_late"  # more than UNDO_MAX_MS after the tap by the kiosk's monotonic clock
    ALREADY_UNDONE = "already_undone"  # a second undo of the same tap (whether the first was honoured or not)
    UNDO_SUPERSEDED = "undo_superseded"  # the card tapped again since, or the shift moved on
    UNDONE = "undone"  # the reason of a shift set aside because its tap was undone (no review, no tokens)

    # Redemptions and voids at shops (flags on admitted redeem/void events; see docs/economy.md).
    NOT_A_SHOP = "not_a_shop"
    AMOUNT_OVER_LIMIT = "amount_over_limit"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    ALREADY_REDEEMED = "already_redeemed"
    REDEMPTION_MISMATCH = "redemption_mismatch"
    OVERDRAFT = "overdraft"
    UNKNOWN_REDEMPTION = "unknown_redemption"
    ALREADY_VOIDED = "already_voided"
    VOID_TOO_LATE = "void_too_late"
    VOID_OTHER_SHOP = "void_other_shop"
    OFFLINE_LIMIT = "offline_limit"
    # Offline redemptions beyond the till's bound, held for review (docs/economy.md, "The worst-case loss").
    REDEEM_BACKDATED = "redeem_backdated"
    OFFLINE_OVER_ALLOWANCE = "offline_over_allowance"
    OFFLINE_OVER_DAILY_CAP = "offline_over_daily_cap"
    # A shop with till staff (issue 19): held for review too, online or offline.
    STAFF_UNKNOWN = "staff_unknown"  # the redeem names no active staff member of the shop
    STAFF_OVER_DAILY_CAP = "staff_over_daily_cap"  # beyond the staff member's daily maximum

    # Coordinator decisions (rules, review, shifts by hand).
    UNKNOWN_COORDINATOR = "unknown_coordinator"
    COORDINATOR_REVOKED = "coordinator_revoked"
    DECISION_STALE = "decision_stale"
    UNKNOWN_SHIFT = "unknown_shift"
    NOT_IN_REVIEW = "not_in_review"
    FOUR_EYES_REQUIRED = "four_eyes_required"  # 202: waits for a second person's cosignature
    COSIGNER_SAME_PERSON = "cosigner_same_person"  # the cosignature is the signer's own (key or person)
    NOT_YOUR_KEY = "not_your_key"  # a console user signed with a key that is not their own device key
    NOT_PENDING = "not_pending"  # no decision waits for a cosignature under this hash

    # Kiosk side.
    BAD_RECEIPT = "bad_receipt"
    FORK_DETECTED = "fork_detected"
    NETWORK_ERROR = "network_error"
    SERVER_ERROR = "server_error"
    BAD_TRUST_LIST = "bad_trust_list"
    LOG_INCONSISTENT = "log_inconsistent"
    TAP_INCOMPLETE = "tap_incomplete"
    STAFF_PIN_REQUIRED = "staff_pin_required"  # a till whose shop has staff: no staff session is open
    # Command line (never on the wire): which server a ``kokreativ`` command talks to.
    SERVER_NOT_SET = "server_not_set"  # neither --server nor KOKREATIV_SERVER: no server is guessed
    SERVER_UNREACHABLE = "server_unreachable"  # no answer from the server (refused, DNS, TLS, timeout)
    FOLDER_EXISTS = "folder_exists"  # a command that makes a new folder (``demo --dir``) found one there
    OPTION_RENAMED = "option_renamed"  # an option in its old meaning (``--reader usb``): use the new one
