"""Who is this card? The kiosk's offline decision, shared with ``kokreativ card inspect``.

Given one tap and the kiosk's trust list, :func:`check_card` names the card and
says whether to accept it:

* a genuine, current, unblocked credential → its card ID, accepted;
* a genuine credential that is expired, not yet valid or blocked → its card
  ID, denied with that reason (the credential is real, so the attempt can be
  attributed to the card);
* anything that cannot be trusted (forged, copied to another tag, unknown
  issuer, garbled) → the UID pseudonym, denied: a forged card ID must never
  end up in the ledger as if that card had been there;
* no credential at all → the UID pseudonym, accepted only where the site
  allows uncredentialed cards and the pseudonym is not blocked, otherwise
  denied ``unknown_card``.

No trust list yet (a kiosk that never synced) trusts no issuer and allows no
uncredentialed card: verification fails closed.

A kiosk whose clock is not synced cannot know how far behind it is.  Real time
is at least the trust list's ``issued_ms`` (the server's clock when it signed
the list), so expiry is judged by whichever is later, and "not yet valid" is
not judged at all (:func:`protocol.credentials.verify_credential`).
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.cardrecord import find_credential
from hardware.reader import Tap
from protocol import ProtocolError, Reason, uid_pseudonym
from protocol.cards import check_uid
from protocol.credentials import NO_TRUST, CardCredential, parse_credential, verify_credential
from protocol.trust import TrustList

# A genuine credential denied for one of these still names its own card in the denied event.
_GENUINE_REASONS = frozenset(
    {Reason.CREDENTIAL_EXPIRED, Reason.CREDENTIAL_NOT_YET_VALID, Reason.CARD_BLOCKED}
)


@dataclass(frozen=True, slots=True)
class CardCheck:
    """The verdict on one card: the ID to record, and ``reason`` when it is denied."""

    card_id: str
    reason: Reason | None
    credential: CardCredential | None = None
    credentialed: bool = True

    @property
    def accepted(self) -> bool:
        return self.reason is None


def check_card(
    tap: Tap, trust: TrustList | None, *, pseudonym_key: bytes, now_s: int, clock_synced: bool = True
) -> CardCheck:
    """Decide about ``tap`` offline; see the module docstring.  Raises only for a UID of impossible length."""
    check_uid(tap.uid, pseudonym_key)  # what the pseudonym would raise, for every tap alike
    # The pseudonym only where a card is named without a trustworthy credential: a genuine card
    # (nearly every tap) never needs the HMAC.
    try:
        payload = find_credential(tap.ndef)
    except ProtocolError as exc:
        return CardCheck(card_id=uid_pseudonym(tap.uid, pseudonym_key), reason=exc.reason)
    if payload is None:
        pseudonym = uid_pseudonym(tap.uid, pseudonym_key)
        if trust is None or not trust.allow_uncredentialed:
            return CardCheck(card_id=pseudonym, reason=Reason.UNKNOWN_CARD, credentialed=False)
        blocked = Reason.CARD_BLOCKED if trust.is_blocked(pseudonym) else None
        return CardCheck(card_id=pseudonym, reason=blocked, credentialed=False)
    if not clock_synced and trust is not None:
        now_s = max(now_s, trust.issued_ms // 1000)  # the server signed the list: it is no later than now
    try:
        credential = verify_credential(
            payload,
            uid=tap.uid,
            trust=trust.card_trust if trust else NO_TRUST,
            now_s=now_s,
            clock_synced=clock_synced,
        )
    except ProtocolError as exc:
        if exc.reason in _GENUINE_REASONS:
            genuine = parse_credential(payload)
            return CardCheck(card_id=genuine.card_id, reason=exc.reason, credential=genuine)
        return CardCheck(card_id=uid_pseudonym(tap.uid, pseudonym_key), reason=exc.reason)
    return CardCheck(card_id=credential.card_id, reason=None, credential=credential)
