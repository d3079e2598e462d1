"""``kokreativ demo --serve``: the demo's economy stays up, with accounts to click through the console.

After six months of other sites and shops (:mod:`kokreativ.demo.history`, for
the public page ``/``), the demo's day (:func:`kokreativ.demo.day.play_day`), a second site's
(:mod:`kokreativ.demo.neighbour`), a shift in the four-eyes queue
(:mod:`kokreativ.demo.foureyes`) and an open hours confirmation, the server
keeps running on loopback over the same data folder, its story clock gone live
(it follows the real clock from here, as in the window act), and four people get console accounts through
:mod:`server.accounts`: an admin of the whole economy, a coordinator of the
demo's first site, the shop's owner and an auditor.  The console asks for a
second factor, so the terminal prints each account's TOTP secret (as an
``otpauth://`` URI an authenticator app takes) and its current six-digit code,
refreshed every 30 s: a newcomer can log in without a phone.

Nothing here is for production: the passwords are printed, and the server
listens on 127.0.0.1 only.
"""

from __future__ import annotations

import secrets
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from kokreativ.demo.day import DayOutcome, play_day
from kokreativ.demo.foureyes import four_eyes_shift
from kokreativ.demo.history import HistoryFailed
from kokreativ.demo.neighbour import SECOND_SITE, SecondSite, check_in_now, second_site
from kokreativ.demo.prior import prior_engagement
from kokreativ.demo.script import SHOP_NAME, SITE_NAME, StoryDay
from protocol import localtime

if TYPE_CHECKING:
    from server.accounts.teams import ScopeKind

DEFAULT_PORT: Final = 8765
ORGANISATION: Final = "Stadtteilkultur Hannover e. V."
STEP_S: Final = 30  # a TOTP code's time step


class DemoFailed(Exception):
    """The demo's day did not check out, so there is nothing trustworthy to serve."""


class PortBusy(Exception):
    """Something listens on the demo's port already."""


@dataclass(frozen=True)
class DemoAccount:
    """A console account of the demo: who it is, and everything needed to log in as them."""

    key: str  # a short word for the codes line
    person_id: str
    role_de: str
    role_en: str
    email: str
    password: str
    totp_secret: str

    def otpauth_uri(self) -> str:
        """The secret as an authenticator app's QR code would carry it."""
        from server.accounts import provisioning_uri

        return provisioning_uri(self.totp_secret, self.email)

    def code(self, at_s: float | None = None) -> str:
        """The six-digit TOTP code at ``at_s`` (default: now)."""
        import pyotp

        return str(pyotp.TOTP(self.totp_secret).at(time.time() if at_s is None else at_s))


@dataclass(frozen=True)
class DemoConsole:
    """The running demo: the console's base URL and its accounts."""

    url: str
    accounts: tuple[DemoAccount, ...]
    site_ids: tuple[str, ...]
    shop_id: str
    confirmation_path: str  # an open hours confirmation link (/bestaetigen/…) for the public page

    def account(self, key: str) -> DemoAccount:
        """The account called ``key`` (``admin``, ``koordination``, ``laden``, ``pruefung``)."""
        return next(account for account in self.accounts if account.key == key)


def check_port(port: int) -> None:
    """:class:`PortBusy` if 127.0.0.1:``port`` cannot be bound now (before the day is told, not after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortBusy(f"127.0.0.1:{port}: {error.strerror}") from error


@contextmanager
def demo_console(workdir: Path, out: TextIO, *, port: int = 0, history: bool = True) -> Iterator[DemoConsole]:
    """Tell the demo's day in ``workdir``, then serve it on 127.0.0.1:``port`` (0: any) for the block.

    ``history``: the six months before the day first (:mod:`kokreativ.demo.history`), for the
    public page; a few seconds that a test of the console alone may skip.
    """
    from server.app import create_app
    from server.datadir import open_data_dir
    from server.runner import serve_in_thread

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    outcome = play_day(workdir, out, history=history)
    if not outcome.ok:
        raise DemoFailed("the demo's day did not check out; see its output above")
    clock = outcome.clock
    with (
        open_data_dir(outcome.server_dir, now_ms=clock.now_ms) as ctx,
        serve_in_thread(create_app(ctx), port=port) as url,
    ):
        second = second_site(workdir, url, outcome.setup.admin_token, outcome.day.next_day(), clock, say)
        clock.go_live()  # from here the server follows the real clock: TOTP codes and sessions need it
        checked_in = check_in_now(second, clock.now_ms())
        say(f"10. Today: Eli checks in at {SECOND_SITE!r} ({'synced' if checked_in else 'NOT synced'})")
        setup, yesterday = outcome.setup, outcome.day.next_day()
        held = four_eyes_shift(
            workdir, url, setup.admin_token, setup.cards[0].card_id, setup.config.site_id, yesterday
        )
        waits = "waits for a second signature" if held.get("pending") else f"answer {held}"
        say(f"11. Alex's 9 hours yesterday at a street festival, added by hand: {waits} (four eyes)")
        cards = [card.card_id for card in setup.cards[:2]]
        prior_engagement(workdir, url, setup.admin_token, cards, setup.config.site_id, outcome.day.date)
        say("12. Alex's and Bo's two years before the ledger, for the Ehrenamtskarte (prior engagement)")
        accounts = add_accounts(ctx, outcome, second)
        shop_directory(ctx, _shop_id(outcome), accounts)
        link = confirmation_list(ctx, outcome.day.next_day(), second, accounts[0].person_id)
        sites = (outcome.setup.config.site_id, second.site_id)
        yield DemoConsole(url, accounts, sites, _shop_id(outcome), link)


def _shop_id(outcome: DayOutcome) -> str:
    return str(outcome.setup.shop["site_id"])


def add_accounts(ctx: Any, outcome: DayOutcome, second: SecondSite) -> tuple[DemoAccount, ...]:
    """An organisation over both sites, and the four demo people, each in a team of their role.

    The roles are the console's presets (:data:`server.web.console.teams.PRESETS`),
    so the demo shows what an operator would set up.
    """
    from server import accounts
    from server.web.console.teams import PRESETS

    first_site = outcome.setup.config.site_id
    accounts.add_organisation(ctx, ORGANISATION, [first_site, second.site_id])
    people: tuple[tuple[str, str, str, str, str, tuple[ScopeKind, tuple[str, ...]]], ...] = (
        ("admin", "Ada Admin", "Admin (ganze Wirtschaft)", "admin (whole economy)", "admin", ("economy", ())),
        (
            "koordination",
            "Kim Koordination",
            f"Koordination {SITE_NAME}",
            f"coordinator of {SITE_NAME}",
            "coordination",
            ("sites", (first_site,)),
        ),
        (
            "laden",
            "Lou Laden",
            f"Laden {SHOP_NAME}",
            f"owner of the shop {SHOP_NAME}",
            "shop",
            ("shops", (_shop_id(outcome),)),
        ),
        ("pruefung", "Pat Prüfung", "Prüfung (nur lesen)", "auditor (read-only)", "audit", ("economy", ())),
    )
    made = []
    for key, name, role_de, role_en, preset, (kind, ids) in people:
        email = f"{key}@example.org"
        password = f"demo-{secrets.token_hex(4)}"
        person_id = accounts.add_person(ctx, email=email, display_name=name, password=password)
        secret = accounts.new_totp_secret()
        accounts.set_totp_secret(ctx, person_id, secret)
        team = accounts.add_team(
            ctx,
            name=f"Demo: {role_de}",
            permissions=[p.value for p in PRESETS[preset].permissions],
            scope=accounts.TeamScope(kind, tuple(ids)),
        )
        accounts.add_member(ctx, team, person_id)
        made.append(DemoAccount(key, person_id, role_de, role_en, email, password, secret))
    return tuple(made)


def shop_directory(ctx: Any, shop_id: str, accounts: tuple[DemoAccount, ...]) -> None:
    """Two shops on the public list ``/laeden``: the demo's shop, by its owner, and a bakery.

    The bakery takes part but has no till yet: it exists so the directory and its
    map show more than one district.
    """
    from server import shopprofiles, shops
    from server.accounts.teams import principal_of_person

    by_key = {account.key: account for account in accounts}
    with ctx.storage.read() as tx:
        owner, admin = (
            principal_of_person(tx, by_key[key].person_id, by_key[key].email) for key in ("laden", "admin")
        )
    bakery = str(shops.create_shop(ctx, {"name": "Bäckerei am Lister Platz"})["site_id"])
    linden = {"street": "Limmerstraße 42", "postcode": "30451", "district": "linden-limmer"}
    linden |= {"offer": "Gemüse, Brot, Kaffee und Secondhand-Bücher", "hours": "Mo–Fr 9–18, Sa 9–14"}
    list_ = {"street": "Lister Meile 3", "postcode": "30161", "district": "vahrenwald-list"}
    list_ |= {"offer": "Brot, Brötchen und Kuchen vom Vortag", "hours": "Mo–Sa 7–13"}
    shopprofiles.set_profile(ctx, owner, shop_id, linden)
    shopprofiles.set_profile(ctx, admin, bakery, list_)


def confirmation_list(ctx: Any, day: StoryDay, second: SecondSite, by_person: str) -> str:
    """Dana's and Eli's evening at a street party, where no kiosk stood, waiting for the organiser to confirm.

    Returns the single-use link's path (:mod:`server.hoursconfirm`), which the
    screenshots open as the public confirmation page.
    """
    from server import hoursconfirm

    lines = [
        {
            "volunteer_id": second.volunteer_ids[0],
            "day": day.date.isoformat(),
            "start": "17:00",
            "end": "20:00",
        },
        {
            "volunteer_id": second.volunteer_ids[1],
            "day": day.date.isoformat(),
            "start": "17:30",
            "end": "21:00",
        },
    ]
    made = hoursconfirm.create_list(
        ctx,
        site_id=second.site_id,
        created_by=by_person,
        contact_label="Stadtteilfest List, Frau Yilmaz",
        lines=lines,
        volunteer_sites=None,
    )
    return str(made["path"])


def banner(demo: DemoConsole) -> str:
    """What the terminal shows once the console is up: the URL and the accounts, German first."""
    lines = [
        "",
        "Die Konsole läuft / The console is running:",
        f"  {demo.url}/console/login",
        "",
        "Anmelden: E-Mail und Passwort, dann der 6-stellige Code (unten alle 30 s neu).",
        "Log in: e-mail and password, then the 6-digit code (printed anew below every 30 s).",
        "Ein Code gilt nur einmal / a code works once. Den Schlüssel (otpauth://) nimmt auch eine",
        "Authenticator-App / an authenticator app takes the secret (otpauth://) too.",
        "",
    ]
    for account in demo.accounts:
        lines += [
            f"  {account.role_de} / {account.role_en}",
            f"    E-Mail:            {account.email}",
            f"    Passwort/password: {account.password}",
            f"    TOTP:              {account.otpauth_uri()}",
        ]
    lines += [
        "",
        f"Orte / sites: {SITE_NAME}, {SECOND_SITE}; Laden / shop: {SHOP_NAME}.",
        f"Öffentliche Seite / public page: {demo.url}/ (die Monate davor / the months before).",
        "Chris' 50 Token stammen aus Akt 8 (die Fälschung) / Chris's 50 tokens are act 8's forgery.",
        "Strg-C beendet die Demo / Ctrl-C stops the demo.",
        "",
    ]
    return "\n".join(lines)


def codes_line(accounts: tuple[DemoAccount, ...], now_s: float) -> str:
    """Each account's code for the time step of ``now_s``, and until when it holds."""
    step_end_ms = (int(now_s) // STEP_S + 1) * STEP_S * 1000
    until = f"{localtime.local(step_end_ms):%H:%M:%S} {localtime.ZONE_NAME}"
    codes = "  ".join(f"{account.key} {account.code(now_s)}" for account in accounts)
    return f"Codes (gültig bis / valid until {until}): {codes}"


def stop_on_sigterm() -> None:
    """From now on SIGTERM (``kill``) stops the demo as Ctrl-C does: for the CLI's process only."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def serve_demo(workdir: Path, out: TextIO, *, port: int = DEFAULT_PORT) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 when stopped cleanly, 1 if the day failed or the port is busy."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    try:
        check_port(port)
        with demo_console(workdir, out, port=port) as demo:
            say(banner(demo))
            while True:
                now = time.time()
                say(codes_line(demo.accounts, now))
                time.sleep(STEP_S - now % STEP_S + 0.01)  # just into the next step
    except PortBusy as error:
        say(
            f"Der Port ist belegt / the port is in use ({error}): --port wählt einen anderen / picks another."
        )
        return 1
    except (DemoFailed, HistoryFailed) as error:
        say(f"Demo FAILED: {error}")
        return 1
    except KeyboardInterrupt:
        say("\nDemo beendet / demo stopped.")
    return 0
