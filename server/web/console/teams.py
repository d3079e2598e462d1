"""Teams, members and invitations: who may do what, where (``manage_teams``).

A person with ``manage_teams`` for some sites sees and manages the teams whose
scope lies within those sites; an economy-wide one sees all.  New teams start
from a role preset (:data:`PRESETS`: the permissions; the scope is chosen), and
the services refuse what the person may not grant (``grant_exceeds_own``) or
what would join conflicting duties (``duties_conflict``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from protocol import Reason
from server import accounts
from server.accounts import invitations
from server.accounts.disable import disable_person, enable_person
from server.accounts.teams import ScopeKind, TeamScope, grant_of_team
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.http.access import Permission, Principal, anywhere, quota
from server.http.common import call
from server.principals import SHOP_DUTIES
from server.web import web
from server.web.access import console_page
from server.web.console import downloads
from server.web.console.account import when
from server.web.forms import csrf_protected, read_form, read_form_pairs
from server.web.nav import N_

router = APIRouter(tags=["console"])
Manager = Annotated[Principal, Depends(console_page(Permission.MANAGE_TEAMS, scope=anywhere))]
# Disabling accounts: manage_teams over the whole economy (server.accounts.disable).
Admin = Annotated[Principal, Depends(console_page(Permission.MANAGE_TEAMS))]


@dataclass(frozen=True, slots=True)
class Preset:
    """A role to start a team from: a label, its permissions, and the scope kinds that fit it."""

    label: str
    permissions: tuple[Permission, ...]
    kinds: tuple[ScopeKind, ...]


PRESETS: Final = {
    "admin": Preset(N_("Admin"), tuple(p for p in Permission if p not in SHOP_DUTIES), ("economy",)),
    "coordination": Preset(
        N_("Coordination"),
        (
            Permission.REVIEW,
            Permission.DECIDE,
            Permission.MANAGE_CARDS,
            Permission.MANAGE_FLEET,
            Permission.READ_PERSONAL,
            Permission.REPORTS,
        ),
        ("sites", "organisation"),
    ),
    "shop": Preset(N_("Shop"), (Permission.SETTLE_SHOPS, Permission.RUN_SHOP), ("shops",)),
    "audit": Preset(N_("Audit"), (Permission.AUDIT, Permission.AUDIT_LOG), ("economy",)),
}


def _visible(principal: Principal, sites: frozenset[str] | None) -> bool:
    mine = principal.sites_for(Permission.MANAGE_TEAMS)
    return mine is None or (sites is not None and sites <= mine)


def _overview(ctx: ServerContext, principal: Principal) -> dict[str, Any]:
    with ctx.storage.read() as tx:
        site_names = {site.site_id: (site.name, site.kind.value) for site in tx.list_sites()}
        organisations = tx.organisations()
        org_names = dict(organisations)
        persons = {person.person_id: person for person in tx.persons()}
        teams: list[dict[str, Any]] = []
        for team in tx.teams():
            grant = grant_of_team(tx, team)
            if not _visible(principal, grant.sites):
                continue
            if team.scope_kind == "economy":
                where = ["*"]
            elif team.scope_kind == "organisation":
                where = [org_names.get(org_id, org_id) for org_id in team.scope_ids]
            else:
                where = [site_names.get(site_id, (site_id, ""))[0] for site_id in team.scope_ids]
            members = [persons[p] for p in tx.team_members(team.team_id) if p in persons]
            teams.append({"team": team, "where": where, "members": members})
        visible_ids = {entry["team"].team_id for entry in teams}
        pending = [
            {
                "row": row,
                "team": next(e["team"].name for e in teams if e["team"].team_id == row.team_id),
                "expires": when(row.expires_ms),
            }
            for row in tx.invitations()
            if row.team_id in visible_ids
            and row.used_ms is None
            and row.revoked_ms is None
            and row.expires_ms > ctx.now_ms()
        ]
    mine = principal.sites_for(Permission.MANAGE_TEAMS)
    choices = [("economy", "*")] if mine is None else []
    for site_id, (name, kind) in site_names.items():
        if mine is None or site_id in mine:
            choices.append((f"{'shops' if kind == 'shop' else 'sites'}:{site_id}", name))
    if mine is None:
        choices.extend((f"organisation:{org_id}", name) for org_id, name in organisations)
    people: list[dict[str, Any]] = []
    if mine is None:  # disabling accounts is for economy-wide manage_teams only (server.accounts.disable)
        people = [
            {
                "person": p,
                "disabled": when(p.disabled_ms) if p.disabled_ms is not None else "",
                "me": p.person_id == principal.person_id,
            }
            for p in sorted(persons.values(), key=lambda p: (p.display_name.casefold(), p.email))
        ]
    return {"teams": teams, "invitations": pending, "choices": choices, "presets": PRESETS, "people": people}


@router.get("/console/teams", include_in_schema=False)
async def teams_page(request: Request, principal: Manager) -> Response:
    values = await call(request, _overview, principal)
    names = [f"members-{e['team'].team_id}" for e in values["teams"]] + ["invitations", "accounts"]
    table = downloads.wanted(request, names)
    if table is not None:
        return _csv(request, table, values)
    return web(request).page(request, "console/teams/teams.html", **values)


def _csv(request: Request, table: str, values: dict[str, Any]) -> Response:
    """One of the page's tables as CSV: a team's members, the open invitations, or the accounts."""
    if table == "accounts":
        rows = [
            {"person_id": e["person"].person_id, "name": e["person"].display_name, "email": e["person"].email,
             "disabled": e["disabled"]}
            for e in values["people"]
        ]  # fmt: skip
        return downloads.csv_response(
            request, ("person_id", "name", "email", "disabled"), rows, filename="accounts"
        )
    if table == "invitations":
        rows = [
            {"invitation_id": i["row"].invitation_id, "email": i["row"].email, "team": i["team"],
             "expires": i["expires"]}
            for i in values["invitations"]
        ]  # fmt: skip
        return downloads.csv_response(
            request, ("invitation_id", "email", "team", "expires"), rows, filename="invitations"
        )
    team_id = table.removeprefix("members-")
    entry = next(e for e in values["teams"] if e["team"].team_id == team_id)
    rows = [{"person_id": m.person_id, "name": m.display_name, "email": m.email} for m in entry["members"]]
    return downloads.csv_response(
        request, ("person_id", "name", "email"), rows, filename=f"members-{team_id}"
    )


def _scope(values: list[str]) -> TeamScope:
    """The one scope the form's ticked boxes name (all of one kind), else ``400``."""
    kinds = {value.partition(":")[0] for value in values}
    if len(kinds) != 1:
        raise InputError(Reason.MALFORMED_REQUEST, "tick places of one kind")
    kind = kinds.pop()
    if kind == "economy":
        return TeamScope("economy")
    if kind not in ("sites", "shops", "organisation"):
        raise InputError(Reason.MALFORMED_REQUEST, "unknown scope")
    ids = tuple(value.partition(":")[2] for value in values)
    return TeamScope(kind, ids)  # type: ignore[arg-type]


FORM_ERRORS: Final = {
    Reason.GRANT_EXCEEDS_OWN: N_("You cannot give more rights than you hold yourself."),
    Reason.DUTIES_CONFLICT: N_(
        "Separation of duties: nobody may both record hours (decide) and settle shops."
    ),
    Reason.MALFORMED_REQUEST: N_("Please fill in the form completely (tick places of one kind)."),
    Reason.BAD_FIELD: N_("This does not fit: check the name and the places."),
    Reason.PERSON_EXISTS: N_("This person has an account already: add them to the team instead."),
    Reason.UNKNOWN_PERSON: N_("There is no account with this e-mail address."),
    Reason.DISABLE_REFUSED: N_("Nobody disables their own account or the last active admin."),
}


def _refused(request: Request, error: ServiceError) -> Response:
    text = FORM_ERRORS.get(error.reason)
    if text is None:
        raise error
    return web(request).redirect(request, "/console/teams", flash=text)


@router.post(
    "/console/teams",
    dependencies=[Depends(csrf_protected), Depends(quota("1,000 teams"))],
    include_in_schema=False,
)
async def create_team(request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    scopes = [value for name, value in await read_form_pairs(request) if name == "scope"]
    preset = PRESETS.get(form.get("preset", ""))
    try:
        if preset is None or not scopes:
            raise InputError(Reason.MALFORMED_REQUEST, "choose a role and places")
        scope = _scope(scopes)
        if scope.kind not in preset.kinds:
            raise InputError(Reason.MALFORMED_REQUEST, "this role does not fit these places")
        team_id = await call(
            request,
            accounts.add_team,
            name=form.get("team_name", ""),
            permissions=[p.value for p in preset.permissions],
            scope=scope,
            by=principal,
        )
    except ServiceError as error:
        return _refused(request, error)
    await call(
        request, accounts.record_activity, principal, "team.add", team_id, data={"scope": list(scopes)}
    )
    return web(request).redirect(request, "/console/teams", flash=N_("Team created."))


def _person_by_email(ctx: ServerContext, email: str) -> str:
    with ctx.storage.read() as tx:
        person = tx.person_by_email(email.strip()[:254])
    if person is None:
        raise ServiceError(Reason.UNKNOWN_PERSON, "no such person")
    return person.person_id


def _managed_team(ctx: ServerContext, principal: Principal, team_id: str) -> None:
    """``404 unknown_team`` for a team outside what ``principal`` manages (as for no such team)."""
    with ctx.storage.read() as tx:
        team = tx.team(team_id[:40])
        if team is None or not _visible(principal, grant_of_team(tx, team).sites):
            raise ServiceError(Reason.UNKNOWN_TEAM, "no such team")


@router.post(
    "/console/teams/{team_id}/members",
    dependencies=[Depends(csrf_protected), Depends(quota("one membership per person and team"))],
    include_in_schema=False,
)
async def add_member(team_id: str, request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    await call(request, _managed_team, principal, team_id)
    try:
        person_id = await call(request, _person_by_email, form.get("email", ""))
        await call(request, accounts.add_member, team_id, person_id, by=principal)
    except ServiceError as error:
        return _refused(request, error)
    await call(
        request, accounts.record_activity, principal, "team.member_add", team_id, data={"person": person_id}
    )
    return web(request).redirect(request, "/console/teams", flash=N_("Member added."))


@router.post(
    "/console/teams/{team_id}/members/{person_id}/remove",
    dependencies=[Depends(csrf_protected), Depends(quota("deletes only"))],
    include_in_schema=False,
)
async def remove_member(team_id: str, person_id: str, request: Request, principal: Manager) -> Response:
    await call(request, _managed_team, principal, team_id)
    try:
        await call(request, accounts.remove_member, team_id, person_id[:40], by=principal)
    except ServiceError as error:
        return _refused(request, error)
    await call(
        request,
        accounts.record_activity,
        principal,
        "team.member_remove",
        team_id,
        data={"person": person_id},
    )
    return web(request).redirect(request, "/console/teams", flash=N_("Member removed."))


@router.post(
    "/console/invitations",
    dependencies=[Depends(csrf_protected), Depends(quota("1,000 open invitations"))],
    include_in_schema=False,
)
async def invite(request: Request, principal: Manager) -> Response:
    form = await read_form(request)
    team_id = form.get("team", "")
    await call(request, _managed_team, principal, team_id)
    try:
        made = await call(
            request,
            invitations.invite,
            email=form.get("email", ""),
            team_id=team_id,
            by=principal,
            display_name=form.get("name", ""),
        )
    except ServiceError as error:
        return _refused(request, error)
    await call(
        request,
        accounts.record_activity,
        principal,
        "invitation.add",
        made.invitation_id,
        data={"team": team_id},
    )
    link = f"{request.base_url}console/invite/{made.token}"
    # The link is shown once, here (it is stored only hashed): no redirect, or it would be lost.
    return web(request).page(request, "console/teams/invited.html", link=link, expires=when(made.expires_ms))


@router.post(
    "/console/invitations/{invitation_id}/revoke",
    dependencies=[Depends(csrf_protected), Depends(quota("a status change"))],
    include_in_schema=False,
)
async def revoke_invitation(invitation_id: str, request: Request, principal: Manager) -> Response:
    values = await call(request, _overview, principal)
    if invitation_id not in {entry["row"].invitation_id for entry in values["invitations"]}:
        raise ServiceError(Reason.INVITATION_INVALID, "no such open invitation")
    await call(request, invitations.revoke_invitation, invitation_id)
    await call(request, accounts.record_activity, principal, "invitation.revoke", invitation_id)
    return web(request).redirect(request, "/console/teams", flash=N_("Invitation withdrawn."))


@router.post(
    "/console/persons/{person_id}/disable",
    dependencies=[Depends(csrf_protected), Depends(quota("a status change"))],
    include_in_schema=False,
)
async def disable(person_id: str, request: Request, principal: Admin) -> Response:
    """Disable an account (economy-wide ``manage_teams``): sessions end, device keys revoked."""
    person_id = person_id[:40]
    try:
        await call(request, disable_person, principal, person_id)
    except ServiceError as error:
        return _refused(request, error)
    return web(request).redirect(request, "/console/teams", flash=N_("Account disabled: its sessions ended."))


@router.post(
    "/console/persons/{person_id}/enable",
    dependencies=[Depends(csrf_protected), Depends(quota("a status change"))],
    include_in_schema=False,
)
async def enable(person_id: str, request: Request, principal: Admin) -> Response:
    """Let a disabled account log in again (economy-wide ``manage_teams``)."""
    person_id = person_id[:40]
    await call(request, enable_person, principal, person_id)
    return web(request).redirect(request, "/console/teams", flash=N_("Account enabled again."))
