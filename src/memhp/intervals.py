# SPDX-License-Identifier: GPL-2.0-or-later
"""Sets of physical address ranges with fast coverage queries."""

from __future__ import annotations

import bisect


class Ranges:
    """Sorted, disjoint ``[start, end)`` ranges; how much of a window they cover, in log time."""

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for s, e in sorted(r for r in ranges if r[0] < r[1]):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.starts = [s for s, _ in merged]
        self.ends = [e for _, e in merged]
        self.prefix = [0]
        for s, e in merged:
            self.prefix.append(self.prefix[-1] + e - s)

    def _upto(self, x: int) -> int:
        """Bytes covered below ``x``."""
        i = bisect.bisect_right(self.starts, x) - 1
        if i < 0:
            return 0
        return self.prefix[i] + min(x, self.ends[i]) - self.starts[i]

    def overlap(self, lo: int, hi: int) -> int:
        return self._upto(hi) - self._upto(lo) if lo < hi else 0

    def minus(self, cut: tuple[int, int]) -> Ranges:
        out = []
        for s, e in zip(self.starts, self.ends, strict=True):
            if s < cut[0]:
                out.append((s, min(e, cut[0])))
            if e > cut[1]:
                out.append((max(s, cut[1]), e))
        return Ranges(out)
