"""A log that names cards moves to a new origin, with a signed hand-over (``docs/operations.md``).

An append-only log cannot drop what it published, and rewriting it is what
every kiosk would rightly report as ``log_inconsistent``.  So at the first
start after the upgrade (the server holds its key then; migrations do not), a
data folder whose log is of format 1 (entry v1, naming card and volunteer IDs):

1. archives the old log's entries, hashes and checkpoints under the old origin
   (:meth:`~server.storage.Tx.archive_log`), after making sure its final size has
   a checkpoint; its proofs keep working, its entries only for ``audit_log``;
2. starts the origin ``<old origin>/2``: entry 0 is ``handover`` (the old final
   tree head and each kiosk's chain head), then entry v2 restating the public
   state: sites and shops, issuer keys, coordinator keys, kiosks with their keys
   and status, server key transitions, and cards and blocks as commitments whose
   openings go to ``openings``;
3. signs the hand-over document (:mod:`protocol.handover`) for ``GET /v1/log/handover``
   and sets ``log_format`` to 2.

All of it is one transaction, so a crash leaves the old log as it was or the
new one complete, and a second start finds format 2 and does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from protocol import PrivateKey, b64decode, b64encode
from protocol.commitments import Opening, new_salt
from protocol.handover import Handover, sign_handover
from protocol.logentry import PRIVATE_ENTRY_VERSION, make_entry, parse_entry, public_day
from server import tlog
from server.context import ServerContext
from server.models import KioskStatus
from server.schema import LOG_FORMAT_SETTING, TOTALS_DAY_SETTING, TOTALS_LAST_SETTING
from server.storage import ReadTx, Storage, Tx
from server.tlogtree import Frontier
from server.vault import PersonVault

NEW_ORIGIN_SUFFIX: Final = "/2"
V2: Final = PRIVATE_ENTRY_VERSION


@dataclass(frozen=True, slots=True)
class HandedOver:
    """What :func:`hand_over_if_needed` did: the document it signed and the new log's first checkpoint."""

    handover: Handover
    document: dict[str, str]


def needs_handover(tx: Tx) -> bool:
    """Whether the log still writes entry v1: ``log_format`` 1, or unset with a non-empty log."""
    setting = tx.get_setting(LOG_FORMAT_SETTING)
    if setting is None:
        return tx.tlog_size() > 0
    return setting == "1"


def hand_over_if_needed(
    storage: Storage, key: PrivateKey, now_ms: int, vault: PersonVault, cosign: Sequence[PrivateKey] = ()
) -> HandedOver | None:
    """Move a format-1 log to a new origin (the module docstring); ``None`` when there is nothing to do."""
    ctx = ServerContext(
        storage=storage, server_key=key, uid_pseudonym_key=b"", vault=vault, cosign_keys=tuple(cosign)
    )
    with storage.write() as tx:
        if not needs_handover(tx):
            if tx.get_setting(LOG_FORMAT_SETTING) is None:
                tx.set_setting(LOG_FORMAT_SETTING, "2")
            return None
        old_origin = tlog.origin(tx)
        old_size = tx.tlog_size()
        old_root = Frontier.load(old_size, tlog.StoredHashes(tx)).root()
        latest = tx.latest_checkpoint()
        if latest is None or latest[0] != old_size:  # the old log's final tree head gets its checkpoint
            tlog.append(ctx, tx, [], now_ms=now_ms)
        tx.archive_log(old_origin)
        new_origin = old_origin + NEW_ORIGIN_SUFFIX
        tx.set_setting(tlog.ORIGIN_SETTING, new_origin)
        entries = [_handover_entry(tx, old_origin, old_size, old_root, now_ms)]
        _restate(tx, entries, now_ms)
        appended = tlog.append(ctx, tx, entries, now_ms=now_ms)
        handover = Handover(old_origin, old_size, old_root, new_origin, appended.size, now_ms)
        document = sign_handover(handover, key)
        tx.insert_handover(
            old_origin,
            old_size,
            old_root,
            new_origin,
            appended.size,
            now_ms,
            handover.to_bytes(),
            b64decode(document["sig"], field="sig"),
        )
        tx.set_setting(LOG_FORMAT_SETTING, "2")
        # The new log's ``totals`` entries start at its entry 0, with the next day (server.tlog).
        tx.set_setting(TOTALS_LAST_SETTING, "-1")
        tx.set_setting(TOTALS_DAY_SETTING, str(public_day(now_ms)))
    return HandedOver(handover, document)


def _handover_entry(tx: Tx, old_origin: str, old_size: int, old_root: bytes, now_ms: int) -> bytes:
    kiosks = {kiosk.kiosk_id: {"seq": kiosk.last_seq, "head": kiosk.head} for kiosk in tx.list_kiosks()}
    return make_entry(
        "handover",
        version=V2,
        old_origin=old_origin,
        old_size=old_size,
        old_root=old_root.hex(),
        kiosks=kiosks,
        at_ms=now_ms,
    )


def _restate(tx: Tx, entries: list[bytes], now_ms: int) -> None:
    """Append to ``entries`` the v2 entries of the public state, in a fixed order (docs/operations.md)."""
    for site in tx.list_sites():
        entries.append(make_entry("site", version=V2, **_fields(tlog.site_entry(site, now_ms))))
        if site.shop is not None:
            entries.append(make_entry("shop", version=V2, **_fields(tlog.shop_entry(site, now_ms))))
    for issuer in tx.list_issuer_keys():
        entries.append(
            make_entry("issuer_key", version=V2, **_fields(tlog.issuer_key_entry(issuer, issuer.changed_ms)))
        )
    for coordinator in tx.list_coordinators():
        entries.append(
            make_entry(
                "coordinator_key",
                version=V2,
                **_fields(tlog.coordinator_key_entry(coordinator, coordinator.changed_ms)),
            )
        )
    kiosks = tx.list_kiosks()
    for kiosk in kiosks:
        entries.append(make_entry("kiosk_enrolled", version=V2, **_fields(tlog.kiosk_enrolled_entry(kiosk))))
    for kiosk in kiosks:
        if kiosk.status is not KioskStatus.ACTIVE:
            entries.append(
                make_entry(
                    "kiosk_status",
                    version=V2,
                    kiosk_id=kiosk.kiosk_id,
                    status=kiosk.status.value,
                    at_ms=now_ms,
                )
            )
    first = tx.tlog_size()  # the new log is empty until the append: entry i goes to index i
    for signed in tx.server_key_transitions():
        tx.set_transition_log_index(signed.transition.new.raw, first + len(entries))
        entries.append(
            make_entry(
                "server_key",
                version=V2,
                body=b64encode(signed.body),
                sig_old=b64encode(signed.sig_old),
                sig_new=b64encode(signed.sig_new),
            )
        )
    cards = tx.list_cards()
    for card in cards:
        salt = new_salt()
        tx.put_opening(first + len(entries), "card", card.card_id, salt, volunteer_id=card.volunteer_id)
        entries.append(
            tlog.card_entry_v2(
                tlog.registration_ref(card.card_id, card.volunteer_id, salt), card.registered_ms
            )
        )
    for card in sorted(
        (c for c in cards if c.blocked_ms is not None), key=lambda c: (c.blocked_ms, c.card_id)
    ):
        opening = Opening.fresh(card.card_id)
        tx.put_opening(first + len(entries), "card_blocked", card.card_id, opening.salt)
        assert card.blocked_ms is not None
        entries.append(tlog.card_blocked_entry_v2(opening, card.blocked_ms))


def _fields(entry: bytes) -> dict[str, object]:
    """The fields of a v1 entry of a kind whose v2 has the same ones (sites, keys, kiosks).

    Built by the v1 builders and re-made as v2, so the two versions cannot drift apart.
    """
    fields = parse_entry(entry)
    for name in ("kind", "type", "v"):
        del fields[name]
    return fields


def handover_document(tx: ReadTx) -> dict[str, str] | None:
    """The newest hand-over's wire form ``{"body", "sig"}``, or ``None`` when the log never moved."""
    row = tx.handover()
    if row is None:
        return None
    body, sig = row[6], row[7]
    return {"body": b64encode(body), "sig": b64encode(sig)}
