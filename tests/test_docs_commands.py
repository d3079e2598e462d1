"""Every ``kokreativ …`` command in README.md and docs/*.md parses with the real CLI parser.

An operator copies these lines on a first day; a command the docs name but the
CLI no longer takes (a renamed option, a ``--config`` that became required)
fails here, not on a broken kiosk.  Only parsing is checked (``build_parser``,
no command runs), so the test needs no server, reader or data folder.

What counts as a command: a fenced code block line, or an inline code span
(which may wrap across lines), where ``kokreativ`` (or ``…/bin/kokreativ``) is
in command position: at the start, after a shell prompt, ``sudo [-u USER]``,
``VAR=value`` assignments, or after `` | ``, ``&&``, ``;`` or ``$(`` (``a|b``
without blanks is a choice); ``kokreativ`` followed by a wide gap is a column
of a package listing.  Lines
ending in ``\\`` continue.  Placeholders become values: ``<id>`` and a lone
``…`` after an option become ``X``, a lone ``…`` elsewhere is dropped,
``[--flag]`` is kept without its brackets, and ``a|b`` inside one word takes ``a``.
An inline span that only names a command may leave out its required arguments
(prose refers to it; with any option it must be complete, like a code block), and a placeholder (``FILE``,
``VKEY``, ``s_…``) may fail an option's type or choices.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from kokreativ.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_INLINE = re.compile(r"`([^`]+)`")
_SEGMENT = re.compile(r"\|\||&&|;|\s\|\s|\$\(")  # "a|b" without blanks is a choice, not a pipe
_PREFIX = re.compile(
    r"^(?:[\w.@~:/-]*[$#]\s+)?"  # a shell prompt: "$ ", "pi@kiosk:~$ ", "# "
    r"(?:(?:sudo(?:\s+-u\s+\S+)?|exec|time|env)\s+)*"
    r"(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"  # VAR=value before the command
)
_COMMAND = re.compile(r"^(?:\S*/bin/)?kokreativ(?=\s|$)")
_LISTING = re.compile(r"^kokreativ\s{3,}\S")  # a column in a package listing, not a command
_PLACEHOLDER = re.compile(r"<[^<>\s]+>")
_ELLIPSIS = ("…", "...")


def _blocks(text: str) -> list[tuple[str, bool]]:
    """(candidate line, inline?) pairs: joined code-block lines and whole inline code spans."""
    found: list[tuple[str, bool]] = []
    prose: list[str] = []
    fenced = False
    pending = ""
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            pending = ""
            prose.append("")
            continue
        if not fenced:
            prose.append(line)
            continue
        prose.append("")
        joined = pending + line
        if joined.rstrip().endswith("\\"):
            pending = joined.rstrip()[:-1] + " "
            continue
        pending = ""
        found.append((joined, False))
    # Inline spans may wrap across lines; tables put them between pipes, which the span keeps out.
    for span in _INLINE.findall("\n".join(prose)):
        found.append((" ".join(span.split()), True))
    return found


def _commands_in(line: str) -> list[str]:
    """The kokreativ invocations in one shell line, comments stripped."""
    line = re.sub(r"(^|\s)#\s.*$", "", line) if not re.match(r"^\s*#\s*kokreativ", line) else line
    commands = []
    for segment in _SEGMENT.split(line):
        rest = _PREFIX.sub("", segment.strip(), count=1)
        if _COMMAND.match(rest) and not _LISTING.match(rest):
            commands.append(_COMMAND.sub("kokreativ", rest, count=1).rstrip(")").strip())
    return commands


def _argv(command: str) -> list[str]:
    """The command's arguments with the docs' placeholders turned into values argparse accepts."""
    try:
        words = shlex.split(command)[1:]
    except ValueError:  # an unbalanced quote in prose: split on blanks
        words = command.split()[1:]
    argv: list[str] = []
    for word in words:
        if word.startswith("[") and word.endswith("]"):
            word = word[1:-1]
        elif word.startswith("[-") or (word.endswith("]") and "[" not in word):
            word = word.strip("[]")
        if word in _ELLIPSIS:
            if argv and argv[-1].startswith("-"):
                argv.append("X")
            continue
        if "|" in word and not word.startswith("|"):
            word = word.split("|")[0]
        argv.append(_PLACEHOLDER.sub("X", word))
    return argv


def _parse_error(argv: list[str]) -> str | None:
    """None if ``kokreativ ARGV`` parses, else argparse's message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):  # --help and --version exit 0
            return err.getvalue().strip().splitlines()[-1]
    return None


_MISSING = re.compile(
    r"error: (?:the following arguments are required: (.*)|one of the arguments (.*) is required)$"
)
_BAD_VALUE = re.compile(r"error: argument (\S+): [^']*'([^']*)'")  # a failed type or choice
_PLACEHOLDER_WORD = re.compile(r"^(?:X|[A-Z][A-Z0-9_]*|.*….*)$")  # X, VKEY, FILE, s_…


def _check(argv: list[str], inline: bool) -> str | None:
    """None if the docs' line is fine, else argparse's complaint.

    A placeholder that an option's type or choices refuse (``--key VKEY``) is
    taken out and the rest of the line parsed again, so an unknown option after
    it is still caught; the option then only counts as given.  Prose may name a
    command by its name alone ("see `kokreativ server verify-store`") and leave
    its required arguments to its help.  Once a span gives an option or argument
    it is a line to copy (``kokreativ terminal sync --once``) and must be
    complete, like a code block.  An unknown command or option never passes.
    """
    named_only = inline and all(re.fullmatch(r"[a-z][a-z-]*", word) for word in argv)
    argv = list(argv)
    given: set[str] = set()
    while (error := _parse_error(argv)) is not None:
        bad = _BAD_VALUE.search(error)
        if bad and _PLACEHOLDER_WORD.match(bad.group(2)) and bad.group(2) in argv:
            options = bad.group(1).split("/")
            after = [i for i in range(1, len(argv)) if argv[i] == bad.group(2) and argv[i - 1] in options]
            at = after[0] if after else argv.index(bad.group(2))
            start = at - 1 if at and argv[at - 1].startswith("-") else at
            given.update(options)
            del argv[start : at + 1]
            continue
        missing = _MISSING.search(error)
        if missing is None:
            return error
        if missing.group(1) is not None:
            names = set(missing.group(1).split(", "))
            if names <= given:
                return None
        elif given & set(missing.group(2).split()):
            return None
        return None if named_only else error
    return None


def doc_commands() -> list[tuple[str, str, bool]]:
    """(file, command, inline?) for every kokreativ command in the docs."""
    commands = []
    for path in DOCS:
        for line, inline in _blocks(path.read_text(encoding="utf-8")):
            for command in _commands_in(line):
                commands.append((path.relative_to(ROOT).as_posix(), command, inline))
    return commands


def test_the_docs_name_many_commands():
    """A broken extractor would pass every check below with nothing to check."""
    commands = doc_commands()
    assert len(commands) > 100
    assert any(c == "kokreativ terminal sync --once" for _f, c, _i in commands)
    assert {f for f, _c, _i in commands} >= {"README.md", "docs/operations.md"}


def test_every_documented_command_parses():
    failures = []
    for file, command, inline in doc_commands():
        error = _check(_argv(command), inline)
        if error is not None:
            failures.append(f"{file}: {command}\n    {error}")
    assert not failures, "commands in the docs that the CLI refuses:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "doc",
    [
        "```\nkokreativ terminal frobnicate --config kiosk.toml\n```\n",
        "```\n$ kokreativ terminal sync --once \\\n    --no-such-option\n```\n",
        "Run `kokreativ server run --data /srv/x --colour blue` first.\n",
        "```\nkokreativ verify ledger URL --key VKEY --no-such-flag\n```\n",  # after a placeholder
        "Then `kokreativ terminal sync --once --config` again.\n",  # an option without its value
        "```\nsudo -u kokreativ-server /opt/kokreativ/.venv/bin/kokreativ nosuchgroup\n```\n",
    ],
)
def test_a_made_up_subcommand_or_option_is_caught(doc):
    commands = [c for line, _i in _blocks(doc) for c in _commands_in(line)]
    assert len(commands) == 1
    assert _check(_argv(commands[0]), inline=True) is not None


def test_prompts_placeholders_and_continuations_become_argv():
    doc = (
        "```\n"
        "$ KOKREATIV_SERVER=http://x kokreativ report volunteer v_… \\\n"
        "      --from 2026-11-01 --to 2026-11-30   # a month\n"
        "sudo usermod -aG plugdev kokreativ\n"
        "```\n"
        "and `kokreativ terminal sync --config\n/var/lib/kokreativ/kiosk.toml [--once]`.\n"
    )
    commands = [c for line, _i in _blocks(doc) for c in _commands_in(line)]
    assert [_argv(c) for c in commands] == [
        ["report", "volunteer", "v_…", "--from", "2026-11-01", "--to", "2026-11-30"],
        ["terminal", "sync", "--config", "/var/lib/kokreativ/kiosk.toml", "--once"],
    ]
    assert all(_parse_error(_argv(c)) is None for c in commands)
