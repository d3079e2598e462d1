"""Coverage-guided fuzzing of one parser with atheris (optional: ``pip install atheris``).

The same targets as the Hypothesis tests (tests/fuzz_targets.py), the same rule: only
the documented errors may escape.  atheris is libFuzzer for Python; it is not a
dependency of the project (it has wheels for x86-64 Linux only), so this runner is
for a developer's machine, not CI.  Example::

    python -m tests.fuzz_atheris trust_resigned -atheris_runs=200000
    python -m tests.fuzz_atheris --list

Arguments after the target name go to libFuzzer (``-max_total_time=60``, a corpus
folder, ...).  The target's valid seeds are written to a fresh corpus folder first
when none is given, so mutation starts from real inputs.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        print("atheris is not installed: pip install atheris (x86-64 Linux wheels)", file=sys.stderr)
        return 2
    with atheris.instrument_imports():
        from tests.fuzz_targets import COMMON_SEEDS, TARGETS, by_name
    if len(argv) < 2 or argv[1] in ("-h", "--help", "--list"):
        print("targets: " + " ".join(target.name for target in TARGETS))
        return 0 if len(argv) > 1 else 2
    target = by_name(argv[1])
    fuzzer_args = argv[2:]
    if not any(not arg.startswith("-") for arg in fuzzer_args):
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{target.name}-"))
        for index, seed in enumerate(target.seeds + COMMON_SEEDS):
            (corpus / f"seed-{index}").write_bytes(seed)
        fuzzer_args.append(str(corpus))

    def one_input(data: bytes) -> None:
        with contextlib.suppress(*target.allowed):  # the documented errors; anything else is a crash
            target.run(data)

    atheris.Setup([argv[0], *fuzzer_args], one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
