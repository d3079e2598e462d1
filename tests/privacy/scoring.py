"""Scoring the attacks' claims against the ground truth, and what "the attack succeeds" means.

A linking claim is scored per pair of *units* (one shift, one redemption with
its void, one card registration), because the public may link the entries of
one unit (issue 17): a claim inside one unit is dropped, and several claims
about the same two units count once.  "Same card" is scored as *same person*:
linking a volunteer's old and new card is the same harm.

Definitions (fixed margins, no timing):

* **precision** = claimed unit pairs that are one person / claimed unit pairs;
  **recall** = those / all pairs of distinct units of one person.
* **baseline**: what the same number of random claims would score: for each
  claim, the share of one-person pairs among all unit pairs of the same two
  unit types (shift–shift, redemption–redemption, …); their sum ``expected``.
* **leaks**: the claims beat random guessing by a margin that cannot be luck:
  ``precision ≥ baseline + MARGIN`` and ``z = (TP − expected) / sd ≥ Z_MIN``
  (sd of the matching binomial sum).  A handful of sure claims leaks; a heap
  of claims no better than chance does not.
* **a linking attack succeeds** (the control's bar) when it makes at least
  :data:`MIN_CLAIMS` claims with ``precision ≥ CONTROL_PRECISION`` and it leaks;
  ``link_by_repeated_values`` also needs ``recall ≥ CONTROL_RECALL``.
* **the search succeeds** when it finds an identifier of at least
  :data:`CONTROL_FOUND` of the people; against the new format it must find none.
* **the stranger test passes** when no attack leaks and the search finds
  nothing, on an economy with at least :data:`MIN_TRUE_PAIRS` one-person unit
  pairs of each linked type, so a leak had room to show.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from tests.privacy.attacks import Find, Needle, Pair, spellings
from tests.privacy.economy import GroundTruth, Subject

MARGIN: Final = 0.05
Z_MIN: Final = 3.0
MIN_CLAIMS: Final = 30
CONTROL_PRECISION: Final = 0.9
CONTROL_RECALL: Final = 0.9
CONTROL_FOUND: Final = 0.9
MIN_TRUE_PAIRS: Final = 100


@dataclass(frozen=True, slots=True)
class LinkScore:
    """How a linking attack's claims fared."""

    claims: int  # distinct unit pairs claimed (claims inside one unit dropped)
    true_positives: int
    recall: float
    baseline: float  # precision of as many random claims of the same unit types
    z: float
    inside_unit: int  # claims the public is allowed to make: the entries of one unit
    unknown: int  # claims about entries without a subject (not about a card)

    @property
    def precision(self) -> float:
        return self.true_positives / self.claims if self.claims else 0.0

    @property
    def leaks(self) -> bool:
        return self.claims > 0 and self.precision >= self.baseline + MARGIN and self.z >= Z_MIN

    @property
    def succeeds(self) -> bool:
        return self.claims >= MIN_CLAIMS and self.precision >= CONTROL_PRECISION and self.leaks

    def __str__(self) -> str:
        return (
            f"{self.claims} claims, precision {self.precision:.3f} "
            f"(random {self.baseline:.3f}, z {self.z:.1f}), "
            f"recall {self.recall:.3f}; {self.inside_unit} inside one unit, {self.unknown} about no card"
        )


def _type_pair(a: Subject, b: Subject) -> tuple[str, str]:
    first, second = sorted((a.unit_type, b.unit_type))
    return first, second


def unit_pair_rates(
    subjects: Mapping[int, Subject],
) -> tuple[dict[tuple[str, str], float], dict[tuple[str, str], int]]:
    """For each pair of unit types: the share of one-person pairs among all unit pairs, and their number."""
    units = {subject.unit: subject for subject in subjects.values()}
    by_type = Counter(subject.unit_type for subject in units.values())
    by_type_person = Counter((subject.unit_type, subject.volunteer) for subject in units.values())
    rates: dict[tuple[str, str], float] = {}
    same: dict[tuple[str, str], int] = {}
    types = sorted(by_type)
    for i, t1 in enumerate(types):
        for t2 in types[i:]:
            if t1 == t2:
                total = by_type[t1] * (by_type[t1] - 1) // 2
                hits = sum(n * (n - 1) // 2 for (t, _), n in by_type_person.items() if t == t1)
            else:
                total = by_type[t1] * by_type[t2]
                hits = sum(
                    n * by_type_person[(t2, person)] for (t, person), n in by_type_person.items() if t == t1
                )
            rates[(t1, t2)] = hits / total if total else 0.0
            same[(t1, t2)] = hits
    return rates, same


def score_links(claims: Iterable[Pair], subjects: Mapping[int, Subject]) -> LinkScore:
    """Score entry-pair claims as unit pairs (see the module docstring)."""
    rates, same = unit_pair_rates(subjects)
    claimed: dict[tuple[str, str], tuple[Subject, Subject]] = {}
    inside = unknown = 0
    for a, b in claims:
        sa, sb = subjects.get(a), subjects.get(b)
        if sa is None or sb is None:
            unknown += 1
        elif sa.unit == sb.unit:
            inside += 1
        else:
            key = (sa.unit, sb.unit) if sa.unit < sb.unit else (sb.unit, sa.unit)
            claimed[key] = (sa, sb)
    hits = sum(1 for sa, sb in claimed.values() if sa.volunteer == sb.volunteer)
    expected = variance = 0.0
    for sa, sb in claimed.values():
        p = rates[_type_pair(sa, sb)]
        expected += p
        variance += p * (1 - p)
    n = len(claimed)
    z = (hits - expected) / math.sqrt(variance) if variance > 0 else (math.inf if hits > expected else 0.0)
    total_true = sum(same.values())
    return LinkScore(
        claims=n,
        true_positives=hits,
        recall=hits / total_true if total_true else 0.0,
        baseline=expected / n if n else 0.0,
        z=z,
        inside_unit=inside,
        unknown=unknown,
    )


def needles(truth: GroundTruth) -> list[Needle]:
    """Every identifier of every person, in every spelling :func:`tests.privacy.attacks.search_ids` tries."""
    out: list[Needle] = []
    for person in truth.people:
        label = person.volunteer_id
        plain = [
            ("volunteer ID", person.volunteer_id.encode()),
            ("name", person.name.encode()),
            ("Ehrenamtskarte number", person.ehrenamtskarte.encode()),
        ]
        for card in person.cards:
            plain += [
                ("card ID", card.card_id.encode()),
                ("UID hex", card.uid.hex().encode()),
                ("UID HEX", card.uid.hex().upper().encode()),
                ("UID", card.uid),
                ("UID pseudonym", card.uid_pseudonym.encode()),
            ]
        for what, value in plain:
            out.extend(spellings(label, what, value))
    return out


@dataclass(frozen=True, slots=True)
class SearchScore:
    people: int
    found: frozenset[str]  # the people some identifier of whom was found
    kinds: frozenset[str]  # which spellings were found

    @property
    def share(self) -> float:
        return len(self.found) / self.people if self.people else 0.0

    @property
    def succeeds(self) -> bool:
        return self.share >= CONTROL_FOUND

    @property
    def leaks(self) -> bool:
        return bool(self.found)

    def __str__(self) -> str:
        return f"identifiers of {len(self.found)}/{self.people} people found, as {sorted(self.kinds)[:8]}"


def score_search(finds: Iterable[Find], truth: GroundTruth) -> SearchScore:
    finds = list(finds)
    return SearchScore(
        people=len(truth.people),
        found=frozenset(find.needle.person for find in finds),
        kinds=frozenset(find.needle.what for find in finds),
    )
