"""``kokreativ provision …``: what coordinators run.

Glue only: each command parses its arguments, calls :mod:`provisioning` or
:mod:`server.datadir`, and prints one JSON value.  The economy's commands
(shops, coordinator keys, rules, review, shifts by hand, reports) are
:mod:`provisioning.economy_cli`; what all share is :mod:`provisioning.cliglue`.
Output is one JSON value (an object, or a list for
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
from pathlib import Path
from typing import Any

from provisioning import kiosks as kiosks_view
from provisioning.cards import DEFAULT_VALID_DAYS
from provisioning.client import ApiClient
from provisioning.cliglue import (
    SubParsers,
    add_server_option,
    admin_call,
    admin_client,
    group,
    leaf,
    print_json,
    print_line,
    server_url,
    yes_no,
)
from provisioning.economy_cli import configure_coordinators, configure_review, configure_shops
from provisioning.errors import ProvisioningError
from provisioning.persons_cli import configure_persons
from provisioning.reports import site_names
from terminal.config import INDICATORS
from terminal.readeropts import add_device, add_reader_kind, refuse_reader_path


def _init(args: argparse.Namespace) -> int:
    from server.datadir import init_data_dir

    result = init_data_dir(Path(args.data), origin=args.origin, database=args.database)
    print_json(
        {
            "data_dir": str(args.data),
            "engine": "postgresql" if args.database else "sqlite",
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

    url = server_url(args)
    with ApiClient(url) as client:  # its errors are the CLI's one-line ones (server_unreachable …)
        path, config = enrol_kiosk(
            url,
            args.code,
            Path(args.dir),
            client=client,
            reader=args.reader,
            indicator=args.indicator,
            device=args.device,
        )
    print_json({"config": str(path), "kiosk_id": config.kiosk_id, "site": config.site_name})
    return 0


def _issuer_create(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from terminal.errors import KeyExistsError
    from terminal.keystore import create_key

    try:
        key = create_key(Path(args.key))  # refuses to overwrite; mode 0600
    except KeyExistsError:
        raise ProvisioningError(
            "key_exists",
            f"{args.key} exists; an issuer key is never overwritten (cards it signed need it): "
            "give --key a new file, and retire the old key with 'kokreativ provision issuer retire'",
        ) from None
    answer = client.add_issuer_key(key.public_key.to_b64())
    return {**answer, "key_file": str(args.key)}


def _new_volunteer_site(args: argparse.Namespace) -> str | None:
    """``--site`` for a new volunteer (``--name``), refused without it and with ``--volunteer``."""
    if args.name is not None and not args.site:
        raise ProvisioningError("malformed_request", "a new volunteer (--name) needs --site, their home site")
    if args.volunteer is not None and args.site:
        raise ProvisioningError(
            "malformed_request", "--site is a new volunteer's; an existing one keeps theirs"
        )
    return str(args.site) if args.site else None


def _show_access(server_url: str, secret: str) -> str:
    """Print a new volunteer's access link and QR code on stderr (shown once); return the link."""
    from provisioning.accesssheet import access_link, terminal_qr

    link = access_link(server_url, secret)
    print(
        f"\nThe volunteer's access link (shown once; on the sheet, never in the JSON):\n{link}\n",
        file=sys.stderr,
    )
    print(terminal_qr(link), file=sys.stderr)
    return link


def _card_issue(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from hardware.nfc import write_one_tag
    from provisioning.accesssheet import write_access_sheet
    from provisioning.cards import issue_card, issue_prepared
    from terminal.keystore import load_key

    issuer_key = load_key(Path(args.issuer_key))
    if args.prepared is not None:
        return issue_prepared(
            client,
            issuer_key,
            lambda make: write_one_tag(args.device, make, lock=not args.no_lock, timeout_s=args.timeout),
            args.prepared,
            valid_days=args.valid_days,
        ).to_json()
    site_id = _new_volunteer_site(args)
    issued = issue_card(
        client,
        issuer_key,
        lambda make: write_one_tag(args.device, make, lock=not args.no_lock, timeout_s=args.timeout),
        name=args.name,
        volunteer_id=args.volunteer,
        site_id=site_id,
        ehrenamtskarte=args.ehrenamtskarte,
        valid_days=args.valid_days,
    )
    answer = issued.to_json()
    if issued.access_secret is not None:
        link = _show_access(server_url(args), issued.access_secret)
        sheet = write_access_sheet(
            Path(args.sheet_dir), card_id=issued.card_id, volunteer_id=issued.volunteer_id, link=link
        )
        answer.update(sheet=str(sheet.sheet), access_qr=str(sheet.qr_svg))
    return answer


def _card_register(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    uid: bytes | None = None
    if args.uid is not None:
        try:
            uid = bytes.fromhex(args.uid)
        except ValueError as exc:
            raise ProvisioningError("bad_field", "--uid must be hex") from exc
    elif args.device is not None:
        from hardware.nfc import read_one_tag

        uid = read_one_tag(args.device, timeout_s=args.timeout).uid
    answer = client.register_card(
        name=args.name,
        volunteer_id=args.volunteer,
        site_id=_new_volunteer_site(args),
        ehrenamtskarte=args.ehrenamtskarte,
        uid=uid,
    )
    secret = answer.pop("access_secret", None)
    if isinstance(secret, str):
        _show_access(server_url(args), secret)
    return answer


def _card_coordinator(args: argparse.Namespace) -> int:
    with admin_client(args) as client:
        print_line(client.set_card_coordinator(args.card_id, coordinator=not args.withdraw))
    return 0


def _terminal_list(args: argparse.Namespace) -> int:
    with admin_client(args) as client:
        found = client.list_kiosks(silent_after_s=args.silent_after)
        kiosks = kiosks_view.silent_only(found) if args.silent else found
        if args.json:
            print_json(kiosks)
        else:
            names = site_names(client)
            print(kiosks_view.render_kiosks(kiosks, names, silent_after_s=args.silent_after), end="")
    # --silent is a check for cron and monitoring: 1 while any kiosk is silent (2 stays "error").
    return 1 if args.silent and kiosks else 0


def _code(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    from provisioning.enrol import display_code, normalise_code

    answer = client.create_enrolment_code(args.site, expires_in_s=int(args.expires_hours * 3600))
    code = str(answer["code"])
    answer["code"], answer["code_display"] = normalise_code(code), display_code(code)
    return answer


# -- shops, coordinators and their decisions --------------------------------------------------------


def _configure_init(commands: SubParsers) -> None:
    """``provision init``: a new server data folder."""
    init = leaf(
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
    init.add_argument(
        "--database",
        metavar="URL",
        help="keep the ledger in this empty PostgreSQL database (postgresql://…) instead of DATA/ledger.db; "
        "the folder records it in DATA/database",
    )


def _configure_sites(commands: SubParsers) -> None:
    """``provision site …``: sites and their token rate and card policy."""
    sites = group(commands, "site", "manage sites (community centres)")
    add_site = leaf(
        sites,
        "add",
        "add a site with its token rate",
        'kokreativ provision site add --name "Freizeitheim Linden" --tokens-per-hour 10',
        admin_call(
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
    policy = leaf(
        sites,
        "policy",
        "allow or forbid cards without a credential at a site; kiosks learn it at their next sync",
        "kokreativ provision site policy s_… --allow-uncredentialed no",
        admin_call(lambda c, a: c.set_site_policy(a.site_id, allow_uncredentialed=a.allow_uncredentialed)),
    )
    policy.add_argument("site_id")
    policy.add_argument(
        "--allow-uncredentialed", required=True, type=yes_no, metavar="yes|no", help="accept such cards?"
    )
    leaf(
        sites, "list", "list sites", "kokreativ provision site list", admin_call(lambda c, a: c.list_sites())
    )


def _configure_terminals(commands: SubParsers) -> None:
    """``provision terminal …``: enrolment codes, enrolling this machine, kiosk health, suspension."""
    terminals = group(commands, "terminal", "manage kiosks")
    add_terminal = leaf(
        terminals,
        "add",
        "create a one-time enrolment code for a new kiosk at a site",
        "kokreativ provision terminal add --site s_…",
        admin_call(_code),
    )
    add_terminal.add_argument("--site", required=True, help="site ID")
    add_terminal.add_argument("--expires-hours", type=float, default=24.0)
    enrol = leaf(
        terminals,
        "enrol",
        "enrol this machine as a kiosk: generate its key locally and write its config",
        "kokreativ provision terminal enrol --server https://ledger.example --code 1234-5678-9012-3456-7890 "
        "--dir /var/lib/kokreativ",
        _enrol,
        admin=False,
    )
    add_server_option(enrol)
    enrol.add_argument("--code", required=True, help="the enrolment code from `terminal add`")
    enrol.add_argument("--dir", required=True, help="the kiosk's data folder")
    add_reader_kind(enrol, default="stdin", help_text="the card reader's kind (default stdin)")
    add_device(enrol, help_text="the nfcpy device for --reader nfc (usb, tty:AMA0:pn532, …; default usb)")
    enrol.add_argument(
        "--indicator", default="console", choices=INDICATORS, help="lights and sound (default console)"
    )
    list_terminals = leaf(
        terminals,
        "list",
        "list kiosks with their health (last seen, pending events, reader, clock offset); "
        "silent kiosks are marked SILENT",
        "kokreativ provision terminal list --silent --silent-after 1800",
        _terminal_list,
    )
    list_terminals.add_argument(
        "--silent",
        action="store_true",
        help="list only kiosks that went silent; exit status 1 if there are any (for cron and monitoring)",
    )
    list_terminals.add_argument(
        "--silent-after",
        type=int,
        default=900,
        metavar="SECONDS",
        help="silent: no heartbeat and no sync for this long (default %(default)s)",
    )
    list_terminals.add_argument(
        "--json", action="store_true", help="print the kiosks as JSON (every field) instead"
    )
    for verb, help_text in (
        ("clear", "lift a kiosk's suspension after an equivocation was investigated"),
        ("revoke", "revoke a kiosk for good (stolen, retired)"),
    ):
        cmd = leaf(
            terminals,
            verb,
            help_text,
            f"kokreativ provision terminal {verb} k_…",
            admin_call(lambda c, a: getattr(c, f"{a.terminal_command}_kiosk")(a.kiosk_id)),
        )
        cmd.add_argument("kiosk_id")


def _configure_issuers(commands: SubParsers) -> None:
    """``provision issuer …``: the programme's card issuer keys."""
    issuers = group(commands, "issuer", "manage the programme's card issuer keys")
    create = leaf(
        issuers,
        "create",
        "generate an issuer key into a private file on this machine and register its public key",
        "kokreativ provision issuer create --key ~/kokreativ/issuer-2026.key",
        admin_call(_issuer_create),
    )
    create.add_argument("--key", required=True, help="where to write the private key (must not exist)")
    leaf(
        issuers,
        "list",
        "list issuer keys with their status",
        "kokreativ provision issuer list",
        admin_call(lambda c, a: c.list_issuer_keys()),
    )
    for verb, help_text in (
        ("retire", "stop issuing with a key; cards it signed stay valid (key rotation)"),
        ("revoke", "distrust a key for good (lost or stolen); every card it signed is denied"),
    ):
        cmd = leaf(
            issuers,
            verb,
            help_text,
            f"kokreativ provision issuer {verb} i_…",
            admin_call(lambda c, a: c.set_issuer_key_status(a.key_id, a.issuer_command)),
        )
        cmd.add_argument("key_id")


def _configure_card_issue(cards: SubParsers) -> None:
    """``provision card issue``: write a signed credential onto a blank tag."""
    issue = leaf(
        cards,
        "issue",
        "write a signed credential onto the blank tag on the reader and register the card",
        'kokreativ provision card issue --issuer-key ~/issuer-2026.key --device usb --name "Alex B." '
        "--site s_…",
        admin_call(_card_issue),
    )
    issue_who = issue.add_mutually_exclusive_group(required=True)
    issue_who.add_argument("--name", help="a new volunteer's name (kept in personal data only)")
    issue_who.add_argument("--volunteer", help="an existing volunteer ID (v_…), e.g. for a replacement card")
    issue_who.add_argument(
        "--prepared", metavar="CARD_ID", help="a card prepared in the console (c_…): write it and confirm it"
    )
    issue.add_argument(
        "--site", help="a new volunteer's home site (s_…): whose coordinators may read their data"
    )
    issue.add_argument(
        "--sheet-dir",
        default=".",
        help="where the issuing sheet and the access QR code (SVG) are written (default: here)",
    )
    issue.add_argument("--ehrenamtskarte", help="the volunteer's Ehrenamtskarte number (personal data)")
    issue.add_argument("--issuer-key", required=True, help="the issuer key file from `issuer create`")
    add_device(issue, required=True)
    refuse_reader_path(issue)
    issue.add_argument("--valid-days", type=int, default=DEFAULT_VALID_DAYS, help="default: three years")
    issue.add_argument("--no-lock", action="store_true", help="leave the tag writable (test cards only)")
    issue.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a tag")


def _configure_card_register(cards: SubParsers) -> None:
    """``provision card register``: a card without writing it (pilots)."""
    register = leaf(
        cards,
        "register",
        "register a card without writing it: a random ID, or an existing tag by UID pseudonym (pilots)",
        'kokreativ provision card register --name "Alex Beispiel" --site s_… --uid 04a2b3c4d5e6f7',
        admin_call(_card_register),
    )
    who = register.add_mutually_exclusive_group(required=True)
    who.add_argument("--name", help="the volunteer's name (kept in personal data only)")
    who.add_argument("--volunteer", help="an existing volunteer ID (v_…)")
    register.add_argument("--site", help="a new volunteer's home site (s_…)")
    register.add_argument("--ehrenamtskarte", help="the volunteer's Ehrenamtskarte number (personal data)")
    uid = register.add_mutually_exclusive_group()
    uid.add_argument("--uid", help="an uncredentialed tag's UID in hex; only its pseudonym is stored")
    add_device(
        uid, help_text="read the uncredentialed tag's UID from the reader at this nfcpy device instead"
    )
    refuse_reader_path(register)
    register.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a tag")


def _configure_cards(commands: SubParsers) -> None:
    """``provision card …``: issuing, registering, blocking cards and the coordinator role."""
    cards = group(commands, "card", "manage volunteer cards")
    _configure_card_issue(cards)
    block = leaf(
        cards,
        "block",
        "block a lost or stolen card; kiosks deny it from their next sync, the balance stays",
        'kokreativ provision card block c_… --reason "lost"',
        admin_call(lambda c, a: c.block_card(a.card_id, reason=a.reason)),
    )
    block.add_argument("card_id")
    block.add_argument("--reason", help="a short note for the record")
    coordinator = leaf(
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
    list_cards = leaf(
        cards,
        "list",
        "list cards with their volunteer, issuer key, validity, block status and coordinator role",
        "kokreativ provision card list --volunteer v_…",
        admin_call(lambda c, a: c.list_cards(volunteer_id=a.volunteer)),
    )
    list_cards.add_argument("--volunteer", help="only this volunteer's cards")
    _configure_card_register(cards)


def _volunteer_export(args: argparse.Namespace) -> int:
    with admin_client(args) as client:
        exported = client.export_volunteer(args.volunteer_id, pdf=args.format == "pdf")
    if isinstance(exported, bytes):
        if args.out is None:
            raise ProvisioningError("bad_field", "a PDF needs --out FILE")
        write_private(Path(args.out), exported)
        print_line({"export": str(args.out), "bytes": len(exported)})
    elif args.out is not None:
        write_private(Path(args.out), (json.dumps(exported, indent=2, ensure_ascii=False) + "\n").encode())
        print_line({"export": str(args.out)})
    else:
        print_json(exported)
    return 0


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file only its owner can read (it holds personal data); never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ProvisioningError("bad_field", f"{path} exists; refusing to overwrite it") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _configure_volunteers(commands: SubParsers) -> None:
    """``provision volunteer …``: a volunteer's rights (export, erasure)."""
    volunteers = group(
        commands, "volunteer", "a volunteer's data: export it (Art. 15/20), erase it (Art. 17)"
    )
    erase = leaf(
        volunteers,
        "erase",
        "erase a volunteer's name, Ehrenamtskarte number and the links to their cards for good: "
        "blocks their cards and destroys their key; their pseudonymous ledger entries stay",
        "kokreativ provision volunteer erase v_…",
        admin_call(lambda c, a: c.erase_volunteer(a.volunteer_id)),
    )
    erase.add_argument("volunteer_id")
    export = leaf(
        volunteers,
        "export",
        "everything stored about a volunteer, as JSON or as a PDF in German",
        "kokreativ provision volunteer export v_… --format pdf --out auskunft.pdf",
        _volunteer_export,
    )
    export.add_argument("volunteer_id")
    export.add_argument("--format", choices=("json", "pdf"), default="json", help="default: json")
    export.add_argument("--out", help="write to this new file (mode 0600) instead of printing")


def configure(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="provision_command", metavar="COMMAND", required=True)
    _configure_init(commands)
    _configure_sites(commands)
    _configure_terminals(commands)
    _configure_issuers(commands)
    _configure_cards(commands)
    _configure_volunteers(commands)
    configure_persons(commands)
    configure_shops(commands)
    configure_coordinators(commands)
    configure_review(commands)
    leaf(
        commands,
        "report",
        "per volunteer: shifts, hours and token balance",
        "kokreativ provision report",
        admin_call(lambda c, a: c.report()),
    )
    leaf(
        commands,
        "verify",
        "ask the server to re-verify every stored signature and hash link",
        "kokreativ provision verify",
        admin_call(lambda c, a: c.verify()),
    )
