"""The server's Prometheus metrics: what ``GET /metrics`` answers (issue 20, docs/operations.md "Monitoring").

Two kinds of figures, so that they are right however many processes serve one data folder:

* **Read from the ledger at each scrape** (:class:`LedgerCollector`): the log's
  size, the events stored, the kiosks by status, and per kiosk its backlog (the
  ``pending`` of its last heartbeat), the age of that heartbeat, its clock
  offset and its alarms (as the console's fleet page shows them,
  :func:`server.fleet.fleet`).  Every process reads the same database, so
  these need no sharing.
* **Counted as the process serves** (:class:`ServerMetrics`): request latency
  by route template, and ingest batches, events and refusals by reason code.
  ``kokreativ server run`` keeps these in files on a tmpfs, one folder per
  data folder (:func:`shared_metrics_dir`; prometheus_client's multiprocess
  mode, :func:`share_across_processes`), so a scrape of any process sums every
  process's counts.  An app made without that (tests, the demo) counts in its
  own memory; its threads (uvicorn's, the signature checks') share it.

Privacy: labels are route templates (``/v1/kiosks/{kiosk_id}/events``, never
the path asked for), methods, statuses, reason codes, outcomes and kiosk IDs.
No card ID, volunteer ID or name is a label or a value.  A path parameter is
never a label, since anyone can send any path: the ingest figures are summed
over kiosks, and only kiosks the ledger knows get per-kiosk figures.  Per-kiosk
figures still show when a small site's kiosk is used, so the route needs a
scrape token or a request from the server's own host (:mod:`server.http.access`).

Example::

    metrics = ServerMetrics()
    metrics.observe_request("GET", "/v1/health", 200, 0.002)
    text = exposition(ctx, metrics)   # Prometheus text format, bytes
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from server import fleet
from server.context import ServerContext
from server.errors import DataDirError

SHARED_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own variable
# systemd's RuntimeDirectory= (a tmpfs in /run) for the shared counters, else /dev/shm, else the temp folder.
RUNTIME_DIRECTORY_ENV: Final = "RUNTIME_DIRECTORY"
PREFIX: Final = "kokreativ"
# The text format generate_latest writes (every name here is a classic one); stated, since newer
# prometheus_client versions call 1.0.0 their latest.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED: Final = "unmatched"  # the route label of a request no route served (a 404, say)
KIOSK_STATUSES: Final = ("active", "suspended", "revoked")
_PID_FILE = re.compile(r".*_(\d+)\.db")


def shared_metrics_dir(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where each ``server run`` on ``data_dir`` keeps its shared counters: in memory, not on the data disk.

    prometheus_client maps its files into memory and grows them sparsely; on a
    full disk, touching a page the disk cannot hold kills the process
    (``SIGBUS``).  The ledger's disk may fill up (the server then refuses with
    ``storage_full`` and goes on), so the counters live on a tmpfs: systemd's
    ``RuntimeDirectory=`` (``$RUNTIME_DIRECTORY``), else ``/dev/shm``, else the
    temp folder, in a folder named after the data folder, so processes on one
    data folder find each other's files.
    """
    env = os.environ if environ is None else environ
    runtime = env.get(RUNTIME_DIRECTORY_ENV, "").split(":")[0]
    if runtime:
        base = Path(runtime)
    elif Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
        base = Path("/dev/shm")
    else:
        base = Path(tempfile.gettempdir())
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return base / f"kokreativ-metrics-{digest}"


def share_across_processes(folder: Path) -> Path:
    """Count requests and ingest in files under ``folder``, summed over every process that does the same.

    Call once per process before the first :class:`ServerMetrics` is made
    (``kokreativ server run`` does, with :func:`shared_metrics_dir`).
    Files left by processes that are gone are removed first: their counts
    start again at zero, as after a restart, which Prometheus's ``rate()``
    takes as a counter reset.  Files of a live process are kept.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        # Another local user could have made it, to change the counts: refuse, as for the data folder.
        raise DataDirError(f"{folder}, the shared counters' folder, is not this user's alone (mode 0700)")
    for file in folder.glob("*.db"):
        match = _PID_FILE.fullmatch(file.name)
        if match is None or not _alive(int(match.group(1))):
            file.unlink(missing_ok=True)
    os.environ[SHARED_DIR_ENV] = str(folder)
    # prometheus_client picks its value store when imported; pick again now that the variable is set.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    return folder


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a file of an earlier process that had our PID: not ours, start afresh
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def shared_dir() -> Path | None:
    """The folder :func:`share_across_processes` chose in this process, or ``None``."""
    folder = os.environ.get(SHARED_DIR_ENV)
    return Path(folder) if folder and values.ValueClass is not values.MutexValue else None


class ServerMetrics:
    """The figures one app counts as it serves: request latency, ingest batches, events and refusals.

    Made once per app (``create_app``), so several apps in one process (tests)
    count apart unless :func:`share_across_processes` was called.  Thread-safe.
    """

    def __init__(self) -> None:
        self.shared = shared_dir()
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_seconds = Histogram(
            f"{PREFIX}_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.batches = Counter(
            f"{PREFIX}_ingest_batches",
            "Batches of signed events posted by kiosks, by outcome (accepted or refused)",
            ["outcome"],
            registry=self.registry,
        )
        self.events = Counter(
            f"{PREFIX}_ingest_events",
            "Events in accepted batches, by result (accepted: new; duplicate: sent before)",
            ["result"],
            registry=self.registry,
        )
        self.refusals = Counter(
            f"{PREFIX}_ingest_refusals",
            "Batches refused, by reason code (docs/protocol.md)",
            ["reason"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one request; ``route`` is the matched route's template (``None``: none matched)."""
        shown = method if method in METHODS else "OTHER"
        self.request_seconds.labels(shown, route or UNMATCHED, str(status)).observe(max(0.0, seconds))

    def batch_accepted(self, results: Iterable[Any]) -> None:
        """Count an accepted batch and its events by their ``status`` (``accepted``, ``duplicate``)."""
        self.batches.labels("accepted").inc()
        counts = collections.Counter(
            item.get("status") if isinstance(item, dict) else None for item in results
        )  # one increment per status, not per event: a batch holds up to 500
        for status, count in counts.items():
            self.events.labels(status if status in ("accepted", "duplicate") else "other").inc(count)

    def batch_refused(self, reason: str) -> None:
        """Count a refused batch under its reason code."""
        self.batches.labels("refused").inc()
        self.refusals.labels(reason).inc()

    def collectors(self) -> list[Collector]:
        """What a scrape reports of these: every process's counts when shared, else this app's."""
        if self.shared is not None:
            return [_Shared(self.shared)]
        return [_Own(self.registry)]


class _Own(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        yield from self._registry.collect()


class _Shared(Collector):
    def __init__(self, folder: Path) -> None:
        self._folder = folder

    def collect(self) -> Iterator[Any]:
        # MultiProcessCollector registers itself with a registry; read it through a private one.
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry, path=str(self._folder))  # type: ignore[no-untyped-call]
        yield from registry.collect()


class LedgerCollector(Collector):
    """The figures read from the ledger at each scrape; see the module docstring."""

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[Any]:
        ctx = self._ctx
        now = ctx.now_ms()
        with ctx.storage.read() as tx:
            log_size = tx.tlog_size()
            events = tx.count_events()
        rows = fleet.fleet(ctx, None)
        yield GaugeMetricFamily(
            f"{PREFIX}_log_size_entries", "Entries in the transparency log (its tree size)", value=log_size
        )
        yield CounterMetricFamily(
            f"{PREFIX}_ledger_events", "Signed kiosk events stored in the ledger", value=events
        )
        statuses = GaugeMetricFamily(
            f"{PREFIX}_kiosks", "Enrolled kiosks and tills, by status", labels=["status"]
        )
        for status in KIOSK_STATUSES:
            statuses.add_metric([status], sum(1 for row in rows if row["status"] == status))
        yield statuses
        backlog = GaugeMetricFamily(
            f"{PREFIX}_kiosk_backlog_events",
            "Events a kiosk holds that the server has not acknowledged, as its last heartbeat said",
            labels=["kiosk"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_kiosk_last_heartbeat_age_seconds",
            "Seconds since the server stored the kiosk's last heartbeat",
            labels=["kiosk"],
        )
        seen = GaugeMetricFamily(
            f"{PREFIX}_kiosk_last_seen_age_seconds",
            "Seconds since the kiosk's last batch or heartbeat (or its enrolment)",
            labels=["kiosk"],
        )
        offset = GaugeMetricFamily(
            f"{PREFIX}_kiosk_clock_offset_seconds",
            "The server's clock minus the kiosk's at its last heartbeat",
            labels=["kiosk"],
        )
        alarms = GaugeMetricFamily(
            f"{PREFIX}_kiosk_alarm",
            "1 while the kiosk has the alarm (equivocation, silent, clock), as the console shows it",
            labels=["kiosk", "alarm"],
        )
        for row in rows:
            if row["status"] == "revoked":
                continue  # a revoked kiosk is expected to be quiet; its figures would only age
            kiosk = [row["kiosk_id"]]
            seen.add_metric(kiosk, max(0, now - row["last_seen_ms"]) / 1000)
            if row["last_heartbeat_ms"] is not None:
                backlog.add_metric(kiosk, row["pending"])
                age.add_metric(kiosk, max(0, now - row["last_heartbeat_ms"]) / 1000)
                offset.add_metric(kiosk, row["clock_offset_ms"] / 1000)
            for alarm in fleet.ALARMS:
                alarms.add_metric([*kiosk, alarm], 1 if alarm in row["alarms"] else 0)
        yield from (backlog, age, seen, offset, alarms)


def exposition(ctx: ServerContext, metrics: ServerMetrics) -> bytes:
    """Every figure in the Prometheus text format (0.0.4); it reads the ledger, so call it off the loop."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in metrics.collectors():
        registry.register(collector)
    registry.register(LedgerCollector(ctx))
    return generate_latest(registry)
