"""``verify ledger``: check a whole transparency log and everything the server claims follows from it.

:func:`audit_ledger` reads the log once, in order, from a
:mod:`~provisioning.audit.sources` source, and checks:

1. the latest checkpoint's signature, with the verifier keys given;
2. the RFC 6962 root of all entries against that checkpoint;
3. every checkpoint kept from earlier runs (:mod:`~provisioning.audit.history`):
   the log's root at that size must be the same, or history was rewritten;
4. every entry parses; every event's signature verifies with the key of the
   ``kiosk_enrolled`` entry before it, on every core
   (:mod:`~provisioning.audit._worker`), and each kiosk's hash chain is gapless;
5. every coordinator decision was signed by a coordinator key logged before
   it and active then;
6. the flags, shifts, redemptions and balances replayed with the economy
   rules (:mod:`~provisioning.audit.replay` over :mod:`protocol.economy`)
   match the logged flags, and the tokens issued and redeemed match the
   public totals (``/v1/log/totals``).

A v2 log is sealed: it names no card and shows no kind, clock, flag or amount
of an event.  Without the auditor's material (a *public* audit) its events
are checked for signature and chain only, and the ``totals`` entries for
ranges that run on from entry 0; their sums are compared with the public
totals when they cover every event (:mod:`~provisioning.audit.sealed`).  With
it (``AuditOptions.auditor``, the designated auditor's token:
:mod:`~provisioning.audit.auditor`) every event is opened, the whole economy
is replayed with exact receipt times as for a v1 log, and each event's flags,
each opening's ``issued``/``redeemed``, each ``totals`` range, the public
totals and the balances (``/v1/audit/balances``) are compared exactly.  A v1
log is replayed fully either way; its balances are compared only by the
auditor.

It reads only what the server publishes (:mod:`~provisioning.audit.sources`)
and, for the auditor, what ``/v1/audit/…`` gives;
comparing the server's database with its log is the server's own check
(``GET /v1/admin/verify``).

It never raises for what it finds: each finding is a problem in the
:class:`~provisioning.audit.report.AuditReport`.  It raises
:class:`~provisioning.audit.errors.AuditError` only when it cannot run.

Example::

    source = open_source("https://ledger.example.org")
    report = audit_ledger(source, [NoteVerifier.parse(key)], state_dir=None)
    print("\\n".join(report.lines()))
"""

from __future__ import annotations

import base64
import multiprocessing
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from protocol.checkpoint import Checkpoint, verify_checkpoint
from protocol.errors import ProtocolError
from protocol.logentry import parse_entry
from protocol.merkle import EMPTY_ROOT
from protocol.note import NoteVerifier
from provisioning.audit import history
from provisioning.audit._worker import Chunk, ChunkResult, check_chunk, paused_gc, ready
from provisioning.audit.auditor import AuditorSource, load_openings
from provisioning.audit.errors import UsageError
from provisioning.audit.progress import ProgressBar
from provisioning.audit.replay import Replay, enrolled_key
from provisioning.audit.report import AuditReport, Problems
from provisioning.audit.sources import HttpSource, LogSource, Piece, Totals
from provisioning.audit.tree import TreeBuilder

CHUNK = 1024  # a power of two: workers hash whole aligned subtrees
_ENROLLED = b'"kind":"kiosk_enrolled"'


@dataclass(slots=True)
class AuditOptions:
    """How to audit.  ``state_dir`` ``None`` means the default folder for the log's origin."""

    verifiers: Sequence[NoteVerifier]
    origin: str | None = None
    state_dir: Path | None = None
    keep_state: bool = True
    workers: int | None = None
    progress: ProgressBar | None = None
    warnings: list[str] = field(default_factory=list)
    auditor: AuditorSource | None = None  # the designated auditor's openings and balances


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The replay at one log size: balances (when asked for) and the totals, as logged and as moved.

    ``logged`` is what the ``totals`` entries so far add up to, ``covered`` how
    many entries from 0 they cover, ``last_mover`` the index of the last entry
    that may have moved the totals (an event or decision; -1 if none): the
    public sums are the totals at this size exactly when ``last_mover < covered``.
    """

    balances: dict[str, int] | None
    logged: tuple[int, int]  # (issued, redeemed) the totals entries say
    moved: tuple[int, int]  # (issued, redeemed) the replay moved
    covered: int = 0
    last_mover: int = -1


def _snapshot(replay: Replay, with_balances: bool) -> Snapshot:
    balances = replay.balances() if with_balances else None
    replay.flush()
    book, totals = replay.book, replay.totals
    return Snapshot(
        balances,
        (totals.issued, totals.redeemed),
        (book.issued, book.redeemed),
        totals.covered,
        replay.last_mover,
    )


def default_workers() -> int:
    """One worker process per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _chunks(pieces: Iterator[Piece]) -> Iterator[Piece]:
    """Re-cut pieces into runs of :data:`CHUNK` entries starting at multiples of :data:`CHUNK`."""
    entries: list[bytes] = []
    leaves: list[bytes] | None = []
    start = 0
    for piece in pieces:
        entries.extend(piece.entries)
        if leaves is not None and piece.stored_leaves is not None:
            leaves.extend(piece.stored_leaves)
        else:
            leaves = None
        while len(entries) >= CHUNK:
            yield Piece(start, entries[:CHUNK], None if leaves is None else leaves[:CHUNK])
            entries = entries[CHUNK:]
            leaves = None if leaves is None else leaves[CHUNK:]
            start += CHUNK
    if entries:
        yield Piece(start, entries, leaves)


def _mp_context() -> multiprocessing.context.BaseContext:
    """``fork`` when this process runs one thread (fast, no re-import), else ``forkserver`` or ``spawn``.

    Forking a process that runs other threads (a server, a test) can copy a held lock.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([check_chunk.__module__])  # imported once, not per worker
        return context
    return multiprocessing.get_context("spawn")


class _Pool:
    """Chunks checked in worker processes, results in order, a bounded number in flight."""

    def __init__(self, workers: int) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self._window = 2 * workers
        if workers > 1:
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context())
            # Start the workers now, before this process starts any thread (tile downloads).
            self._executor.submit(ready).result()

    def run(self, chunks: Iterator[Chunk]) -> Iterator[tuple[Chunk, ChunkResult]]:
        if self._executor is None:
            for chunk in chunks:
                yield chunk, check_chunk(chunk)
            return
        waiting: deque[tuple[Chunk, Future[ChunkResult]]] = deque()
        for chunk in chunks:
            waiting.append((chunk, self._executor.submit(check_chunk, chunk)))
            if len(waiting) >= self._window:
                done, future = waiting.popleft()
                yield done, future.result()
        while waiting:
            done, future = waiting.popleft()
            yield done, future.result()

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)


def _verify(
    note: bytes, options: AuditOptions, origin: str | None, problems: Problems | None, what: str
) -> Checkpoint | None:
    """The checkpoint if it verifies; otherwise ``None``, and a problem when ``problems`` is given."""
    try:
        return verify_checkpoint(note, options.verifiers, origin=origin)
    except ProtocolError as exc:
        if problems is not None:
            problems(exc.reason.value, f"{what} does not verify: {exc.message}")
        return None


class _Auditor:
    """The state of one :func:`audit_ledger` run."""

    def __init__(self, source: LogSource, problems: Problems) -> None:
        self.source = source
        self.problem = problems
        self.keys: dict[str, bytes] = {}
        self.tree = TreeBuilder()
        self.roots: dict[int, bytes] = {0: EMPTY_ROOT}
        self.wanted: set[int] = set()
        self.leaf_mismatch: tuple[int, int] | None = None  # (first index, count)
        self.missing: list[tuple[int, int]] = []  # runs [first, last]
        self.sealed_bodies = True  # the replay opens sealed events (the auditor): send their bytes

    def _collect_keys(self, entries: Sequence[bytes]) -> None:
        for data in entries:
            if _ENROLLED in data:
                try:
                    found = enrolled_key(parse_entry(data))
                except ProtocolError:
                    continue  # the worker reports it
                if found is not None:
                    self.keys.setdefault(*found)

    def chunks(self, size: int) -> Iterator[Chunk]:
        for piece in _chunks(self.source.pieces(size)):
            self._collect_keys(piece.entries)
            end = piece.start + len(piece.entries)
            offsets = sorted(
                {s - piece.start for s in self.wanted if piece.start < s <= end} | {end - piece.start}
            )
            yield Chunk(
                piece.start, piece.entries, dict(self.keys), offsets, piece.stored_leaves, self.sealed_bodies
            )

    def absorb(
        self, chunk: Chunk, result: ChunkResult, replay: Replay, wanted: dict[int, bool]
    ) -> dict[int, Snapshot]:
        """Replay one chunk's records; returns the snapshots at the ``wanted`` sizes that fall in it.

        ``wanted`` maps a size to whether its snapshot needs the balances.
        """
        start = chunk.start
        snapshots: dict[int, Snapshot] = {}
        for offset, record in enumerate(result.records):
            index = start + offset
            tag = record[0]
            if tag == "E":
                replay.event(index, record)
            elif tag == "S":
                replay.shop_event(index, record)
            elif tag == "V":
                replay.committed_event(index, record)
            elif tag == "O":
                replay.fact(index, record[1])
            elif tag == "M":
                if self.missing and self.missing[-1][1] == index - 1:
                    self.missing[-1] = (self.missing[-1][0], index)
                else:
                    self.missing.append((index, index))
            elif tag == "B":
                self.problem(record[1], f"the event in this entry does not parse: {record[2]}", index=index)
            else:
                self.problem(record[1], f"the entry does not parse: {record[2]}", index=index)
            if index + 1 in wanted:
                snapshots[index + 1] = _snapshot(replay, wanted[index + 1])
        for offset, subtrees in result.ranges.items():
            self.roots[start + offset] = self.tree.root(subtrees)
        self.tree.extend(result.ranges[len(chunk.entries)])
        if result.leaf_mismatches:
            first, count = self.leaf_mismatch or (start + result.leaf_mismatches[0], 0)
            self.leaf_mismatch = (first, count + len(result.leaf_mismatches))
        return snapshots


def audit_ledger(source: LogSource, options: AuditOptions) -> AuditReport:
    """Audit the log in ``source``; see the module docstring for what is checked."""
    started = time.perf_counter()
    report = AuditReport(source=source.description, warnings=options.warnings)
    problem = report.problems
    workers = options.workers or default_workers()
    report.workers = workers
    # Before the checkpoint: their sizes are then at most the checkpoint's.
    totals = source.totals()
    balances = None if options.auditor is None else options.auditor.balances()
    report.mode = "public" if options.auditor is None else "auditor"

    note = source.checkpoint()
    checkpoint = _verify(note, options, options.origin, problem, "the latest checkpoint")
    if checkpoint is None:
        report.seconds = time.perf_counter() - started
        return report
    report.origin = checkpoint.origin
    report.checkpoint_size = checkpoint.size
    report.checkpoint_root = base64.b64encode(checkpoint.root_hash).decode()

    state_dir = options.state_dir or history.default_state_dir(checkpoint.origin)
    report.state_dir = str(state_dir)
    kept = _kept_checkpoints(state_dir, options, checkpoint.origin, problem)
    stored_size = source.size()
    size = checkpoint.size if stored_size is None else stored_size
    if size != checkpoint.size:
        problem(
            "size_mismatch",
            f"the log holds {size} entries but its latest checkpoint covers {checkpoint.size}",
        )
    auditor = _Auditor(source, report.problems)
    auditor.wanted = {checkpoint.size, *(cp.size for _, cp in kept)}
    auditor.sealed_bodies = options.auditor is not None
    wanted: dict[int, bool] = {}
    if totals is not None:
        if totals.size > size:
            problem("size_mismatch", f"the public totals are for size {totals.size}, beyond the log's {size}")
            totals = None
        else:
            wanted[totals.size] = False
    if balances is not None:
        if balances[0] > size:
            problem(
                "size_mismatch", f"the server's balances are for size {balances[0]}, beyond the log's {size}"
            )
            balances = None
        else:
            wanted[balances[0]] = True
    openings = None
    if options.auditor is not None:
        openings = load_openings(options.auditor, state_dir if options.keep_state else None)
        report.openings_held = len(openings)

    progress = options.progress or ProgressBar(sys.stderr, size, enabled=False)
    progress.total = size
    replay = Replay(problem, openings)
    snapshots = _replay_log(auditor, replay, size, workers, progress, wanted)
    _count(report, replay)
    report.entries = auditor.tree.size
    _report_tree(auditor, checkpoint, kept, size)
    committed = 2 in replay.versions
    if committed and openings is not None:
        replay.compare_moves()
    if totals is not None and totals.size in snapshots:
        final = (replay.totals.covered, replay.totals.issued, replay.totals.redeemed)
        _compare_totals(report, totals, snapshots[totals.size], committed and openings is None, final)
    if balances is not None and balances[0] in snapshots:
        replayed = snapshots[balances[0]].balances
        assert replayed is not None
        report.balances_compared = _compare_balances(balances[1], replayed, problem)
    if options.keep_state:
        history.keep(state_dir, note, checkpoint)
    report.kept_checkpoints = len(kept)
    report.seconds = time.perf_counter() - started
    return report


def _kept_checkpoints(
    state_dir: Path, options: AuditOptions, origin: str, problem: Problems
) -> list[tuple[str, Checkpoint]]:
    """The checkpoints kept by earlier audits that still verify, by file name; the others are problems."""
    kept: list[tuple[str, Checkpoint]] = []
    for item in history.load_kept(state_dir):
        found = _verify(item.note, options, origin, problem, f"kept checkpoint {item.path}")
        if found is not None:
            kept.append((item.path.name, found))
    return kept


def _replay_log(
    auditor: _Auditor,
    replay: Replay,
    size: int,
    workers: int,
    progress: ProgressBar,
    wanted: dict[int, bool],
) -> dict[int, Snapshot]:
    """Check the log's ``size`` entries on ``workers`` processes and replay them in order.

    Returns the replay's :class:`Snapshot` at each ``wanted`` size (the sizes the
    server's totals and balances are for).
    """
    pool = _Pool(workers)
    snapshots: dict[int, Snapshot] = {}
    if 0 in wanted:
        snapshots[0] = _snapshot(replay, wanted[0])
    try:
        with paused_gc():
            for chunk, result in pool.run(auditor.chunks(size)):
                snapshots.update(auditor.absorb(chunk, result, replay, wanted))
                progress.advance(len(chunk.entries))
            replay.flush()
    finally:
        pool.close()
        progress.close()
    return snapshots


def _compare_totals(
    report: AuditReport,
    totals: Totals,
    snapshot: Snapshot,
    public_v2: bool,
    final: tuple[int, int, int] = (-1, 0, 0),
) -> None:
    """The public totals against what the log gives: the replay's, or a public v2 audit's totals entries.

    The ``totals`` entries cover the log up to the last closed UTC day.  A v2
    server's route gives their sums, for the entries they cover (its ``size``):
    a public audit compares them with all the log's totals entries when these
    cover exactly that many (``final``: covered, issued, redeemed), or at the
    route's size when no event or decision lies beyond the entries covered
    there (else it reports both figures); the auditor's replay counts every
    entry and compares always.
    """
    issued, redeemed = snapshot.logged if public_v2 else snapshot.moved
    report.public_totals = (totals.size, totals.issued, totals.redeemed)
    if public_v2 and final[0] == totals.size:
        issued, redeemed = final[1], final[2]
    elif public_v2 and snapshot.last_mover >= snapshot.covered:
        return
    report.totals_compared = totals.size
    if (issued, redeemed) != (totals.issued, totals.redeemed):
        report.problems(
            "totals_mismatch",
            f"the server's totals at size {totals.size} say issued {totals.issued}, redeemed "
            f"{totals.redeemed}; the log gives {issued} and {redeemed}",
        )


def _count(report: AuditReport, replay: Replay) -> None:
    """Copy what the replay counted into the report."""
    report.entry_versions = sorted(replay.versions)
    report.card_commitments, report.sealed = replay.facts.card_commitments, replay.sealed
    report.opened = replay.opened
    report.handover = replay.facts.handed_over
    public_v2 = 2 in replay.versions and replay.openings is None
    report.issued = replay.totals.issued if public_v2 else replay.book.issued
    report.redeemed = replay.totals.redeemed if public_v2 else replay.book.redeemed
    report.totals_covered = replay.totals.covered if 2 in replay.versions else None
    report.events, report.signatures_checked = replay.events, replay.signatures
    report.kiosks, report.volunteers = len(replay.kiosks), len(replay.volunteers)
    report.shifts, report.paid_shifts = replay.book.shifts, replay.book.paid
    report.redemptions, report.decisions = replay.book.redemptions, replay.decisions


def _report_tree(
    auditor: _Auditor,
    checkpoint: Checkpoint,
    kept: list[tuple[str, Checkpoint]],
    size: int,
) -> None:
    problem = auditor.problem
    for first, last in auditor.missing:
        what = f"entry {first} is" if first == last else f"entries {first}–{last} are"
        problem("missing_entry", f"{what} missing from the log's storage", index=first)
    if auditor.leaf_mismatch is not None:
        first, count = auditor.leaf_mismatch
        more = f" (and {count - 1} later entries)" if count > 1 else ""
        problem(
            "leaf_mismatch",
            f"the entry differs from the leaf hash the log's own tree holds{more}: changed after logging",
            index=first,
        )
    root = auditor.roots.get(checkpoint.size)
    if root is None:
        problem("root_mismatch", f"the log has only {size} entries; the checkpoint covers {checkpoint.size}")
    elif root != checkpoint.root_hash:
        problem("root_mismatch", f"the {checkpoint.size} entries do not hash to the checkpoint's root")
    for name, cp in kept:
        _compare_history(auditor, cp, f"the checkpoint kept in {name}", size)


def _compare_history(auditor: _Auditor, cp: Checkpoint, what: str, size: int) -> None:
    root = auditor.roots.get(cp.size)
    if cp.size > size:
        auditor.problem(
            "log_inconsistent", f"{what} has size {cp.size}, but the log now holds only {size} entries"
        )
    elif root != cp.root_hash:
        auditor.problem(
            "log_inconsistent",
            f"{what} (size {cp.size}) does not match the log's first entries: history was rewritten",
        )


def _compare_balances(server: dict[str, int], replayed: dict[str, int], problem: Problems) -> int:
    volunteers = sorted(server.keys() | replayed.keys())
    for volunteer_id in volunteers:
        theirs, ours = server.get(volunteer_id, 0), replayed.get(volunteer_id, 0)
        if theirs != ours:
            problem(
                "balance_mismatch",
                f"the server says {theirs} tokens, the log gives {ours}",
                volunteer_id=volunteer_id,
            )
    return len(volunteers)


@dataclass(frozen=True, slots=True)
class KeyChoice:
    """The verifier keys an audit will use, and what to warn about them."""

    verifiers: list[NoteVerifier]
    warnings: list[str]


def choose_verifiers(
    source: LogSource, keys: Sequence[NoteVerifier], *, unsafe_trust_server_key: bool = False
) -> KeyChoice:
    """The verifier keys to audit with, and warnings to show when they prove less than they seem.

    Given keys always win.  Without any, a URL needs ``unsafe_trust_server_key``
    to take the key the server itself serves.  Raises :class:`UsageError` when
    there is no key.
    """
    if keys:
        return KeyChoice(list(keys), [])
    if unsafe_trust_server_key and isinstance(source, HttpSource):
        warning = (
            "WARNING: UNSAFE: trusting the verifier key the audited server serves itself. A dishonest "
            "server can sign any history with its own key. Get the key from the programme's website "
            "and pass it with --key."
        )
        return KeyChoice([source.server_key()], [warning])
    raise UsageError(
        "bad_key",
        "give --key VERIFIER_KEY (published by the programme; `kokreativ provision init` printed it)",
    )
