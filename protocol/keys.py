"""Ed25519 keys (PyNaCl), and how they are written down.

Public keys travel as standard base64 of the 32 raw bytes; private keys are
stored as the 32-byte seed, never sent anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

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

    def sealer(self) -> Sealer:
        """A :class:`Sealer` of messages that only this key's private half opens."""
        return Sealer(self)


class Sealer:
    """Encrypts messages to one Ed25519 key's holder: ``crypto_box`` from one ephemeral X25519 key.

    The recipient's X25519 key is converted from its Ed25519 key (libsodium's
    ``crypto_sign_ed25519_pk_to_curve25519``), so whoever can verify the
    server's signatures can seal to it without a second published key.  One
    ephemeral key pair per sealer: its Diffie-Hellman (the costly part) is done
    once, each message then costs an XSalsa20-Poly1305 encryption with a fresh
    random nonce.  The ephemeral secret lives only in this object, so the
    sender cannot open what it sealed.  A box is ``ephemeral public key (32) ‖
    nonce (24) ‖ ciphertext with its 16-byte tag``.
    """

    __slots__ = ("_box", "_prefix")

    def __init__(self, recipient: PublicKey) -> None:
        ephemeral = nacl.public.PrivateKey.generate()
        curve = nacl.signing.VerifyKey(recipient.raw).to_curve25519_public_key()
        self._prefix = bytes(ephemeral.public_key)
        self._box = nacl.public.Box(ephemeral, curve)

    def seal(self, message: bytes) -> bytes:
        return self._prefix + bytes(self._box.encrypt(message))


SEAL_OVERHEAD: Final = 32 + 24 + 16  # ephemeral public key, nonce, tag


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
        """What a :class:`Sealer` for this key put in ``box``; ``VerificationError`` if it cannot open it."""
        try:
            if len(box) < SEAL_OVERHEAD:
                raise nacl.exceptions.CryptoError("too short")
            ephemeral = nacl.public.PublicKey(box[:32])
            return bytes(nacl.public.Box(self._key.to_curve25519_private_key(), ephemeral).decrypt(box[32:]))
        except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as exc:
            raise VerificationError(
                Reason.OPENING_MISSING, "the sealed box does not open with this key"
            ) from exc
