"""The screen controller's bounded workers: one thread per kind of action, so local work never queues
behind the network.

No Kivy and no server: results are "posted" by calling them at once, and an
enrolment that waits on an :class:`threading.Event` stands for a server that
does not answer.  ``HANG_S`` only keeps a broken build from hanging the run.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

from protocol import Reason
from terminal.errors import EnrolmentError
from terminal.ui.controller import ScreenController
from terminal.ui.presenter import EnrolResult

HANG_S = 60.0


class RecordingPresenter:
    """Takes the controller's results, in order, from any thread."""

    def __init__(self) -> None:
        self.results: queue.Queue[tuple[str, tuple[Any, ...]]] = queue.Queue()

    def next(self) -> tuple[str, tuple[Any, ...]]:
        return self.results.get(timeout=HANG_S)

    def pin_checked(self, *args: Any) -> None:
        self.results.put(("pin_checked", args))

    def pin_saved(self, *args: Any) -> None:
        self.results.put(("pin_saved", args))

    def enrol_finished(self, *args: Any) -> None:
        self.results.put(("enrol_finished", args))


def _not_enrolled(tmp_path: Path, enrol: Any) -> ScreenController:
    return ScreenController(
        config_path=tmp_path / "kiosk.toml",
        post=lambda call: call(),
        open_runtime=lambda _config: None,  # never called: the enrolment below never succeeds
        enrol=enrol,
    )


def _worker_threads() -> set[threading.Thread]:
    names = {"kokreativ-network", "kokreativ-local"}
    return {thread for thread in threading.enumerate() if thread.name in names and thread.is_alive()}


def test_pin_work_finishes_while_an_enrolment_waits_for_the_server(tmp_path: Path):
    entered, release = threading.Event(), threading.Event()

    def enrol(code: str) -> Any:
        entered.set()
        release.wait()  # the server does not answer until the test says so
        raise EnrolmentError(Reason.NETWORK_ERROR, "no answer")

    presenter = RecordingPresenter()
    controller = _not_enrolled(tmp_path, enrol)
    controller.attach(presenter)  # type: ignore[arg-type]  # takes only the results used here
    try:
        controller.enrol("1234-5678-9012-3456-7890")
        assert entered.wait(HANG_S)
        controller.check_pin("2580")
        controller.save_pin("2580")
        # Both answer while the enrolment still waits (no kiosk yet, so no PIN to match or set).
        assert presenter.next() == ("pin_checked", (False,))
        assert presenter.next() == ("pin_saved", (False,))
        assert not release.is_set() and presenter.results.empty()
        release.set()
        assert presenter.next() == ("enrol_finished", (EnrolResult(None, Reason.NETWORK_ERROR.value),))
    finally:
        release.set()
        controller.close()


def test_actions_of_one_kind_run_one_after_another_on_one_thread(tmp_path: Path):
    threads: list[str] = []
    gate = threading.Event()

    def enrol(code: str) -> Any:
        threads.append(threading.current_thread().name)
        gate.wait()
        raise EnrolmentError("already_enrolled", code)

    presenter = RecordingPresenter()
    controller = _not_enrolled(tmp_path, enrol)
    controller.attach(presenter)  # type: ignore[arg-type]
    try:
        controller.enrol("first")
        controller.enrol("second")  # queued behind the first, not a thread of its own
        gate.set()
        assert presenter.next() == ("enrol_finished", (EnrolResult(None, "already_enrolled"),))
        assert presenter.next() == ("enrol_finished", (EnrolResult(None, "already_enrolled"),))
        assert threads == ["kokreativ-network", "kokreativ-network"]
    finally:
        gate.set()
        controller.close()


def test_close_stops_the_workers_after_their_queued_work(tmp_path: Path):
    others = _worker_threads()  # any left by other tests' controllers
    presenter = RecordingPresenter()
    controller = _not_enrolled(tmp_path, enrol=None)
    controller.attach(presenter)  # type: ignore[arg-type]
    controller.check_pin("2580")
    controller.enrol("1234-5678-9012-3456-7890")  # no enrolment function: it reports an internal error
    controller.close()
    # The PIN check and the enrolment run on different workers, so they may finish in either order.
    finished = {presenter.next(), presenter.next()}
    assert finished == {
        ("pin_checked", (False,)),
        ("enrol_finished", (EnrolResult(None, Reason.INTERNAL_ERROR.value),)),
    }
    assert _worker_threads() <= others
    controller.check_pin("2580")  # after close: dropped, no thread starts again
    assert _worker_threads() <= others and presenter.results.empty()
