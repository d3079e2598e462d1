"""The card credential: what a kokreativ card carries, and how a kiosk checks it offline.

A UID alone proves nothing ("magic" cards let anyone set one), so every card
carries a credential signed by one of the programme's *issuer keys*.  The
credential binds a random card ID to the tag's UID and to a validity window;
copying it onto another tag fails because the UID differs.

Tags are small (an NTAG213 holds 144 bytes of NDEF), so the credential is a
fixed binary layout rather than JSON.  With a 7-byte UID it is 105 bytes; as
an NDEF external record of type :data:`CREDENTIAL_RECORD_TYPE` it takes 129
bytes of tag memory including the TLV.  All integers are big-endian::

    offset  size  field
    0       1     version            1
    1       8     issuer key ID      first 8 bytes of SHA-256("kokreativ.issuer.v1\\0" ‖ public key)
    9       16    card ID            the 16 random bytes of "c_<32 hex>"
    25      4     valid_from         Unix seconds, UTC, inclusive
    29      4     valid_until        Unix seconds, UTC, exclusive
    33      1     UID length n       4..10
    34      n     tag UID
    34+n    64    Ed25519 signature  over "kokreativ.card.v1\\0" ‖ bytes 0 .. 34+n

Verification fails closed and checks, in this order (the first failure is
the reason): the layout (``bad_credential``), a trusted issuer key
(``unknown_issuer``, also when the kiosk holds no keys at all), the signature
(``credential_forged``), the UID (``uid_mismatch``), the validity window
(``credential_not_yet_valid``, ``credential_expired``) and the blocked list
(``card_blocked``).  The signature comes before the UID so that a forged
credential is called forged whatever tag it sits on.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from protocol import ids
from protocol.commitments import TRUST_CARD_DOMAIN, commit_value
from protocol.errors import MalformedError, VerificationError
from protocol.keys import SIGNATURE_BYTES, PrivateKey, PublicKey
from protocol.reasons import Reason

CREDENTIAL_RECORD_TYPE: Final = "urn:nfc:ext:kokreativ.org:cred"
CREDENTIAL_VERSION: Final = 1
ISSUER_KEY_PREFIX: Final = "i"
KEY_ID_BYTES: Final = 8
MIN_UID_BYTES: Final = 4
MAX_UID_BYTES: Final = 10
MAX_VALIDITY_S: Final = 2**32 - 1

_CARD_DOMAIN: Final = b"kokreativ.card.v1\x00"
_ISSUER_DOMAIN: Final = b"kokreativ.issuer.v1\x00"
_HEAD = struct.Struct(">B8s16sIIB")  # version, key ID, card ID, valid_from, valid_until, UID length


def issuer_key_id(public_key: PublicKey) -> str:
    """The ID of an issuer key: ``i_`` and 16 hex digits of a domain-separated hash of the key."""
    digest = hashlib.sha256(_ISSUER_DOMAIN + public_key.raw).digest()
    return f"{ISSUER_KEY_PREFIX}_{digest[:KEY_ID_BYTES].hex()}"


def _key_id_bytes(key_id: str) -> bytes:
    prefix, _, digits = key_id.partition("_")
    if prefix != ISSUER_KEY_PREFIX or len(digits) != 2 * KEY_ID_BYTES:
        raise MalformedError(Reason.BAD_FIELD, "an issuer key ID is i_ and 16 hex digits")
    try:
        raw = bytes.fromhex(digits)
    except ValueError as exc:
        raise MalformedError(Reason.BAD_FIELD, "an issuer key ID is i_ and 16 hex digits") from exc
    if raw.hex() != digits:  # lowercase only: one spelling per key
        raise MalformedError(Reason.BAD_FIELD, "an issuer key ID is lowercase hex")
    return raw


@dataclass(frozen=True, slots=True)
class CardCredential:
    """A parsed credential; :func:`verify_credential` decides whether to believe it."""

    key_id: str
    card_id: str
    valid_from_s: int
    valid_until_s: int
    uid: bytes = field(repr=False)
    signature: bytes = field(repr=False)

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers (without the domain prefix)."""
        return _signed_part(self.key_id, self.card_id, self.valid_from_s, self.valid_until_s, self.uid)

    def to_bytes(self) -> bytes:
        """The credential as it is on the tag (what :func:`parse_credential` reads)."""
        return self.signed_bytes() + self.signature


def _signed_part(key_id: str, card_id: str, valid_from_s: int, valid_until_s: int, uid: bytes) -> bytes:
    ids.require_id(card_id, ids.CARD, field="card")
    if not MIN_UID_BYTES <= len(uid) <= MAX_UID_BYTES:
        raise MalformedError(Reason.BAD_FIELD, "a tag UID has 4 to 10 bytes")
    for name, value in (("valid_from", valid_from_s), ("valid_until", valid_until_s)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_VALIDITY_S:
            raise MalformedError(Reason.BAD_FIELD, f"{name} must be Unix seconds that fit 32 bits")
    if valid_until_s <= valid_from_s:
        raise MalformedError(Reason.BAD_FIELD, "valid_until must be after valid_from")
    head = _HEAD.pack(
        CREDENTIAL_VERSION,
        _key_id_bytes(key_id),
        bytes.fromhex(card_id[2:]),
        valid_from_s,
        valid_until_s,
        len(uid),
    )
    return head + uid


def issue_credential(
    issuer_key: PrivateKey, *, card_id: str, uid: bytes, valid_from_s: int, valid_until_s: int
) -> bytes:
    """The credential bytes for ``card_id`` on the tag with ``uid``, signed by ``issuer_key``."""
    key_id = issuer_key_id(issuer_key.public_key)
    signed = _signed_part(key_id, card_id, valid_from_s, valid_until_s, uid)
    return signed + issuer_key.sign(_CARD_DOMAIN + signed)


def parse_credential(payload: bytes) -> CardCredential:
    """Decode the layout; ``MalformedError(bad_credential)`` for anything else.  Checks no signature."""
    if len(payload) < _HEAD.size:
        raise MalformedError(Reason.BAD_CREDENTIAL, "credential is too short")
    version, key_raw, card_raw, valid_from, valid_until, uid_len = _HEAD.unpack_from(payload)
    if version != CREDENTIAL_VERSION:
        raise MalformedError(Reason.BAD_CREDENTIAL, f"unknown credential version {version}")
    if not MIN_UID_BYTES <= uid_len <= MAX_UID_BYTES:
        raise MalformedError(Reason.BAD_CREDENTIAL, "credential names a UID of impossible length")
    if len(payload) != _HEAD.size + uid_len + SIGNATURE_BYTES:
        raise MalformedError(Reason.BAD_CREDENTIAL, "credential has the wrong length")
    if valid_until <= valid_from:
        raise MalformedError(Reason.BAD_CREDENTIAL, "credential validity window is empty")
    uid_end = _HEAD.size + uid_len
    return CardCredential(
        key_id=f"{ISSUER_KEY_PREFIX}_{key_raw.hex()}",
        card_id=f"{ids.CARD}_{card_raw.hex()}",
        valid_from_s=valid_from,
        valid_until_s=valid_until,
        uid=payload[_HEAD.size : uid_end],
        signature=payload[uid_end:],
    )


@dataclass(frozen=True, slots=True)
class CardTrust:
    """What a kiosk believes: issuer keys by key ID, and the cards that are blocked.

    An empty ``issuer_keys`` trusts nothing: every credential is ``unknown_issuer``.
    """

    issuer_keys: Mapping[str, PublicKey] = field(default_factory=dict)
    blocked: frozenset[str] = frozenset()
    # With a salt (trust list v4), ``blocked`` holds salted hashes of card IDs, not the IDs.
    blocked_salt: str | None = None

    def is_blocked(self, card_id: str) -> bool:
        """Whether ``card_id`` is blocked: looked up as it is, or hashed with the list's salt."""
        if self.blocked_salt is None:
            return card_id in self.blocked
        return commit_value(TRUST_CARD_DOMAIN, self.blocked_salt, card_id) in self.blocked


NO_TRUST: Final = CardTrust()


def verify_credential(
    payload: bytes, *, uid: bytes, trust: CardTrust, now_s: int, clock_synced: bool = True
) -> CardCredential:
    """The credential in ``payload`` if it is genuine, for this tag, current and not blocked.

    ``clock_synced`` false: ``now_s`` comes from a clock that may be behind (a
    kiosk after a power cut, at 1970 or a stale fake-hwclock time), so only
    expiry is decided.  A clock behind can make a card look younger, never
    older: "expired" is still certain, "not yet valid" is not, and denying it
    would turn away every card until NTP comes.

    Raises :class:`MalformedError` (``bad_credential``) or :class:`VerificationError`
    with the first reason in the order the module docstring gives.
    """
    credential = parse_credential(payload)
    public_key = trust.issuer_keys.get(credential.key_id)
    if public_key is None:
        raise VerificationError(Reason.UNKNOWN_ISSUER, f"issuer key {credential.key_id} is not trusted")
    try:
        public_key.verify(_CARD_DOMAIN + credential.signed_bytes(), credential.signature)
    except VerificationError as exc:
        raise VerificationError(Reason.CREDENTIAL_FORGED, "credential signature does not verify") from exc
    if not hmac.compare_digest(credential.uid, uid):
        raise VerificationError(Reason.UID_MISMATCH, "credential belongs to another tag")
    if clock_synced and now_s < credential.valid_from_s:
        raise VerificationError(Reason.CREDENTIAL_NOT_YET_VALID, "credential is not valid yet")
    if now_s >= credential.valid_until_s:
        raise VerificationError(Reason.CREDENTIAL_EXPIRED, "credential has expired")
    if trust.is_blocked(credential.card_id):
        raise VerificationError(Reason.CARD_BLOCKED, "card is blocked")
    return credential
