"""Prior engagement, issued hours certificates and the hours that decide the Ehrenamtskarte (issue 18).

Real hours, not tokens: a paid shift's ``minutes`` (taps or by hand) and the
minutes of prior engagement, each with the volunteer's home site so a caller
sees only the volunteers of the sites it holds.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import NamedTuple

from protocol.economy.models import PriorHours
from server.storage.base import Queries, chunks


class WorkedSpan(NamedTuple):
    """Minutes worked in ``[start_ms, end_ms)``: a paid shift, or prior engagement spread over it."""

    volunteer_id: str
    start_ms: int
    end_ms: int
    minutes: int
    prior: bool


class CertificateRow(NamedTuple):
    """An issued certificate as stored: its log entry, volunteer, period (local days), minutes, issuer."""

    log_index: int
    volunteer_id: str
    from_day: str
    to_day: str
    minutes: int
    issued_ms: int
    issued_by: str


class CertificatesRead(Queries):
    """Hours worked, prior engagement and issued certificates."""

    def volunteers_of_sites(self, sites: Collection[str] | None) -> dict[str, str | None]:
        """``volunteer_id -> home site`` of the volunteers whose home site is in ``sites`` (``None``: all)."""
        rows = self._conn.execute("SELECT volunteer_id, home_site_id FROM volunteers ORDER BY rowid")
        return {v: s for v, s in rows if sites is None or s in sites}

    def worked_spans(self, volunteer_ids: Collection[str], from_ms: int, to_ms: int) -> list[WorkedSpan]:
        """Their paid shifts starting in ``[from_ms, to_ms)`` and prior engagement overlapping it."""
        found: list[WorkedSpan] = []
        for chunk in chunks(sorted(volunteer_ids)):
            marks = ",".join("?" * len(chunk))
            found.extend(
                WorkedSpan(v, start, end if end is not None else start, minutes, False)
                for v, start, end, minutes in self._conn.execute(
                    "SELECT volunteer_id, start_ms, end_ms, minutes FROM shifts WHERE status = 'paid' "
                    f"AND start_ms >= ? AND start_ms < ? AND volunteer_id IN ({marks})",
                    (from_ms, to_ms, *chunk),
                )
            )
            found.extend(
                WorkedSpan(v, start, end, minutes, True)
                for v, start, end, minutes in self._conn.execute(
                    "SELECT volunteer_id, from_ms, to_ms, minutes FROM prior_hours "
                    f"WHERE to_ms > ? AND from_ms < ? AND volunteer_id IN ({marks})",
                    (from_ms, to_ms, *chunk),
                )
            )
        return found

    def prior_hours_of(self, volunteer_id: str) -> list[PriorHours]:
        """The volunteer's recorded prior engagement, oldest period first."""
        rows = self._conn.execute(
            "SELECT volunteer_id, card_id, site_id, from_ms, to_ms, minutes, reason, decision, log_index "
            "FROM prior_hours WHERE volunteer_id = ? ORDER BY from_ms, log_index",
            (volunteer_id,),
        )
        return [PriorHours(*row) for row in rows]

    def certificates_of(self, volunteer_id: str) -> list[CertificateRow]:
        """The certificates issued about ``volunteer_id``, oldest first."""
        rows = self._conn.execute(
            "SELECT log_index, volunteer_id, from_day, to_day, minutes, issued_ms, issued_by "
            "FROM certificates WHERE volunteer_id = ? ORDER BY log_index",
            (volunteer_id,),
        )
        return [CertificateRow(*row) for row in rows]


class CertificatesWrite(CertificatesRead):
    """A :class:`CertificatesRead` that also records prior engagement and issued certificates."""

    def insert_prior_hours(self, prior: PriorHours) -> None:
        """Keep engagement from before the ledger (the ``prior_hours`` decision's effect)."""
        self._conn.execute(
            "INSERT INTO prior_hours (log_index, volunteer_id, card_id, site_id, from_ms, to_ms, minutes, "
            "reason, decision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                prior.log_index,
                prior.volunteer_id,
                prior.card_id,
                prior.site_id,
                prior.from_ms,
                prior.to_ms,
                prior.minutes,
                prior.reason,
                prior.decision,
            ),
        )

    def insert_certificate(self, row: CertificateRow) -> None:
        self._conn.execute(
            "INSERT INTO certificates (log_index, volunteer_id, from_day, to_day, minutes, issued_ms, "
            "issued_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
            tuple(row),
        )
