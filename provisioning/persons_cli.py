"""``kokreativ provision person add``: a console account made on the server's machine (the first admin).

Everyone else joins through an invitation from the console; the first admin
(and a replacement when every admin is locked out) is made here, on the data
directory, by whoever runs the server.  The password comes from
``--password-file`` (its first line) or a prompt, never from an argument (it
would sit in the shell's history and the process list).  The TOTP secret is
made here and printed once as an ``otpauth://`` URI (and as a QR code in the
terminal) for the person's authenticator app.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from provisioning.cliglue import SubParsers, group, leaf, print_line
from provisioning.errors import ProvisioningError

ADMIN_TEAM = "Admin"


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        if not lines:
            raise ProvisioningError("bad_field", f"{args.password_file} is empty")
        return lines[0]
    first = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Password again: ") != first:
        raise ProvisioningError("bad_field", "the two passwords differ")
    return first


def _person_add(args: argparse.Namespace) -> int:
    from server import accounts
    from server.accounts.teams import TeamScope
    from server.datadir import open_data_dir
    from server.http.access import Permission
    from server.principals import SHOP_DUTIES

    password = _password(args)
    with open_data_dir(Path(args.data)) as ctx:
        person_id = accounts.add_person(ctx, email=args.email, display_name=args.name, password=password)
        secret = accounts.new_totp_secret()
        accounts.set_totp_secret(ctx, person_id, secret)
        team_id = None
        if args.admin:
            with ctx.storage.read() as tx:
                existing = next((team for team in tx.teams() if team.name == ADMIN_TEAM), None)
            if existing is None:
                # Every permission but settle_shops: no person may both decide and settle (duties).
                everything = [p.value for p in Permission if p not in SHOP_DUTIES]
                team_id = accounts.add_team(
                    ctx, name=ADMIN_TEAM, permissions=everything, scope=TeamScope("economy")
                )
            else:
                team_id = existing.team_id
            accounts.add_member(ctx, team_id, person_id)
        accounts.record_activity(ctx, None, "person.add", person_id, data={"admin": bool(args.admin)})
    uri = accounts.provisioning_uri(secret, args.email.strip())
    print_line({"person_id": person_id, "email": args.email.strip(), "team_id": team_id})
    print(f"\nAdd this to the person's authenticator app (shown once):\n{uri}", file=sys.stderr)
    if not args.no_qr:
        import segno

        segno.make(uri, error="m").terminal(out=sys.stderr, compact=True)
    return 0


def _organisation_add(args: argparse.Namespace) -> int:
    from server import accounts
    from server.datadir import open_data_dir

    with open_data_dir(Path(args.data)) as ctx:
        org_id = accounts.add_organisation(ctx, args.name, args.site or ())
        accounts.record_activity(ctx, None, "organisation.add", org_id, data={"sites": args.site or []})
    print_line({"org_id": org_id, "name": args.name.strip(), "sites": sorted(set(args.site or ()))})
    return 0


def configure_persons(commands: SubParsers) -> None:
    """``provision person add``: a console account on this machine's data directory."""
    persons = group(commands, "person", "console accounts made on the server's machine (the first admin)")
    add = leaf(
        persons,
        "add",
        "make a console account; with --admin it joins the team 'Admin' (every permission but "
        "settle_shops, the whole economy). Prints the TOTP URI for the authenticator app once",
        "kokreativ provision person add --data /var/lib/kokreativ-server --email ada@example.org "
        "--name 'Ada Admin' --admin",
        _person_add,
        admin=False,
    )
    add.add_argument("--data", required=True, help="the server's data directory")
    add.add_argument("--email", required=True, help="the person's e-mail address (their login)")
    add.add_argument("--name", required=True, help="the name the console shows")
    add.add_argument("--admin", action="store_true", help="make them an admin of the whole economy")
    add.add_argument("--password-file", help="read the password from this file's first line, not a prompt")
    add.add_argument("--no-qr", action="store_true", help="do not draw the QR code in the terminal")
    organisations = group(
        commands, "organisation", "organisations (Träger) that own sites, for console teams"
    )
    org = leaf(
        organisations,
        "add",
        "make an organisation owning the given sites; a console team can then hold a role for all its sites",
        "kokreativ provision organisation add --data /var/lib/kokreativ-server --name 'Träger e.V.' "
        "--site s_… --site s_…",
        _organisation_add,
        admin=False,
    )
    org.add_argument("--data", required=True, help="the server's data directory")
    org.add_argument("--name", required=True, help="the organisation's name")
    org.add_argument("--site", action="append", metavar="SITE_ID", help="a site it owns (repeat for more)")
