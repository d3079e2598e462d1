"""The reader options every ``kokreativ`` command spells the same way: ``--reader`` and ``--device``.

* ``--reader KIND`` is a reader *kind*: ``nfc`` (a real reader through nfcpy),
  ``stdin`` (one tap per input line) or ``sim`` (the simulated reader).  Only
  commands that can use more than one kind have it (``terminal run``,
  ``provision terminal enrol``).
* ``--device PATH`` is the nfcpy device of an ``nfc`` reader: ``usb``,
  ``usb:054c:06c3``, ``tty:AMA0:pn532``, ``udp:localhost:54321``.  Every
  command that opens a real reader takes it (``card inspect``, ``doctor``,
  ``provision card issue`` and ``register``, and the two above); kiosk.toml's
  key is ``device``.

Until issue 20 ``--reader`` was the device in ``card inspect``, ``doctor`` and
``provision card issue``/``register``, and ``--nfc-path`` the device elsewhere.
Their old spellings fail with one line ``kokreativ: error: option_renamed: …``
that names the new option, never silently doing something else.

Example::

    parser = argparse.ArgumentParser()
    add_device(parser, required=True)
    refuse_reader_path(parser)  # this command has no reader kind
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from protocol import Reason
from terminal.config import NFC_PATH_KINDS, READERS

DEVICE_EXAMPLES = "usb, usb:054c:06c3, tty:AMA0:pn532, udp:localhost:54321"
KINDS = "|".join(READERS)


def _renamed(parser: argparse.ArgumentParser, message: str) -> None:
    """Stop with the one-line error every ``kokreativ`` command prints (exit status 2)."""
    parser.exit(2, f"kokreativ: error: {Reason.OPTION_RENAMED.value}: {message}\n")


def _looks_like_device(value: str) -> bool:
    return value.split(":", 1)[0] in NFC_PATH_KINDS


class _ReaderKind(argparse.Action):
    """``--reader KIND``; a device path there is the old meaning, refused with the new option's name."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        value = str(values)
        if value in READERS:
            setattr(namespace, self.dest, value)
        elif _looks_like_device(value):
            _renamed(
                parser, f"--reader now takes {KINDS}; give the device as --device {value} (with --reader nfc)"
            )
        else:
            parser.error(f"argument --reader: invalid choice: {value!r} (choose from {', '.join(READERS)})")


class _ReaderWithoutKind(argparse.Action):
    """The hidden ``--reader`` of a command that always reads through nfcpy: points at ``--device``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        value = str(values)
        device = "usb" if value in READERS else value
        _renamed(
            parser,
            f"--reader now takes a reader kind ({KINDS}), and this command always reads through nfcpy; "
            f"give the device as --device {device}",
        )


class _NfcPath(argparse.Action):
    """The hidden ``--nfc-path`` of the commands that had it: it is ``--device`` now."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        _renamed(parser, f"--nfc-path is now --device; give the device as --device {values}")


def add_reader_kind(parser: argparse.ArgumentParser, *, default: str | None, help_text: str) -> None:
    """``--reader {nfc,stdin,sim}``, and the hidden ``--nfc-path`` that names ``--device``."""
    parser.add_argument(
        "--reader", action=_ReaderKind, default=default, metavar="{" + ",".join(READERS) + "}", help=help_text
    )
    parser.add_argument("--nfc-path", action=_NfcPath, help=argparse.SUPPRESS)


def add_device(
    group: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup,
    *,
    required: bool = False,
    help_text: str | None = None,
    checked: bool = True,
) -> None:
    """``--device PATH``: the nfcpy device of the reader (``usb``, ``tty:AMA0:pn532``, …).

    ``checked`` refuses a path nfcpy would not know at once; ``doctor`` takes any and explains it.
    """
    group.add_argument(
        "--device",
        required=required,
        metavar="PATH",
        type=_device if checked else str,
        help=help_text or f"the reader's nfcpy device: {DEVICE_EXAMPLES}",
    )


def refuse_reader_path(parser: argparse.ArgumentParser) -> None:
    """A hidden ``--reader`` for a command without reader kinds: its old meaning names ``--device``."""
    parser.add_argument("--reader", action=_ReaderWithoutKind, help=argparse.SUPPRESS)


def _device(value: str) -> str:
    if not _looks_like_device(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an nfcpy device; it starts with {', '.join(NFC_PATH_KINDS)} "
            f"(e.g. {DEVICE_EXAMPLES})"
        )
    return value
