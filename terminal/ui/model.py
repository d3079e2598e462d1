"""What a kiosk screen shows, as plain data: the contract between the presenter and the Kivy view.

The presenter (:mod:`terminal.ui.presenter`) turns tap outcomes, status
snapshots and touches into one :class:`Screen` at a time; the view
(:mod:`terminal.ui.view`) draws whatever screen it is given.  The view knows
four layouts and nothing about kiosks, so a new mode (the shop terminal, say)
adds screens, not view code:

* :attr:`Layout.IDLE`: a big prompt, a clock line and a status line;
* :attr:`Layout.RESULT`: a full-colour card with an icon, a title and a few lines;
* :attr:`Layout.KEYPAD`: a prompt, the digits typed so far and a 3×4 keypad,
  optionally with a column of quick-pick buttons (``choices``) and the status line;
* :attr:`Layout.MENU`: label/value rows, each with an optional button, and a column of buttons.

Colour, icon and sound must never contradict each other, so they all follow
from one :class:`Tone`: :data:`TONE_SIGNAL` says which indicator pattern (LEDs
and buzzer) a tone goes with, :data:`TONE_ICONS` which icons it may show, and
the view picks the colour from the tone alone.

No Kivy here: this module is imported by tests and by headless code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from hardware.indicator import Signal


class Layout(StrEnum):
    """Which of the view's four layouts draws a screen."""

    IDLE = "idle"
    RESULT = "result"
    KEYPAD = "keypad"
    MENU = "menu"


class Tone(StrEnum):
    """The screen's colour family; it fixes the sound and the icons too."""

    NEUTRAL = "neutral"  # idle, keypads and menus: dark background, no sound of their own
    OK = "ok"  # green: recorded
    INFO = "info"  # blue: nothing new recorded, nothing wrong (a double tap)
    DENIED = "denied"  # red: the card is refused
    ERROR = "error"  # amber: something went wrong; tap again or ask for help


class Icon(StrEnum):
    """The vector icons the view can draw (no icon font needed)."""

    CARD = "card"  # a card over the reader: "tap here"
    CHECK_IN = "check_in"  # an arrow into a door
    CHECK_OUT = "check_out"  # an arrow out of a door
    CHECK = "check"  # a tick
    REPEAT = "repeat"  # a double tick: already recorded
    CROSS = "cross"  # refused
    WARNING = "warning"  # a triangle with "!"
    LOCK = "lock"  # PIN entry
    GEAR = "gear"  # coordinator menu
    KEY = "key"  # enrolment
    COIN = "coin"  # a token: an amount to pay
    UNDO = "undo"  # an arrow turning back: a void
    NONE = "none"


TONE_SIGNAL: Final[dict[Tone, Signal | None]] = {
    Tone.NEUTRAL: None,
    Tone.OK: "ok",
    Tone.INFO: "ok",
    Tone.DENIED: "denied",
    Tone.ERROR: "error",
}
"""The indicator pattern (LEDs and buzzer) that goes with each tone; ``None``: no pattern."""

TONE_ICONS: Final[dict[Tone, frozenset[Icon]]] = {
    Tone.NEUTRAL: frozenset({Icon.CARD, Icon.LOCK, Icon.GEAR, Icon.KEY, Icon.COIN, Icon.UNDO, Icon.NONE}),
    Tone.OK: frozenset({Icon.CHECK_IN, Icon.CHECK_OUT, Icon.CHECK}),
    Tone.INFO: frozenset({Icon.REPEAT}),
    Tone.DENIED: frozenset({Icon.CROSS}),
    Tone.ERROR: frozenset({Icon.WARNING}),
}
"""The icons a tone may show: a green screen never shows a cross."""


@dataclass(frozen=True, slots=True)
class StatusLine:
    """The idle screen's bottom line, already translated, one short text per item."""

    connection: str  # "online" / "offline"
    online: bool
    pending: str  # "3 waiting to sync"
    last_sync: str  # "last sync 14:02"
    reader: str  # "reader ready" / "reader missing"
    reader_ok: bool


@dataclass(frozen=True, slots=True)
class Action:
    """A button: ``action_id`` goes back to the presenter when it is pressed."""

    action_id: str
    label: str
    primary: bool = False


@dataclass(frozen=True, slots=True)
class Screen:
    """One screen, fully translated.

    ``name`` identifies the screen for tests and screenshots (``idle``,
    ``check_in``, ``denied_card_blocked``, ``enrol_code`` …).  ``title`` is
    the big line, ``lines`` the smaller ones under it.  Per layout:

    * ``IDLE``: ``status`` and ``clock``;
    * ``KEYPAD``: ``entry`` is what to show in the entry field (digits or
      dots), ``max_digits`` how many keys are accepted, ``actions`` the buttons
      under the keypad (``ok`` and ``cancel``), ``error`` a line in red;
      ``choices`` a column of quick-pick buttons beside the keypad (a shop's
      till presets), ``status`` the status line along the bottom;
    * ``MENU``: ``rows`` as ``(label, value)`` and ``actions``;
      ``row_actions`` one optional button per row, at the row's end (``void``
      in a list of sales), empty or as long as ``rows``;
    * ``RESULT``: ``actions`` may add buttons (none for tap results).

    ``busy`` shows a spinner instead of accepting input (enrolment on the wire).
    ``long_press``: a press held on the screen's background (not on a key or
    button) calls :meth:`ScreenInput.long_press`; the ``IDLE`` layout always
    accepts one.
    """

    name: str
    layout: Layout
    tone: Tone
    icon: Icon
    title: str
    lines: tuple[str, ...] = ()
    status: StatusLine | None = None
    clock: str = ""
    entry: str = ""
    max_digits: int = 0
    rows: tuple[tuple[str, str], ...] = ()
    actions: tuple[Action, ...] = ()
    error: str = ""
    busy: bool = False
    choices: tuple[Action, ...] = ()
    row_actions: tuple[Action | None, ...] = ()
    long_press: bool = False

    def __post_init__(self) -> None:
        if self.row_actions and len(self.row_actions) != len(self.rows):
            raise ValueError(f"{self.name}: row_actions must match rows one to one")

    @property
    def accepts_long_press(self) -> bool:
        """Whether holding this screen opens the coordinator PIN (see ``long_press``)."""
        return self.long_press or self.layout is Layout.IDLE

    @property
    def signal(self) -> Signal | None:
        """The indicator pattern this screen goes with."""
        return TONE_SIGNAL[self.tone]

    def texts(self) -> list[str]:
        """Every text the screen shows, in reading order; what tests compare against the rendered widgets."""
        out = [self.title, *self.lines]
        if self.clock:
            out.append(self.clock)
        if self.status is not None:
            out += [self.status.connection, self.status.pending, self.status.last_sync, self.status.reader]
        if self.entry:
            out.append(self.entry)
        for label, value in self.rows:
            out += [label, value]
        out += [action.label for action in self.row_actions if action is not None]
        out += [action.label for action in self.actions]
        out += [action.label for action in self.choices]
        if self.error:
            out.append(self.error)
        return [text for text in out if text]


KEYPAD_KEYS: Final = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "back", "0", "clear")
"""The keypad's twelve keys in reading order; the view sends these IDs to :meth:`press_key`."""


class ScreenInput(Protocol):
    """Where the view sends touches; the presenter implements it.  Called on the UI thread."""

    def press_key(self, key: str) -> None:
        """A keypad key from :data:`KEYPAD_KEYS`."""

    def press_action(self, action_id: str) -> None:
        """A button of the current screen."""

    def long_press(self) -> None:
        """A press held for :data:`LONG_PRESS_S` on a screen that accepts one (opens the PIN keypad)."""


LONG_PRESS_S: Final = 3.0
