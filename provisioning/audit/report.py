"""What an audit found: problems that name where they are, and the report that sums them up.

Each :class:`Problem` carries a stable ``code`` (a :class:`protocol.Reason`
value where one fits, such as ``bad_signature`` or ``chain_broken``, else one
of :data:`AUDIT_CODES`) and says where: the log index, and for events the
kiosk and ``seq``; for balances the volunteer.  A report keeps the first
:data:`MAX_SHOWN` problems and counts the rest by code, so a badly broken log
cannot flood the terminal or memory.

Example line::

    entry 1041: kiosk k_… seq 7: the signature does not verify with the kiosk's key [bad_signature]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

MAX_SHOWN: Final = 50

AUDIT_CODES: Final = {
    "root_mismatch": "the entries do not hash to the checkpoint's root",
    "size_mismatch": "the log holds a different number of entries than its checkpoint covers",
    "log_inconsistent": "a checkpoint seen before is not a prefix of the log now: history was rewritten",
    "missing_entry": "an entry the checkpoint covers is not there",
    "leaf_mismatch": "an entry differs from the leaf hash the log's own tree holds",
    "flags_mismatch": "an event's logged flags differ from what the rules give",
    "balance_mismatch": "a volunteer's balance on the server differs from the log's replay",
    "out_of_order": "a fact comes before what it depends on, or twice",
    "totals_mismatch": "the server's public totals differ from what the log gives",
    "totals_range_gap": "a totals entry's range does not run on from the previous one's (gap or overlap)",
    "received_not_day": "an entry v2 of an event shows its receipt time, not only the UTC day",
    "unsealed_event": "an entry v2 holds a v1 event, which names its card, instead of an event_sealed",
    "entry_totals_mismatch": "an opening's issued/redeemed differ from what the auditor's replay moved",
    "totals_range_mismatch": "a totals entry's figures differ from what the replay moved in its range",
}
"""Codes an audit uses besides :class:`protocol.Reason` values, with what each means.

Of the reason codes, the auditor's own are ``opening_missing`` (the auditor has no
opening for a v2 entry's commitment) and ``opening_mismatch`` (the opening does not
open it, its sealed fields break the event rules, its exact receipt time is not on
the entry's day, or a sealed v1 event's bytes do not fit its entry).
"""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing that does not check, and where."""

    code: str
    message: str
    index: int | None = None
    kiosk_id: str | None = None
    seq: int | None = None
    volunteer_id: str | None = None

    def where(self) -> str:
        parts = []
        if self.index is not None:
            parts.append(f"entry {self.index}")
        if self.kiosk_id is not None:
            parts.append(f"kiosk {self.kiosk_id}" + (f" seq {self.seq}" if self.seq is not None else ""))
        if self.volunteer_id is not None:
            parts.append(f"volunteer {self.volunteer_id}")
        return ": ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where + ': ' if where else ''}{self.message} [{self.code}]"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        for name in ("index", "kiosk_id", "seq", "volunteer_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(slots=True)
class Problems:
    """The first :data:`MAX_SHOWN` problems in the order found, and a count of all by code."""

    shown: list[Problem] = field(default_factory=list)
    by_code: Counter[str] = field(default_factory=Counter)

    def add(self, problem: Problem) -> None:
        self.by_code[problem.code] += 1
        if len(self.shown) < MAX_SHOWN:
            self.shown.append(problem)

    def __call__(
        self,
        code: str,
        message: str,
        *,
        index: int | None = None,
        kiosk_id: str | None = None,
        seq: int | None = None,
        volunteer_id: str | None = None,
    ) -> None:
        self.add(Problem(code, message, index, kiosk_id, seq, volunteer_id))

    @property
    def total(self) -> int:
        return sum(self.by_code.values())

    def __bool__(self) -> bool:
        return self.total > 0


@dataclass(slots=True)
class AuditReport:
    """The verdict of ``verify ledger``: ``ok`` only when nothing at all failed."""

    source: str
    origin: str = ""
    checkpoint_size: int = 0
    checkpoint_root: str = ""
    entries: int = 0
    events: int = 0
    kiosks: int = 0
    volunteers: int = 0
    shifts: int = 0
    paid_shifts: int = 0
    redemptions: int = 0
    decisions: int = 0
    signatures_checked: int = 0
    kept_checkpoints: int = 0
    balances_compared: int | None = None
    mode: str = "public"  # or "auditor": with the designated auditor's openings and balances
    entry_versions: list[int] = field(default_factory=list)
    issued: int = 0  # tokens issued and redeemed: the v2 entries' sum, or a v1 log's replay
    redeemed: int = 0
    totals_compared: int | None = None  # the size of the public totals compared, if any
    public_totals: tuple[int, int, int] | None = None  # (size, issued, redeemed) of /v1/log/totals
    totals_covered: int | None = None  # a v2 log: entries 0..n-1 are covered by totals entries
    card_commitments: int = 0
    sealed: int = 0
    opened: int = 0
    openings_held: int | None = None
    handover: dict[str, Any] | None = None
    workers: int = 1
    seconds: float = 0.0
    state_dir: str | None = None
    warnings: list[str] = field(default_factory=list)
    problems: Problems = field(default_factory=Problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "origin": self.origin,
            "checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root},
            "entries": self.entries,
            "events": self.events,
            "kiosks": self.kiosks,
            "volunteers": self.volunteers,
            "shifts": self.shifts,
            "paid_shifts": self.paid_shifts,
            "redemptions": self.redemptions,
            "decisions": self.decisions,
            "signatures_checked": self.signatures_checked,
            "kept_checkpoints": self.kept_checkpoints,
            "balances_compared": self.balances_compared,
            "mode": self.mode,
            "entry_versions": list(self.entry_versions),
            "issued": self.issued,
            "redeemed": self.redeemed,
            "totals_compared": self.totals_compared,
            "totals_covered": self.totals_covered,
            "public_totals": None
            if self.public_totals is None
            else dict(zip(("size", "issued", "redeemed"), self.public_totals, strict=True)),
            "card_commitments": self.card_commitments,
            "sealed_events": self.sealed,
            "openings_held": self.openings_held,
            "opened": self.opened,
            "handover": None if self.handover is None else _handover_json(self.handover),
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events_per_s),
            "state_dir": self.state_dir,
            "warnings": list(self.warnings),
            "problem_count": self.problems.total,
            "problem_counts": dict(sorted(self.problems.by_code.items())),
            "problems": [problem.to_json() for problem in self.problems.shown],
        }

    def lines(self) -> list[str]:
        """The human report: what was checked, then the verdict and each problem."""
        out = [
            f"source:      {self.source}",
            f"origin:      {self.origin}",
            f"checkpoint:  size {self.checkpoint_size}, root {self.checkpoint_root}",
            f"entries:     {self.entries} ({self.events} events from {self.kiosks} kiosks)",
            f"signatures:  {self.signatures_checked} checked on {self.workers} worker(s)"
            f" in {self.seconds:.1f} s ({self.events_per_s:.0f} events/s)",
            f"replay:      {self.shifts} shifts ({self.paid_shifts} paid), {self.redemptions} redemptions"
            f" and {self.decisions} decisions for {self.volunteers} volunteers",
            f"history:     {self.kept_checkpoints} kept checkpoint(s) compared"
            + (f", state in {self.state_dir}" if self.state_dir else ""),
        ]
        versions = "/".join(f"v{v}" for v in self.entry_versions) or "none"
        out.insert(1, f"mode:        {self.mode} (entries {versions})")
        if self.handover is not None:
            out.append(
                f"hand-over:   from {self.handover.get('old_origin')} at size {self.handover.get('old_size')}"
            )
        out.append(f"totals:      {_totals_line(self)}")
        if 2 in self.entry_versions:
            out.append(
                f"openings:    {self.opened} commitment(s) opened "
                f"({self.card_commitments} card registrations, {self.sealed} sealed v1 events)"
                if self.mode == "auditor"
                else f"openings:    none (public audit: {self.card_commitments} card registrations and "
                "every event's card stay committed; give --auditor-token to open them)"
            )
        if self.balances_compared is not None:
            out.append(f"balances:    {self.balances_compared} volunteer(s) compared with the server")
        if self.ok:
            out.append("OK: every check passed")
            return out
        total = self.problems.total
        out.append(f"FAILED: {total} problem{'s' if total != 1 else ''}")
        out.extend(f"  {problem}" for problem in self.problems.shown)
        hidden = total - len(self.problems.shown)
        if hidden:
            counts = ", ".join(f"{code}: {n}" for code, n in sorted(self.problems.by_code.items()))
            out.append(f"  … and {hidden} more (all problems by code: {counts})")
        return out


def _totals_line(report: AuditReport) -> str:
    """What the audit says of the economy's totals, and whether it compared them with ``/v1/log/totals``."""
    figures = f"{report.issued} tokens issued, {report.redeemed} redeemed, {report.issued - report.redeemed}"
    where = " in circulation"
    if report.totals_covered is not None and report.mode == "public":
        where += f" by the totals entries (covering entries 0..{report.totals_covered - 1})"
    if report.totals_compared is not None:
        return f"{figures}{where}, compared with the public totals at size {report.totals_compared}"
    if report.public_totals is not None:
        size, issued, redeemed = report.public_totals
        return (
            f"{figures}{where}; the public totals at size {size} (issued {issued}, redeemed {redeemed}) "
            "count events after the last totals entry: not compared"
        )
    return f"{figures}{where} (no public totals to compare)"


def _handover_json(entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry.get(name) for name in ("old_origin", "old_size", "old_root", "at_ms")}
