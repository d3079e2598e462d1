"""One background thread that runs jobs in order: the screen's bounded workers.

The controller owns one per kind of action: the *network* worker (enrolment,
"sync now", the till's redemptions and voids, which may wait for the server)
and the *local* worker (checking and saving the PIN, reading recent sales).
So a PIN check never waits behind a redemption whose round is timing out, and
a burst of touches queues instead of starting a thread each.

The thread is a daemon, started by the first job, as the short-lived threads
it replaces were: a job stuck on the network cannot hold up the process's exit.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from terminal.errors import describe

log = logging.getLogger(__name__)

Job = Callable[[], object]


class Worker:
    """Runs submitted jobs one after another in the thread ``name``; a failing job is logged.

    Example::

        network = Worker("kokreativ-network")
        network.submit(lambda: post(enrol(code)))   # returns at once
        network.close(timeout_s=10)                 # the queued jobs run first
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # guards _thread and _closed against submit racing close
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, job: Job) -> None:
        """Queue ``job``; after :meth:`close` it is dropped (the screen is going away)."""
        with self._lock:
            if self._closed:
                log.debug("%s is closed; a job was dropped", self.name)
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._jobs.put(job)

    def close(self, timeout_s: float) -> bool:
        """Let the queued jobs finish and stop the thread; False if it is still busy after ``timeout_s``."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if thread is None:
                return True
            self._jobs.put(None)
        thread.join(timeout_s)
        return not thread.is_alive()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception as exc:  # jobs report their own failures; this one is a bug
                log.error("%s: a job failed: %s", self.name, describe(exc))
