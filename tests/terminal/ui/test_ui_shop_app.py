"""The till on the whole kiosk screen: controller threads, posting to the UI thread, and the real till.

The first tests run the real :class:`~terminal.service.ShopService` reader
loop and the real controller around a hand-written till (a seam we own), so
every path of the threads is driven, a slow till among them.  The last test
runs the real :class:`~terminal.shop.ShopTill` with its real outbox against
a real server process on loopback: a check-in kiosk earns the tokens, a shop
terminal enrolled with a shop's code spends and voids them by touch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests

from hardware.indicator import RecordingIndicator
from hardware.simulated import SimulatedReader
from provisioning.enrol import enrol_kiosk
from terminal.config import KioskConfig, write_config
from terminal.keystore import load_key
from terminal.outbox import Outbox
from terminal.pin import hash_pin
from terminal.service import Mode as KioskMode
from terminal.service import ShopService, open_service, open_shop_service
from terminal.shop import CardRefused, TillOutcome
from terminal.sync import SyncClient
from terminal.tap import Kiosk, Outcome
from terminal.trust import TrustStore
from terminal.ui.app import KioskScreen, kivy_post
from terminal.ui.controller import ScreenController
from terminal.ui.presenter import Presenter
from terminal.ui.shop_presenter import ShopPresenter
from terminal.ui.view import ScreenView
from tests.conftest import EnrolledKiosk, ServerProcess, clock_from_now
from tests.terminal.ui.shop_helpers import CARD, FakeStaff, FakeTill, redeemed

UID = bytes.fromhex("04a1b2c3d4e5f6")


@dataclasses.dataclass
class FakeShop:
    screen: KioskScreen
    view: ScreenView
    till: FakeTill
    reader: SimulatedReader
    controller: ScreenController


@pytest.fixture
def fake_shop(
    config: KioskConfig, tmp_path: Path, app_screen: Any, frames: Any, frames_until: Any
) -> FakeShop:
    config_path = tmp_path / "kiosk.toml"
    write_config(config_path, dataclasses.replace(config, coordinator_pin=hash_pin("2580")))
    till = FakeTill()
    reader = SimulatedReader()

    def not_a_check_in_kiosk(_config: KioskConfig) -> Any:
        raise AssertionError("a shop terminal opened the check-in core")

    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=not_a_check_in_kiosk,
        open_shop_runtime=lambda _config: contextlib.nullcontext(
            ShopService(till=till, reader=reader, sync=None, poll_s=0.05)  # type: ignore[arg-type]
        ),
        mode_of=lambda _config: KioskMode.SHOP,
        status_interval_s=0.05,
    )
    screen = app_screen(controller)
    view = screen.view
    frames_until(lambda: view.screen is not None and view.screen.name == "shop-idle")
    frames(3)  # laid out: the keys are where the touches go
    return FakeShop(screen, view, till, reader, controller)


def _type(shop: FakeShop, tap: Any, digits: str) -> None:
    for digit in digits:
        tap(shop.view.key_button(digit))


def test_a_shop_terminal_gets_the_till_and_pays_through_the_threads(
    fake_shop: FakeShop, tap: Any, frames: Any, frames_until: Any
) -> None:
    shop, view = fake_shop, fake_shop.view
    assert isinstance(shop.screen.presenter, ShopPresenter)
    frames_until(lambda: view.screen.status is not None and view.screen.status.reader == "Leser bereit")
    _type(shop, tap, "5")
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-card")
    shop.reader.present_card(UID, None)  # the reader loop asks the till, then posts the card
    frames_until(lambda: view.screen.name == "shop-confirm")
    assert view.screen.lines == ("Guthaben: 12 Token",)
    frames(3)
    tap(view.action_button("pay"))
    frames_until(lambda: view.screen.name == "shop-paid")
    assert view.rendered_texts()[:2] == ["Bezahlt: 5 Token", "Neues Guthaben: 7 Token"]
    assert shop.till.redeemed == [(CARD.card_id, 5)]
    assert shop.till.signals == []  # the till plays its own patterns; the screen adds none


def test_a_staffed_shop_asks_the_pin_by_touch_then_pays_and_keeps_the_cashier_out_of_voids(
    fake_shop: FakeShop, tap: Any, frames: Any, frames_until: Any
) -> None:
    shop, view = fake_shop, fake_shop.view
    staff = FakeStaff({"135790": "cashier"})
    shop.till.staff = staff
    presenter = shop.screen.presenter
    assert isinstance(presenter, ShopPresenter)
    frames_until(lambda: presenter.staff_required)  # the controller's status loop read the till's staff
    _type(shop, tap, "5")
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-staff-pin")
    frames(3)
    _type(shop, tap, "135790")
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-card")  # checked on a worker, then the sale goes on
    assert staff.tried == ["135790"]
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-confirm")
    frames(3)
    tap(view.action_button("pay"))
    frames_until(lambda: view.screen.name == "shop-paid")
    assert shop.till.redeemed == [(CARD.card_id, 5)]
    presenter.press_action("ok")
    presenter.coordinator_card()
    frames_until(lambda: view.screen.name == "shop-menu")
    presenter.press_action("recent")
    frames_until(lambda: view.screen.name == "shop-manager-only")


def test_the_screen_keeps_working_while_the_till_is_slow_and_pays_once(
    fake_shop: FakeShop, tap: Any, frames: Any, frames_until: Any
) -> None:
    shop, view = fake_shop, fake_shop.view
    shop.till.gate = threading.Event()
    shop.screen.presenter.press_action("preset:0")
    frames_until(lambda: view.screen.name == "shop-card")
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-confirm")
    frames(3)
    pay = view.action_button("pay")
    tap(pay)
    frames_until(lambda: view.screen.name == "shop-paying")
    # The till waits on the network; frames go on, the spinner turns, more presses and cards change nothing.
    busy = view.busy_indicator()
    assert busy is not None and busy.active
    angle = busy.angle
    tap(pay)
    shop.screen.presenter.press_action("pay")
    shop.reader.present_card(UID, None)
    frames_until(lambda: shop.till.presented == 2 and busy.angle != angle)
    frames(5)
    assert view.screen.name == "shop-paying" and shop.till.redeemed == []
    shop.till.gate.set()
    frames_until(lambda: view.screen.name == "shop-paid")
    assert shop.till.redeemed == [(CARD.card_id, 2)]


def test_a_till_that_fails_shows_the_amber_error_and_a_refused_card_the_red_screen(
    fake_shop: FakeShop, frames_until: Any
) -> None:
    shop, view, presenter = fake_shop, fake_shop.view, fake_shop.screen.presenter
    shop.till.next_card = CardRefused("card_blocked")
    presenter.press_action("preset:1")
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-denied-blocked")
    frames_until(lambda: view.screen.name == "shop-idle", timeout_s=30)

    shop.till.next_card = CARD
    shop.till.fail_with = OSError(28, "No space left on device")
    presenter.press_action("preset:1")
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-confirm")
    presenter.press_action("pay")
    frames_until(lambda: view.screen.name == "shop-error")
    assert shop.till.redeemed == []


def test_declined_results_come_through_as_the_till_gives_them(fake_shop: FakeShop, frames_until: Any) -> None:
    shop, view, presenter = fake_shop, fake_shop.view, fake_shop.screen.presenter
    shop.till.next_redeem = redeemed(TillOutcome.DECLINED, 6, reason="insufficient_balance", balance=4)
    presenter.press_action("preset:2")
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-confirm")
    presenter.press_action("pay")
    frames_until(lambda: view.screen.name == "shop-declined-insufficient-balance")
    assert view.screen.title == "Guthaben reicht nicht (4 Token)"


def test_a_coordinator_card_opens_the_menu_and_voids_go_through_the_threads(
    fake_shop: FakeShop, tap: Any, frames: Any, frames_until: Any
) -> None:
    shop, view = fake_shop, fake_shop.view
    shop.till.next_card = dataclasses.replace(CARD, coordinator=True)
    shop.reader.present_card(UID, None)
    frames_until(lambda: view.screen.name == "shop-menu")
    frames(3)
    tap(view.action_button("recent"))
    frames_until(lambda: view.screen.name == "shop-recent" and not view.screen.busy)
    frames(3)
    sale = shop.till.sales[0]
    tap(view.row_button(f"void:{sale.redemption_id}"))
    frames_until(lambda: view.screen.name == "shop-void")
    frames(3)
    tap(view.action_button("void"))
    frames_until(lambda: view.screen.name == "shop-voided")
    assert shop.till.voided == [sale.redemption_id]
    frames(3)
    tap(view.action_button("recent"))
    frames_until(lambda: view.screen.name == "shop-recent" and not view.screen.busy)

    shop.till.fail_with = OSError(5, "I/O error")  # the outbox cannot be read: an error, not an empty list
    tap(view.action_button("back"))
    frames_until(lambda: view.screen.name == "shop-menu")
    frames(3)
    tap(view.action_button("recent"))
    frames_until(lambda: view.screen.name == "shop-error")


def test_the_long_press_and_the_pin_open_the_shop_menu(
    fake_shop: FakeShop, tap: Any, touch_down: Any, frames: Any, frames_until: Any
) -> None:
    view = fake_shop.view
    title = next(label for label in view.labels() if label.role == "title")
    touch = touch_down(title)
    frames_until(lambda: view.screen.name == "pin_entry")
    touch.touch_up()
    frames(3)
    for digit in "2580":
        tap(view.key_button(digit))
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-menu")


def test_a_shop_terminal_without_a_till_to_run_refuses_to_start(config: KioskConfig, tmp_path: Path) -> None:
    from terminal.errors import ModeError

    config_path = tmp_path / "kiosk.toml"
    write_config(config_path, config)
    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=partial(open_service, stdin=io.StringIO(), stdout=io.StringIO(), reader="sim"),
        mode_of=lambda _config: KioskMode.SHOP,
    )
    assert controller.mode is KioskMode.SHOP
    with pytest.raises(ModeError, match="shop terminal"):
        controller.start()
    controller.close()


# -- the real till, outbox and server ---------------------------------------------------------------------


def _earn(enrolled: EnrolledKiosk, hours: float) -> None:
    """The first card works ``hours`` at the check-in kiosk, which syncs: the server pays it."""
    config = enrolled.config
    clock = clock_from_now()  # after the kiosk's enrolment, as on a real kiosk
    with Outbox(config.outbox_path) as outbox, SyncClient(config, outbox) as client:
        kiosk = Kiosk(
            config=config,
            key=load_key(config.key_path),
            outbox=outbox,
            clock=clock,
            indicator=RecordingIndicator(),
            trust=TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id),
        )
        card = enrolled.card_ids[0]
        assert kiosk.handle_tap(enrolled.issuer.tap(card)).kind is Outcome.CHECK_IN
        clock.advance(hours * 3600)
        assert kiosk.handle_tap(enrolled.issuer.tap(card)).kind is Outcome.CHECK_OUT
        result = client.sync_once()
        assert result.ok and result.pending == 0, result


def _server_balance(server: ServerProcess, card_id: str) -> int:
    response = requests.get(
        f"{server.url}/v1/cards/{card_id}/balance",
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def test_the_real_till_pays_and_voids_by_touch_against_the_real_server(
    server_process: ServerProcess,
    enrolled_kiosk: EnrolledKiosk,
    tmp_path: Path,
    app_screen: Any,
    tap: Any,
    touch_down: Any,
    frames: Any,
    frames_until: Any,
) -> None:
    _earn(enrolled_kiosk, 2)  # 20 tokens
    card = enrolled_kiosk.card_ids[0]
    assert _server_balance(server_process, card) == 20
    with server_process.admin() as admin:
        shop = admin.add_shop("Laden am Markt", presets=[{"label": "Kaffee", "amount": 2}])
        code = admin.create_enrolment_code(shop["site_id"])["code"]
    config_path, config = enrol_kiosk(server_process.url, code, tmp_path / "shop")
    write_config(config_path, dataclasses.replace(config, coordinator_pin=hash_pin("2580")))
    options = {"stdin": io.StringIO(), "stdout": io.StringIO(), "reader": "sim", "indicator": "console"}
    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=partial(open_service, **options),
        open_shop_runtime=partial(open_shop_service, **options),
        status_interval_s=0.05,
    )
    screen = app_screen(controller)
    view = screen.view
    assert controller.mode is KioskMode.SHOP and isinstance(screen.presenter, ShopPresenter)
    frames_until(lambda: view.screen.name == "shop-idle" and view.screen.status.online is True)
    frames(3)
    assert [c.label for c in view.screen.choices] == ["Kaffee\n2 Token"]
    service = controller.service
    assert isinstance(service, ShopService) and isinstance(service.reader, SimulatedReader)

    for digit in "5":
        tap(view.key_button(digit))
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-card")
    issued = enrolled_kiosk.issuer.tap(card)
    service.reader.present_card(issued.uid, issued.ndef)
    frames_until(lambda: view.screen.name == "shop-confirm", timeout_s=30)
    assert view.screen.lines == ("Guthaben: 20 Token",)  # fresh from the server: no "Stand"
    frames(3)
    tap(view.action_button("pay"))
    frames_until(lambda: view.screen.name == "shop-paid", timeout_s=30)
    assert view.screen.lines == ("Neues Guthaben: 15 Token",)
    assert _server_balance(server_process, card) == 15

    touch = touch_down(next(label for label in view.labels() if label.role == "title"))
    frames_until(lambda: view.screen.name == "shop-idle", timeout_s=30)  # the result gives way first
    touch.touch_up()
    frames(3)
    touch = touch_down(next(label for label in view.labels() if label.role == "title"))
    frames_until(lambda: view.screen.name == "pin_entry")
    touch.touch_up()
    frames(3)
    for digit in "2580":
        tap(view.key_button(digit))
    tap(view.action_button("ok"))
    frames_until(lambda: view.screen.name == "shop-menu", timeout_s=30)
    frames(3)
    tap(view.action_button("recent"))
    frames_until(lambda: view.screen.name == "shop-recent" and not view.screen.busy)
    frames(3)
    (row,) = view.screen.rows
    assert row[0].endswith("5 Token") and row[1] == "bezahlt"
    (void,) = [a for a in view.screen.row_actions if a is not None]
    tap(view.row_button(void.action_id))
    frames_until(lambda: view.screen.name == "shop-void")
    frames(3)
    tap(view.action_button("void"))
    frames_until(lambda: view.screen.name in ("shop-voided", "shop-void-queued"), timeout_s=30)
    frames_until(lambda: _server_balance(server_process, card) == 20, timeout_s=30)


def test_a_kiosk_that_enrols_on_the_screen_as_a_shop_gets_the_till(
    server_process: ServerProcess, tmp_path: Path, app_screen: Any, tap: Any, frames: Any, frames_until: Any
) -> None:
    from terminal.ui.controller import enrol_against

    with server_process.admin() as admin:
        shop = admin.add_shop("Laden am Markt")
        code = admin.create_enrolment_code(shop["site_id"])["code"]
    config_path = tmp_path / "kiosk" / "kiosk.toml"
    options = {"stdin": io.StringIO(), "stdout": io.StringIO(), "reader": "sim", "indicator": "console"}
    controller = ScreenController(
        config_path=config_path,
        post=kivy_post,
        open_runtime=partial(open_service, **options),
        open_shop_runtime=partial(open_shop_service, **options),
        enrol=enrol_against(server_process.url, config_path.parent, reader="sim", indicator="console"),
    )
    screen = app_screen(controller, server_url=server_process.url)
    view = screen.view
    assert isinstance(screen.presenter, Presenter)
    frames_until(lambda: view.screen is not None and view.screen.name == "enrol_code")
    frames(3)
    for digit in code.replace("-", ""):
        tap(view.key_button(digit))
    tap(view.action_button("submit"))
    frames_until(lambda: view.screen.name == "enrol_done", timeout_s=30)
    assert controller.mode is KioskMode.SHOP
    frames(3)
    tap(view.action_button("continue"))
    frames_until(lambda: view.screen.name == "pin_set")
    frames(3)
    tap(view.action_button("skip"))
    frames_until(lambda: view.screen.name == "shop-idle")
    assert isinstance(screen.presenter, ShopPresenter)
