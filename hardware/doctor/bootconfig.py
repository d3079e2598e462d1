"""The Raspberry Pi's ``config.txt``: which model filters apply, and the settings that survive them.

The UART checks need to know what the firmware will actually apply, which
depends on section filters such as ``[pi4]`` or ``[cm5]``; that parsing lives
here so the checks read as checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

_MODEL_FILTERS = frozenset(
    {"pi0", "pi0w", "pi02", "pi1", "pi2", "pi3", "pi3+", "pi4", "pi400", "pi5", "pi500"}
    | {"cm0", "cm3", "cm3+", "cm4", "cm4s", "cm5", "none"}
)


def _model_tags(model: str | None) -> frozenset[str] | None:
    """The ``config.txt`` section filters (``[pi4]``, …) that apply to ``model``; ``None`` if unknown."""
    if model is None:
        return None
    table = (
        (r"Raspberry Pi 500", {"pi5", "pi500"}),
        (r"Raspberry Pi 5", {"pi5"}),
        (r"Compute Module 5", {"pi5", "cm5"}),
        (r"Raspberry Pi 400", {"pi4", "pi400"}),
        (r"Raspberry Pi 4", {"pi4"}),
        (r"Compute Module 4S", {"pi4", "cm4s"}),
        (r"Compute Module 4", {"pi4", "cm4"}),
        (r"Raspberry Pi 3 Model [AB] Plus", {"pi3", "pi3+"}),
        (r"Raspberry Pi 3", {"pi3"}),
        (r"Compute Module 3 Plus", {"pi3", "cm3", "cm3+"}),
        (r"Compute Module 3", {"pi3", "cm3"}),
        (r"Zero 2", {"pi0", "pi02"}),
        (r"Zero W", {"pi0", "pi0w"}),
        (r"Zero", {"pi0"}),
        (r"Raspberry Pi 2", {"pi2"}),
    )
    for pattern, tags in table:
        if re.search(pattern, model):
            return frozenset(tags)
    return frozenset({"pi1"})


def _uart_family(tags: frozenset[str] | None) -> Literal["pi5", "bluetooth", "plain", "unknown"]:
    """How the header UART is set up: Pi 5 style, PL011 lent to Bluetooth (Pi 3/4, Zero W), or plain."""
    if tags is None:
        return "unknown"
    if "pi5" in tags:
        return "pi5"
    if tags & {"pi4", "pi3", "pi0w", "pi02"} and not tags & {"cm3"}:
        return "bluetooth"
    return "plain"


@dataclass(frozen=True, slots=True)
class _BootConfig:
    """The settings of ``config.txt`` that apply to this model, in file order."""

    settings: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str, tags: frozenset[str] | None) -> _BootConfig:
        applies = True
        settings: list[tuple[str, str]] = []
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
                # Model filters apply to their family; other filters ([HDMI:0], [gpio4=1], …) depend on
                # things we cannot see, so they are assumed to apply.
                if section == "all":
                    applies = True
                elif section in _MODEL_FILTERS:
                    applies = section != "none" and (tags is None or section in tags)
                else:
                    applies = True
            elif "=" in line and applies:
                key, value = line.split("=", 1)
                settings.append((key.strip(), value.strip()))
        return cls(tuple(settings))

    def last(self, key: str) -> str | None:
        values = [v for k, v in self.settings if k == key]
        return values[-1] if values else None

    def dtparams(self) -> dict[str, str]:
        params: dict[str, str] = {}
        for key, value in self.settings:
            if key in ("dtparam", "device_tree_param"):
                for item in value.split(","):
                    name, _, val = item.partition("=")
                    params[name.strip()] = val.strip() or "on"
        return params

    def overlays(self) -> list[str]:
        return [
            v.split(",", 1)[0].strip() for k, v in self.settings if k in ("dtoverlay", "device_tree_overlay")
        ]


def _is_on(value: str | None) -> bool:
    return value is not None and value.lower() in ("on", "true", "yes", "1")
