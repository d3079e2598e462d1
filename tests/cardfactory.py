"""Cards for tests: an issuer key that signs credentials, and trust lists that believe it.

Kept in one place so every test builds cards exactly as ``provision card issue`` does
(``issue_credential`` → ``credential_message``), with a UID derived from the card ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.cardrecord import credential_message
from hardware.reader import Tap
from protocol import PrivateKey, TrustList, ids, issue_credential, issuer_key_id

VALID_FROM_S = 1_700_000_000  # 2023-11-14
VALID_UNTIL_S = 1_900_000_000  # 2030-03-17


def uid_for(card_id: str) -> bytes:
    """A 7-byte NXP-style UID (first byte 0x04) derived from the card ID, so each card has its own."""
    return bytes.fromhex("04" + card_id[2:14])


@dataclass
class TestIssuer:
    """An issuer key and the cards it signs."""

    __test__ = False  # not a pytest class

    key: PrivateKey = field(default_factory=PrivateKey.generate)

    @property
    def key_id(self) -> str:
        return issuer_key_id(self.key.public_key)

    def ndef(
        self,
        card_id: str,
        *,
        uid: bytes | None = None,
        valid_from_s: int = VALID_FROM_S,
        valid_until_s: int = VALID_UNTIL_S,
    ) -> bytes:
        """The NDEF message a tag with ``uid`` (default :func:`uid_for`) carries for ``card_id``."""
        credential = issue_credential(
            self.key,
            card_id=card_id,
            uid=uid if uid is not None else uid_for(card_id),
            valid_from_s=valid_from_s,
            valid_until_s=valid_until_s,
        )
        return credential_message(credential)

    def tap(self, card_id: str) -> Tap:
        """A tap of ``card_id``'s genuine card."""
        return Tap(uid=uid_for(card_id), ndef=self.ndef(card_id))

    def trust_list(
        self,
        *,
        kiosk: str | None = None,
        site: str | None = None,
        issued_ms: int = 1_764_400_000_000,
        blocked: frozenset[str] = frozenset(),
        allow_uncredentialed: bool = False,
        also: tuple[PrivateKey, ...] = (),
    ) -> TrustList:
        keys = [self.key, *also]
        return TrustList(
            kiosk=kiosk or ids.new_id(ids.KIOSK),
            site=site or ids.new_id(ids.SITE),
            issued_ms=issued_ms,
            issuers=tuple(sorted((issuer_key_id(k.public_key), k.public_key) for k in keys)),
            blocked=blocked,
            allow_uncredentialed=allow_uncredentialed,
        )


@dataclass
class FixedTrust:
    """A trust source for :class:`terminal.tap.Kiosk` that a test can swap at will."""

    trust: TrustList | None

    def current(self) -> TrustList | None:
        return self.trust
