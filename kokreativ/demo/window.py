"""The demo's last act where a display is: the kiosk's screen in a window, keys standing in for cards."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from hardware.emulator import EmulatedType2Tag
from hardware.simulated import SimulatedReader
from kokreativ.demo.ledger import StoryClock, ledger_server
from kokreativ.demo.script import UNKNOWN_UID
from terminal.config import KioskConfig, write_config
from terminal.pin import hash_pin
from terminal.service import open_service
from terminal.ui.app import KeyHandler

DEMO_PIN = "1234"


def demo_keys(reader: Callable[[], SimulatedReader | None], stickers: list[EmulatedType2Tag]) -> KeyHandler:
    """Keys 1–3 tap the volunteers' stickers, any other character an unknown card."""

    def on_key(char: str) -> bool:
        target = reader()
        if target is None or not char.isprintable():
            return False
        if char in "123" and len(char) == 1:
            sticker = stickers[int(char) - 1]
            return target.present_card(sticker.uid, sticker.ndef_message)
        return target.present_card(UNKNOWN_UID, None)

    return on_key


def display_available() -> bool:
    """Whether a window can be shown: an X11 or Wayland display is set."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_window(
    config: KioskConfig,
    stickers: list[EmulatedType2Tag],
    server_dir: Path,
    port: int,
    clock: StoryClock,
    say: Any,
) -> None:
    """The kiosk screen with the server up and a simulated reader, until the window is closed.

    The window's kiosk reads the real clock, so from here on the server does too (``clock`` goes live).
    """
    from terminal.ui.app import kivy_post, prepare_kivy, run_app  # Kivy only when a window opens
    from terminal.ui.controller import ScreenController

    write_config(config.data_dir / "kiosk.toml", replace(config, coordinator_pin=hash_pin(DEMO_PIN)))
    say(
        "9. The kiosk screen: keys 1, 2, 3 tap Alex's, Bo's and Chris's cards, other keys an unknown card;\n"
        f"   hold the screen 3 s and enter PIN {DEMO_PIN} for the coordinator menu. Close the window to end."
    )
    prepare_kivy(fullscreen=False)
    clock.go_live()
    with ledger_server(server_dir, port, clock):
        controller = ScreenController(
            config_path=config.data_dir / "kiosk.toml",
            post=kivy_post,
            open_runtime=partial(
                open_service, stdin=io.StringIO(), stdout=io.StringIO(), reader="sim", indicator="console"
            ),
        )

        def current_reader() -> SimulatedReader | None:
            service = controller.service
            return (
                service.reader
                if service is not None and isinstance(service.reader, SimulatedReader)
                else None
            )

        run_app(controller, on_key=demo_keys(current_reader, stickers), title="kokreativ demo kiosk")
