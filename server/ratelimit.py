"""Limits on guessing secrets: failed attempts per client and per target, counted in the ledger.

An enrolment code, the admin token or a volunteer's access secret (later: a console account's password,
issue 18) can only be guessed by trying it, so the server counts the attempts
that could have succeeded and did not.  Each kind of secret is a
:class:`Guarded` with two budgets:

* **per client**: one client (a kiosk, an account, or a network address, as
  :mod:`server.http.clients` decides) that fails ``per_client.failures`` times
  within ``per_client.window_s`` is refused with 429 ``rate_limited`` until
  that window ends;
* **per target**: all clients together may fail ``per_target.failures`` times
  within a window against one target (every enrolment code at once, since a
  wrong code names no site; the admin token; later one account), so a botnet
  spread over many addresses is bounded too.  The price: while a target's
  budget is spent, a legitimate client is refused as well (``docs/protocol.md``,
  "Guessing", has the trade-off).

Windows are fixed and opened by a key's first failure; a key's count is
forgotten when its window ends.  So no client and no target sees more than
``failures`` wrong guesses per ``window_s``, which is the figure the entropy
bound in the docs multiplies.

Counting: :meth:`Attempt.begin` charges one failure *before* the secret is
checked (so concurrent requests cannot overshoot a budget) and
:meth:`Attempt.succeeded` refunds it once the secret proved right, so a
successful request is never counted and never slowed.  A right guess during a
lockout is refused like a wrong one: the answer must not say which it was.
The first refusal of each window is logged as a WARNING naming the client key
and the target, never the secret.

The server keeps the windows in the ledger (m028, :mod:`server.storage.guesses`):
every server process on it (``server run --workers N``) counts the same failures,
so a lockout earned at one worker holds at the others, and a restart forgets
nothing.  Each check is one write transaction, and so is a success's refund: a
few milliseconds per secret offered, small against a password hash.  A limiter
without a ledger counts in its own memory (tests, tools).  At most
``max_keys`` windows are kept per kind and scope; past that the oldest window
is dropped, which a flood of addresses could use to reset some clients'
counts, but never the per-target budget's.

Example::

    limiter = GuessLimiter(now_ms=clock, storage=ctx.storage)
    attempt = limiter.attempt(ENROLMENT_CODES, client="ip:192.0.2.7")
    attempt.begin()          # RateLimited (429) while this client or all of them are locked out
    if code_is_right:
        attempt.succeeded()  # not a failed guess after all
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from server.context import Clock
from server.errors import RateLimited

if TYPE_CHECKING:
    from server.storage import Storage, Tx

log = logging.getLogger(__name__)

MINUTE_S: Final = 60
DEFAULT_MAX_KEYS: Final = 100_000
ALL: Final = "*"  # the target when a secret is one space (every enrolment code, the one admin token)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``failures`` failed attempts per ``window_s`` seconds; then refused until the window ends."""

    failures: int
    window_s: int

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window_s < 1:
            raise ValueError("a budget needs at least one failure and a window of at least one second")


@dataclass(frozen=True, slots=True)
class Guarded:
    """A kind of secret and its budgets: per client, and for all clients together per target."""

    name: str
    per_client: Budget
    per_target: Budget


# Enrolment: a kiosk being set up types a code once or twice; ten misses in 15 minutes are a guesser.
ENROLMENT_CODES: Final = Guarded(
    "enrolment_code", per_client=Budget(10, 15 * MINUTE_S), per_target=Budget(100, 15 * MINUTE_S)
)
# The admin token is 256 random bits and pasted, never typed: its per-target budget is generous,
# because spending it locks the coordinators out too, and guessing it is hopeless anyway.
ADMIN_TOKEN: Final = Guarded(
    "admin_token", per_client=Budget(10, 15 * MINUTE_S), per_target=Budget(1000, 15 * MINUTE_S)
)

# A volunteer's access secret (server.sessions) is 256 random bits too, but pasted from a QR code or a
# link by people who may mistype a copied fragment: the same per-client budget as the admin token, and
# a per-target budget (all secrets at once: a wrong secret names no volunteer) that a botnet cannot
# spend in a useful time against 2^256 and that, when spent, locks every volunteer's login out.
ACCESS_SECRETS: Final = Guarded(
    "access_secret", per_client=Budget(10, 15 * MINUTE_S), per_target=Budget(1000, 15 * MINUTE_S)
)

# A console login (server.accounts): a typed password, then a 6-digit code. Per client, a person who
# forgot which password they used; per target (one account), few enough that with the account's own
# lockout (login_lockout_failures) a guesser gets nowhere, yet a shared office address is not locked out.
CONSOLE_LOGINS: Final = Guarded(
    "console_login", per_client=Budget(20, 15 * MINUTE_S), per_target=Budget(10, 15 * MINUTE_S)
)


@dataclass(slots=True)
class _Window:
    start_ms: int
    end_ms: int
    failures: int = 0
    logged: bool = False


class _Charged(NamedTuple):
    """One failure charged: to refund it, the same window (same start) must still be open."""

    kind: str
    scope: str
    key: str
    start_ms: int


class _Session(Protocol):
    """The window tables of every kind and scope, for one check-and-charge (one transaction)."""

    def live(self, kind: str, scope: str, key: str, now_ms: int) -> _Window | None: ...

    def mark_logged(self, kind: str, scope: str, key: str) -> None: ...

    def charge(self, kind: str, scope: str, budget: Budget, key: str, now_ms: int) -> _Charged: ...

    def refund(self, charged: _Charged) -> None: ...


@dataclass(slots=True)
class _Counters:
    """The windows of one kind of secret and one scope (clients or targets), oldest first."""

    max_keys: int
    windows: dict[str, _Window] = field(default_factory=dict)

    def live(self, key: str, now_ms: int) -> _Window | None:
        """``key``'s window if it is still open; ended windows are forgotten on the way."""
        # One window length per table, so insertion order is end order: drop ended ones from the front.
        while self.windows:
            first_key = next(iter(self.windows))
            if now_ms < self.windows[first_key].end_ms:
                break
            del self.windows[first_key]
        window = self.windows.get(key)
        if window is not None and not window.start_ms <= now_ms < window.end_ms:  # a clock set back
            del self.windows[key]
            return None
        return window


class _InMemory:
    """Windows in this process's memory: for tests and tools that count without a ledger."""

    def __init__(self, max_keys: int) -> None:
        self._max_keys = max_keys
        self._tables: dict[tuple[str, str], _Counters] = {}
        self._lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[_Session]:
        with self._lock:
            yield self

    def _table(self, kind: str, scope: str) -> _Counters:
        table = self._tables.get((kind, scope))
        if table is None:
            table = self._tables[(kind, scope)] = _Counters(self._max_keys)
        return table

    def live(self, kind: str, scope: str, key: str, now_ms: int) -> _Window | None:
        return self._table(kind, scope).live(key, now_ms)

    def mark_logged(self, kind: str, scope: str, key: str) -> None:
        window = self._table(kind, scope).windows.get(key)
        if window is not None:
            window.logged = True

    def charge(self, kind: str, scope: str, budget: Budget, key: str, now_ms: int) -> _Charged:
        table = self._table(kind, scope)
        window = table.live(key, now_ms)
        if window is None:
            if len(table.windows) >= table.max_keys:
                del table.windows[next(iter(table.windows))]
            window = table.windows[key] = _Window(now_ms, now_ms + budget.window_s * 1000)
        window.failures += 1
        return _Charged(kind, scope, key, window.start_ms)

    def refund(self, charged: _Charged) -> None:
        window = self._table(charged.kind, charged.scope).windows.get(charged.key)
        if window is not None and window.start_ms == charged.start_ms:
            window.failures = max(0, window.failures - 1)


class _InLedger:
    """Windows in the ledger (m028): every server process on it counts the same failures.

    Each check-and-charge is one write transaction (``BEGIN IMMEDIATE``), so two
    workers checking the same client at once take turns and neither overshoots.
    """

    def __init__(self, storage: Storage, max_keys: int) -> None:
        self._storage = storage
        self._max_keys = max_keys

    @contextmanager
    def session(self) -> Iterator[_Session]:
        with self._storage.write() as tx:
            yield _LedgerSession(tx, self._max_keys)


class _LedgerSession:
    def __init__(self, tx: Tx, max_keys: int) -> None:
        self._tx = tx
        self._max_keys = max_keys

    def live(self, kind: str, scope: str, key: str, now_ms: int) -> _Window | None:
        self._tx.expire_guess_windows(kind, scope, now_ms)
        stored = self._tx.guess_window(kind, scope, key)
        if stored is None:
            return None
        if not stored.start_ms <= now_ms < stored.end_ms:  # a clock set back
            self._tx.drop_guess_window(kind, scope, key)
            return None
        return _Window(stored.start_ms, stored.end_ms, stored.failures, stored.logged)

    def mark_logged(self, kind: str, scope: str, key: str) -> None:
        self._tx.mark_guess_window_logged(kind, scope, key)

    def charge(self, kind: str, scope: str, budget: Budget, key: str, now_ms: int) -> _Charged:
        # live() ran first in this transaction: ended windows are gone, so a stored one is open.
        if self._tx.guess_window(kind, scope, key) is None:
            extra = self._tx.count_guess_windows(kind, scope) - self._max_keys + 1
            if extra > 0:
                self._tx.drop_oldest_guess_windows(kind, scope, extra)
        start = self._tx.charge_guess(kind, scope, key, now_ms, now_ms + budget.window_s * 1000)
        return _Charged(kind, scope, key, start)

    def refund(self, charged: _Charged) -> None:
        self._tx.refund_guess(charged.kind, charged.scope, charged.key, charged.start_ms)


class GuessLimiter:
    """Counts failed guesses per client and per target, and refuses while a budget is spent.

    ``now_ms`` is the clock (a test's fake one moves the windows).  With
    ``storage`` the windows live in the ledger (m028), shared by every server
    process on it (``server run --workers``); without, in this process's
    memory (tests, tools).  ``budgets`` replaces the default budgets of a
    :class:`Guarded` with the same name (a test's small ones, a setting later).
    Thread-safe: services run in a pool.
    """

    def __init__(
        self,
        now_ms: Clock,
        *,
        storage: Storage | None = None,
        budgets: Iterable[Guarded] = (),
        max_keys: int = DEFAULT_MAX_KEYS,
        unsafe_unlimited: bool = False,
    ) -> None:
        self._now_ms = now_ms
        self._budgets = {guarded.name: guarded for guarded in budgets}
        self._unlimited = unsafe_unlimited
        self._store: _InMemory | _InLedger = (
            _InMemory(max_keys) if storage is None else _InLedger(storage, max_keys)
        )

    @classmethod
    def unsafe_unlimited(cls, now_ms: Clock) -> GuessLimiter:
        """A limiter that never refuses: only for measuring the unthrottled guessing rate (``bench``)."""
        return cls(now_ms, unsafe_unlimited=True)

    def attempt(self, guarded: Guarded, client: str, target: str = ALL) -> Attempt:
        """One try by ``client`` at ``target`` of ``guarded``; :meth:`Attempt.begin` it before checking."""
        return Attempt(self, self._budgets.get(guarded.name, guarded), client, target)

    def _begin(self, guarded: Guarded, client: str, target: str) -> list[_Charged]:
        """Charge one failure to ``client`` and ``target``; :class:`RateLimited` if either is spent."""
        if self._unlimited:
            return []
        scopes = (
            ("client", guarded.per_client, client, f"client {client}"),
            ("target", guarded.per_target, target, "all clients"),
        )
        refusals: list[tuple[int, str]] = []
        charged: list[_Charged] = []
        with self._store.session() as counters:
            now = self._now_ms()
            for scope, budget, key, who in scopes:
                window = counters.live(guarded.name, scope, key, now)
                if window is None or window.failures < budget.failures:
                    continue
                retry_after_s = max(1, math.ceil((window.end_ms - now) / 1000))
                refusals.append((retry_after_s, who))
                if not window.logged:
                    counters.mark_logged(guarded.name, scope, key)
                    log.warning(
                        "guessing: %s locked out of %s (target %s) for %d s after %d failed attempts",
                        who,
                        guarded.name,
                        target,
                        retry_after_s,
                        window.failures,
                    )
            if not refusals:
                charged = [
                    counters.charge(guarded.name, scope, budget, key, now) for scope, budget, key, _ in scopes
                ]
        # Raised once the transaction is committed: the lockout's "logged" mark must stay.
        if refusals:
            retry_after_s, who = max(refusals)
            raise RateLimited(
                f"too many failed attempts at the {guarded.name.replace('_', ' ')} from {who}; "
                f"try again in {retry_after_s} s",
                retry_after_s=retry_after_s,
            )
        return charged

    def _refund(self, charged: list[_Charged]) -> None:
        with self._store.session() as counters:
            for one in charged:
                counters.refund(one)


class Attempt:
    """One try at a secret: :meth:`begin` before checking it, :meth:`succeeded` once it proved right.

    With a limiter over the ledger, neither may be called inside a write transaction of
    the same storage: each opens its own.
    """

    def __init__(self, limiter: GuessLimiter, guarded: Guarded, client: str, target: str) -> None:
        self.limiter = limiter
        self.guarded = guarded
        self.client = client
        self.target = target
        self._charged: list[_Charged] = []

    def begin(self) -> None:
        """Count this attempt as a failure until it succeeds; ``429 rate_limited`` while locked out."""
        self._charged = self.limiter._begin(self.guarded, self.client, self.target)

    def succeeded(self) -> None:
        """The secret was right: take the failure back (the request is not slowed or counted)."""
        charged, self._charged = self._charged, []
        if charged:
            self.limiter._refund(charged)
