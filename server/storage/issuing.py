"""Cards prepared in the console (pending until read back) and hours confirmation lists (migration m021)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from server.storage.base import Queries

_PREPARED: Final = "card_id, volunteer_id, status, prepared_ms, prepared_by, replaces, changed_ms"
_LIST: Final = "list_id, site_id, created_by, contact_label, created_ms, expires_ms, submitted_ms"
_NO_ANSWER: Final = (None, None, None)
_LINE: Final = "line_no, volunteer_id, day, start_min, end_min, answer, answer_start_min, answer_end_min"


@dataclass(frozen=True, slots=True)
class PreparedCard:
    """A card the console prepared: ``pending`` until its written credential is read back, then ``active``."""

    card_id: str
    volunteer_id: str
    status: str  # pending | active | cancelled
    prepared_ms: int
    prepared_by: str
    replaces: str | None
    changed_ms: int


@dataclass(frozen=True, slots=True)
class HoursList:
    """A list of hours sent to an organisation's contact; only the token's hash is stored."""

    list_id: str
    site_id: str
    created_by: str
    contact_label: str
    created_ms: int
    expires_ms: int
    submitted_ms: int | None


@dataclass(frozen=True, slots=True)
class HoursLine:
    """One line: who, which day, from when to when (minutes after midnight), and the contact's answer."""

    line_no: int
    volunteer_id: str
    day: str  # YYYY-MM-DD
    start_min: int
    end_min: int
    answer: str | None = None  # confirmed | corrected | rejected
    answer_start_min: int | None = None
    answer_end_min: int | None = None


class IssuingRead(Queries):
    """Prepared cards and hours lists a transaction can read."""

    def prepared_card(self, card_id: str) -> PreparedCard | None:
        row = self._conn.execute(
            f"SELECT {_PREPARED} FROM prepared_cards WHERE card_id = ?", (card_id,)
        ).fetchone()
        return None if row is None else PreparedCard(*row)

    def prepared_cards_of(self, volunteer_id: str) -> list[PreparedCard]:
        rows = self._conn.execute(
            f"SELECT {_PREPARED} FROM prepared_cards WHERE volunteer_id = ? ORDER BY prepared_ms, rowid",
            (volunteer_id,),
        )
        return [PreparedCard(*row) for row in rows]

    def hours_list(self, list_id: str) -> HoursList | None:
        row = self._conn.execute(f"SELECT {_LIST} FROM hours_lists WHERE list_id = ?", (list_id,)).fetchone()
        return None if row is None else HoursList(*row)

    def hours_list_by_token(self, token_sha256: str) -> HoursList | None:
        row = self._conn.execute(
            f"SELECT {_LIST} FROM hours_lists WHERE token_sha256 = ?", (token_sha256,)
        ).fetchone()
        return None if row is None else HoursList(*row)

    def hours_lists(self, site_ids: frozenset[str] | None, limit: int) -> list[HoursList]:
        """The newest lists first, of ``site_ids`` (``None``: every site)."""
        args: tuple[str, ...] = ()
        where = ""
        if site_ids is not None:
            wanted = tuple(sorted(site_ids))[:500]
            where, args = f"WHERE site_id IN ({','.join('?' * len(wanted))})", wanted
        rows = self._conn.execute(
            f"SELECT {_LIST} FROM hours_lists {where} ORDER BY created_ms DESC, rowid DESC LIMIT ?",
            (*args, limit),
        )
        return [HoursList(*row) for row in rows]

    def hours_lines(self, list_id: str) -> list[HoursLine]:
        rows = self._conn.execute(
            f"SELECT {_LINE} FROM hours_lines WHERE list_id = ? ORDER BY line_no", (list_id,)
        )
        return [HoursLine(*row) for row in rows]

    def count_hours_lists_since(self, created_by: str, since_ms: int) -> int:
        row = self._conn.execute(
            "SELECT COUNT(*) FROM hours_lists WHERE created_by = ? AND created_ms >= ?",
            (created_by, since_ms),
        ).fetchone()
        return int(row[0])


class IssuingWrite(IssuingRead):
    """A :class:`IssuingRead` that also prepares, confirms and cancels cards, and keeps hours lists."""

    def insert_prepared_card(self, card: PreparedCard) -> None:
        self._conn.execute(
            f"INSERT INTO prepared_cards ({_PREPARED}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                *(card.card_id, card.volunteer_id, card.status, card.prepared_ms),
                *(card.prepared_by, card.replaces, card.changed_ms),
            ),
        )

    def set_prepared_status(self, card_id: str, status: str, changed_ms: int) -> bool:
        """Move a ``pending`` card to ``status``; whether it was pending (a second move changes nothing)."""
        cursor = self._conn.execute(
            "UPDATE prepared_cards SET status = ?, changed_ms = ? WHERE card_id = ? AND status = 'pending'",
            (status, changed_ms, card_id),
        )
        return cursor.rowcount == 1

    def insert_hours_list(self, hours: HoursList, token_sha256: str, lines: Sequence[HoursLine]) -> None:
        self._conn.execute(
            f"INSERT INTO hours_lists (token_sha256, {_LIST}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                token_sha256,
                *(hours.list_id, hours.site_id, hours.created_by, hours.contact_label),
                *(hours.created_ms, hours.expires_ms, hours.submitted_ms),
            ),
        )
        self._conn.executemany(
            f"INSERT INTO hours_lines (list_id, {_LINE}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    hours.list_id,
                    line.line_no,
                    line.volunteer_id,
                    line.day,
                    line.start_min,
                    line.end_min,
                    *_NO_ANSWER,
                )
                for line in lines
            ],
        )

    def submit_hours(self, list_id: str, answers: Sequence[HoursLine], submitted_ms: int) -> bool:
        """Record the contact's answers once; whether this was the first submission."""
        cursor = self._conn.execute(
            "UPDATE hours_lists SET submitted_ms = ? WHERE list_id = ? AND submitted_ms IS NULL",
            (submitted_ms, list_id),
        )
        if cursor.rowcount != 1:
            return False
        self._conn.executemany(
            "UPDATE hours_lines SET answer = ?, answer_start_min = ?, answer_end_min = ? "
            "WHERE list_id = ? AND line_no = ?",
            [(a.answer, a.answer_start_min, a.answer_end_min, list_id, a.line_no) for a in answers],
        )
        return True
