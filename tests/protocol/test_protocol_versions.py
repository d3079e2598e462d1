"""A hostile ``v`` of any JSON type is refused with a reason code by every strict parser, never a crash.

Event, decision and log entry formats each accept more than one version since
issue 17, so each parser looks ``v`` up in a set; a list or an object there
is unhashable and must still be ``unknown_version`` (or ``unknown_type``).
"""

from __future__ import annotations

from typing import Any

import pytest

from protocol import MalformedError, Reason
from protocol.decisions import parse_decision
from protocol.encoding import canonical_json
from protocol.events import parse_event
from protocol.logentry import parse_entry

HOSTILE: list[Any] = [[], [1], {}, {"v": 1}, "2", True, 3]  # canonical JSON has no null or float


@pytest.mark.parametrize("version", HOSTILE)
def test_a_hostile_event_version_is_refused(version: Any) -> None:
    body = canonical_json({"type": "kokreativ.event", "v": version})
    with pytest.raises(MalformedError) as caught:
        parse_event(body)
    assert caught.value.reason is Reason.UNKNOWN_VERSION


@pytest.mark.parametrize("version", HOSTILE)
def test_a_hostile_decision_version_is_refused(version: Any) -> None:
    body = canonical_json({"type": "kokreativ.decision", "v": version})
    with pytest.raises(MalformedError) as caught:
        parse_decision(body)
    assert caught.value.reason is Reason.UNKNOWN_VERSION


@pytest.mark.parametrize("version", HOSTILE)
def test_a_hostile_entry_version_is_refused(version: Any) -> None:
    body = canonical_json({"type": "kokreativ.entry", "kind": "card", "v": version})
    with pytest.raises(MalformedError) as caught:
        parse_entry(body)
    assert caught.value.reason is Reason.UNKNOWN_TYPE
