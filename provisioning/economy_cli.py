"""``kokreativ provision shop|coordinator|rules|review|shift|decision`` and ``kokreativ report``.

The commands of the token economy (``docs/economy.md``), glue over
:mod:`provisioning.coordinator_keys` (key files, signing, sending decisions so a
lost answer never applies one twice) and :mod:`provisioning.reports`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from protocol import PrivateKey, Reason
from provisioning import coordinator_keys as ck
from provisioning import reports
from provisioning.client import ApiClient
from provisioning.cliglue import (
    SubParsers,
    admin_call,
    admin_client,
    group,
    leaf,
    print_json,
)
from provisioning.errors import ProvisioningError


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


def _send(client: ApiClient, args: argparse.Namespace, wire: dict[str, Any]) -> dict[str, Any]:
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
    bonuses = ck.bonus_change(args.bonus, args.holiday, clear=args.no_bonuses)  # before asking the server
    data = ck.site_rules_data(
        client.get_site(args.site_id),
        tokens_per_hour=args.tokens_per_hour,
        max_shift_hours=args.max_shift_hours,
        daily_cap=args.daily_cap,
        bonuses=bonuses,
    )
    return _send(client, args, ck.sign(key, "site_rules", data))


def _rules_show(args: argparse.Namespace) -> int:
    with admin_client(args) as client:
        site = client.get_site(args.site_id)
        text = reports.render_rules(site)  # refuses a shop before anything is printed
        if args.json:
            print_json(site)
        else:
            print(text, end="")
    return 0


def _local_ms(text: str | None) -> int:
    return 0 if text is None else ck.parse_local_time(text)  # 0: keep the recorded time


def _rules_limits(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    key = _signing_key(args)
    if args.max_day_hours is None and args.backdate_days is None:  # a no-op in the public log helps nobody
        raise ProvisioningError(Reason.MISSING_FIELD, "give --max-day-hours, --backdate-days or both")
    data = ck.kiosk_limits_data(
        client.get_site(args.site_id), max_day_hours=args.max_day_hours, backdate_days=args.backdate_days
    )
    return _send(client, args, ck.sign(key, "kiosk_limits", data))


def _review_decide(client: ApiClient, args: argparse.Namespace) -> dict[str, Any]:
    """``review approve|reject``: a ``review`` for a shift (k_…:SEQ), a ``redemption_review`` for r_…."""
    key = _signing_key(args)
    action = args.review_command  # approve or reject
    start, end = getattr(args, "start", None), getattr(args, "end", None)
    item = ck.parse_review_ref(args.item)
    if isinstance(item, str):
        if start is not None or end is not None:
            raise ProvisioningError(
                Reason.BAD_FIELD, "--start and --end correct a shift's times; a redemption (r_…) has none"
            )
        data = ck.redemption_review_data(item, action, args.reason)
        return _send(client, args, ck.sign(key, "redemption_review", data))
    data = ck.review_data(item, action, args.reason, start_ms=_local_ms(start), end_ms=_local_ms(end))
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
    with admin_client(args) as client:
        items = client.review()
        if args.json:
            print_json(items)
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
    with admin_client(args) as client:
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


def configure_shops(commands: SubParsers) -> None:
    """The economy's own groups: ``shop``, ``rules`` and ``shift``."""
    _configure_shop(commands)
    _configure_rules(commands)
    _configure_shifts(commands)


def _configure_shop(commands: SubParsers) -> None:
    """``provision shop …``: shops, their limits and till presets."""
    shops = group(commands, "shop", "manage shops, where volunteers redeem tokens")
    add = leaf(
        shops,
        "add",
        "add a shop with its limits and till presets; enrol its terminals with `terminal add --site s_…`",
        'kokreativ provision shop add --name "Café Linden" --max-amount 30 --preset "Kaffee=2"',
        admin_call(_shop_add),
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
    presets = leaf(
        shops,
        "presets",
        "replace a shop's till presets (display only; not logged); terminals get them at their next sync",
        'kokreativ provision shop presets s_… --preset "Kaffee=2" --preset "Kuchen=3"',
        admin_call(lambda c, a: c.set_shop_presets(a.site_id, a.preset or [])),
    )
    presets.add_argument("site_id")
    presets.add_argument(
        "--preset",
        type=_preset,
        action="append",
        metavar="LABEL=AMOUNT",
        help="a till button; none clears them",
    )
    limits = leaf(
        shops,
        "limits",
        "change a shop's limits with a decision signed by your coordinator key; limits not given stay",
        "kokreativ provision shop limits s_… --key ~/kokreativ/coordinator.key --offline-allowance 5",
        admin_call(_shop_limits),
    )
    limits.add_argument("site_id")
    _key_argument(limits)
    _limit_arguments(limits, defaults="default: unchanged")
    leaf(
        shops,
        "list",
        "list shops with their limits and presets",
        "kokreativ provision shop list",
        admin_call(_shop_list),
    )


def _configure_rules(commands: SubParsers) -> None:
    """``provision rules set|limits``: a check-in site's earning rules and kiosk limits."""
    rules = group(
        commands, "rules", "change a check-in site's earning rules and kiosk limits (signed decisions)"
    )
    set_rules = leaf(
        rules,
        "set",
        "sign and apply a site's earning rules; values not given stay as they are",
        "kokreativ provision rules set s_… --key ~/kokreativ/coordinator.key --daily-cap 40 "
        '--bonus "125:Mo-So:22:00-06:00" --holiday "200:2026-12-25,2026-12-26"',
        admin_call(_rules_set),
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
    show = leaf(
        rules,
        "show",
        "show a check-in site's earning rules and kiosk limits in words",
        "kokreativ provision rules show s_…",
        _rules_show,
    )
    show.add_argument("site_id", help="the check-in site (s_…)")
    show.add_argument("--json", action="store_true", help="print the site as JSON instead")
    limits = leaf(
        rules,
        "limits",
        "sign and apply a check-in site's kiosk limits, which hold implausible shifts for review "
        "instead of paying them (a stolen kiosk key gets no more paid); values not given stay; "
        "`rules show` shows the current ones",
        "kokreativ provision rules limits s_… --max-day-hours 10 --backdate-days 7 "
        "--key ~/kokreativ/coordinator.key",
        admin_call(_rules_limits),
    )
    limits.add_argument("site_id", help="the check-in site (s_…)")
    _key_argument(limits)
    limits.add_argument(
        "--max-day-hours",
        type=int,
        metavar="N",
        help="most hours paid to one card for shifts starting on one day, all sites together; "
        "more goes to review as day_too_long (1-24, default 12)",
    )
    limits.add_argument(
        "--backdate-days",
        type=int,
        metavar="N",
        help="a shift that reaches the server more than N days after it ended goes to review "
        "as backdated, e.g. a kiosk that was offline for long (0-90, default 14)",
    )


def _configure_shifts(commands: SubParsers) -> None:
    """``provision shift add``: a shift added by hand."""
    shifts = group(commands, "shift", "shifts added by hand (signed decisions)")
    add_shift = leaf(
        shifts,
        "add",
        "add a shift by hand (a forgotten card, a broken kiosk); paid under the site's rules",
        'kokreativ provision shift add --card c_… --site s_… --start "2026-11-29 14:00" '
        '--end "2026-11-29 17:30" --reason kiosk_broken --key ~/kokreativ/coordinator.key',
        admin_call(_shift_add),
    )
    add_shift.add_argument("--card", required=True, help="the volunteer's card (c_… or u_…)")
    add_shift.add_argument("--site", required=True, help="the check-in site (s_…)")
    add_shift.add_argument("--start", required=True, help='local time, e.g. "2026-11-29 14:00"')
    add_shift.add_argument("--end", required=True, help='local time, e.g. "2026-11-29 17:30"')
    _reason_argument(add_shift)
    _key_argument(add_shift)


def configure_coordinators(commands: SubParsers) -> None:
    coordinators = group(
        commands, "coordinator", "coordinator keys that sign rule changes and review decisions"
    )
    init = leaf(
        coordinators,
        "init",
        "generate your coordinator key into a private file on this machine and register its public key",
        'kokreativ provision coordinator init --name "Kim" --key ~/kokreativ/coordinator.key',
        admin_call(_coordinator_init),
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
    leaf(
        coordinators,
        "list",
        "list coordinator keys with their status",
        "kokreativ provision coordinator list",
        admin_call(lambda c, a: c.list_coordinators()),
    )
    revoke = leaf(
        coordinators,
        "revoke",
        "revoke a coordinator key (left the programme, laptop lost); its decisions are refused from now on",
        "kokreativ provision coordinator revoke o_…",
        admin_call(lambda c, a: c.revoke_coordinator(a.coordinator_id)),
    )
    revoke.add_argument("coordinator_id")
    decisions = group(commands, "decision", "decisions signed here that the server has not confirmed yet")
    resend = leaf(
        decisions,
        "resend",
        "send again the signed decisions whose answer was lost (the same bytes: none can apply twice)",
        "kokreativ provision decision resend --key ~/kokreativ/coordinator.key",
        admin_call(lambda c, a: ck.resend_pending(c, ck.pending_dir(ck.key_path(a.key)))),
    )
    _key_argument(resend)
    leaf(
        decisions,
        "pending",
        "list the decisions waiting for a second person's cosignature (four eyes), with what each credits",
        "kokreativ provision decision pending",
        admin_call(lambda c, a: c.pending_decisions()),
    )
    cosign = leaf(
        decisions,
        "cosign",
        "cosign a decision another coordinator signed that waits for four eyes; the server then applies it",
        "kokreativ provision decision cosign 3f0c…(the decision's hash) --key ~/kokreativ/coordinator.key",
        admin_call(lambda c, a: ck.cosign(c, _signing_key(a), a.decision)),
    )
    cosign.add_argument("decision", help="the waiting decision's hash, from 'decision pending'")
    _key_argument(cosign)


def configure_review(commands: SubParsers) -> None:
    review = group(
        commands,
        "review",
        "shifts, overdrafts and held redemptions waiting for a coordinator's decision",
    )
    list_review = leaf(
        review,
        "list",
        "show the review list: unpaid shifts (k_…:SEQ), overdrafts (r_…) and held redemptions (r_…), "
        "each with why it waits",
        "kokreativ provision review list",
        _review_list,
    )
    list_review.add_argument("--json", action="store_true", help="print the items as JSON instead")
    approve = leaf(
        review,
        "approve",
        "pay a shift on the review list (its times corrected or filled in where given), or approve a "
        "held redemption: the card is debited now and the shop is owed it",
        'kokreativ provision review approve k_…:12 --reason forgot_check_out --end "2026-11-29 17:00" '
        "--key ~/kokreativ/coordinator.key\n"
        "  kokreativ provision review approve r_… --reason confirmed_by_shop "
        "--key ~/kokreativ/coordinator.key",
        admin_call(_review_decide),
    )
    reject = leaf(
        review,
        "reject",
        "close a shift on the review list without paying it, or reject a held redemption: "
        "never debited, never owed to the shop",
        "kokreativ provision review reject k_…:12 --reason not_worked --key ~/kokreativ/coordinator.key\n"
        "  kokreativ provision review reject r_… --reason not_confirmed --key ~/kokreativ/coordinator.key",
        admin_call(_review_decide),
    )
    for parser in (approve, reject):
        parser.add_argument(
            "item",
            metavar="SHIFT|REDEMPTION",
            help="as `review list` shows it: a shift k_…:SEQ or a held redemption r_…",
        )
        _reason_argument(parser)
        _key_argument(parser)
    approve.add_argument(
        "--start", help='shifts only: local start time, e.g. "2026-11-29 14:00" (default: as recorded)'
    )
    approve.add_argument(
        "--end", help='shifts only: local end time, e.g. "2026-11-29 17:00" (default: as recorded)'
    )
    acknowledge = leaf(
        review,
        "acknowledge",
        "accept an overdraft: it leaves the review list, the balance stays negative until paid back",
        "kokreativ provision review acknowledge r_… --reason confirmed_by_shop "
        "--key ~/kokreativ/coordinator.key",
        admin_call(_acknowledge),
    )
    acknowledge.add_argument("redemption_id", help="the redemption (r_…) as `review list` shows it")
    _reason_argument(acknowledge)
    _key_argument(acknowledge)


def configure_report(parser: argparse.ArgumentParser) -> None:
    """``kokreativ report …``: statements for volunteers and shop settlements."""
    commands = parser.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    volunteer = leaf(
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
    shop = leaf(
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
