"""Volunteers' personal data through the vault: every reader of a name or number goes through here.

The database holds only sealed values (:mod:`server.vault`); this module seals
on registration and opens for reports, statements and exports.  An erased
person reads as ``name: None`` (their key is gone, their row deleted).
:func:`seal_legacy` moves rows written in plaintext before migration m016 under
keys, once, when the data folder opens.
"""

from __future__ import annotations

from server.context import ServerContext
from server.models import Volunteer
from server.storage import ReadTx, Storage, Tx
from server.vault import PersonalData, PersonVault


def register(ctx: ServerContext, tx: Tx, volunteer_id: str, data: PersonalData, created_ms: int) -> None:
    """Store a new volunteer with ``data`` sealed under a key made for them now.

    The key file is written (and fsynced) before the row: a transaction that
    fails afterwards leaves an unused key, never a row no key opens.
    """
    tx.insert_volunteer(volunteer_id, ctx.vault.seal(volunteer_id, data), created_ms)


def _opened(vault: PersonVault, volunteer_id: str, sealed: bytes | None) -> Volunteer:
    data = None if sealed is None else vault.open(volunteer_id, sealed)
    if data is None:
        return Volunteer(volunteer_id=volunteer_id, name=None, ehrenamtskarte=None)
    return Volunteer(volunteer_id=volunteer_id, name=data.name, ehrenamtskarte=data.ehrenamtskarte)


def person(ctx: ServerContext, tx: ReadTx, volunteer_id: str) -> Volunteer | None:
    """The volunteer with their personal data opened (``None`` fields once erased); ``None`` if unknown."""
    if not tx.volunteer_exists(volunteer_id):
        return None
    return _opened(ctx.vault, volunteer_id, tx.sealed_person(volunteer_id))


def people(ctx: ServerContext, tx: ReadTx) -> list[Volunteer]:
    """Every volunteer, oldest first, with their personal data opened (``None`` once erased)."""
    return [_opened(ctx.vault, vid, sealed) for vid, sealed in tx.sealed_people()]


def seal_legacy(storage: Storage, vault: PersonVault) -> int:
    """Seal the plaintext rows migration m016 set aside, drop them, vacuum; how many there were.

    Run where the data folder opens (it knows the key folder).  A crash before
    the commit leaves the plaintext table for the next start; after it, only
    the vacuum is redone.  Afterwards neither the file, its free pages nor its
    WAL holds the plaintext.
    """
    with storage.write() as tx:
        rows = tx.legacy_personal_rows()
        if not rows and not tx.table_columns("personal_data_m016"):
            return 0
        for volunteer_id, name, ehrenamtskarte in rows:
            if tx.sealed_person(volunteer_id) is None:
                sealed = vault.seal(volunteer_id, PersonalData(name=name, ehrenamtskarte=ehrenamtskarte))
                tx.insert_sealed(volunteer_id, sealed)
        tx.drop_legacy_personal_data()
    storage.scrub(vacuum=True)
    return len(rows)


def finish_erasures(storage: Storage, vault: PersonVault) -> list[str]:
    """Destroy the keys of volunteers whose erasure is recorded (an erasure cut short by a crash)."""
    with storage.read() as tx:
        erased = tx.erased_volunteers()
    return [volunteer_id for volunteer_id in erased if vault.destroy(volunteer_id)]
