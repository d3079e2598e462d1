"""Wiring: build every backend once from the config, run the tap loop, sync in the background.

A kiosk is in one of two modes, fixed by the enrolment code it was enrolled
with and stated by its trust list (:func:`kiosk_mode`): a **check-in** kiosk
(:class:`KioskService`, :func:`open_service`) records shifts; a **shop**
terminal (:class:`ShopService`, :func:`open_shop_service`) redeems tokens at
its till (:class:`terminal.shop.ShopTill`) and needs its screen, since what a
tap means depends on the till's state.  Both share one reader loop
(:class:`ReaderService`); opening the wrong one for a kiosk's mode raises
:class:`terminal.errors.ModeError`.

The tap loop (reader → :meth:`Kiosk.handle_tap`) runs in the foreground and
never waits for the network; after each recorded tap it sets ``wake`` so the
sync thread sends it soon.  The loop ends on SIGTERM/SIGINT (the caller sets
``stop``) or when the reader is exhausted (end of a tap script, logged as a
warning), in which case a final sync round is attempted so a scripted run
leaves nothing behind that the server could already take.

Shutdown on ``stop`` never waits for the network: the sync (daemon) thread
is joined for at most ``join_timeout_s``; a request still on the wire is
abandoned (its events stay pending in the outbox and go out on the next
start).  At the end of a script the round in flight may finish first.

Example::

    config = load_config(Path("/var/lib/kokreativ/kiosk.toml"))
    with open_service(config, stdin=sys.stdin, stdout=sys.stdout) as service:
        service.run(threading.Event())
"""

from terminal.service.checkin import KioskService
from terminal.service.mode import Mode, kiosk_mode, mode_of
from terminal.service.reader import ReaderService, join_sync_thread, stop_on_signals
from terminal.service.shop import ShopService
from terminal.service.wiring import build_indicator, build_reader, open_service, open_shop_service

__all__ = [
    "KioskService",
    "Mode",
    "ReaderService",
    "ShopService",
    "build_indicator",
    "build_reader",
    "join_sync_thread",
    "kiosk_mode",
    "mode_of",
    "open_service",
    "open_shop_service",
    "stop_on_signals",
]
