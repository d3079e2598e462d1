"""The kiosk's copy of the server's trust list: verified before it is stored, and again when loaded.

The sync side calls :meth:`TrustStore.store` with what the server sent; the tap
path calls :meth:`TrustStore.current` on every tap.  ``current`` costs one
indexed read while nothing changed, and re-verifies the signature whenever a
newer list appears on disk (the sync service may be another process).  A list
on disk that no longer verifies is treated as no list at all, so tampering
with the SD card fails closed: credentials are denied, never waved through.
"""

from __future__ import annotations

import logging
import threading

from protocol import ProtocolError, PublicKey
from protocol.trust import TrustList, verify_trust_list
from terminal.outbox import Outbox

log = logging.getLogger(__name__)


class TrustStore:
    """The newest trust list for ``kiosk_id``, kept in ``outbox``.

    Example::

        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        trust.store(answer_json)          # after fetching; raises bad_trust_list if it does not verify
        current = trust.current()         # on a tap; None before the first list
        trust.is_coordinator(card_id)     # after the card's credential verified against ``current``
    """

    def __init__(self, outbox: Outbox, *, server_key: PublicKey, kiosk_id: str) -> None:
        self._outbox = outbox
        self._server_key = server_key
        self._kiosk_id = kiosk_id
        self._lock = threading.Lock()
        self._issued_ms: int | None = None
        self._current: TrustList | None = None

    def store(self, wire: object) -> TrustList:
        """Verify ``wire`` and keep it unless a newer list is already stored; returns the newest list.

        Raises :class:`protocol.VerificationError` (``bad_trust_list``) and stores nothing if it
        does not verify.
        """
        trust = verify_trust_list(wire, self._server_key, kiosk_id=self._kiosk_id)
        assert isinstance(wire, dict)
        if not self._outbox.save_trust_list(wire, trust.issued_ms):
            log.warning("ignored a trust list older than the one stored (issued_ms %d)", trust.issued_ms)
        current = self.current()
        return current if current is not None else trust

    def current(self) -> TrustList | None:
        """The stored list, verified; ``None`` before the first one or if the stored one fails to verify."""
        with self._lock:
            issued = self._outbox.trust_list_issued_ms()
            if issued != self._issued_ms:
                self._current = self._load()
                self._issued_ms = issued
            return self._current

    def is_coordinator(self, card_id: str) -> bool:
        """Whether the current list names ``card_id`` as a coordinator card (and does not block it).

        Fails closed: ``False`` without a verified list.  Pass only a card ID taken from a
        credential that verified (:func:`terminal.cardcheck.check_card` accepted it); a card ID alone
        proves nothing, a UID can be cloned, and the list names only ``c_`` cards for that reason.
        """
        current = self.current()
        return current is not None and current.is_coordinator(card_id)

    def _load(self) -> TrustList | None:
        stored = self._outbox.trust_list()
        if stored is None:
            return None
        try:
            return verify_trust_list(stored[1], self._server_key, kiosk_id=self._kiosk_id)
        except ProtocolError as exc:
            log.error(
                "the stored trust list does not verify (%s); no card is trusted until the next sync", exc
            )
            return None
