"""systemd's notify protocol without a dependency: ``READY=1`` once, then ``WATCHDOG=1`` from the main loop.

Outside systemd (tests, a coordinator's shell) ``NOTIFY_SOCKET`` is unset and
every call is a no-op.  :meth:`Watchdog.ping` must be called from the loop
whose hang should restart the service, never from a thread of its own, which
would keep pinging while that loop is stuck (docs/architecture.md,
"Watchdog").  It lives below both :mod:`terminal` and :mod:`server`, which use
it, and imports the standard library only: the server does not install the
kiosk's extras (docs/architecture.md, "Layers").

Example::

    watchdog = Watchdog()             # reads NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID
    watchdog.ready()                  # once, when the service is up
    while not stop.is_set():
        work(timeout=watchdog.loop_period_s or 0.5)
        watchdog.ping()               # sends at most every interval/8
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

LOOP_FRACTION = 4
"""The loop calls :meth:`Watchdog.ping` at least every interval/4 (:attr:`Watchdog.loop_period_s`)."""
SEND_FRACTION = 8
""":meth:`Watchdog.ping` sends at most every interval/8.

A ping skipped by the rate limit waits for the next loop iteration, so the
longest gap between two datagrams is interval/8 + interval/4 = 3/8 of the
interval: under the half interval systemd asks for, with an eighth left for
a late frame or a slow tap.
"""


def _address(path: str) -> str | None:
    """The ``sendto`` address for ``NOTIFY_SOCKET``; None for kinds we do not speak (``vsock:``)."""
    if path.startswith("@"):
        return "\0" + path[1:]  # Linux abstract namespace: a leading NUL byte instead of "@"
    if path.startswith("/"):
        return path
    return None


def notify(message: str, *, environ: Mapping[str, str] = os.environ) -> bool:
    """Send ``message`` (e.g. ``"READY=1"``) to ``$NOTIFY_SOCKET``; True if it was sent.

    Without ``NOTIFY_SOCKET`` (not under systemd) nothing is sent and False is
    returned.  Never raises: a watchdog that cannot be reached must not stop the
    service; a failed send is logged and returns False.
    """
    path = environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = _address(path)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r is not a unix socket path; not notifying systemd", path)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode("utf-8"), address)
    except OSError as exc:
        log.warning("could not notify systemd at %s: %s", path, exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] = os.environ, *, pid: int | None = None) -> float | None:
    """The watchdog interval in seconds from ``WATCHDOG_USEC``; None when this process must not ping.

    None without ``WATCHDOG_USEC`` (or with a value that is not a positive
    integer), and when ``WATCHDOG_PID`` names another process (``pid``, default
    this one's): systemd then watches that process, and a child that inherited
    the variables must stay quiet.
    """
    watched = environ.get("WATCHDOG_PID")
    if watched:
        try:
            if int(watched) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    try:
        usec = int(raw)
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


class Watchdog:
    """READY and rate-limited WATCHDOG pings for one service's main loop; a no-op outside systemd.

    Call :meth:`ready` once when the service is up, and :meth:`ping` from the
    main loop at least every :attr:`loop_period_s`; :meth:`ping` sends at most
    every interval/:data:`SEND_FRACTION`, so calling it on every iteration of a
    fast loop does not flood the socket.  ``environ`` is read once, here;
    ``clock`` (monotonic seconds) is for tests.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._environ = {key: environ[key] for key in ("NOTIFY_SOCKET",) if key in environ}
        self._clock = clock
        interval = watchdog_interval_s(environ) if self._environ else None
        self.interval_s: float | None = interval
        """The watchdog interval; None when this process sends no WATCHDOG pings."""
        self.loop_period_s: float | None = None if interval is None else interval / LOOP_FRACTION
        """Call :meth:`ping` at least this often (None: no watchdog, any period will do)."""
        self._min_gap_s = 0.0 if interval is None else interval / SEND_FRACTION
        self._last_sent: float | None = None

    @property
    def enabled(self) -> bool:
        """Whether this process is watched (``WATCHDOG_USEC`` set for it, and a socket to ping)."""
        return self.interval_s is not None

    def loop_timeout(self, wanted_s: float) -> float:
        """``wanted_s``, cut to :attr:`loop_period_s`: a wait in the loop that leaves time to ping."""
        period = self.loop_period_s
        return wanted_s if period is None else min(wanted_s, period)

    def ready(self) -> bool:
        """Tell systemd the service is up (``READY=1``) and send the first ping; True if sent."""
        sent = notify("READY=1", environ=self._environ)
        if sent:
            log.info("told systemd the service is ready")
        if self.enabled:
            self._send_ping(self._clock())
        return sent

    def ping(self) -> bool:
        """``WATCHDOG=1``, unless one went out less than interval/8 ago; True if sent.

        Only from the loop that must not hang (see the module docstring).
        """
        if not self.enabled:
            return False
        now = self._clock()
        if self._last_sent is not None and now - self._last_sent < self._min_gap_s:
            return False
        return self._send_ping(now)

    def stopping(self) -> bool:
        """Tell systemd the service is shutting down (``STOPPING=1``); True if sent."""
        return notify("STOPPING=1", environ=self._environ)

    def _send_ping(self, now: float) -> bool:
        self._last_sent = now  # also after a failed send: retry at the normal rate, not every iteration
        return notify("WATCHDOG=1", environ=self._environ)
