"""The Kivy app: one fullscreen window with a :class:`~terminal.ui.view.ScreenView`.

Importing Kivy opens a window, so this module is imported only where a screen
is wanted (``kokreativ terminal run`` without ``--headless``, ``make demo``
with a display, the UI tests).  Call :func:`prepare_kivy` before the first
Kivy import: it fixes the window size, fullscreen and a private
``KIVY_HOME`` so that Kivy writes nothing into the service user's home.

The window is 800×480 (the official 7" Raspberry Pi touchscreen) unless told
otherwise; fullscreen takes whatever the display has, and every layout scales
with the window (see :mod:`terminal.ui.view`).
"""

from __future__ import annotations

import logging
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hardware.sdnotify import Watchdog
from protocol import clock as wall_clock
from terminal.service import Mode as KioskMode
from terminal.ui import kivyenv
from terminal.ui.base_presenter import BasePresenter, Mode
from terminal.ui.controller import ScreenController
from terminal.ui.i18n import Translator
from terminal.ui.model import Screen
from terminal.ui.presenter import Presenter
from terminal.ui.shop_presenter import ShopPresenter

log = logging.getLogger(__name__)

DEFAULT_SIZE = kivyenv.DEFAULT_SIZE
TICK_S = 0.5  # how often the presenter checks its timeouts and the idle clock

KeyHandler = Callable[[str], bool]
"""Gets each typed character; returns whether it used it (the demo taps cards with 1, 2, 3 …)."""


def prepare_kivy(*, fullscreen: bool, headless: bool = False, home: Path | None = None) -> None:
    """Prepare Kivy for the kiosk app (:func:`terminal.ui.kivyenv.prepare`); before anything imports Kivy.

    Fullscreen on a kiosk; a window of :data:`DEFAULT_SIZE` otherwise.
    ``KIVY_HOME`` is ``home``, or a folder under the system's temporary
    directory, because a kiosk's service user has no writable home.  Touches
    come through SDL only.
    """
    kivyenv.prepare(
        headless=headless,
        fullscreen=fullscreen,
        size=DEFAULT_SIZE,
        home=home or Path(tempfile.gettempdir()) / "kokreativ-kivy",
        # SDL delivers touches and the mouse itself (also under cage); Kivy's /dev/input providers would
        # deliver every touch a second time.
        system_inputs=False,
    )


def kivy_post(fn: Callable[[], None]) -> None:
    """Run ``fn`` on the UI thread at the next frame; callable from any thread."""
    from kivy.clock import Clock

    Clock.schedule_once(lambda _dt: fn(), 0)


class KioskScreen:
    """The window's content wired up: view, presenter and controller, without an :class:`App`.

    The presenter follows the kiosk's mode (:attr:`ScreenController.mode`): a
    check-in kiosk gets :class:`~terminal.ui.presenter.Presenter`, a shop
    terminal :class:`~terminal.ui.shop_presenter.ShopPresenter`.  A kiosk that
    enrols on the screen starts with the check-in presenter (it has the
    enrolment screens); if the code made it a shop terminal, the till takes
    over once enrolment is done and the screen is idle.

    Tests and the benchmark use it directly (render ``root``, then pump frames);
    :class:`KioskApp` wraps it for a real run.  ``presenter_options`` go to
    either presenter, ``shop_options`` (the till's timeouts) to the shop's only.

    With a ``watchdog`` (the app under systemd, ``Type=notify``) the screen says
    READY once its first frame is on the display, then pings from a Kivy clock
    callback every :attr:`Watchdog.loop_period_s`: the pings come from the UI's
    own loop, so a hung UI stops them and systemd restarts the kiosk.
    """

    def __init__(
        self,
        controller: ScreenController,
        *,
        server_url: str = "",
        on_key: KeyHandler | None = None,
        now_ms: Callable[[], int] | None = None,
        presenter_options: dict[str, Any] | None = None,
        shop_options: dict[str, Any] | None = None,
        view_options: dict[str, Any] | None = None,
        watchdog: Watchdog | None = None,
    ) -> None:
        from kivy.clock import Clock
        from kivy.core.window import Window

        from terminal.ui.view import ScreenView

        self.controller = controller
        self._on_key = on_key
        self._server_url = server_url
        self._now_ms = now_ms or wall_clock.now_ms
        self._presenter_options = presenter_options or {}
        self._shop_options = shop_options or {}
        self._listeners: list[Callable[[Screen], None]] = []
        self.view = ScreenView(screen_input=_PresenterInput(self), **(view_options or {}))
        controller.start()  # opens the kiosk's core first: its mode decides the presenter
        self.presenter: BasePresenter = self._make_presenter()
        controller.attach(self.presenter)
        self._tick = Clock.schedule_interval(lambda _dt: self.presenter.tick(), TICK_S)
        Window.bind(on_key_down=self._key_down)
        self._watchdog = watchdog
        self._pings: Any = None  # the watchdog's clock event, once the first frame is drawn
        if watchdog is not None:
            Window.bind(on_flip=self._first_frame)
        self.presenter.start()

    def _make_presenter(self) -> BasePresenter:
        controller = self.controller
        translator = Translator(controller.language)
        self.view.set_language(translator.language)
        limits, info = controller.limits, controller.info
        if controller.mode is KioskMode.SHOP and limits is not None and info is not None:
            return ShopPresenter(
                translator=translator,
                actions=controller,
                now_ms=self._now_ms,
                on_change=self._show,
                info=info,
                limits=limits,
                pin_set=controller.pin_set,
                **self._presenter_options,
                **self._shop_options,
            )
        return Presenter(
            translator=translator,
            actions=controller,
            now_ms=self._now_ms,
            on_change=self._show,
            info=info,
            server_url=self._server_url,
            pin_set=controller.pin_set,
            **self._presenter_options,
        )

    def _follow_mode(self) -> None:
        """After an enrolment that made this kiosk a shop terminal: the till takes over, once idle."""
        presenter = self.presenter
        if (
            isinstance(presenter, Presenter)
            and presenter.mode is Mode.IDLE
            and self.controller.mode is KioskMode.SHOP
            and self.controller.limits is not None
        ):
            log.info("this kiosk is a shop terminal: the till takes over the screen")
            self.presenter = self._make_presenter()
            self.controller.attach(self.presenter)
            self.presenter.start()

    def _first_frame(self, window: Any) -> None:
        """After the first frame reached the display: READY, then pings from the UI loop."""
        from kivy.clock import Clock

        window.unbind(on_flip=self._first_frame)
        watchdog = self._watchdog
        if watchdog is None or self._pings is not None:
            return
        watchdog.ready()
        if watchdog.loop_period_s is not None:
            self._pings = Clock.schedule_interval(self._ping, watchdog.loop_period_s)

    def _ping(self, _dt: float) -> None:
        """The watchdog's clock callback; returns None on purpose, never ping()'s bool.

        Kivy cancels an interval whose callback returns False, and
        :meth:`Watchdog.ping` returns False whenever its rate limit skips a ping.
        The interval's first call comes at the next frame if the frame that drew
        the first screen took longer than one period (its time counts from that
        frame's start): it lands right after :meth:`Watchdog.ready`'s own ping,
        is skipped, and passing the False on stopped every later ping, so
        systemd would restart a working kiosk.  A slow first frame is common
        (fonts and textures load then), so it depended on the machine and, in
        the tests, on whether earlier tests had warmed Kivy's caches.
        """
        if self._watchdog is not None:
            self._watchdog.ping()

    @property
    def root(self) -> Any:
        return self.view

    def add_listener(self, listener: Callable[[Screen], None]) -> None:
        """Call ``listener`` with every new screen after the view has it (the benchmark times frames)."""
        self._listeners.append(listener)

    def _show(self, screen: Screen) -> None:
        self.view.show(screen)
        for listener in self._listeners:
            listener(screen)
        self._follow_mode()

    def _key_down(self, _window: Any, _key: int, _scancode: int, codepoint: str | None, _mods: Any) -> bool:
        if codepoint and self._on_key is not None:
            return self._on_key(codepoint)
        return False

    def close(self) -> None:
        from kivy.core.window import Window

        self._tick.cancel()
        if self._pings is not None:
            self._pings.cancel()
        if self._watchdog is not None:
            Window.unbind(on_flip=self._first_frame)
        Window.unbind(on_key_down=self._key_down)
        self.controller.close()


class _PresenterInput:
    """Forwards the view's touches to whichever presenter the screen has (it exists after the view)."""

    def __init__(self, screen: KioskScreen) -> None:
        self._screen = screen

    def press_key(self, key: str) -> None:
        self._screen.presenter.press_key(key)

    def press_action(self, action_id: str) -> None:
        self._screen.presenter.press_action(action_id)

    def long_press(self) -> None:
        self._screen.presenter.long_press()


def run_app(
    controller: ScreenController,
    *,
    server_url: str = "",
    on_key: KeyHandler | None = None,
    title: str = "",
    watchdog: Watchdog | None = None,
) -> None:
    """Run the window until it is closed or SIGTERM/SIGINT arrives; closes ``controller`` either way.

    A signal stops the app between frames, so the tap loop finishes the tap in
    hand and the outbox is closed cleanly (systemd stops the kiosk this way).
    ``watchdog``: READY and pings from the UI loop (see :class:`KioskScreen`).
    """
    from kivy.app import App
    from kivy.clock import Clock

    class KioskApp(App):  # type: ignore[misc]  # Kivy has no type hints
        def build(self) -> Any:
            self.title = title or "kokreativ"
            self.screen = KioskScreen(controller, server_url=server_url, on_key=on_key, watchdog=watchdog)
            if controller.info is not None:
                log.info("kiosk screen started (enrolled) as a %s kiosk", controller.mode)
            else:
                log.info("kiosk screen started (not enrolled yet)")
            return self.screen.root

        def on_stop(self) -> None:
            self.screen.close()

    app = KioskApp()

    def stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        if watchdog is not None:
            watchdog.stopping()
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        app.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
