"""``kokreativ provision …``: what coordinators run.

Glue only: each command parses its arguments, calls :mod:`provisioning` or
:mod:`server.datadir`, and prints one JSON value (an object, or a list for
the listing commands); ``review list`` and the ``kokreativ report`` commands
print tables for people instead (``--json`` or ``--csv`` for scripts).  Admin
commands find the server and token in ``--server``/``--token`` or in the
environment variables ``KOKREATIV_SERVER`` and ``KOKREATIV_ADMIN_TOKEN`` (keep
the token out of shell history).  Commands that sign a decision find the
coordinator's key file in ``--key`` or ``KOKREATIV_COORDINATOR_KEY``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocol import PrivateKey, Reason
from provisioning import coordinator_keys as ck
from provisioning import reports
from provisioning.cards import DEFAULT_VALID_DAYS
from provisioning.client import ApiClient
from provisioning.errors import ProvisioningError
from terminal.config import INDICATORS, READERS

Handler = Callable[[argparse.Namespace], int]


def _print(obj: object) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def _print_line(obj: object) -> None:
    """One JSON value on one line, for commands whose output a script reads line by line."""
    print(json.dumps(obj, sort_keys=True, separators=(",", ":")))


def _admin(args: argparse.Namespace) -> ApiClient:
    token = args.token or os.environ.get("KOKREATIV_ADMIN_TOKEN")
    if not token:
        raise ProvisioningError("unauthorized", "give --token or set KOKREATIV_ADMIN_TOKEN")
    return ApiClient(args.server, admin_token=token)


def _admin_call(call: Callable[[ApiClient, argparse.Namespace], Any]) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        with _admin(args) as client:
            _print(call(client, args))
        return 0

    return handler


def _init(args: argparse.Namespace) -> int:
    from server.datadir import init_data_dir

    result = init_data_dir(Path(args.data), origin=args.origin)
    _print(
        {
            "data_dir": str(args.data),
            "server_public_key": result.server_public_key.to_b64(),
            "log_verifier_key": result.log_verifier_key,
        }
    )
    print(
        f"\nAdmin token (shown once, store it safely): {result.admin_token}\n"
        "  export KOKREATIV_ADMIN_TOKEN=<token>  before running admin commands",
        file=sys.stderr,
    )
    return 0


def _enrol(args: argparse.Namespace) -> int:
    from provisioning.enrol import enrol_kiosk

    path, config = enrol_kiosk(
        args.server,
        args.code,
        Path(args.dir),
        reader=args.reader,
        indicator=args.indicator,
        nfc_path=args.nfc_path,
    )
    _print({"config": str(path), "kiosk_id": config.kiosk_id, "site": config.site_name})
    return 0


def _yes_no(text: str) -> bool:
    answers = {"yes": True, "no": False}
    if text.lower() not in answers:
        raise argparse.ArgumentTypeError("answer yes or no")
    return answers[text.lower()]


def _issuer_create(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from terminal.keystore import create_key

    key = create_key(Path(args.key))  # refuses to overwrite; mode 0600
    answer = client.add_issuer_key(key.public_key.to_b64())
    return {**answer, "key_file": str(args.key)}


def _card_issue(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from hardware.nfc import write_one_tag
    from provisioning.cards import issue_card
    from terminal.keystore import load_key

    issuer_key = load_key(Path(args.issuer_key))
    issued = issue_card(
        client,
        issuer_key,
        lambda make: write_one_tag(args.reader, make, lock=not args.no_lock, timeout_s=args.timeout),
        name=args.name,
        volunteer_id=args.volunteer,
        ehrenamtskarte=args.ehrenamtskarte,
        valid_days=args.valid_days,
    )
    return issued.to_json()


def _card_register(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    uid: bytes | None = None
    if args.uid is not None:
        try:
            uid = bytes.fromhex(args.uid)
        except ValueError as exc:
            raise ProvisioningError("bad_field", "--uid must be hex") from exc
    elif args.reader is not None:
        from hardware.nfc import read_one_tag

        uid = read_one_tag(args.reader, timeout_s=args.timeout).uid
    return client.register_card(
        name=args.name, volunteer_id=args.volunteer, ehrenamtskarte=args.ehrenamtskarte, uid=uid
    )


def _card_coordinator(args: argparse.Namespace) -> int:
    with _admin(args) as client:
        _print_line(client.set_card_coordinator(args.card_id, coordinator=not args.withdraw))
    return 0


def _code(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from provisioning.enrol import normalise_code

    answer = client.create_enrolment_code(args.site, expires_in_s=int(args.expires_hours * 3600))
    digits = normalise_code(str(answer["code"]))
    answer["code"] = digits
    answer["code_display"] = "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))
    return answer


# -- shops, coordinators and their decisions --------------------------------------------------------


def _preset(text: str) -> dict[str, Any]:
    label, sep, amount = text.rpartition("=")
    if not sep or not label.strip() or not amount.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a preset like Kaffee=2")
    return {"label": label.strip(), "amount": int(amount)}


def _minutes_to_s(minutes: int | None) -> int | None:
    return None if minutes is None else minutes * 60


def _shop_add(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    return client.add_shop(
        args.name,
        max_amount=args.max_amount,
        offline_allowance=args.offline_allowance,
        offline_daily_cap=args.offline_daily_cap,
        void_window_s=_minutes_to_s(args.void_window),
        presets=args.preset,
        allow_uncredentialed=args.allow_uncredentialed,
    )


def _shop_list(client: ApiClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    return [site for site in client.list_sites() if site.get("kind") == "shop"]


def _signing_key(args: argparse.Namespace) -> PrivateKey:
    """The coordinator key, loaded before anything is asked of the server."""
    return ck.load_coordinator_key(ck.key_path(args.key))


def _send(client: ApiClient, args: argparse.Namespace, wire: dict[str, str]) -> dict[str, Any]:
    """Post a signed decision, kept next to the key file until the server answered (see ``send_decision``)."""
    return ck.send_decision(client, wire, pending=ck.pending_dir(ck.key_path(args.key)))


def _shop_limits(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    data = ck.shop_limits_data(
        client.get_site(args.site_id),
        max_amount=args.max_amount,
        offline_allowance=args.offline_allowance,
        offline_daily_cap=args.offline_daily_cap,
        void_window_s=_minutes_to_s(args.void_window),
    )
    return _send(client, args, ck.sign(key, "shop_limits", data))


def _rules_set(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    bonuses: list[dict[str, Any]] | None = None
    if args.no_bonuses:
        if args.bonus or args.holiday:
            raise ProvisioningError(Reason.BAD_FIELD, "--no-bonuses clears the bonuses; give it alone")
        bonuses = []
    elif args.bonus or args.holiday:
        bonuses = [ck.parse_bonus(b) for b in args.bonus] + [ck.parse_holiday(h) for h in args.holiday]
    data = ck.site_rules_data(
        client.get_site(args.site_id),
        tokens_per_hour=args.tokens_per_hour,
        max_shift_hours=args.max_shift_hours,
        daily_cap=args.daily_cap,
        bonuses=bonuses,
    )
    return _send(client, args, ck.sign(key, "site_rules", data))


def _local_ms(text: str | None) -> int:
    return 0 if text is None else ck.parse_local_time(text)  # 0: keep the recorded time


def _review_decide(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    data = ck.review_data(
        ck.parse_shift_ref(args.shift),
        args.review_command,  # approve or reject
        args.reason,
        start_ms=_local_ms(getattr(args, "start", None)),
        end_ms=_local_ms(getattr(args, "end", None)),
    )
    return _send(client, args, ck.sign(key, "review", data))


def _acknowledge(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    return _send(
        client, args, ck.sign(key, "acknowledge", ck.acknowledge_data(args.redemption_id, args.reason))
    )


def _shift_add(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    data = ck.manual_shift_data(
        args.card, args.site, ck.parse_local_time(args.start), ck.parse_local_time(args.end), args.reason
    )
    return _send(client, args, ck.sign(key, "manual_shift", data))


def _review_list(args: argparse.Namespace) -> int:
    with _admin(args) as client:
        items = client.review()
        if args.json:
            _print(items)
        else:
            print(reports.render_review(items, reports.site_names(client)), end="")
    return 0


def _coordinator_init(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    path = ck.key_path(args.key)
    answer = ck.register_coordinator_key(client, path, args.name, existing=args.existing)
    return {**answer, "key_file": str(path)}


def _report(args: argparse.Namespace) -> int:
    first = None if args.first is None else ck.parse_day(args.first)
    last = None if args.last is None else ck.parse_day(args.last)
    with _admin(args) as client:
        if args.report_command == "shop":
            what, subject = "shops", args.site_id
        else:
            what = "volunteers"
            subject = args.volunteer_id or reports.volunteer_for_card(client, args.card)
        if args.csv is not None:
            text = reports.statement_csv(client, what, subject, first=first, last=last)
            reports.write_output(text, args.csv, sys.stdout)
        elif what == "shops":
            statement = reports.shop_statement(client, subject, first=first, last=last)
            print(reports.render_shop(statement), end="")
        else:
            statement = reports.volunteer_statement(client, subject, first=first, last=last)
            print(reports.render_volunteer(statement, reports.site_names(client)), end="")
    return 0


def _key_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", help="your coordinator key file from `coordinator init` (env KOKREATIV_COORDINATOR_KEY)"
    )


def _reason_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reason",
        required=True,
        help="a reason code for the public log, e.g. forgot_check_out, confirmed_by_site (never names)",
    )


def _limit_arguments(parser: argparse.ArgumentParser, *, defaults: str) -> None:
    for flag, metavar, help_text in (
        ("--max-amount", "N", "most tokens in one redemption"),
        ("--offline-allowance", "N", "per card and terminal, how far beyond its confirmed balance"),
        ("--offline-daily-cap", "N", "per terminal, its offline redemptions in a local day"),
        ("--void-window", "MINUTES", "how long after a redemption the shop may void it"),
    ):
        parser.add_argument(flag, type=int, metavar=metavar, help=f"{help_text} ({defaults})")


def _leaf(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    example: str,
    handler: Handler,
    *,
    admin: bool = True,
) -> argparse.ArgumentParser:
    parser = group.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if admin:
        parser.add_argument(
            "--server",
            default=os.environ.get("KOKREATIV_SERVER", "http://127.0.0.1:8080"),
            help="ledger server URL (env KOKREATIV_SERVER)",
        )
        parser.add_argument("--token", help="admin token (env KOKREATIV_ADMIN_TOKEN)")
    parser.set_defaults(func=handler)
    return parser


def _group(
    parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    parser = parent.add_parser(name, help=help_text, description=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="provision_command", metavar="COMMAND", required=True)

    init = _leaf(
        commands,
        "init",
        "create a server data folder: server key, UID-pseudonym key, ledger, admin token",
        "kokreativ provision init --data /var/lib/kokreativ-server --origin ledger.example.org",
        _init,
        admin=False,
    )
    init.add_argument("--data", required=True, help="the server's data folder (must not exist yet)")
    init.add_argument(
        "--origin",
        default="kokreativ.local/ledger",
        help="the transparency log's name: the server's URL without the scheme (default: %(default)s)",
    )

    sites = _group(commands, "site", "manage sites (community centres)")
    add_site = _leaf(
        sites,
        "add",
        "add a site with its token rate",
        'kokreativ provision site add --name "Freizeitheim Linden" --tokens-per-hour 10',
        _admin_call(
            lambda c, a: c.add_site(
                a.name,
                tokens_per_hour=a.tokens_per_hour,
                max_shift_hours=a.max_shift_hours,
                allow_uncredentialed=a.allow_uncredentialed,
            )
        ),
    )
    add_site.add_argument("--name", required=True)
    add_site.add_argument("--tokens-per-hour", type=int, required=True, help="whole tokens per hour")
    add_site.add_argument("--max-shift-hours", type=int, default=12, help="longer shifts go to review")
    add_site.add_argument(
        "--allow-uncredentialed", action="store_true", help="accept cards without a credential (pilots)"
    )
    policy = _leaf(
        sites,
        "policy",
        "allow or forbid cards without a credential at a site; kiosks learn it at their next sync",
        "kokreativ provision site policy s_… --allow-uncredentialed no",
        _admin_call(lambda c, a: c.set_site_policy(a.site_id, allow_uncredentialed=a.allow_uncredentialed)),
    )
    policy.add_argument("site_id")
    policy.add_argument(
        "--allow-uncredentialed", required=True, type=_yes_no, metavar="yes|no", help="accept such cards?"
    )
    _leaf(
        sites, "list", "list sites", "kokreativ provision site list", _admin_call(lambda c, a: c.list_sites())
    )

    terminals = _group(commands, "terminal", "manage kiosks")
    add_terminal = _leaf(
        terminals,
        "add",
        "create a one-time enrolment code for a new kiosk at a site",
        "kokreativ provision terminal add --site s_…",
        _admin_call(_code),
    )
    add_terminal.add_argument("--site", required=True, help="site ID")
    add_terminal.add_argument("--expires-hours", type=float, default=24.0)
    enrol = _leaf(
        terminals,
        "enrol",
        "enrol this machine as a kiosk: generate its key locally and write its config",
        "kokreativ provision terminal enrol --server https://ledger.example --code 1234-5678-9012 "
        "--dir /var/lib/kokreativ",
        _enrol,
        admin=False,
    )
    enrol.add_argument("--server", required=True, help="ledger server URL")
    enrol.add_argument("--code", required=True, help="the enrolment code from `terminal add`")
    enrol.add_argument("--dir", required=True, help="the kiosk's data folder")
    enrol.add_argument("--reader", default="stdin", choices=READERS, help="card reader (default stdin)")
    enrol.add_argument("--nfc-path", help="nfcpy reader path for --reader nfc (usb, tty:AMA0:pn532, …)")
    enrol.add_argument(
        "--indicator", default="console", choices=INDICATORS, help="lights and sound (default console)"
    )
    _leaf(
        terminals,
        "list",
        "list kiosks with status and last sequence number",
        "kokreativ provision terminal list",
        _admin_call(lambda c, a: c.list_kiosks()),
    )
    for verb, help_text in (
        ("clear", "lift a kiosk's suspension after an equivocation was investigated"),
        ("revoke", "revoke a kiosk for good (stolen, retired)"),
    ):
        cmd = _leaf(
            terminals,
            verb,
            help_text,
            f"kokreativ provision terminal {verb} k_…",
            _admin_call(lambda c, a: getattr(c, f"{a.terminal_command}_kiosk")(a.kiosk_id)),
        )
        cmd.add_argument("kiosk_id")

    issuers = _group(commands, "issuer", "manage the programme's card issuer keys")
    create = _leaf(
        issuers,
        "create",
        "generate an issuer key into a private file on this machine and register its public key",
        "kokreativ provision issuer create --key ~/kokreativ/issuer-2026.key",
        _admin_call(_issuer_create),
    )
    create.add_argument("--key", required=True, help="where to write the private key (must not exist)")
    _leaf(
        issuers,
        "list",
        "list issuer keys with their status",
        "kokreativ provision issuer list",
        _admin_call(lambda c, a: c.list_issuer_keys()),
    )
    for verb, help_text in (
        ("retire", "stop issuing with a key; cards it signed stay valid (key rotation)"),
        ("revoke", "distrust a key for good (lost or stolen); every card it signed is denied"),
    ):
        cmd = _leaf(
            issuers,
            verb,
            help_text,
            f"kokreativ provision issuer {verb} i_…",
            _admin_call(lambda c, a: c.set_issuer_key_status(a.key_id, a.issuer_command)),
        )
        cmd.add_argument("key_id")

    cards = _group(commands, "card", "manage volunteer cards")
    issue = _leaf(
        cards,
        "issue",
        "write a signed credential onto the blank tag on the reader and register the card",
        'kokreativ provision card issue --issuer-key ~/issuer-2026.key --reader usb --name "Alex B."',
        _admin_call(_card_issue),
    )
    issue_who = issue.add_mutually_exclusive_group(required=True)
    issue_who.add_argument("--name", help="a new volunteer's name (kept in personal data only)")
    issue_who.add_argument("--volunteer", help="an existing volunteer ID (v_…), e.g. for a replacement card")
    issue.add_argument("--ehrenamtskarte", help="the volunteer's Ehrenamtskarte number (personal data)")
    issue.add_argument("--issuer-key", required=True, help="the issuer key file from `issuer create`")
    issue.add_argument("--reader", required=True, help="nfcpy reader path: usb, tty:AMA0:pn532, …")
    issue.add_argument("--valid-days", type=int, default=DEFAULT_VALID_DAYS, help="default: three years")
    issue.add_argument("--no-lock", action="store_true", help="leave the tag writable (test cards only)")
    issue.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a tag")
    block = _leaf(
        cards,
        "block",
        "block a lost or stolen card; kiosks deny it from their next sync, the balance stays",
        'kokreativ provision card block c_… --reason "lost"',
        _admin_call(lambda c, a: c.block_card(a.card_id, reason=a.reason)),
    )
    block.add_argument("card_id")
    block.add_argument("--reason", help="a short note for the record")
    coordinator = _leaf(
        cards,
        "coordinator",
        "make a card a coordinator card (it opens a kiosk's coordinator menu), or withdraw the role; "
        "kiosks learn it at their next sync; prints the card as one JSON line",
        "kokreativ provision card coordinator c_…\n  kokreativ provision card coordinator c_… --withdraw",
        _card_coordinator,
    )
    coordinator.add_argument("card_id", help="a card with a credential (c_…), not blocked")
    coordinator.add_argument(
        "--withdraw", action="store_true", help="withdraw the role instead of granting it"
    )
    list_cards = _leaf(
        cards,
        "list",
        "list cards with their volunteer, issuer key, validity, block status and coordinator role",
        "kokreativ provision card list --volunteer v_…",
        _admin_call(lambda c, a: c.list_cards(volunteer_id=a.volunteer)),
    )
    list_cards.add_argument("--volunteer", help="only this volunteer's cards")
    register = _leaf(
        cards,
        "register",
        "register a card without writing it: a random ID, or an existing tag by UID pseudonym (pilots)",
        'kokreativ provision card register --name "Alex Beispiel" --uid 04a2b3c4d5e6f7',
        _admin_call(_card_register),
    )
    who = register.add_mutually_exclusive_group(required=True)
    who.add_argument("--name", help="the volunteer's name (kept in personal data only)")
    who.add_argument("--volunteer", help="an existing volunteer ID (v_…)")
    register.add_argument("--ehrenamtskarte", help="the volunteer's Ehrenamtskarte number (personal data)")
    uid = register.add_mutually_exclusive_group()
    uid.add_argument("--uid", help="an uncredentialed tag's UID in hex; only its pseudonym is stored")
    uid.add_argument("--reader", help="read the uncredentialed tag's UID from this reader instead")
    register.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a tag")

    _configure_shops(commands)
    _configure_coordinators(commands)
    _configure_review(commands)
    _leaf(
        commands,
        "report",
        "per volunteer: shifts, hours and token balance",
        "kokreativ provision report",
        _admin_call(lambda c, a: c.report()),
    )
    _leaf(
        commands,
        "verify",
        "ask the server to re-verify every stored signature and hash link",
        "kokreativ provision verify",
        _admin_call(lambda c, a: c.verify()),
    )


def _configure_shops(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shops = _group(commands, "shop", "manage shops, where volunteers redeem tokens")
    add = _leaf(
        shops,
        "add",
        "add a shop with its limits and till presets; enrol its terminals with `terminal add --site s_…`",
        'kokreativ provision shop add --name "Café Linden" --max-amount 30 --preset "Kaffee=2"',
        _admin_call(_shop_add),
    )
    add.add_argument("--name", required=True)
    _limit_arguments(add, defaults="server default")
    add.add_argument(
        "--preset",
        type=_preset,
        action="append",
        metavar="LABEL=AMOUNT",
        help="a till button; repeat for more",
    )
    add.add_argument(
        "--allow-uncredentialed", action="store_true", help="accept cards without a credential (pilots)"
    )
    presets = _leaf(
        shops,
        "presets",
        "replace a shop's till presets (display only; not logged); terminals get them at their next sync",
        'kokreativ provision shop presets s_… --preset "Kaffee=2" --preset "Kuchen=3"',
        _admin_call(lambda c, a: c.set_shop_presets(a.site_id, a.preset or [])),
    )
    presets.add_argument("site_id")
    presets.add_argument(
        "--preset",
        type=_preset,
        action="append",
        metavar="LABEL=AMOUNT",
        help="a till button; none clears them",
    )
    limits = _leaf(
        shops,
        "limits",
        "change a shop's limits with a decision signed by your coordinator key; limits not given stay",
        "kokreativ provision shop limits s_… --key ~/kokreativ/coordinator.key --offline-allowance 5",
        _admin_call(_shop_limits),
    )
    limits.add_argument("site_id")
    _key_argument(limits)
    _limit_arguments(limits, defaults="default: unchanged")
    _leaf(
        shops,
        "list",
        "list shops with their limits and presets",
        "kokreativ provision shop list",
        _admin_call(_shop_list),
    )

    rules = _group(commands, "rules", "change a check-in site's earning rules (signed decisions)")
    set_rules = _leaf(
        rules,
        "set",
        "sign and apply a site's earning rules; values not given stay as they are",
        "kokreativ provision rules set s_… --key ~/kokreativ/coordinator.key --daily-cap 40 "
        '--bonus "125:Mo-So:22:00-06:00" --holiday "200:2026-12-25,2026-12-26"',
        _admin_call(_rules_set),
    )
    set_rules.add_argument("site_id")
    _key_argument(set_rules)
    set_rules.add_argument("--tokens-per-hour", type=int, metavar="N", help="whole tokens per hour")
    set_rules.add_argument("--max-shift-hours", type=int, metavar="N", help="longer shifts go to review")
    set_rules.add_argument(
        "--daily-cap", type=int, metavar="N", help="most tokens per volunteer and local day; 0: none"
    )
    set_rules.add_argument(
        "--bonus",
        action="append",
        default=[],
        metavar="PERCENT:DAYS[:HH:MM-HH:MM]",
        help="a bonus on weekdays (Mo-Fr, Sa,So, Mon-Sun; a window past midnight runs into the next day); "
        "--bonus and --holiday together replace all of the site's bonuses",
    )
    set_rules.add_argument(
        "--holiday",
        action="append",
        default=[],
        metavar="PERCENT:DATES[:HH:MM-HH:MM]",
        help="a bonus on dates (2026-12-25,2026-12-26), the whole day unless a window is given",
    )
    set_rules.add_argument("--no-bonuses", action="store_true", help="remove every bonus")

    shifts = _group(commands, "shift", "shifts added by hand (signed decisions)")
    add_shift = _leaf(
        shifts,
        "add",
        "add a shift by hand (a forgotten card, a broken kiosk); paid under the site's rules",
        'kokreativ provision shift add --card c_… --site s_… --start "2026-11-29 14:00" '
        '--end "2026-11-29 17:30" --reason kiosk_broken --key ~/kokreativ/coordinator.key',
        _admin_call(_shift_add),
    )
    add_shift.add_argument("--card", required=True, help="the volunteer's card (c_… or u_…)")
    add_shift.add_argument("--site", required=True, help="the check-in site (s_…)")
    add_shift.add_argument("--start", required=True, help='local time, e.g. "2026-11-29 14:00"')
    add_shift.add_argument("--end", required=True, help='local time, e.g. "2026-11-29 17:30"')
    _reason_argument(add_shift)
    _key_argument(add_shift)


def _configure_coordinators(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    coordinators = _group(
        commands, "coordinator", "coordinator keys that sign rule changes and review decisions"
    )
    init = _leaf(
        coordinators,
        "init",
        "generate your coordinator key into a private file on this machine and register its public key",
        'kokreativ provision coordinator init --name "Kim" --key ~/kokreativ/coordinator.key',
        _admin_call(_coordinator_init),
    )
    init.add_argument("--name", required=True, help="who holds the key (kept on the server, never logged)")
    init.add_argument(
        "--key", help="where to write the private key; must not exist (env KOKREATIV_COORDINATOR_KEY)"
    )
    init.add_argument(
        "--existing",
        action="store_true",
        help="register the key already in that file instead of creating one",
    )
    _leaf(
        coordinators,
        "list",
        "list coordinator keys with their status",
        "kokreativ provision coordinator list",
        _admin_call(lambda c, a: c.list_coordinators()),
    )
    revoke = _leaf(
        coordinators,
        "revoke",
        "revoke a coordinator key (left the programme, laptop lost); its decisions are refused from now on",
        "kokreativ provision coordinator revoke o_…",
        _admin_call(lambda c, a: c.revoke_coordinator(a.coordinator_id)),
    )
    revoke.add_argument("coordinator_id")
    decisions = _group(commands, "decision", "decisions signed here that the server has not confirmed yet")
    resend = _leaf(
        decisions,
        "resend",
        "send again the signed decisions whose answer was lost (the same bytes: none can apply twice)",
        "kokreativ provision decision resend --key ~/kokreativ/coordinator.key",
        _admin_call(lambda c, a: ck.resend_pending(c, ck.pending_dir(ck.key_path(a.key)))),
    )
    _key_argument(resend)


def _configure_review(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    review = _group(commands, "review", "shifts and overdrafts waiting for a coordinator's decision")
    list_review = _leaf(
        review,
        "list",
        "show the review list: unpaid shifts (k_…:SEQ) and overdrafts (r_…)",
        "kokreativ provision review list",
        _review_list,
    )
    list_review.add_argument("--json", action="store_true", help="print the items as JSON instead")
    approve = _leaf(
        review,
        "approve",
        "pay a shift on the review list, with its times corrected or filled in where given",
        'kokreativ provision review approve k_…:12 --reason forgot_check_out --end "2026-11-29 17:00" '
        "--key ~/kokreativ/coordinator.key",
        _admin_call(_review_decide),
    )
    reject = _leaf(
        review,
        "reject",
        "close a shift on the review list without paying it",
        "kokreativ provision review reject k_…:12 --reason not_worked --key ~/kokreativ/coordinator.key",
        _admin_call(_review_decide),
    )
    for parser in (approve, reject):
        parser.add_argument("shift", help="the shift as `review list` shows it: k_…:SEQ")
        _reason_argument(parser)
        _key_argument(parser)
    approve.add_argument("--start", help='local start time, e.g. "2026-11-29 14:00" (default: as recorded)')
    approve.add_argument("--end", help='local end time, e.g. "2026-11-29 17:00" (default: as recorded)')
    acknowledge = _leaf(
        review,
        "acknowledge",
        "accept an overdraft: it leaves the review list, the balance stays negative until paid back",
        "kokreativ provision review acknowledge r_… --reason confirmed_by_shop "
        "--key ~/kokreativ/coordinator.key",
        _admin_call(_acknowledge),
    )
    acknowledge.add_argument("redemption_id", help="the redemption (r_…) as `review list` shows it")
    _reason_argument(acknowledge)
    _key_argument(acknowledge)


def configure_report(parser: argparse.ArgumentParser) -> None:
    """``kokreativ report …``: statements for volunteers and shop settlements."""
    commands = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    volunteer = _leaf(
        commands,
        "volunteer",
        "a volunteer's statement: opening balance, every entry with its running balance, totals",
        "kokreativ report volunteer v_… --from 2026-11-01 --to 2026-11-30\n"
        "  kokreativ report volunteer --card c_… --csv statement.csv",
        _report,
    )
    who = volunteer.add_mutually_exclusive_group(required=True)
    who.add_argument("volunteer_id", nargs="?", help="the volunteer (v_…)")
    who.add_argument("--card", help="find the volunteer by one of their cards (c_… or u_…)")
    shop = _leaf(
        commands,
        "shop",
        "a shop's settlement: every redemption by the terminal's time, redeemed, voided, to settle",
        "kokreativ report shop s_… --from 2026-11-01 --to 2026-11-30 --csv november.csv",
        _report,
    )
    shop.add_argument("site_id", help="the shop (s_…)")
    for sub in (volunteer, shop):
        sub.add_argument(
            "--from", dest="first", metavar="YYYY-MM-DD", help="first local day (default: the start)"
        )
        sub.add_argument(
            "--to", dest="last", metavar="YYYY-MM-DD", help="last local day, included (default: now)"
        )
        sub.add_argument(
            "--csv", metavar="FILE", help="write the server's CSV to FILE (- for stdout) instead"
        )
