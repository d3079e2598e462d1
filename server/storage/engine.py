"""What a ledger engine is: the transactions services open, and the queries composed in them.

:class:`ReadTx` and :class:`Tx` are the per-domain query classes composed over one
connection.  A service that takes a :class:`ReadTx` can only read, and mypy holds
it to that; :meth:`Storage.read` hands out nothing else.  :class:`Storage` is
the interface; :class:`~server.storage.sqlite.SqliteStorage` and
:class:`~server.storage.postgres.PostgresStorage` are the engines.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import ClassVar, Self

from server.storage.access import AccessRead, AccessWrite
from server.storage.accounts import AccountsRead, AccountsWrite
from server.storage.alerts import AlertsRead, AlertsWrite
from server.storage.cards import CardsRead, CardsWrite
from server.storage.certificates import CertificatesRead, CertificatesWrite
from server.storage.coordination import CoordinationRead, CoordinationWrite
from server.storage.events import EventsRead, EventsWrite
from server.storage.fleet import FleetRead, FleetWrite
from server.storage.foureyes import FourEyesRead, FourEyesWrite
from server.storage.guesses import GuessesRead, GuessesWrite
from server.storage.issuing import IssuingRead, IssuingWrite
from server.storage.log import LogRead, LogWrite
from server.storage.openings import OpeningsRead, OpeningsWrite
from server.storage.people import PeopleRead, PeopleWrite
from server.storage.quotas import QuotasRead
from server.storage.redemptions import RedemptionsRead, RedemptionsWrite
from server.storage.shifts import ShiftsRead, ShiftsWrite
from server.storage.shopprofiles import ShopProfilesRead, ShopProfilesWrite
from server.storage.tillstaff import TillStaffRead, TillStaffWrite
from server.storage.views import ViewsRead


class ReadTx(
    CoordinationRead,
    CardsRead,
    PeopleRead,
    ShiftsRead,
    RedemptionsRead,
    LogRead,
    OpeningsRead,
    FleetRead,
    EventsRead,
    QuotasRead,
    AccessRead,
    AccountsRead,
    FourEyesRead,
    IssuingRead,
    ViewsRead,
    CertificatesRead,
    ShopProfilesRead,
    TillStaffRead,
    AlertsRead,
    GuessesRead,
):
    """Every query of a transaction, and nothing that writes.  What :meth:`Storage.read` yields."""


class Tx(
    CoordinationWrite,
    CardsWrite,
    PeopleWrite,
    ShiftsWrite,
    RedemptionsWrite,
    LogWrite,
    OpeningsWrite,
    FleetWrite,
    EventsWrite,
    AccessWrite,
    AccountsWrite,
    FourEyesWrite,
    IssuingWrite,
    CertificatesWrite,
    ShopProfilesWrite,
    TillStaffWrite,
    AlertsWrite,
    GuessesWrite,
    ReadTx,
):
    """Every query and every write of a transaction.  What :meth:`Storage.write` yields.

    A :class:`ReadTx` too, so a write transaction can be handed to any reader.
    """


class Storage(ABC):
    """One ledger, on one engine.  Thread-safe; every transaction is all or nothing.

    Example::

        storage = open_storage("ledger.db")   # or "postgresql://…"; applies pending migrations
        with storage.write() as tx:
            tx.set_setting("k", "v")          # committed when the block ends, rolled back on error
        storage.close()

    Writers are serialised on both engines (SQLite's ``BEGIN IMMEDIATE``, one
    PostgreSQL advisory lock), so a service's read-check-write inside one
    :meth:`write` block is never interleaved with another's, in this process or
    any other worker sharing the database: no double spend, no duplicate ingest,
    one log append at a time.
    """

    engine: ClassVar[str]
    """``sqlite`` or ``postgresql``."""

    @property
    @abstractmethod
    def database(self) -> str:
        """Where the ledger is, for people: a file's path, or the URL without its password."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Tx]:
        """A write transaction: committed on success, rolled back on any error.

        A disk or database that cannot take the write raises
        :class:`~server.errors.StorageUnavailable` (503, ``storage_full`` or
        ``storage_unavailable``) once the transaction is rolled back: nothing was
        written, and the same request succeeds when the engine is back.
        """

    @abstractmethod
    def read(self) -> AbstractContextManager[ReadTx]:
        """A read transaction: one consistent snapshot for several queries."""

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction with its record; return their names."""

    @abstractmethod
    def scrub(self, *, vacuum: bool) -> None:
        """Leave no old copy of an erased row behind in the engine's files, as far as the engine allows."""

    @abstractmethod
    def traced(self, callback: Callable[[str], object]) -> AbstractContextManager[None]:
        """Call ``callback`` with every SQL statement this storage runs until the block ends (for tests)."""

    @abstractmethod
    def close(self) -> None:
        """Close every connection; the storage is not used again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
