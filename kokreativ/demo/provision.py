"""Acts 1–3 of the demo: a server data folder, and the coordinator's provisioning over the admin API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware.emulator import EmulatedType2Tag, serve_tag
from hardware.nfc import write_one_tag
from kokreativ.demo.ledger import StoryClock, ledger_server
from kokreativ.demo.script import PRESETS, SHOP_NAME, SITE_NAME, TOKENS_PER_HOUR, VOLUNTEERS, format_time
from protocol import PrivateKey, localtime
from provisioning.cards import IssuedCard, issue_card
from provisioning.client import ApiClient
from terminal.config import KioskConfig
from terminal.enrol import enrol_kiosk
from terminal.keystore import create_key


@dataclass(frozen=True)
class Provisioned:
    """What the coordinator set up: the cards on their stickers, the kiosk and the shop's till."""

    admin_token: str
    stickers: list[EmulatedType2Tag]
    cards: list[IssuedCard]
    config: KioskConfig  # the check-in kiosk
    shop: dict[str, Any]  # the server's answer to adding the shop
    shop_config: KioskConfig  # the shop's till


def provision(
    workdir: Path, server_dir: Path, port: int, admin_token: str, clock: StoryClock, say: Any
) -> Provisioned:
    """Acts 2 and 3: start the server, add a site, an issuer key, three cards, a kiosk and a shop; stop it.

    All of it at ``clock``'s time, the morning of the story's day: the kiosk is
    enrolled before the first check-in it will sign.
    """
    with ledger_server(server_dir, port, clock) as url:
        now_ms = clock.now_ms()
        day = localtime.local(now_ms).date().isoformat()
        say(
            f"2. {day}, {format_time(now_ms)} (all times are {localtime.ZONE_NAME}): "
            f"the ledger server runs at {url}"
        )
        with ApiClient(url, admin_token=admin_token) as admin:
            site = admin.add_site(SITE_NAME, tokens_per_hour=TOKENS_PER_HOUR)
            # The issuer key stays on the coordinator's machine; the server learns its public half.
            issuer_key = create_key(workdir / "coordinator" / "issuer.key")
            key_id = admin.add_issuer_key(issuer_key.public_key.to_b64())["key_id"]
            stickers = [
                EmulatedType2Tag(bytes([0x04, i + 1, 0x10, 0x20, 0x30, 0x40, 0x50])) for i in range(3)
            ]
            cards = [
                _issue_onto(sticker, admin, issuer_key, name, site["site_id"], now_ms // 1000)
                for name, sticker in zip(VOLUNTEERS, stickers, strict=True)
            ]
            code = admin.create_enrolment_code(site["site_id"])
            _, config = enrol_kiosk(url, code["code"], workdir / "kiosk")  # never sees the admin token
            shop = admin.add_shop(SHOP_NAME, presets=[{"label": label, "amount": n} for label, n in PRESETS])
            shop_code = admin.create_enrolment_code(shop["site_id"])["code"]
            _, shop_config = enrol_kiosk(url, shop_code, workdir / "shop")  # a shop code: a shop terminal
        locked = "all read-only" if all(sticker.read_only for sticker in stickers) else "NOT all locked"
        say(
            f"3. Provisioned site {SITE_NAME!r} ({TOKENS_PER_HOUR} tokens/h), issuer key {key_id}, "
            f"kiosk {config.kiosk_id};\n"
            f"   {len(cards)} cards with signed credentials written onto NTAG215 stickers "
            f"through nfcpy, {locked};\n"
            f"   shop {SHOP_NAME!r} (offline allowance {shop['shop']['offline_allowance']} tokens per card) "
            f"with its till {shop_config.kiosk_id}"
        )
    return Provisioned(admin_token, stickers, cards, config, shop, shop_config)


def _issue_onto(
    sticker: EmulatedType2Tag, admin: ApiClient, issuer_key: PrivateKey, name: str, site_id: str, now_s: int
) -> IssuedCard:
    """Issue a card for ``name`` (home site ``site_id``) onto ``sticker``, as ``card issue`` does."""
    with serve_tag(sticker) as emulation:
        return issue_card(
            admin,
            issuer_key,
            lambda make: write_one_tag(emulation.path, make, lock=True, timeout_s=10),
            name=name,
            site_id=site_id,
            now_s=now_s,
        )
