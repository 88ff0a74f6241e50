# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's own lines for a prediction, as dmesg would show them (no timestamps)."""

from __future__ import annotations

from memhp.kernel.setup import Boot

__all__ = ["render"]


def render(boot: Boot) -> str:
    lines = list(boot.log)
    lines.extend(f"memhp: {n}" for n in boot.notes)
    return "\n".join(lines) + "\n"
