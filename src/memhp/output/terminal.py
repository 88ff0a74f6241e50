# SPDX-License-Identifier: GPL-2.0-or-later
"""Terminal presentation: aligned tables, colour only on a TTY (and never with NO_COLOR or
--no-color), sizes in human units or exact hex."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from memhp.units import human

__all__ = ["COLOURS", "Style", "style_for", "table"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLOURS = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "bold": "1", "dim": "2"}


@dataclass(frozen=True)
class Style:
    """How to print: with colour or not, sizes human or hex."""

    colour: bool = False
    hex_sizes: bool = False

    def paint(self, text: str, colour: str) -> str:
        return f"\x1b[{COLOURS[colour]}m{text}\x1b[0m" if self.colour else text

    def size(self, n: int) -> str:
        return f"{n:#x}" if self.hex_sizes else human(n)


def style_for(no_color: bool = False, hex_sizes: bool = False) -> Style:
    """Colour only when stdout is a terminal and nobody asked for none."""
    colour = sys.stdout.isatty() and not no_color and "NO_COLOR" not in os.environ
    return Style(colour, hex_sizes)


def table(header: list[str], rows: list[list[str]], style: Style) -> str:
    """Columns aligned on the visible text (colour codes do not count)."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(_ANSI.sub("", cell)))

    def line(cells: list[str]) -> str:
        parts = [c + " " * (widths[i] - len(_ANSI.sub("", c))) for i, c in enumerate(cells)]
        return "  ".join(parts).rstrip()

    out = [style.paint(line(header), "bold"), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out) + "\n"
