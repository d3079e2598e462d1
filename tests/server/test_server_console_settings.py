"""The console's settings service: bounds, the rule idle ≤ lifetime, all or nothing, and the activity log.

Real server context and SQLite; the values are read back the way their owners
read them (accounts' settings, four eyes, eligibility), so a change the page
shows is the one in force.
"""

from __future__ import annotations

import pytest

from protocol import Reason
from server import consolesettings
from server.accounts import TeamScope, add_member, add_person, add_team, list_activity
from server.accounts.settings import account_settings
from server.accounts.teams import principal_of_person
from server.context import ServerContext
from server.eligibility import read_thresholds
from server.errors import InputError
from server.foureyes import threshold_minutes
from server.http.access import Permission, Principal


def admin(ctx: ServerContext) -> Principal:
    person_id = add_person(ctx, email="admin@example.org", display_name="Admin", password="long enough pw")
    team_id = add_team(
        ctx, name="Admin", permissions=["manage_teams", "read_activity"], scope=TeamScope("economy")
    )
    add_member(ctx, team_id, person_id)
    with ctx.storage.read() as tx:
        return principal_of_person(tx, person_id, "admin@example.org")


def values(ctx: ServerContext) -> dict[str, int]:
    return {s.key: s.value for s in consolesettings.list_settings(ctx)}


def test_the_list_shows_the_defaults_in_force_with_their_bounds(context: ServerContext) -> None:
    listed = {s.key: s for s in consolesettings.list_settings(context)}
    assert listed["four_eyes_minutes"].value == 480
    assert listed["console_idle_minutes"].value == 180
    assert listed["invitation_valid_hours"].value == 72
    assert listed["eligibility_hours_per_year"].value == 250
    assert all(s.low <= s.value <= s.high for s in listed.values())
    assert set(listed) == set(consolesettings.KEYS)


def test_a_change_is_in_force_where_its_owner_reads_it_and_is_logged(context: ServerContext) -> None:
    person = admin(context)
    changed = consolesettings.set_settings(
        context,
        person,
        {
            "four_eyes_minutes": "240",
            "login_lockout_minutes": "30",
            "eligibility_years_required": "3",
            "console_idle_minutes": "180",
        },  # unchanged: not logged
    )
    assert changed == {"four_eyes_minutes": 240, "login_lockout_minutes": 30, "eligibility_years_required": 3}
    with context.storage.read() as tx:
        assert threshold_minutes(tx) == 240
        assert account_settings(tx).lockout_ms == 30 * 60_000
        assert read_thresholds(tx).years_required == 3
    logged = list_activity(context, person, Permission.READ_ACTIVITY, action="settings.change")
    assert {(row.object_id, row.data["old"], row.data["new"], row.person_id) for row in logged} == {
        ("four_eyes_minutes", 480, 240, person.person_id),
        ("login_lockout_minutes", 15, 30, person.person_id),
        ("eligibility_years_required", 2, 3, person.person_id),
    }


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("console_idle_minutes", "4"),  # below the bound
        ("console_lifetime_minutes", "10081"),  # above
        ("login_lockout_failures", "-3"),
        ("four_eyes_minutes", "4.5"),
        ("invitation_valid_hours", ""),
        ("invitation_valid_hours", "1e3"),
        ("login_lockout_minutes", "9" * 40),
        ("eligibility_close_percent", "100"),  # the eligibility module's own bound
        ("no_such_setting", "1"),
    ],
)
def test_a_value_out_of_bounds_or_no_whole_number_is_refused_and_nothing_stored(
    context: ServerContext, key: str, text: str
) -> None:
    before = values(context)
    with pytest.raises(InputError) as refused:
        consolesettings.set_settings(context, None, {"four_eyes_minutes": "60", key: text})
    assert refused.value.reason is Reason.BAD_FIELD
    assert values(context) == before  # the valid four_eyes change of the same form is not stored either


def test_an_idle_timeout_longer_than_the_lifetime_is_refused(context: ServerContext) -> None:
    with pytest.raises(InputError):
        consolesettings.set_settings(context, None, {"console_idle_minutes": "721"})  # lifetime 720
    with pytest.raises(InputError):
        consolesettings.set_settings(context, None, {"console_lifetime_minutes": "120"})  # idle 180
    consolesettings.set_settings(
        context, None, {"console_idle_minutes": "60", "console_lifetime_minutes": "120"}
    )
    assert values(context)["console_lifetime_minutes"] == 120


def test_both_ways_to_qualify_off_is_refused_as_the_cli_refuses_it(context: ServerContext) -> None:
    consolesettings.set_settings(context, None, {"eligibility_hours_per_week": "0"})
    with pytest.raises(InputError):
        consolesettings.set_settings(context, None, {"eligibility_hours_per_year": "0"})
    assert values(context)["eligibility_hours_per_year"] == 250


def test_a_row_broken_by_hand_shows_its_default_and_the_page_repairs_it(context: ServerContext) -> None:
    with context.storage.write() as tx:
        tx.set_setting("eligibility_years_required", "two")  # the sqlite3 fallback checks nothing
    assert values(context)["eligibility_years_required"] == 2
    consolesettings.set_settings(context, None, {"eligibility_years_required": "3"})
    with context.storage.read() as tx:
        assert read_thresholds(tx).years_required == 3
