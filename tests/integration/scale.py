"""How big the reliability harness runs: a bounded slice in ``make test``, the full size under ``make chaos``.

Each test names two sizes, the slice CI runs and the full size.  The environment
variable ``KOKREATIV_CHAOS_SCALE`` picks between them: unset or ``0`` gives the
slice, ``1`` the full size (``make chaos`` sets it), and a fraction in between
a proportional size, never below the slice::

    kills = scaled(ci=5, full=1000)   # 5 in CI, 1000 under make chaos, 100 at 0.1

``KOKREATIV_CHAOS_SEED`` fixes the seed of every seeded fault (default 16), so a
failing run can be repeated exactly.
"""

from __future__ import annotations

import os

SCALE_VARIABLE = "KOKREATIV_CHAOS_SCALE"
SEED_VARIABLE = "KOKREATIV_CHAOS_SEED"


def chaos_scale() -> float:
    """The fraction of the full size to run, from ``KOKREATIV_CHAOS_SCALE`` (0 when unset)."""
    raw = os.environ.get(SCALE_VARIABLE, "").strip()
    if not raw:
        return 0.0
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{SCALE_VARIABLE} must be between 0 and 1, not {raw}")
    return value


def scaled(*, ci: int, full: int) -> int:
    """``ci`` in the normal suite, ``full`` at scale 1, and ``full × scale`` in between (at least ``ci``)."""
    return max(ci, round(full * chaos_scale()))


def chaos_seed() -> int:
    """The seed for seeded faults (``KOKREATIV_CHAOS_SEED``, default 16)."""
    return int(os.environ.get(SEED_VARIABLE, "16"))


REPORT_VARIABLE = "KOKREATIV_CHAOS_REPORT"


def report_figure(what: str, count: int, **details: object) -> None:
    """Append one figure of the harness to the file named by ``KOKREATIV_CHAOS_REPORT``, if set.

    ``make chaos`` collects them for docs/operations.md ("Reliability"); the normal suite writes nothing.
    """
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    extra = "".join(f", {key}={value}" for key, value in details.items())
    with open(path, "a", encoding="utf-8") as report:
        report.write(f"{what}: {count}{extra}\n")
