"""The kiosk behind the screen: runs the core in worker threads and feeds the presenter.

The kiosk's mode (from its trust list) picks the core, a check-in
:class:`~terminal.service.KioskService` or a shop's
:class:`~terminal.service.ShopService`; :attr:`ScreenController.mode` says
which, so the app builds the matching presenter.  The UI thread never waits
for the reader, the disk or the network: the reader loop and a status loop
have threads of their own, and every other action runs on one of two bounded
workers, network and local, so a PIN check never waits behind a round that is
timing out (docs/ui.md, "How it is built").

``post(fn)`` must run ``fn`` on the UI thread soon; the Kivy app passes
:func:`terminal.ui.app.kivy_post`, a wrapper around ``Clock.schedule_once``.
No Kivy here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from importlib import metadata
from pathlib import Path

from hardware.indicator import Signal
from protocol import Reason
from protocol.clock import now_ms
from protocol.trust import ShopLimits
from terminal.config import KioskConfig, load_config, write_config
from terminal.enrol import enrol_kiosk
from terminal.errors import EnrolmentError, ModeError, describe
from terminal.pin import hash_pin, verify_pin
from terminal.service import KioskService, ReaderService, ShopService, kiosk_mode
from terminal.service import Mode as KioskMode
from terminal.shop import CardAtTill, CardRefused, RedeemResult, TillOutcome, VoidResult
from terminal.sync import NETWORK_ERROR, SERVER_ERROR
from terminal.tap import TapOutcome
from terminal.ui.base_presenter import BasePresenter
from terminal.ui.presenter import EnrolResult
from terminal.ui.screens import KioskInfo, KioskStatus
from terminal.ui.worker import Worker

log = logging.getLogger(__name__)

Post = Callable[[Callable[[], None]], None]
OpenRuntime = Callable[[KioskConfig], AbstractContextManager[KioskService]]
OpenShopRuntime = Callable[[KioskConfig], AbstractContextManager[ShopService]]
ModeOf = Callable[[KioskConfig], KioskMode]
Enrol = Callable[[str], KioskConfig]

_OFFLINE = frozenset({NETWORK_ERROR, SERVER_ERROR})  # round errors that mean "cannot reach the server"
# The sync side notes a round at least every minute and backs off at most five: silence for longer means
# it is not running.
STALE_ROUND_S = 600.0


def software_version() -> str:
    """The installed kokreativ version, for the coordinator menu."""
    try:
        return metadata.version("kokreativ")
    except metadata.PackageNotFoundError:
        return "unknown"


def kiosk_info(config: KioskConfig) -> KioskInfo:
    return KioskInfo(
        kiosk_id=config.kiosk_id,
        site_name=config.site_name,
        version=software_version(),
        undo_window_s=config.undo_window_s,
    )


def status_of(service: ReaderService, *, now_ms: int, stale_s: float = STALE_ROUND_S) -> KioskStatus:
    """One status snapshot; reads the outbox, so it runs off the UI thread.

    Online or offline comes from the last sync round noted in the outbox, by
    this process's sync thread or by the separate sync service alike.  No
    round for ``stale_s`` means offline too: the sync side is not running.
    """
    status = service.outbox.status() if service.outbox is not None else None
    round_ms = status.sync_round_ms if status is not None else None
    if status is None or round_ms is None:
        online: bool | None = None
    elif now_ms - round_ms > stale_s * 1000:
        online = False
    else:
        online = status.sync_round_error not in _OFFLINE
    return KioskStatus(
        online=online,
        pending=status.pending if status else 0,
        last_sync_ms=status.last_sync_ms if status else None,
        reader=service.reader.status,
        alarm=status.alarm_code if status else None,
        sync_error=status.sync_round_error if status else None,
        trust_issued_ms=status.trust_issued_ms if status else None,
    )


def enrol_against(
    server_url: str, data_dir: Path, *, reader: str, indicator: str, device: str | None = None
) -> Enrol:
    """The screen's enrolment: what ``kokreativ provision terminal enrol`` does, into ``data_dir``."""

    def enrol(code: str) -> KioskConfig:
        _path, config = enrol_kiosk(
            server_url, code, data_dir, reader=reader, indicator=indicator, device=device
        )
        return config

    return enrol


class ScreenController:
    """Implements the presenters' actions with threads; see the module docstring.

    ``open_runtime`` opens a check-in kiosk's core, ``open_shop_runtime`` a
    shop terminal's; a shop terminal without the latter raises
    :class:`~terminal.errors.ModeError` (``shop_terminal``) on :meth:`start`.
    ``mode_of`` reads a kiosk's mode from its trust list; tests replace it.

    Example::

        controller = ScreenController(config_path=path, post=post, open_runtime=runtime,
                                      open_shop_runtime=shop_runtime, enrol=enrol)
        controller.start()                  # opens the core; controller.mode says which presenter
        presenter = Presenter(actions=controller, info=controller.info, pin_set=controller.pin_set, ...)
        controller.attach(presenter)
        ...
        controller.close()
    """

    def __init__(
        self,
        *,
        config_path: Path,
        post: Post,
        open_runtime: OpenRuntime,
        open_shop_runtime: OpenShopRuntime | None = None,
        mode_of: ModeOf = kiosk_mode,
        enrol: Enrol | None = None,
        language: str | None = None,
        status_interval_s: float = 1.0,
        join_timeout_s: float = 10.0,
    ) -> None:
        self._config_path = config_path
        self._post = post
        self._open_runtime = open_runtime
        self._open_shop_runtime = open_shop_runtime
        self._mode_of = mode_of
        self._enrol = enrol
        self._language = language
        self._status_interval_s = status_interval_s
        self._join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._stack = contextlib.ExitStack()
        self._threads: list[threading.Thread] = []
        # One thread per kind of action; see the module docstring.
        self._network = Worker("kokreativ-network")
        self._local = Worker("kokreativ-local")
        self._lock = threading.Lock()  # guards config, mode and service, set by the enrolment thread
        self._presenter: BasePresenter | None = None
        self.service: KioskService | ShopService | None = None
        self.config: KioskConfig | None = load_config(config_path) if config_path.exists() else None
        self.mode: KioskMode | None = None if self.config is None else mode_of(self.config)

    # -- set-up ----------------------------------------------------------------------------------------

    @property
    def info(self) -> KioskInfo | None:
        """The enrolled kiosk, or ``None``: the screen starts with enrolment."""
        return None if self.config is None else kiosk_info(self.config)

    @property
    def pin_set(self) -> bool:
        return self.config is not None and self.config.coordinator_pin is not None

    @property
    def language(self) -> str:
        """The screen's language: the command line's, else the config's, else German."""
        if self._language is not None:
            return self._language
        return self.config.language if self.config is not None else "de"

    @property
    def limits(self) -> ShopLimits | None:
        """A running shop terminal's limits and presets (its till's); ``None`` otherwise.

        Reads the trust list (one cached read); ``None`` too if the list no longer makes this a shop.
        """
        service = self.service
        if not isinstance(service, ShopService):
            return None
        try:
            return service.till.limits
        except ModeError:
            return None

    def attach(self, presenter: BasePresenter) -> None:
        """Send results to ``presenter`` from now on (the app swaps it when an enrolment made a shop)."""
        self._presenter = presenter

    def start(self) -> None:
        """Start the kiosk core if this kiosk is enrolled (else the enrolment screen does, later)."""
        if self.config is not None:
            self._start_runtime(self.config)

    def close(self) -> None:
        """Stop the tap loop, the status thread and the workers, then close reader, outbox and sync client."""
        self._stop.set()
        deadline = time.monotonic() + self._join_timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("thread %s did not stop in time", thread.name)
        for worker in (self._local, self._network):
            if not worker.close(max(0.0, deadline - time.monotonic())):
                log.warning("thread %s did not stop in time", worker.name)
        self._stack.close()

    def _start_runtime(self, config: KioskConfig) -> None:
        mode = self._mode_of(config)
        service: KioskService | ShopService
        if mode is KioskMode.SHOP:
            if self._open_shop_runtime is None:
                raise ModeError(
                    "shop_terminal", "this kiosk is a shop terminal; this screen has no till to run"
                )
            shop = self._stack.enter_context(self._open_shop_runtime(config))
            self._spawn("kokreativ-taps", partial(shop.run, self._stop, self._on_card))
            service = shop
        else:
            kiosk = self._stack.enter_context(self._open_runtime(config))
            self._spawn("kokreativ-taps", partial(kiosk.run, self._stop, self._on_outcome))
            service = kiosk
        with self._lock:
            self.service, self.mode = service, mode
        self._spawn("kokreativ-status", partial(self._status_loop, service))

    def _spawn(self, name: str, target: Callable[[], object]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- worker threads --------------------------------------------------------------------------------

    def _to_presenter(self, method: str, *args: object) -> None:
        """Call ``presenter.method(*args)`` on the UI thread (the presenter attached by then)."""

        def call() -> None:
            target = getattr(self._presenter, method, None)
            if target is None:  # no presenter yet, or one for the other mode (the moment after enrolment)
                log.debug("no presenter takes %s now; dropped", method)
                return
            target(*args)

        self._post(call)

    def _on_outcome(self, outcome: TapOutcome) -> None:
        self._to_presenter("show_outcome", outcome)

    def _on_card(self, card: CardAtTill | CardRefused) -> None:
        if isinstance(card, CardAtTill) and card.coordinator:
            self._to_presenter("coordinator_card")
        else:
            self._to_presenter("card_presented", card)

    def _status_loop(self, service: KioskService | ShopService) -> None:
        while not self._stop.is_set():
            try:
                self._to_presenter("update_status", status_of(service, now_ms=now_ms()))
                if isinstance(service, ShopService):
                    self._to_presenter("update_limits", service.till.limits)
                    staff = service.till.staff
                    self._to_presenter("update_staff", staff is not None and staff.required())
            except Exception as exc:  # a locked or closing outbox: try again next time
                log.warning("status snapshot failed: %s", describe(exc))
            self._stop.wait(self._status_interval_s)

    # -- PresenterActions ------------------------------------------------------------------------------

    def sync_now(self) -> None:
        service = self.service
        if service is not None:  # it writes to the outbox: not on the UI thread
            self._network.submit(service.sync_now)

    def signal(self, signal: Signal) -> None:
        service = self.service
        if isinstance(service, ShopService):
            service.till.signal(signal)
        elif service is not None:
            service.kiosk.signal(signal)

    def enrol(self, code: str) -> None:
        self._network.submit(partial(self._enrol_worker, code))

    def _enrol_worker(self, code: str) -> None:
        if self._enrol is None:
            self._to_presenter("enrol_finished", EnrolResult(None, Reason.INTERNAL_ERROR.value))
            return
        try:
            config = self._enrol(code)
            if self._language is not None and config.language != self._language:
                config = dataclasses.replace(config, language=self._language)
                write_config(self._config_path, config)
        except Exception as exc:
            # An enrolment error's code may be local ("already_enrolled"), so not a Reason.
            reason = exc.code if isinstance(exc, EnrolmentError) else getattr(exc, "reason", None)
            reason = reason or Reason.INTERNAL_ERROR.value
            log.warning("enrolment failed: %s", describe(exc))
            self._to_presenter("enrol_finished", EnrolResult(None, str(reason)))
            return
        with self._lock:
            self.config = config
        try:
            self._start_runtime(config)
        except Exception as exc:
            # Enrolled for good (the code is spent, the config written): a restart starts the kiosk.
            log.error("the kiosk is enrolled but could not start (%s); restart it", describe(exc))
        self._to_presenter("enrol_finished", EnrolResult(kiosk_info(config)))

    def check_pin(self, pin: str) -> None:
        stored = self.config.coordinator_pin if self.config is not None else None

        def work() -> None:
            self._to_presenter("pin_checked", verify_pin(stored, pin))

        self._local.submit(work)

    def save_pin(self, pin: str) -> None:
        self._local.submit(partial(self._save_pin_worker, pin))

    def undo(self, outcome: TapOutcome) -> None:
        """Sign the undo of ``outcome`` on the local worker (it writes the outbox, never on the UI thread)."""
        service = self.service

        def work() -> None:
            if not isinstance(service, KioskService):
                return
            self._to_presenter("undo_finished", service.kiosk.undo(outcome))

        self._local.submit(work)

    def _save_pin_worker(self, pin: str) -> None:
        try:
            with self._lock:
                if self.config is None:
                    raise ValueError("no kiosk to set a PIN for")
                config = dataclasses.replace(self.config, coordinator_pin=hash_pin(pin))
                write_config(self._config_path, config)
                self.config = config
        except Exception as exc:
            log.warning("saving the PIN failed: %s", describe(exc))
            self._to_presenter("pin_saved", False)
            return
        self._to_presenter("pin_saved", True)

    # -- ShopActions: the till's work, on the workers ------------------------------------------------

    def _till(self) -> ShopService:
        service = self.service
        if not isinstance(service, ShopService):
            raise RuntimeError("this kiosk has no till")
        return service

    def redeem(self, card: CardAtTill, amount: int) -> None:
        def work() -> None:
            try:
                result = self._till().till.redeem(card, amount)
            except Exception as exc:  # the till reports its own failures; this is a bug or a dead outbox
                log.error("redemption failed: %s", describe(exc))
                self.signal("error")  # the till did not get to play it
                result = RedeemResult(
                    outcome=TillOutcome.ERROR,
                    redemption_id="",
                    amount=amount,
                    reason=type(exc).__name__,  # as the till does
                    balance=None,
                    balance_as_of_ms=None,
                )
            self._to_presenter("redeem_finished", result)

        self._network.submit(work)

    def load_recent(self, limit: int) -> None:
        def work() -> None:
            try:
                items = self._till().till.recent(limit)
            except Exception as exc:
                log.warning("reading the recent sales failed: %s", describe(exc))
                self._to_presenter("recent_failed")
                return
            self._to_presenter("recent_loaded", items)

        self._local.submit(work)

    def check_staff_pin(self, pin: str) -> None:
        def work() -> None:
            staff = self._till().till.staff
            member = None if staff is None else staff.unlock(pin)
            self._to_presenter("staff_checked", None if member is None else member.role)

        self._local.submit(work)

    def staff_logout(self) -> None:
        staff = self._till().till.staff
        if staff is not None:
            staff.lock()

    def void(self, redemption_id: str) -> None:
        def work() -> None:
            try:
                result = self._till().till.void(redemption_id)
            except Exception as exc:
                log.error("void failed: %s", describe(exc))
                self.signal("error")  # the till did not get to play it
                result = VoidResult(ok=False, queued=False, reason=type(exc).__name__)  # as the till does
            self._to_presenter("void_finished", result)

        self._network.submit(work)
