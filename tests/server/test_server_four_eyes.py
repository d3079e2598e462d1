"""Four eyes: a decision crediting more than the threshold waits for a second key's cosignature.

Over the admin API, signed as a coordinator's laptop signs (real keys, loopback
server, real SQLite); the log a cosigned decision leaves is then audited as an
auditor does (``kokreativ verify``'s code), which checks the cosignature itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_helpers import HOUR, T0, Api, World, assert_error
from test_server_decisions import Coordinator, manual, review, send, state

from protocol import PrivateKey, b64decode, b64encode, decision_hash
from protocol.decisions import cosign_message
from protocol.logentry import parse_entry
from protocol.note import NoteVerifier
from server import accounts
from server.datadir import InitResult
from server.foureyes import FOUR_EYES_SETTING
from tests.audit_helpers import audit_data_folder


@pytest.fixture
def boss(api: Api) -> Coordinator:
    return Coordinator(api, PrivateKey.generate()).register()


@pytest.fixture
def second(api: Api) -> Coordinator:
    return Coordinator(api, PrivateKey.generate()).register()


def cosigned(wire: dict[str, Any], by: Coordinator) -> dict[str, Any]:
    body = b64decode(wire["body"], field="body")
    return {**wire, "cosig": {"coordinator": by.id, "sig": b64encode(by.key.sign(cosign_message(body)))}}


def long_shift(world: World, boss: Coordinator, hours: int = 9) -> dict[str, Any]:
    return boss.wire("manual_shift", manual(world.card_id, world.site["site_id"], T0 - hours * HOUR, T0))


def test_a_long_manual_shift_waits_and_changes_nothing(api: Api, world: World, boss: Coordinator) -> None:
    wire = long_shift(world, boss)
    before = state(api)
    response = boss.post(wire)
    assert response.status_code == 202, response.text
    answer = response.json()
    assert (answer["pending"], answer["reason"], answer["minutes"], answer["log_index"]) == (
        True,
        "four_eyes_required",
        540,
        None,
    )
    assert state(api) == before
    assert boss.post(wire).status_code == 202  # again: still waiting, kept once
    with api.context.storage.read() as tx:
        assert [p.decision_hash for p in tx.pending_decisions()] == [answer["decision"]]
        assert tx.get_decision(answer["decision"]) is None


def test_a_shift_under_the_threshold_applies_at_once(api: Api, world: World, boss: Coordinator) -> None:
    assert boss.post(long_shift(world, boss, hours=8)).status_code == 200  # 480 minutes: not more
    with api.context.storage.write() as tx:
        tx.set_setting(FOUR_EYES_SETTING, "60")
    api.clock.now += 24 * HOUR
    assert boss.post(long_shift(world, boss, hours=2)).status_code == 202


def test_a_cosignature_by_the_same_key_or_the_same_person_is_refused(
    api: Api, world: World, boss: Coordinator, second: Coordinator
) -> None:
    wire = long_shift(world, boss)
    assert boss.post(wire).status_code == 202
    before = state(api)
    assert_error(boss.post(cosigned(wire, boss)), 403, "cosigner_same_person")
    person = accounts.add_person(
        api.context, email="kim@example.org", display_name="Kim", password="Ehrenamt-2026"
    )
    with api.context.storage.write() as tx:  # both keys are one person's browsers
        tx.set_coordinator_person(boss.id, person)
        tx.set_coordinator_person(second.id, person)
    assert_error(boss.post(cosigned(wire, second)), 403, "cosigner_same_person")
    other = Coordinator(api, PrivateKey.generate())
    assert_error(boss.post(cosigned(wire, other)), 403, "unknown_coordinator")
    forged = cosigned(
        boss.wire("manual_shift", manual(world.card_id, world.site["site_id"], T0 - HOUR, T0)), second
    )
    assert_error(boss.post({**wire, "cosig": forged["cosig"]}), 400, "bad_signature")  # over other bytes
    assert state(api) == before


def test_a_cosigned_decision_applies_carries_its_cosignature_and_audits(
    api: Api,
    world: World,
    boss: Coordinator,
    second: Coordinator,
    data_dir: tuple[Path, InitResult],
    tmp_path: Path,
) -> None:
    wire = long_shift(world, boss)
    assert boss.post(wire).status_code == 202
    response = boss.post(cosigned(wire, second))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["result"]["minutes"] == 540
    with api.context.storage.read() as tx:
        entry = parse_entry(tx.tlog_entry(answer["log_index"]) or b"")
        assert tx.pending_decisions() == []
        assert tx.get_cosignature(answer["decision"]) is not None
    assert entry["cosig"]["coordinator"] == second.id
    assert decision_hash(entry["body"]) == answer["decision"]
    folder, init = data_dir
    report = audit_data_folder(folder, [NoteVerifier.parse(init.log_verifier_key)], tmp_path)
    assert report.ok, "\n".join(report.lines())
    assert report.decisions == 1


def test_approving_a_forgotten_check_out_as_a_long_shift_waits(
    api: Api, world: World, boss: Coordinator, second: Coordinator
) -> None:
    k = world.kiosk
    send(api, world, ("check_in", T0 - 20 * HOUR))
    api.clock.now = T0
    nine = review(k.kiosk_id, 1, end=T0 - 11 * HOUR)  # 9 h where the taps show none
    response = boss.post(boss.wire("review", nine))
    assert response.status_code == 202, response.text
    assert response.json()["minutes"] == 540
    assert boss.post(cosigned(boss.wire("review", nine), second)).status_code == 200
    seven = review(k.kiosk_id, 1, end=T0 - 13 * HOUR)
    assert_error(boss.post(boss.wire("review", seven)), 409, "not_in_review")  # decided already
