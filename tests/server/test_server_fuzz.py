"""Schemathesis against the real server: no 5xx, and every answer as the description says.

The bounded run here fits the normal suite (a few cases per operation and
mode, fixed seed); ``make fuzz`` runs the same with many more
(``KOKREATIV_FUZZ_EXAMPLES``).  How the cases are made and checked:
``fuzz_helpers.py``.
"""

from __future__ import annotations

import os

from fuzz_helpers import Fuzzer, seed
from server_helpers import Api, World

# Cases per operation and generation mode (positive, negative).
MAX_EXAMPLES = int(os.environ.get("KOKREATIV_FUZZ_EXAMPLES", "6"))
# The share of cases a service judged on their meaning (not refused at the door: token, unknown
# resource, shape, size); see the test's docstring for the floor.
MIN_REACHED = 0.5


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_description(api: Api, world: World) -> None:
    """Every case answers below 500, with a documented status, media type and body.

    The floor on the share that reached a service keeps the run meaningful: if
    the description's path parameters, auth or bodies drifted so that most
    cases bounced at the door, every check would still pass, testing nothing.
    """
    fuzzer = Fuzzer(api, world, seed(api, world), max_examples=MAX_EXAMPLES)
    tally = fuzzer.run()
    print(tally.summary())
    assert not tally.failures, "\n\n".join(tally.failures)
    assert tally.share >= MIN_REACHED, tally.summary()
    api.assert_serving()
