"""``make bench-scale``: how the server's reads hold up as the log grows (issue 21, section 5).

Grows one synthetic economy (by default 10,000 cards, 100 check-in kiosks at
10 sites, 50 shops with a till each) to each size in ``--sizes`` log entries
and, at each size and on each engine of ``--engines``, reports:

- ``ingest_events_per_s``: events stored per second over HTTP (``POST
  /v1/kiosks/{id}/events`` of the real app, :func:`server.app.create_app`
  served on loopback in this process), timed on the window of pre-signed
  batches that follows the size (``--window`` events, about one sync round:
  the tills' small batches and the kiosks' larger ones, as they come);
- ``inclusion_ms``: an inclusion proof (:func:`server.logviews.inclusion`,
  what ``GET /v1/log/inclusion`` answers) for a random entry of the latest
  checkpoint;
- ``statement_ms``: a volunteer's monthly statement
  (:func:`server.statements.volunteer_statement`, ``GET
  /v1/admin/volunteers/{id}/statement``) for a random volunteer;
- ``report_month_ms``: a coordinator's monthly report, the shops'
  settlements of the month (:func:`server.reports.shop_settlements`, every
  shop), as ``/console/reports`` and ``/console/settlements`` show it;
- ``report_year_ms``: the same page's other table, hours and tokens per site
  and month of that month's year (:func:`server.reports.hours_by_site`, every
  site): it reads every paid shift of the year, so it grows with the year
  (up to 12 months), not with the log;
- ``public_page_ms``: the public stats page's figures
  (:func:`server.publicpage.economy`, behind ``/`` and ``/anzeige``).

The economy grows in time at a steady pace (``per_month`` events a month:
two thirds check-ins and check-outs of 2- and 3-hour shifts, one third
offline redemptions of 5 tokens), so the month a statement or report covers
holds as much at 10^6 entries as at 10^5: a flat line means an index, a
rising one a scan.  The timeline ends with the present month.  A check-in
kiosk syncs every 6 days, a till every 2 (an offline redemption must reach
the server within 72 hours, a shift within 14 days), and each once more
before a month ends, on a simulated server clock (``ServerContext.now_ms``).
Registering the cards (one log entry each) makes the first 10^4 entries.

Events are signed ahead in a process pool (one task per kiosk chain and
month, a month ahead of the ingest).  The bulk is ingested in this process through
:func:`server.ingest.ingest_batch`, the function the HTTP route calls, with
its signatures checked on a thread per core: the same rows and log as over
HTTP, without the loopback round trips.  Only the window is timed, over HTTP.

Prints a table and writes ``--json`` (default ``bench-scale.json``) and a
plot, ``--plot`` (default ``docs/img/bench-scale.png``).  The storage is
opened by :func:`open_storage` from a database string: a path for SQLite,
``postgresql://…`` for PostgreSQL.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

from kokreativ.pgcluster import MISSING, PgCluster, find_binaries
from protocol import (
    GENESIS_PREV,
    ClockEvidence,
    EventKind,
    PrivateKey,
    b64decode,
    b64encode,
    encode_batch,
    enrolment_message,
    ids,
    sign_event,
)
from protocol.earning import ZONE
from protocol.events import committed_event
from protocol.merkle import leaf_hash, root_hash, verify_inclusion
from server import admin, cards, enrolment, ingest, logviews, publicpage, reports, shops, statements, tlog
from server.context import ServerContext
from server.ratelimit import ENROLMENT_CODES, GuessLimiter
from server.storage import open_storage
from server.vault import PERSON_KEYS, PersonVault

ENGINES: Final = ("sqlite", "postgresql")
DEFAULT_SIZES: Final = (10_000, 100_000, 1_000_000)
OPERATIONS: Final = ("inclusion_ms", "statement_ms", "report_month_ms", "report_year_ms", "public_page_ms")
TOKENS_PER_HOUR: Final = 10
REDEEM_AMOUNT: Final = 5
OFFLINE_PER_SYNC: Final = 2  # one card's redemptions in one till sync: 2 × 5 is the default allowance
OFFLINE_DAILY_CAP: Final = 100_000  # tokens a till may take offline in a day (the default, 200, is a kiosk's)
HOUR_MS: Final = 3_600_000
SYNC_BEFORE_MONTH_END_MS: Final = 3 * HOUR_MS  # every kiosk syncs its month this long before it ends
LAST_EVENT_BEFORE_MONTH_END_MS: Final = 6 * HOUR_MS
CHECKIN_SYNC_MS: Final = 6 * 24 * HOUR_MS
TILL_SYNC_MS: Final = 2 * 24 * HOUR_MS


class NotYetError(RuntimeError):
    """An engine the bench cannot run here (PostgreSQL without its binaries or a URL)."""


@dataclass(frozen=True, slots=True)
class Shape:
    """The economy's size: cards, check-in sites and kiosks, shops (a till each), log entries a month."""

    cards: int = 10_000
    sites: int = 10
    kiosks: int = 100
    shops: int = 50
    per_month: int = 60_000

    @property
    def shifts_per_month(self) -> int:
        return self.per_month // 3  # two events each: two thirds of the entries

    @property
    def redemptions_per_month(self) -> int:
        return self.per_month // 3


DEFAULT_SHAPE: Final = Shape()


class SimClock:
    """The server's clock in the bench: set by the economy as it syncs, read by every service."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@dataclass(slots=True)
class Chain:
    """One kiosk's signing key and where its chain stands."""

    kiosk_id: str
    site_id: str
    seed: bytes
    boot_id: str
    boot_ms: int
    seq: int = 0
    prev: str = GENESIS_PREV


class Spec(NamedTuple):
    """One event to sign: its wall time, kind, card and data."""

    wall_ms: int
    kind: str
    card: str
    data: dict[str, Any] | None


class SignTask(NamedTuple):
    """A kiosk's events of one month, to be signed in a worker process."""

    seed: bytes
    kiosk_id: str
    first_seq: int
    prev: str
    boot_id: str
    boot_ms: int
    specs: list[Spec]
    groups: list[int]  # how many events each sync sends, in order


class Batch(NamedTuple):
    """A pre-signed request body, who sends it, when (server time) and how many events it holds."""

    kiosk_id: str
    sync_ms: int
    body: bytes
    events: int


def sign_chain(task: SignTask) -> tuple[list[list[bytes]], str]:
    """Each sync's request bodies (at most 500 events each) of ``task``'s events, and the chain's new head."""
    key = PrivateKey(task.seed)
    prev, signed = task.prev, []
    for offset, spec in enumerate(task.specs):
        clock = ClockEvidence(
            wall_ms=spec.wall_ms, synced=True, boot_id=task.boot_id, mono_ms=spec.wall_ms - task.boot_ms
        )
        event, opening = committed_event(
            kiosk=task.kiosk_id,
            seq=task.first_seq + offset,
            prev=prev,
            kind=EventKind(spec.kind),
            card=spec.card,
            clock=clock,
            data=spec.data,
        )
        signed.append(sign_event(event, key, opening))
        prev = signed[-1].hash
    bodies, first = [], 0
    for count in task.groups:
        group = signed[first : first + count]
        bodies.append([encode_batch(group[i : i + 500]) for i in range(0, count, 500)])
        first += count
    return bodies, prev


def month_start(year: int, month: int) -> int:
    """When a Europe/Berlin month begins, in ms."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return int(datetime(year, month, 1, tzinfo=ZONE).timestamp() * 1000)


@dataclass(slots=True)
class MonthBook:
    """What the generator booked in one month, to check the services' answers against."""

    moves: dict[str, int] = field(default_factory=dict)  # volunteer -> tokens earned less spent
    tokens: int = 0  # paid for shifts that start in the month
    redemptions: int = 0  # at the tills, by their wall time


def first_month(months: int) -> tuple[int, int]:
    """``(year, month)`` of a timeline of ``months`` months that ends with the present one."""
    now = datetime.fromtimestamp(time.time(), tz=ZONE)
    index = now.year * 12 + now.month - 1 - (months - 1)
    return index // 12, index % 12 + 1


class Economy:
    """A synthetic economy on one storage, grown month by month through the real ingest.

    Its timeline starts with the month ``first`` (``(year, month)``).
    """

    def __init__(
        self, ctx: ServerContext, clock: SimClock, shape: Shape, first: tuple[int, int], seed: int = 21
    ) -> None:
        self.ctx, self.clock, self.shape, self.first = ctx, clock, shape, first
        self.month = 0  # months generated so far
        self.rng = random.Random(seed)
        self.books: dict[str, MonthBook] = {}
        self._balances: dict[str, int] = {}  # volunteer -> tokens, as generated so far
        self.sites: list[str] = []
        self.shops: list[str] = []
        self.chains: list[Chain] = []  # check-in kiosks first, then one till per shop
        self.holders: list[tuple[str, str]] = []  # (card_id, volunteer_id)
        self._next_card = 0
        self._pending: list[Batch] = []
        self.whole_months = 0  # months whose batches were all handed out

    def month_bounds(self, index: int) -> tuple[str, int, int]:
        """``("YYYY-MM", from_ms, to_ms)`` of the timeline's month ``index``."""
        year, month = self.first
        start, end = month_start(year, month + index), month_start(year, month + index + 1)
        return datetime.fromtimestamp(start / 1000, tz=ZONE).strftime("%Y-%m"), start, end

    def setup(self) -> None:
        """Sites, shops, kiosks and cards, registered a day before the timeline starts."""
        self.clock.ms = self.month_bounds(0)[1] - 24 * HOUR_MS
        ctx, shape = self.ctx, self.shape
        for i in range(shape.sites):
            self.sites.append(
                admin.create_site(ctx, {"name": f"Ort {i + 1}", "tokens_per_hour": TOKENS_PER_HOUR})[
                    "site_id"
                ]
            )
        for i in range(shape.shops):
            # A busy shop: a till syncing every 2 days books them on one server day, against this cap.
            shop = shops.create_shop(ctx, {"name": f"Laden {i + 1}", "offline_daily_cap": OFFLINE_DAILY_CAP})
            self.shops.append(shop["site_id"])
        limiter = GuessLimiter(ctx.now_ms)
        homes = [self.sites[i % len(self.sites)] for i in range(shape.kiosks)] + self.shops
        for i, site in enumerate(homes):
            code = admin.create_enrolment_code(ctx, {"site_id": site})["code"].replace("-", "")
            key = PrivateKey.generate()
            signature = b64encode(key.sign(enrolment_message(code, key.public_key)))
            request = {"code": code, "public_key": key.public_key.to_b64(), "signature": signature}
            attempt = limiter.attempt(ENROLMENT_CODES, f"bench-{i}")
            kiosk_id = enrolment.enrol(ctx, request, attempt=attempt)["kiosk_id"]
            self.chains.append(Chain(kiosk_id, site, key.seed, str(uuid.uuid4()), self.clock.ms))
        for i in range(shape.cards):
            card = cards.create_card(
                ctx, {"name": f"Freiwillige {i + 1}", "site_id": self.sites[i % shape.sites]}
            )
            self.holders.append((card["card_id"], card["volunteer_id"]))
            self._balances[card["volunteer_id"]] = 0

    def _month_specs(self) -> list[list[Spec]]:
        """Each chain's events of the next month, in time order; books what they will earn and spend."""
        shape, rng = self.shape, self.rng
        name, start, end = self.month_bounds(self.month)
        span = end - LAST_EVENT_BEFORE_MONTH_END_MS - 3 * HOUR_MS - start
        specs: list[list[Spec]] = [[] for _ in self.chains]
        spacing = span // shape.shifts_per_month
        if spacing * len(self.holders) <= 3 * HOUR_MS:
            raise ValueError("too few cards for the shifts a month: one card's shifts would overlap")
        book = self.books[name] = MonthBook()
        spendable = dict(self._balances)
        for g in range(shape.shifts_per_month):
            card, volunteer = self.holders[self._next_card % len(self.holders)]
            self._next_card += 1
            hours = 2 + g % 2
            begin = start + g * spacing
            chain = rng.randrange(shape.kiosks)
            specs[chain] += [
                Spec(begin, EventKind.CHECK_IN.value, card, None),
                Spec(begin + hours * HOUR_MS, EventKind.CHECK_OUT.value, card, None),
            ]
            self._book(book, volunteer, hours * TOKENS_PER_HOUR)
            book.tokens += hours * TOKENS_PER_HOUR
        # Redemptions spend what was earned before the month (a till may sync before the month's shifts do).
        # A till's sync may carry at most OFFLINE_PER_SYNC of one card's redemptions: more would exceed
        # the shop's offline allowance (10 tokens no receipt covers yet) and be held, not debited.
        funded = [(c, v) for c, v in self.holders if spendable[v] >= REDEEM_AMOUNT]
        per_sync: dict[tuple[int, int, str], int] = {}
        for _ in range(shape.redemptions_per_month if funded else 0):
            card, volunteer = funded[rng.randrange(len(funded))]
            if spendable[volunteer] < REDEEM_AMOUNT:
                continue
            till = shape.kiosks + rng.randrange(shape.shops)
            wall_ms = start + rng.randrange(span)
            key = (till, (wall_ms - start) // TILL_SYNC_MS, card)
            if per_sync.get(key, 0) >= OFFLINE_PER_SYNC:
                continue
            per_sync[key] = per_sync.get(key, 0) + 1
            spendable[volunteer] -= REDEEM_AMOUNT
            data = {"amount": REDEEM_AMOUNT, "id": ids.new_id(ids.REDEMPTION), "online": False}
            specs[till].append(Spec(wall_ms, EventKind.REDEEM.value, card, data))
            self._book(book, volunteer, -REDEEM_AMOUNT)
            book.redemptions += 1
        for chain_specs in specs:
            chain_specs.sort(key=lambda spec: spec.wall_ms)
        return specs

    def _book(self, book: MonthBook, volunteer: str, tokens: int) -> None:
        self._balances[volunteer] += tokens
        book.moves[volunteer] = book.moves.get(volunteer, 0) + tokens

    def balance_through(self, volunteer: str, month: str) -> int:
        """The tokens ``volunteer`` holds after the months up to ``month``, as generated."""
        return sum(book.moves.get(volunteer, 0) for name, book in self.books.items() if name <= month)

    def _sign_month(self, pool: Executor) -> list[Batch]:
        """The next month's batches, signed in ``pool``, in the order the kiosks sync them.

        A check-in kiosk syncs every :data:`CHECKIN_SYNC_MS`, a till every
        :data:`TILL_SYNC_MS` (an offline redemption must reach the server within
        72 hours, a shift within 14 days), and each once more before the month ends.
        """
        specs = self._month_specs()
        _, start, end = self.month_bounds(self.month)
        self.month += 1
        tasks, syncs = [], []
        for index, chain in enumerate(self.chains):
            if not specs[index]:
                continue
            period = CHECKIN_SYNC_MS if index < self.shape.kiosks else TILL_SYNC_MS
            times: list[int] = []
            groups: list[int] = []
            for spec in specs[index]:
                at = min(
                    start + ((spec.wall_ms - start) // period + 1) * period, end - SYNC_BEFORE_MONTH_END_MS
                )
                at += index * 1000  # the kiosks of one round a second apart
                if times and times[-1] == at:
                    groups[-1] += 1
                else:
                    times.append(at)
                    groups.append(1)
            first = SignTask(
                chain.seed,
                chain.kiosk_id,
                chain.seq + 1,
                chain.prev,
                chain.boot_id,
                chain.boot_ms,
                specs[index],
                groups,
            )
            tasks.append((index, first))
            syncs.append(times)
        batches: list[Batch] = []
        signed = pool.map(sign_chain, [task for _, task in tasks], chunksize=4)
        for (index, task), times, (bodies, head) in zip(tasks, syncs, signed, strict=True):
            chain = self.chains[index]
            chain.seq += len(task.specs)
            chain.prev = head
            for at, count, group in zip(times, task.groups, bodies, strict=True):
                for offset, body in enumerate(group):
                    batches.append(Batch(chain.kiosk_id, at + offset, body, min(500, count - 500 * offset)))
        batches.sort(key=lambda batch: batch.sync_ms)
        return batches

    def batches(self, pool: Executor) -> Iterator[Batch]:
        """Pre-signed batches for ever, month after month (a month is signed when the last one is used)."""
        while True:
            if not self._pending:
                self._pending = self._sign_month(pool)
            batch = self._pending.pop(0)
            if not self._pending:
                self.whole_months = self.month
            yield batch

    def measured_month(self) -> tuple[str, int, int]:
        """The month a statement and report cover: the last whole month ingested, else the first one."""
        return self.month_bounds(max(0, self.whole_months - 1))


def ingest_in_process(ctx: ServerContext, clock: SimClock, batch: Batch, verify_pool: Executor) -> None:
    """One batch through :func:`server.ingest.ingest_batch` at its sync time; every event must be accepted."""
    clock.ms = batch.sync_ms
    answer = ingest.ingest_batch(ctx, batch.kiosk_id, batch.body, verify_pool=verify_pool)
    _require_accepted(answer)


def _require_accepted(answer: dict[str, Any]) -> None:
    """Every event accepted unflagged: each shift paid, each redemption debited, as the generator booked."""
    refused = [r for r in answer["results"] if r["status"] != "accepted" or r["flags"]]
    if refused:
        raise RuntimeError(f"the bench's events were not all accepted unflagged: {refused[:3]}")


def ingest_over_http(url: str, clock: SimClock, batches: Sequence[Batch]) -> float:
    """Events per second stored by ``POST /v1/kiosks/{id}/events`` for ``batches`` (pre-signed)."""
    import requests

    elapsed = 0.0
    with requests.Session() as session:
        for batch in batches:
            clock.ms = batch.sync_ms
            started = time.perf_counter()
            response = session.post(
                f"{url}/v1/kiosks/{batch.kiosk_id}/events",
                data=batch.body,
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            elapsed += time.perf_counter() - started
            response.raise_for_status()
            _require_accepted(response.json())
    return sum(b.events for b in batches) / elapsed


def _median_ms(run: Callable[[int], object], samples: int) -> float:
    times = []
    for i in range(samples):
        started = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(economy: Economy, samples: int) -> dict[str, float]:
    """Median milliseconds of each read operation at the economy's present size."""
    ctx, rng = economy.ctx, random.Random(economy.month)
    with ctx.storage.read() as tx:
        size, _ = tlog.latest_checkpoint(tx)
    month, first, after = economy.measured_month()
    period = {"from_ms": str(first), "to_ms": str(after)}
    volunteers = [economy.holders[rng.randrange(len(economy.holders))][1] for _ in range(samples)]
    indexes = [rng.randrange(size) for _ in range(samples)]
    year = int(month[:4])

    return {
        "inclusion_ms": _median_ms(
            lambda i: logviews.inclusion(ctx, {"index": str(indexes[i]), "size": str(size)}), samples
        ),
        "statement_ms": _median_ms(
            lambda i: statements.volunteer_statement(ctx, volunteers[i], period), samples
        ),
        "report_month_ms": _median_ms(
            lambda _: reports.shop_settlements(ctx, None, month, first, after), samples
        ),
        "report_year_ms": _median_ms(lambda _: reports.hours_by_site(ctx, None, year), max(3, samples // 4)),
        "public_page_ms": _median_ms(lambda _: publicpage.economy(ctx), max(3, samples // 4)),
    }


def check(economy: Economy) -> dict[str, Any]:
    """Each operation's answer against what the generator booked; raises ``AssertionError`` on a mismatch.

    Returns what was checked (for the test and the JSON): the log size, a
    proof's length, volunteers' balances, the year's tokens and the month's redemptions.
    """
    ctx = economy.ctx
    with ctx.storage.read() as tx:
        size, _ = tlog.latest_checkpoint(tx)
        hashes = tlog.StoredHashes(tx)
        root = root_hash(size, hashes)
        entry = tx.tlog_entry(size // 2)
    assert entry is not None
    proof = logviews.inclusion(ctx, {"index": str(size // 2), "size": str(size)})
    verify_inclusion(
        leaf_hash(entry), size // 2, size, [b64decode(h, field="hashes") for h in proof["hashes"]], root
    )
    month, first, after = economy.measured_month()
    balances = 0
    for _, volunteer in (
        economy.holders[:: max(1, len(economy.holders) // 50)] if economy.whole_months else ()
    ):
        document = statements.volunteer_statement(ctx, volunteer, {"to_ms": str(after)}).content
        assert isinstance(document, dict)
        assert document["closing_balance"] == economy.balance_through(volunteer, month), volunteer
        balances += 1
    book = economy.books.get(month, MonthBook())
    if not economy.whole_months:  # no whole month yet: the figures are checked from the next size on
        return {"size": size, "proof_hashes": len(proof["hashes"]), "balances_checked": 0, "month": None}
    year = int(month[:4])
    hours = reports.hours_by_site(ctx, None, year)
    tokens = sum(row["tokens"] for row in hours.rows if row["month"] == month)
    assert tokens == book.tokens, (tokens, book.tokens, month)
    settled = reports.shop_settlements(ctx, None, month, first, after)
    redemptions = sum(row["count"] for row in settled.rows)
    assert redemptions == book.redemptions, (redemptions, book.redemptions, month)
    assert len(settled.rows) == economy.shape.shops
    page = publicpage.economy(ctx)
    assert page["in_circulation"] == page["issued"] - page["redeemed"]
    assert page["shop_count"] == economy.shape.shops and page["places"] == economy.shape.sites
    assert page["checkpoint"]["size"] == size
    return {
        "size": size,
        "proof_hashes": len(proof["hashes"]),
        "balances_checked": balances,
        "month": month,
        "month_tokens": tokens,
        "month_redemptions": redemptions,
    }


def open_context(database: str, folder: Path, clock: SimClock) -> ServerContext:
    """A server context over :func:`open_storage`'s storage, with fresh keys and the bench's clock."""
    storage = open_storage(database)
    ctx = ServerContext(
        storage=storage,
        server_key=PrivateKey.generate(),
        uid_pseudonym_key=os.urandom(32),
        vault=PersonVault.open_folder(folder / PERSON_KEYS),
        now_ms=clock,
    )
    with storage.write() as tx:
        tx.set_setting(tlog.ORIGIN_SETTING, "bench.kokreativ/scale")
    tlog.ensure_checkpoint(storage, ctx.server_key, clock())
    return ctx


def database_for(engine: str, folder: Path, postgresql: str | None, stack: contextlib.ExitStack) -> str:
    """The database string of ``engine`` for one run: a file in ``folder``, ``--postgresql``'s URL, or
    else an empty database of a throwaway PostgreSQL cluster (fsync on, as in production) started here.
    """
    if engine == "sqlite":
        return str(folder / "ledger.db")
    if postgresql is not None:
        return postgresql
    binaries = find_binaries()
    if binaries is None:
        raise NotYetError(MISSING)
    cluster = PgCluster(binaries, durable=True)
    cluster.start()
    stack.callback(cluster.stop)
    return cluster.empty_database()


def run_engine(
    engine: str,
    database: str,
    folder: Path,
    sizes: Sequence[int],
    shape: Shape,
    *,
    window: int,
    samples: int,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Grow the economy on ``database`` through each of ``sizes``; one result per size."""
    from server.app import create_app
    from server.runner import serve_in_thread

    months = max(sizes) // shape.per_month + 3
    clock = SimClock(0)
    results = []
    with (
        ProcessPoolExecutor(os.cpu_count()) as signers,
        ThreadPoolExecutor(os.cpu_count()) as verifiers,
    ):
        first = first_month(months)
        clock.ms = month_start(*first) - 48 * HOUR_MS
        ctx = open_context(database, folder, clock)
        try:
            economy = Economy(ctx, clock, shape, first)
            started = time.perf_counter()
            economy.setup()
            log(
                f"{engine}: {shape.cards} cards, {shape.kiosks} kiosks, {shape.shops} shops registered "
                f"in {time.perf_counter() - started:.0f} s"
            )
            stream = economy.batches(signers)
            app = create_app(ctx)
            grown_s = 0.0
            for target in sizes:
                started = time.perf_counter()
                while _size(ctx) < target:
                    ingest_in_process(ctx, clock, next(stream), verifiers)
                grown_s += time.perf_counter() - started
                figures = measure(economy, samples)
                log(
                    f"{engine} at {_size(ctx)} entries: "
                    + ", ".join(f"{op} {figures[op]:.2f}" for op in OPERATIONS)
                    + f" (grown in {grown_s:.0f} s)"
                )
                checked = check(economy)
                # Then the next window of batches as they come (tills' small, kiosks' larger), over HTTP.
                batches, events = [], 0
                while events < window:
                    batches.append(next(stream))
                    events += batches[-1].events
                with serve_in_thread(app) as url:
                    rate = ingest_over_http(url, clock, batches)
                result = {
                    "engine": engine,
                    "target": target,
                    "size": checked["size"],
                    "months": economy.month,
                    "window_events": events,
                    "window_batches": len(batches),
                    "ingest_events_per_s": rate,
                    **figures,
                    "grow_s": grown_s,
                    "checked": checked,
                }
                results.append(result)
                log(f"{engine} at {checked['size']} entries: checked; then {rate:.0f} events/s over HTTP")
        finally:
            ctx.close()
    return results


def _size(ctx: ServerContext) -> int:
    with ctx.storage.read() as tx:
        return tx.tlog_size()


def table(results: Sequence[dict[str, Any]]) -> str:
    """The results as a fixed-width table, one line per engine and size."""
    head = ("engine", "entries", "ingest/s", *OPERATIONS)
    lines = ["  ".join(f"{h:>14}" for h in head)]
    for r in results:
        cells = [r["engine"], f"{r['size']:,}", f"{r['ingest_events_per_s']:.0f}"]
        cells += [f"{r[op]:.3f}" for op in OPERATIONS]
        lines.append("  ".join(f"{c:>14}" for c in cells))
    return "\n".join(lines)


def plot(results: Sequence[dict[str, Any]], path: Path) -> None:
    """Milliseconds per operation against log size (log-scaled x and y), one line per operation and engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    engines = sorted({r["engine"] for r in results})
    for engine in engines:
        rows = sorted((r for r in results if r["engine"] == engine), key=lambda r: r["size"])
        for op in OPERATIONS:
            style = "-" if engine == "sqlite" else "--"
            axes.plot(
                [r["size"] for r in rows],
                [r[op] for r in rows],
                style,
                marker="o",
                label=f"{op.removesuffix('_ms').replace('_', ' ')} ({engine})",
            )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("log entries")
    axes.set_ylabel("ms per operation (median)")
    axes.set_title("kokreativ: reads as the log grows (make bench-scale)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(float(part)) for part in text.split(",") if part.strip()})
    if not sizes or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("sizes are positive numbers of log entries, e.g. 1e4,1e5")
    return sizes


def _engines(text: str) -> list[str]:
    engines = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if not engines or unknown:
        raise argparse.ArgumentTypeError(f"engines are {', '.join(ENGINES)}")
    return engines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=_sizes, default=list(DEFAULT_SIZES), help="log sizes, e.g. 1e4,1e5,1e6"
    )
    parser.add_argument(
        "--engines", type=_engines, default=list(ENGINES), help="sqlite,postgresql (default: both)"
    )
    parser.add_argument(
        "--postgresql",
        help="an empty database for the postgresql engine, postgresql://… (default: a throwaway cluster "
        "from the local PostgreSQL binaries)",
    )
    parser.add_argument("--cards", type=int, default=DEFAULT_SHAPE.cards)
    parser.add_argument("--kiosks", type=int, default=DEFAULT_SHAPE.kiosks)
    parser.add_argument("--shops", type=int, default=DEFAULT_SHAPE.shops)
    parser.add_argument("--per-month", type=int, default=DEFAULT_SHAPE.per_month, help="log entries a month")
    parser.add_argument(
        "--window", type=int, default=20_000, help="events ingested over HTTP after each size (a sync round)"
    )
    parser.add_argument("--samples", type=int, default=40, help="timings per operation and size")
    parser.add_argument("--json", type=Path, default=Path("bench-scale.json"))
    parser.add_argument("--plot", type=Path, default=Path("docs/img/bench-scale.png"))
    parser.add_argument("--dir", type=Path, help="where the databases go (default: a temporary folder)")
    args = parser.parse_args(argv)
    shape = Shape(args.cards, max(1, min(args.kiosks // 10, 10)), args.kiosks, args.shops, args.per_month)
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="kokreativ-scale-", dir=args.dir) as tmp,
        contextlib.ExitStack() as stack,
    ):
        for engine in args.engines:
            folder = Path(tmp) / engine
            folder.mkdir()
            try:
                database = database_for(engine, folder, args.postgresql, stack)
                results += run_engine(
                    engine,
                    database,
                    folder,
                    args.sizes,
                    shape,
                    window=args.window,
                    samples=args.samples,
                    log=lambda line: print(line, file=sys.stderr, flush=True),
                )
            except NotYetError as exc:
                print(f"{engine}: skipped: {exc}", file=sys.stderr)
    if not results:
        return 1
    print(table(results))
    args.json.write_text(
        json.dumps({"shape": dataclasses.asdict(shape), "results": results}, indent=2) + "\n"
    )
    plot(results, args.plot)
    print(f"wrote {args.json} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
