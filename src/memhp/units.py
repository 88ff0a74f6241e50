# SPDX-License-Identifier: GPL-2.0-or-later
"""Numbers as people read them: sizes in binary units and lists of ids as ranges."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["human", "id_ranges", "id_spans"]


def human(n: int) -> str:
    """Bytes in binary units: 1.5 GiB, 640 KiB, 3 GiB."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def id_ranges(ids: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'.  (Its lists are a machine's CPUs, hundreds of them: the
    breaks between runs are found in one pass.)"""
    s = sorted(set(ids))
    if not s:
        return ""
    gaps = [(a, b) for a, b in zip(s, s[1:], strict=False) if b != a + 1]  # a run ends at a
    return id_spans(zip([s[0], *(b for _, b in gaps)], [*(a + 1 for a, _ in gaps), s[-1] + 1],
                        strict=True))


def id_spans(spans: Iterable[tuple[int, int]]) -> str:
    """Sorted ``[first, end)`` spans of ids: [(0, 3), (5, 6)] -> '0-2, 5'."""
    pairs: list[list[int]] = []
    for a, b in spans:
        if a >= b:
            continue
        if pairs and pairs[-1][1] >= a - 1:
            pairs[-1][1] = max(pairs[-1][1], b - 1)
        else:
            pairs.append([a, b - 1])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs)
