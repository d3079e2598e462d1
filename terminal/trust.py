"""The kiosk's copy of the server's trust list: verified before it is stored, and again when loaded.

The sync side calls :meth:`TrustStore.store` with what the server sent; the tap
path calls :meth:`TrustStore.current` on every tap.  ``current`` costs one
indexed read while nothing changed, and re-verifies the signature whenever a
newer list appears on disk (the sync service may be another process).  A list
on disk that no longer verifies is treated as no list at all, so tampering
with the SD card fails closed: credentials are denied, never waved through.

Lists are verified with the server key pinned *now* (:mod:`terminal.serverkey`):
``server_key`` is only the enrolled key, used until a rotation is followed.  The
cached parse is keyed on the stored list's ``issued_ms`` and the pinned key, so a
rotation followed by the other process is picked up on the next tap.
"""

from __future__ import annotations

import logging
import threading

from protocol import ProtocolError, PublicKey
from protocol.trust import TrustList, verify_trust_list
from terminal.outbox import Outbox, OutboxReader
from terminal.serverkey import pinned_server_key

log = logging.getLogger(__name__)


class TrustView:
    """The newest trust list for ``kiosk_id`` as stored in ``outbox``, verified; reads only.

    For a caller that only looks (``kokreativ terminal status``, ``card inspect``):
    it takes an :class:`~terminal.outbox.OutboxReader`.  :class:`TrustStore` adds storing.

    Example::

        current = TrustView(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id).current()
    """

    def __init__(self, outbox: OutboxReader, *, server_key: PublicKey, kiosk_id: str) -> None:
        self._reader = outbox
        self._enrolled_key = server_key  # the fallback until a rotation pins another key in the outbox
        self._kiosk_id = kiosk_id
        self._lock = threading.Lock()
        self._version: tuple[int | None, str | None] = (None, None)  # what ``_current`` was verified as
        self._current: TrustList | None = None

    @property
    def server_key(self) -> PublicKey:
        """The key lists are verified with now: pinned by a followed rotation, else the enrolled one."""
        return pinned_server_key(self._reader, self._enrolled_key)

    def current(self) -> TrustList | None:
        """The stored list, verified; ``None`` before the first one or if the stored one fails to verify."""
        with self._lock:
            version = self._reader.trust_version()
            if version != self._version:
                self._current, self._version = self._load()
            return self._current

    def is_coordinator(self, card_id: str) -> bool:
        """Whether the current list names ``card_id`` as a coordinator card (and does not block it).

        Fails closed: ``False`` without a verified list.  Pass only a card ID taken from a
        credential that verified (:func:`terminal.cardcheck.check_card` accepted it); a card ID alone
        proves nothing, a UID can be cloned, and the list names only ``c_`` cards for that reason.
        """
        current = self.current()
        return current is not None and current.is_coordinator(card_id)

    def _load(self) -> tuple[TrustList | None, tuple[int | None, str | None]]:
        """The stored list verified with the key pinned with it, and the version that was checked.

        List and key come from one snapshot, so a rotation committed meanwhile (another
        process) cannot pair the new list with the old key; the version returned is the
        snapshot's, so the next :meth:`current` reloads if anything moved on since.
        """
        try:
            stored, pinned = self._reader.trust_list_and_key()
        except ProtocolError as exc:  # a pinned key that is no key: the SD card was tampered with
            log.error("the pinned server key is unreadable (%s); no card is trusted", exc)
            return None, (None, "unreadable")
        version = (None if stored is None else stored[0], None if pinned is None else pinned.to_b64())
        if stored is None:
            return None, version
        key = self._enrolled_key if pinned is None else pinned
        try:
            return verify_trust_list(stored[1], key, kiosk_id=self._kiosk_id), version
        except ProtocolError as exc:
            log.error(
                "the stored trust list does not verify (%s); no card is trusted until the next sync", exc
            )
            return None, version


class TrustStore(TrustView):
    """The newest trust list for ``kiosk_id``, kept in ``outbox``: verified before storing, again on loading.

    Example::

        trust = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        trust.store(answer_json)          # after fetching; raises bad_trust_list if it does not verify
        current = trust.current()         # on a tap; None before the first list
        trust.is_coordinator(card_id)     # after the card's credential verified against ``current``
    """

    def __init__(self, outbox: Outbox, *, server_key: PublicKey, kiosk_id: str) -> None:
        super().__init__(outbox, server_key=server_key, kiosk_id=kiosk_id)
        self._outbox = outbox

    def store(self, wire: object) -> TrustList:
        """Verify ``wire`` and keep it unless a newer list is already stored; returns the newest list.

        Raises :class:`protocol.VerificationError` (``bad_trust_list``) and stores nothing if it
        does not verify.
        """
        trust = verify_trust_list(wire, self.server_key, kiosk_id=self._kiosk_id)
        assert isinstance(wire, dict)
        if not self._outbox.save_trust_list(wire, trust.issued_ms):
            log.warning("ignored a trust list older than the one stored (issued_ms %d)", trust.issued_ms)
        current = self.current()
        return current if current is not None else trust

    def adopt(self, wire: object, new_key: PublicKey, *, replaces: PublicKey | None) -> bool:
        """Verify ``wire`` with ``new_key``, then pin that key and store the list in one transaction.

        For a rotation the caller followed from the pin ``replaces`` (``Outbox.server_key()``;
        ``None``: the enrolled key) to ``new_key``.  Raises :class:`protocol.VerificationError`
        (``bad_trust_list``) and changes nothing if the list does not verify with the new key:
        a key the server cannot sign this kiosk's list with is not worth pinning.  ``False``:
        nothing was pinned (another process pinned a different key, or the list is older
        than the stored one; see :meth:`Outbox.pin_server_key`).
        """
        trust = verify_trust_list(wire, new_key, kiosk_id=self._kiosk_id)
        assert isinstance(wire, dict)
        return self._outbox.pin_server_key(
            new_key, replaces=replaces, trust_wire=wire, trust_issued_ms=trust.issued_ms
        )
