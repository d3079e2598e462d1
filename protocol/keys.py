"""Ed25519 keys (PyNaCl), and how they are written down.

Public keys travel as standard base64 of the 32 raw bytes; private keys are
stored as the 32-byte seed, never sent anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.exceptions
import nacl.public
import nacl.signing

from protocol.encoding import b64decode, b64encode
from protocol.errors import VerificationError
from protocol.reasons import Reason

SIGNATURE_BYTES = 64
PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 verification key."""

    raw: bytes

    @classmethod
    def from_b64(cls, text: object, *, field: str = "public_key") -> PublicKey:
        return cls(b64decode(text, field=field, length=PUBLIC_KEY_BYTES))

    def to_b64(self) -> str:
        return b64encode(self.raw)

    def verify(self, message: bytes, signature: bytes) -> None:
        """Raise :class:`VerificationError` unless ``signature`` signs ``message``."""
        if len(signature) != SIGNATURE_BYTES:
            raise VerificationError(Reason.BAD_SIGNATURE, "signature has the wrong length")
        try:
            nacl.signing.VerifyKey(self.raw).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
            raise VerificationError(Reason.BAD_SIGNATURE, "signature does not verify") from exc

    def seal(self, message: bytes) -> bytes:
        """``message`` in a libsodium sealed box that only this key's private half opens.

        The box is for X25519, converted from this Ed25519 key (libsodium's
        ``crypto_sign_ed25519_pk_to_curve25519``), so whoever can verify the
        server's signatures can seal to it without a second published key.
        """
        curve = nacl.signing.VerifyKey(self.raw).to_curve25519_public_key()
        return bytes(nacl.public.SealedBox(curve).encrypt(message))


class PrivateKey:
    """An Ed25519 signing key, created locally and never sent."""

    __slots__ = ("_key",)

    def __init__(self, seed: bytes) -> None:
        self._key = nacl.signing.SigningKey(seed)

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(bytes(self._key.verify_key))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return self._key.sign(message).signature

    def unseal(self, box: bytes) -> bytes:
        """What :meth:`PublicKey.seal` put in ``box`` for this key; ``VerificationError`` if it cannot."""
        try:
            return bytes(nacl.public.SealedBox(self._key.to_curve25519_private_key()).decrypt(box))
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as exc:
            raise VerificationError(
                Reason.OPENING_MISSING, "the sealed box does not open with this key"
            ) from exc
