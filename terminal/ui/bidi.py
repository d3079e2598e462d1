"""Right-to-left text for Kivy's SDL2 text provider, which draws characters one by one, left to right.

Arabic written that way comes out wrong twice: letters unjoined (each in its
isolated form) and words in reverse order.  This module turns a logical
string, as the catalogues hold it, into what SDL2 must draw:
``arabic_reshaper`` picks each letter's joined form (presentation forms,
which the kiosk's font has), and ``python-bidi`` reorders the characters for
display by the Unicode bidirectional algorithm, so numbers and Latin names
inside Arabic stay left to right.

Only the view calls this, just before a text is drawn
(:class:`terminal.ui.widgets.FitLabel` with ``rtl``): screens, presenters and
their tests keep the logical text.  Wrapping must happen before reordering,
or the first drawn line would hold the end of the sentence, so
:func:`visual_lines` breaks the logical text into lines that fit first and
reorders each line on its own.  No Kivy here: this module tests without a
window.

Example::

    visual("ضع بطاقتك")                       # joined letters, right to left
    visual_lines(text, fits=lambda line: width(line) <= box_width)
"""

from __future__ import annotations

from collections.abc import Callable


def visual(line: str) -> str:
    """One line of logical text as SDL2 must draw it: letters joined, characters in display order.

    The two libraries are imported here, at the first right-to-left text: together they
    take about 6 MB, which a kiosk that shows no such language never pays.
    """
    import arabic_reshaper

    # The pure-Python algorithm: it mirrors brackets, the Rust one does not.
    from bidi.algorithm import get_display

    return str(get_display(arabic_reshaper.reshape(line), base_dir="R"))


def wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` broken between words into logical lines for which ``fits`` holds (a single long word
    gets a line of its own); each ``\\n`` starts a new line."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and not fits(candidate):
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def visual_lines(text: str, fits: Callable[[str], bool]) -> str:
    """``text`` wrapped with ``fits`` (which is asked about the drawn form of a line), each line in
    display order, joined by ``\\n``: ready for a right-aligned label that does not wrap again."""
    return "\n".join(visual(line) for line in wrap(text, lambda line: fits(visual(line))))
