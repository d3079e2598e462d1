"""``kokreativ card inspect`` and ``kokreativ doctor``: the two questions asked at a kiosk with a problem.

"What is wrong with this card?" and "why does the reader not work?" cut across
packages (reader, trust list, kiosk config, admin API), so their glue lives
here; the work is in :mod:`provisioning.cards` and :mod:`hardware.doctor`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from protocol.clock import now_ms
from protocol.trust import TrustList
from terminal.config import DEFAULT_CONFIG_PATH
from terminal.readeropts import add_device, refuse_reader_path

DEFAULT_CONFIG = str(DEFAULT_CONFIG_PATH)  # one place: terminal.config


def _trust_from_kiosk(config_path: Path) -> tuple[TrustList | None, bytes]:
    from terminal.config import load_config
    from terminal.outbox import Outbox
    from terminal.trust import TrustStore

    config = load_config(config_path)
    with Outbox(config.outbox_path, create=False) as outbox:
        store = TrustStore(outbox, server_key=config.server_public_key, kiosk_id=config.kiosk_id)
        return store.current(), config.uid_pseudonym_key


def _inspect(args: argparse.Namespace) -> int:
    from hardware.nfc import read_one_tag
    from provisioning.cards import inspect_tag, trust_from_server
    from provisioning.client import ApiClient

    trust: TrustList | None = None
    pseudonym_key: bytes | None = None
    source = "none"
    if args.config:
        trust, pseudonym_key = _trust_from_kiosk(Path(args.config))
        source = f"kiosk {args.config}"
    elif args.server:
        token = os.environ.get("KOKREATIV_ADMIN_TOKEN") or args.token
        with ApiClient(args.server, admin_token=token) as client:
            trust = trust_from_server(client, now_ms=now_ms())
        source = f"server {args.server}"
    reading = read_one_tag(args.device, timeout_s=args.timeout)
    result = inspect_tag(
        reading.uid,
        reading.ndef,
        tag_type=reading.tag_type,
        trust=trust,
        pseudonym_key=pseudonym_key,
        now_s=int(time.time()),
        trust_source=source,
    )
    print(json.dumps(result, sort_keys=True, ensure_ascii=False))
    return 0


def configure_card(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="card_command", metavar="COMMAND", required=True)
    inspect = commands.add_parser(
        "inspect",
        help="wait for one card and print what a kiosk would make of it, as one JSON object",
        description=(
            "Wait for one card, print one JSON object and exit 0: uid, tag_type, credential "
            "(valid, none, or the reason code a kiosk would deny it with), card_id for a genuine "
            "credential, issuer_key_id, validity, and the raw NDEF as ndef_hex. Judged against a "
            "kiosk's trust list (--config), the server's current keys and blocks (--server), or "
            "nothing (every credential then fails closed with unknown_issuer)."
        ),
        epilog="example:\n  kokreativ card inspect --device usb --config /var/lib/kokreativ/kiosk.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_device(inspect, required=True)
    refuse_reader_path(inspect)
    source = inspect.add_mutually_exclusive_group()
    source.add_argument("--config", help=f"a kiosk config, e.g. {DEFAULT_CONFIG}: use its trust list")
    source.add_argument("--server", help="ledger URL: use its issuer keys and blocks (needs the admin token)")
    inspect.add_argument("--token", help="admin token for --server (env KOKREATIV_ADMIN_TOKEN)")
    inspect.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a card")
    inspect.set_defaults(func=_inspect)


def _try_open(path: str) -> str | None:
    """None if nfcpy opens a reader at ``path``, else nfcpy's complaint in one line."""
    import nfc

    try:
        clf = nfc.ContactlessFrontend(path)
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    clf.close()
    return None


def _doctor(args: argparse.Namespace) -> int:
    from hardware import doctor

    device = args.device
    if device is None and args.config:
        from terminal.config import load_config

        config = load_config(Path(args.config))
        device = config.device if config.reader == "nfc" else None
    findings = doctor.diagnose(device, doctor.SystemView(Path(args.root)), try_open=_try_open)
    if args.json:
        print(doctor.to_json(findings))
    else:
        text = doctor.render(findings)
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return doctor.exit_code(findings)


def configure_doctor(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Find the NFC reader and say how to fix what stops it: permissions (udev rule), the serial "
        "console on the UART, the kernel's pn533 modules holding a USB reader. Exit 0 if nothing failed."
    )
    parser.epilog = "example:\n  kokreativ doctor --device tty:AMA0:pn532"
    which = parser.add_mutually_exclusive_group()
    add_device(
        which, help_text="the reader's nfcpy device to check (default: look for any reader)", checked=False
    )
    which.add_argument("--config", help="take the device from this kiosk config")
    refuse_reader_path(parser)
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument("--root", default="/", help=argparse.SUPPRESS)  # tests point it at a fake tree
    parser.set_defaults(func=_doctor)
