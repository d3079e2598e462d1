"""Issuer keys, volunteers and their cards (with the coordinator flag a card may carry)."""

from __future__ import annotations

from collections.abc import Iterable

from server.models import Card, IssuerKey, IssuerKeyStatus
from server.storage.base import Queries, chunks
from server.storage.rows import CARD_COLUMNS, CARD_NAMES, ISSUER_COLUMNS, card_from_row, issuer_key_from_row


class CardsRead(Queries):
    """The issuer keys, volunteers and cards a transaction can read."""

    def get_issuer_key(self, key_id: str) -> IssuerKey | None:
        row = self._conn.execute(
            f"SELECT {ISSUER_COLUMNS} FROM issuer_keys WHERE key_id = ?", (key_id,)
        ).fetchone()
        return None if row is None else issuer_key_from_row(row)

    def list_issuer_keys(self) -> list[IssuerKey]:
        rows = self._conn.execute(f"SELECT {ISSUER_COLUMNS} FROM issuer_keys ORDER BY created_ms, rowid")
        return [issuer_key_from_row(row) for row in rows]

    def volunteer_exists(self, volunteer_id: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM volunteers WHERE volunteer_id = ?", (volunteer_id,)
        ).fetchone()
        return row is not None

    def get_card(self, card_id: str) -> Card | None:
        row = self._conn.execute(f"SELECT {CARD_COLUMNS} FROM cards WHERE card_id = ?", (card_id,)).fetchone()
        return None if row is None else card_from_row(row)

    def cards(self, card_ids: Iterable[str]) -> dict[str, Card]:
        """``card_id -> card`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, Card] = {}
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {CARD_COLUMNS} FROM cards WHERE card_id IN ({marks})", tuple(chunk)
            )
            found.update((row[0], card_from_row(row)) for row in rows)
        return found

    def list_cards(self, volunteer_id: str | None = None) -> list[Card]:
        """Every card, or those of ``volunteer_id``, in the order they were registered."""
        where, args = ("WHERE volunteer_id = ?", (volunteer_id,)) if volunteer_id is not None else ("", ())
        rows = self._conn.execute(
            f"SELECT {CARD_COLUMNS} FROM cards {where} ORDER BY registered_ms, rowid", args
        )
        return [card_from_row(row) for row in rows]

    def blocked_card_ids(self) -> list[str]:
        rows = self._conn.execute("SELECT card_id FROM cards WHERE blocked_ms IS NOT NULL ORDER BY card_id")
        return [row[0] for row in rows]

    def coordinator_card_ids(self) -> list[str]:
        """Coordinator cards that are credential cards and not blocked, sorted.

        The conditions repeat what the service enforces, so a row changed behind its
        back (or a rule bug) can still never put a blocked or uncredentialed card on a trust list.
        """
        rows = self._conn.execute(
            "SELECT card_id FROM cards WHERE coordinator_ms IS NOT NULL AND blocked_ms IS NULL "
            "AND kind = 'credential' ORDER BY card_id"
        )
        return [row[0] for row in rows]

    def card_volunteers(self, card_ids: Iterable[str]) -> dict[str, str]:
        """``card_id -> volunteer_id`` for those of ``card_ids`` that are registered."""
        wanted = sorted(set(card_ids))
        found: dict[str, str] = {}
        for chunk in chunks(wanted):
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT card_id, volunteer_id FROM cards WHERE card_id IN ({marks})", tuple(chunk)
            )
            found.update((row[0], row[1]) for row in rows)
        return found

    def cards_by_volunteer(self) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for volunteer_id, card_id in self._conn.execute(
            "SELECT volunteer_id, card_id FROM cards ORDER BY registered_ms, rowid"
        ):
            result.setdefault(volunteer_id, []).append(card_id)
        return result


class CardsWrite(CardsRead):
    """A :class:`CardsRead` that also registers, blocks and flags."""

    def insert_issuer_key(self, key: IssuerKey) -> None:
        self._conn.execute(
            f"INSERT INTO issuer_keys ({ISSUER_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (key.key_id, key.public_key, key.status.value, key.created_ms, key.changed_ms),
        )

    def set_issuer_key_status(self, key_id: str, status: IssuerKeyStatus, changed_ms: int) -> None:
        self._conn.execute(
            "UPDATE issuer_keys SET status = ?, changed_ms = ? WHERE key_id = ?",
            (status.value, changed_ms, key_id),
        )

    def insert_volunteer(self, volunteer_id: str, sealed: bytes, created_ms: int) -> None:
        """A new volunteer with their personal data, already sealed (:mod:`server.vault`)."""
        self._conn.execute(
            "INSERT INTO volunteers (volunteer_id, created_ms) VALUES (?, ?)", (volunteer_id, created_ms)
        )
        self._conn.execute(
            "INSERT INTO personal_data (volunteer_id, sealed) VALUES (?, ?)", (volunteer_id, sealed)
        )

    def insert_card(self, card: Card) -> None:
        marks = ", ".join("?" * len(CARD_NAMES))
        self._conn.execute(
            f"INSERT INTO cards ({CARD_COLUMNS}) VALUES ({marks})",
            (
                *(card.card_id, card.volunteer_id, card.kind.value, card.registered_ms, card.issuer_key_id),
                *(card.valid_from_s, card.valid_until_s, card.blocked_ms, card.block_reason),
                card.coordinator_ms,
            ),
        )

    def block_card(self, card_id: str, blocked_ms: int, reason: str | None) -> None:
        """Block ``card_id`` unless it already is: the first block's time and reason stay.

        A blocked card is no coordinator card either; blocks are final, so neither is that.
        """
        self._conn.execute(
            "UPDATE cards SET blocked_ms = ?, block_reason = ?, coordinator_ms = NULL "
            "WHERE card_id = ? AND blocked_ms IS NULL",
            (blocked_ms, reason, card_id),
        )

    def set_card_coordinator(self, card_id: str, coordinator_ms: int | None) -> None:
        """Make ``card_id`` a coordinator card since ``coordinator_ms``, or (``None``) no longer one."""
        self._conn.execute("UPDATE cards SET coordinator_ms = ? WHERE card_id = ?", (coordinator_ms, card_id))
