"""Schemathesis against the real server on loopback, driven by its own description (``/openapi.json``).

Each operation of the description gets cases from schemathesis (positive: they
fit the description; negative: they break it) under Hypothesis with a fixed
seed, so a run is repeatable.  :class:`Fuzzer` then makes the cases reach the
services rather than bounce at the door:

* admin operations carry the admin token (refusing a missing token is tested
  in ``test_server_access.py``);
* most path parameters name a seeded resource (a site, a shop, a kiosk, a
  card, an issuer key, a coordinator, a logged event);
* the kiosk-signed bodies (event batches and heartbeats) are replaced by bodies
  the real kiosk signed, built from drawn fields: right ones, or one field
  given a drawn JSON value, a chain position off by a little, a card of nobody.

Every answer is checked (:data:`CHECKS`) and tallied by status and reason
code.  Nothing here raises on a failed check: failures are collected, so one
run reports all of them and Hypothesis never shrinks (which would make the run
length unbounded).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_helpers import T0, Api, FakeKiosk, World

from protocol import EventKind, PrivateKey, ProtocolError, event_hash
from protocol.encoding import canonical_json
from protocol.heartbeat import Heartbeat
from protocol.sealed import seal
from server import reads, tlog

# The checks every answer must pass, and why these:
# * not_a_server_error: the rule, no input yields a 5xx;
# * status_code_conformance: every status is one the description lists for the operation;
# * content_type_conformance: the answer's media type is the documented one (JSON, text, CSV, binary);
# * response_schema_conformance: the body fits its schema; for a refusal that means the error shape
#   with a code listed for that status (a reason answered at the wrong status fails here).
# Not enabled: positive_data_acceptance (a case that fits the schema may still name a used code or
# break the chain: the server must refuse it), negative_data_rejection (path parameters are free
# strings, so "invalid" ones are only unknown ones, which are 404s, not 400s), ignored_auth and
# missing_required_header (access is tested route by route in test_server_access.py).
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Refusals that happen before a service looks at the request's meaning: no token, unknown route or
# resource, a body or query of the wrong shape, too large.  Anything else reached a service's rules.
AT_THE_DOOR: Final = frozenset({"unauthorized", "forbidden", "malformed_request", "body_too_large"})
SIGNED: Final = ("/v1/kiosks/{kiosk_id}/events", "/v1/kiosks/{kiosk_id}/heartbeat")
KIOSK_CHANGES: Final = ("/v1/admin/kiosks/{kiosk_id}/clear", "/v1/admin/kiosks/{kiosk_id}/revoke")


@dataclass
class Tally:
    """Answers by status and code, and the failed checks (the first few of each operation)."""

    answers: collections.Counter[tuple[int, str]] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    cases: int = 0
    by_operation: collections.Counter[tuple[str, int, str]] = field(default_factory=collections.Counter)

    def add(self, operation: str, status: int, code: str) -> None:
        self.cases += 1
        self.answers[(status, code)] += 1
        self.by_operation[(operation, status, code)] += 1

    @property
    def reached(self) -> int:
        """Cases a service judged on their meaning: a success, or a refusal past the door."""
        return sum(
            count
            for (status, code), count in self.answers.items()
            if status < 400 or (status != 404 and code not in AT_THE_DOOR)
        )

    def summary(self, *, verbose: bool = False) -> str:
        """Cases by status and code; ``verbose`` adds them by operation."""
        lines = [f"{self.cases} cases, {self.reached} reached a service ({self.share:.0%})"]
        for (status, code), count in sorted(self.answers.items()):
            lines.append(f"  {status} {code or '-'}: {count}")
        if verbose:
            for (operation, status, code), count in sorted(self.by_operation.items()):
                lines.append(f"  {operation} {status} {code or '-'}: {count}")
        return "\n".join(lines)

    @property
    def share(self) -> float:
        return self.reached / self.cases if self.cases else 0.0


@dataclass
class Seeded:
    """Real resources for path parameters; the victim kiosk is the one admin routes may revoke."""

    values: dict[str, list[str]]
    victim: str


def seed(api: Api, world: World) -> Seeded:
    """A shop, a second kiosk, an issuer key, a coordinator and a logged event, beside ``world``."""
    shop = api.admin("POST", "/v1/admin/shops", {"name": "Café shop"}, expect=201).json()
    victim = api.enrol_kiosk(world.site["site_id"])
    _, issuer = api.add_issuer_key()
    coordinator_key = {"name": "Coord", "public_key": PrivateKey.generate().public_key.to_b64()}
    coordinator = api.admin("POST", "/v1/admin/coordinators", coordinator_key, expect=201)
    kiosk = world.kiosk
    response = api.send(kiosk.kiosk_id, [kiosk.event("check_in", world.card_id, T0 - 60_000)])
    assert response.status_code == 200, response.text
    with api.context.storage.read() as tx:
        size = tlog.latest_checkpoint(tx)[0]
    return Seeded(
        values={
            "site_id": [world.site["site_id"], shop["site_id"]],
            "kiosk_id": [kiosk.kiosk_id],
            "card_id": [world.card_id],
            "volunteer_id": [world.volunteer_id],
            "key_id": [issuer["key_id"]],
            "coordinator_id": [coordinator.json()["coordinator_id"]],
            "seq": ["1"],
            "index": ["0", str(size - 1)],
            "path": [f"0/000.p/{size}", f"entries/000.p/{size}"],
        },
        victim=victim.kiosk_id,
    )


# Values a stolen kiosk might sign into a field.
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _mutated(data: st.DataObject, body: bytes) -> bytes:
    """``body`` (canonical JSON), and one time in three with one field given a drawn value."""
    if data.draw(st.integers(0, 2), label="keep") > 0:
        return body
    obj = json.loads(body)
    name = data.draw(st.sampled_from(sorted(obj)), label="field")
    try:
        return canonical_json({**obj, name: data.draw(_values, label="value")})
    except ProtocolError:  # not encodable canonically (a float, say): sign the original
        return body


class Fuzzer:
    """Sends schemathesis' cases for every operation to a live server and tallies the answers."""

    def __init__(self, api: Api, world: World, seeded: Seeded, *, max_examples: int) -> None:
        self.api = api
        self.world = world
        self.seeded = seeded
        self.max_examples = max_examples
        self.session = requests.Session()
        self.tally = Tally()
        self.schema = schemathesis.openapi.from_url(
            f"{api.base_url}/openapi.json", config=schemathesis.Config()
        )

    def run(self) -> Tally:
        operations = [result.ok() for result in self.schema.get_all_operations()]  # type: ignore[union-attr]
        # The routes that revoke or clear a kiosk last, and only ever on the victim kiosk.
        operations.sort(key=lambda op: op.path in KIOSK_CHANGES)
        for operation in operations:
            # A free-string path parameter has no invalid value: with no body and no query
            # there is nothing to break, and Hypothesis would search in vain.
            breakable = len(operation.query) > 0 or len(operation.body) > 0
            modes = (
                (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if breakable
                else (GenerationMode.POSITIVE,)
            )
            for mode in modes:
                self._run_operation(operation, mode)
        return self.tally

    def _run_operation(self, operation: Any, mode: GenerationMode) -> None:
        strategy = operation.as_strategy(generation_mode=mode)
        failures_before = len(self.tally.failures)

        @settings(
            max_examples=self.max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(data=st.data())
        def one(data: st.DataObject) -> None:
            case = data.draw(strategy, label="case")
            self._aim(case, operation.path, data)
            headers: dict[str, str] = {}
            if operation.path.startswith("/v1/admin/"):
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {self.api.admin_token}"}
            response = case.call(base_url=self.api.base_url, session=self.session, headers=headers)
            self.tally.add(
                f"{operation.method.upper()} {operation.path}", response.status_code, _code(response)
            )
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                if len(self.tally.failures) - failures_before < 3:
                    found = "; ".join(f"{failure.title}: {failure.message}" for failure in group.exceptions)
                    self.tally.failures.append(
                        f"{operation.method.upper()} {operation.path} ({mode}) {response.status_code} "
                        f"{response.text[:300]}\n  {found}\n  {case.as_curl_command()}"
                    )

        try:
            one()
        except Unsatisfiable:
            # An operation with no parameter or body has nothing to break: no negative case exists.
            if mode is GenerationMode.POSITIVE:
                self.tally.failures.append(f"{operation.method.upper()} {operation.path}: no positive case")

    def _aim(self, case: Any, path: str, data: st.DataObject) -> None:
        """Point ``case`` at seeded resources (3 times in 4), and sign the kiosk's bodies."""
        params = case.path_parameters or {}
        for name in list(params):
            real = self.seeded.values.get(name)
            if path in KIOSK_CHANGES and name == "kiosk_id":
                real = [self.seeded.victim]
            if real and data.draw(st.integers(0, 3), label=f"real {name}") > 0:
                params[name] = data.draw(st.sampled_from(real), label=name)
        if path in SIGNED and params.get("kiosk_id") == self.world.kiosk.kiosk_id:
            sign: Callable[[st.DataObject], Any] = (
                self._batch if path.endswith("/events") else self._heartbeat
            )
            if data.draw(st.integers(0, 3), label="signed") > 0:
                case.body = sign(data)

    def _chain(self) -> tuple[int, str]:
        state = reads.kiosk_state(self.api.context, self.world.kiosk.kiosk_id)
        return int(state["last_seq"]), str(state["head"])

    def _batch(self, data: st.DataObject) -> Any:
        """A batch of 1 to 3 events the real kiosk signed, from its chain's end (or a little off it)."""
        kiosk: FakeKiosk = self.world.kiosk
        last_seq, head = self._chain()
        seq = last_seq + data.draw(st.sampled_from([1, 1, 1, 0, 2]), label="seq offset")
        prev = head if data.draw(st.integers(0, 4), label="prev") else "f" * len(head)
        wire = []
        for _ in range(data.draw(st.integers(1, 3), label="events")):
            kind = data.draw(st.sampled_from([EventKind.CHECK_IN, EventKind.CHECK_OUT]), label="kind")
            card = data.draw(st.sampled_from([self.world.card_id, "c_" + "0" * 32]), label="card")
            wall_ms = T0 + data.draw(st.integers(-3_600_000, 3_600_000), label="wall_ms")
            event = kiosk.event(kind, card, wall_ms)  # the fields; the chain position is set below
            # Canonical bytes, not Event.to_bytes(): a stolen key can sign what the protocol forbids.
            body = canonical_json({**event.event.to_json(), "seq": seq, "prev": prev})
            body = _mutated(data, body)
            wire.append(seal(body, kiosk.key))
            seq += 1
            prev = event_hash(body)
        return {"events": wire}

    def _heartbeat(self, data: st.DataObject) -> Any:
        kiosk: FakeKiosk = self.world.kiosk
        beat = Heartbeat(
            kiosk=kiosk.kiosk_id,
            sent_ms=self.api.clock.now + data.draw(st.integers(-120_000, 120_000), label="sent_ms"),
            boot=kiosk.boot,
            mono_ms=data.draw(st.integers(0, 10**9), label="mono_ms"),
            synced=data.draw(st.booleans(), label="synced"),
            version="0.1.0",
            pending=data.draw(st.integers(0, 1000), label="pending"),
            reader=data.draw(st.sampled_from(["ok", "missing"]), label="reader"),
            last_seq=self._chain()[0],
        )
        return seal(_mutated(data, beat.to_bytes()), kiosk.key)


def _code(response: Any) -> str:
    """The error code of a JSON refusal, or ``""``."""
    if response.status_code < 400:
        return ""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "(not the error shape)"
