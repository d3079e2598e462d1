"""Teams: members × scope × a short list of permissions (as pretix models them), and what they grant.

A person's rights are the union of their teams' :class:`~server.principals.Grant`\\ s.
A team's scope is the whole economy, some sites, some shops, or an
organisation (Träger): then the organisation's sites as they are when a
request is checked, so a site moved into it is covered at once.

Two rules hold whenever a team is made or a member added:

* **Separation of duties** (``409 duties_conflict``): no person may hold both
  ``decide`` (records and corrects hours) and ``settle_shops``, counted over all
  their teams, wherever each holds.
* **No escalation** (``403 grant_exceeds_own``): a person who makes a team, or
  adds someone to one, must hold each of its permissions for every site of its
  scope themselves; a new organisation team, which grows with the organisation,
  only who holds them economy-wide.  ``by=None`` is the operator (CLI, shell, tests): unchecked.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

from protocol import Reason
from server import quotas
from server.context import ServerContext
from server.errors import InputError, ServiceError
from server.inputs import refused_char
from server.principals import Grant, Permission, Principal, known_permissions
from server.storage import ReadTx
from server.storage.accounts import TeamRow

ScopeKind = Literal["economy", "sites", "organisation", "shops"]
SCOPE_KINDS: Final = frozenset(get_args(ScopeKind))
# Who records or corrects hours may not also settle shops (issue 18) or run one (issue 19).
CONFLICTING_DUTIES: Final = (
    frozenset({Permission.DECIDE, Permission.SETTLE_SHOPS}),
    frozenset({Permission.DECIDE, Permission.RUN_SHOP}),
)


@dataclass(frozen=True, slots=True)
class TeamScope:
    """Where a team holds: ``economy``, or the IDs of some ``sites``, ``shops`` or ``organisation``."""

    kind: ScopeKind
    ids: tuple[str, ...] = ()


def new_team_id() -> str:
    return "t_" + secrets.token_hex(16)


def grant_of_team(tx: ReadTx, team: TeamRow) -> Grant:
    permissions = known_permissions(team.permissions)
    if team.scope_kind == "economy":
        return Grant(permissions, None)
    if team.scope_kind == "organisation":
        return Grant(permissions, tx.sites_of_organisations(team.scope_ids))
    return Grant(permissions, frozenset(team.scope_ids))


def grants_of(tx: ReadTx, person_id: str) -> tuple[Grant, ...]:
    """The grants ``person_id``'s teams give now (an organisation's sites read in ``tx``)."""
    return tuple(grant_of_team(tx, team) for team in tx.teams_of(person_id))


def principal_of_person(tx: ReadTx, person_id: str, display_name: str) -> Principal:
    """The principal of a logged-in person: their teams' grants."""
    return Principal.of_grants(display_name, grants_of(tx, person_id), person_id=person_id)


def _check_scope(tx: ReadTx, scope: TeamScope) -> None:
    if scope.kind not in SCOPE_KINDS:
        raise InputError(Reason.MALFORMED_REQUEST, f"a scope is one of {sorted(SCOPE_KINDS)}")
    if scope.kind == "economy":
        if scope.ids:
            raise InputError(Reason.MALFORMED_REQUEST, "an economy-wide team names no sites")
        return
    if not scope.ids or len(scope.ids) > 500:
        raise InputError(Reason.MALFORMED_REQUEST, "a team's scope names 1 to 500 IDs")
    if scope.kind == "organisation":
        for org_id in scope.ids:
            if not tx.organisation_exists(org_id):
                raise ServiceError(Reason.UNKNOWN_ORGANISATION, "no such organisation")
        return
    kinds = tx.site_kinds(scope.ids)
    wanted = "shop" if scope.kind == "shops" else "checkin"
    for site_id in scope.ids:
        if site_id not in kinds:
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if kinds[site_id] != wanted:
            raise InputError(Reason.BAD_FIELD, f"{site_id} is not a {'shop' if wanted == 'shop' else 'site'}")


def _conflict(permissions: Iterable[Permission]) -> frozenset[Permission] | None:
    held = frozenset(permissions)
    for duties in CONFLICTING_DUTIES:
        if duties <= held:
            return duties
    return None


def _refuse_conflict(permissions: Iterable[Permission], whose: str) -> None:
    duties = _conflict(permissions)
    if duties is not None:
        names = " and ".join(sorted(duty.value for duty in duties))
        raise ServiceError(Reason.DUTIES_CONFLICT, f"{whose} would hold both {names}: separate duties")


def _team_sites(tx: ReadTx, team: TeamRow) -> frozenset[str] | None:
    return grant_of_team(tx, team).sites


def _refuse_escalation(
    by: Principal, permissions: Iterable[Permission], sites: frozenset[str] | None
) -> None:
    """``grant_exceeds_own`` unless ``by`` holds each permission at every site (economy-wide for ``None``)."""
    for permission in sorted(permissions):
        if sites is None:
            held = by.may(permission, None)
        else:
            # An empty organisation would grant nothing now but every site added later: economy only.
            held = by.may(permission, None) or (bool(sites) and all(by.may(permission, s) for s in sites))
        if not held:
            raise ServiceError(
                Reason.GRANT_EXCEEDS_OWN, f"{by.name} does not hold {permission.value} for all of this scope"
            )


def parse_permissions(values: Iterable[str]) -> frozenset[Permission]:
    """``values`` as permissions; ``bad_field`` for a name this server does not know."""
    names = list(values)
    known = known_permissions(names)
    if len(known) != len(set(names)):
        unknown = sorted(set(names) - {permission.value for permission in known})
        raise InputError(Reason.BAD_FIELD, f"unknown permissions: {', '.join(unknown)}")
    return known


def add_team(
    ctx: ServerContext,
    *,
    name: str,
    permissions: Iterable[str],
    scope: TeamScope,
    by: Principal | None = None,
) -> str:
    """A new team (no members yet) with ``permissions`` over ``scope``; its ``"t_…"`` ID.

    ``409 duties_conflict`` for conflicting permissions, ``403 grant_exceeds_own``
    when ``by`` lacks one of them for some site of the scope, ``404`` for an
    unknown site or organisation.
    """
    name = name.strip()
    if not name or len(name) > 100 or refused_char(name) is not None:
        raise InputError(Reason.MALFORMED_REQUEST, "a team's name has 1 to 100 printable characters")
    wanted = parse_permissions(permissions)
    if not wanted:
        raise InputError(Reason.MALFORMED_REQUEST, "a team holds at least one permission")
    _refuse_conflict(wanted, "the team")
    team = TeamRow(new_team_id(), name, tuple(sorted(wanted)), scope.kind, tuple(sorted(set(scope.ids))), 0)
    with ctx.storage.write() as tx:
        _check_scope(tx, scope)
        if by is not None:
            # An organisation team also grants every site moved into it later: economy-wide granters only.
            growing = scope.kind == "organisation"
            _refuse_escalation(by, wanted, None if growing else _team_sites(tx, team))
        existing_teams = tx.teams()
        quotas.check(len(existing_teams), quotas.TEAMS, "teams")
        if any(existing.name == name for existing in existing_teams):
            raise InputError(Reason.BAD_FIELD, "a team with this name exists")
        tx.insert_team(
            TeamRow(team.team_id, name, team.permissions, scope.kind, team.scope_ids, ctx.now_ms())
        )
    return team.team_id


def held_permissions(tx: ReadTx, person_id: str, extra: Sequence[str] = ()) -> frozenset[Permission]:
    """Every permission ``person_id`` holds anywhere, with ``extra`` (a team they would join)."""
    held: set[Permission] = set(known_permissions(extra))
    for team in tx.teams_of(person_id):
        held |= known_permissions(team.permissions)
    return frozenset(held)


def check_member(tx: ReadTx, team: TeamRow, person_id: str, by: Principal | None) -> None:
    """Whether ``person_id`` may join ``team`` (``by`` adding them): duties, then escalation."""
    _refuse_conflict(held_permissions(tx, person_id, team.permissions), "the person")
    if by is not None:
        _refuse_escalation(by, known_permissions(team.permissions), _team_sites(tx, team))


def get_team(tx: ReadTx, team_id: str) -> TeamRow:
    team = tx.team(team_id)
    if team is None:
        raise ServiceError(Reason.UNKNOWN_TEAM, "no such team")
    return team


def add_member(ctx: ServerContext, team_id: str, person_id: str, *, by: Principal | None = None) -> None:
    """Make ``person_id`` a member of ``team_id`` (nothing happens if they are one already).

    ``404 unknown_team``/``unknown_person``; ``409 duties_conflict`` if the person
    would then hold conflicting permissions; ``403 grant_exceeds_own`` if ``by``
    does not hold the team's permissions over its scope.
    """
    with ctx.storage.write() as tx:
        team = get_team(tx, team_id)
        if tx.person(person_id) is None:
            raise ServiceError(Reason.UNKNOWN_PERSON, "no such person")
        check_member(tx, team, person_id, by)
        tx.insert_member(team_id, person_id, ctx.now_ms())


def remove_member(ctx: ServerContext, team_id: str, person_id: str, *, by: Principal | None = None) -> bool:
    """Take ``person_id`` out of ``team_id``; whether they were a member.

    ``by`` must hold the team's permissions over its scope (else anyone with
    ``manage_teams`` at one site could strip an economy admin).
    """
    with ctx.storage.write() as tx:
        team = get_team(tx, team_id)
        if by is not None:
            _refuse_escalation(by, known_permissions(team.permissions), _team_sites(tx, team))
        return tx.delete_member(team_id, person_id)


def add_organisation(ctx: ServerContext, name: str, site_ids: Iterable[str] = ()) -> str:
    """A new organisation (Träger) owning ``site_ids``; its ``"o_…"`` ID."""
    name = name.strip()
    if not name or len(name) > 200 or refused_char(name) is not None:
        raise InputError(Reason.MALFORMED_REQUEST, "an organisation's name has 1 to 200 printable characters")
    org_id = "o_" + secrets.token_hex(16)
    with ctx.storage.write() as tx:
        quotas.check(len(tx.organisations()), quotas.ORGANISATIONS, "organisations")
        tx.insert_organisation(org_id, name, ctx.now_ms())
        for site_id in site_ids:
            if not tx.site_kinds([site_id]):
                raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
            tx.set_site_organisation(site_id, org_id)
    return org_id


def set_site_organisation(ctx: ServerContext, site_id: str, org_id: str | None) -> None:
    """Move ``site_id`` into ``org_id`` (``None``: out of any); organisation teams follow at once."""
    with ctx.storage.write() as tx:
        if not tx.site_kinds([site_id]):
            raise ServiceError(Reason.UNKNOWN_SITE, "no such site")
        if org_id is not None and not tx.organisation_exists(org_id):
            raise ServiceError(Reason.UNKNOWN_ORGANISATION, "no such organisation")
        tx.set_site_organisation(site_id, org_id)
