# SPDX-License-Identifier: GPL-2.0-or-later
"""Sets of physical address ranges with fast coverage queries, and long sequences kept as
runs of identical elements."""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cached_property
from itertools import accumulate, islice
from operator import itemgetter, sub
from typing import Generic, TypeVar, overload

__all__ = ["IdRuns", "IntSet", "Ranges", "Spans", "T", "intersect", "segments"]

T = TypeVar("T")


class Ranges:
    """Sorted, disjoint ``[start, end)`` ranges; how much of a window they cover, in log time."""

    def __init__(self, ranges: Iterable[tuple[int, int]]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for s, e in sorted(ranges):
            if s >= e:
                continue
            if ends and s <= ends[-1]:
                if e > ends[-1]:
                    ends[-1] = e
            else:
                starts.append(s)
                ends.append(e)
        self._set(starts, ends)

    def _set(self, starts: list[int], ends: list[int]) -> None:
        """Take sorted, disjoint, non-touching ranges as they are."""
        self.starts, self.ends = starts, ends

    @cached_property
    def prefix(self) -> list[int]:
        """Bytes covered below each range (made when first asked: many sets are only
        asked whether they meet or cover a window)."""
        return [0, *accumulate(map(sub, self.ends, self.starts))]

    def _upto(self, x: int) -> int:
        """Bytes covered below ``x``."""
        i = bisect.bisect_right(self.starts, x) - 1
        if i < 0:
            return 0
        return self.prefix[i] + min(x, self.ends[i]) - self.starts[i]

    def overlap(self, lo: int, hi: int) -> int:
        return self._upto(hi) - self._upto(lo) if lo < hi else 0

    def meets(self, lo: int, hi: int) -> bool:
        """Whether some range has a part in ``[lo, hi)``."""
        i = bisect.bisect_right(self.ends, lo)  # the first range that ends above ``lo``
        return lo < hi and i < len(self.starts) and self.starts[i] < hi

    def covers(self, lo: int, hi: int) -> bool:
        """Whether ``[lo, hi)`` lies wholly in the ranges."""
        i = bisect.bisect_right(self.starts, lo) - 1
        return lo >= hi or (i >= 0 and hi <= self.ends[i])

    def minus(self, *cuts: tuple[int, int]) -> Ranges:
        """These ranges less every ``[lo, hi)`` of ``cuts``."""
        starts, ends = self.starts[:], self.ends[:]
        for lo, hi in cuts:
            i = bisect.bisect_right(ends, lo)  # the first range that ends above lo
            j = bisect.bisect_left(starts, hi)  # the ranges before j start below hi
            if lo < hi and i < j:
                keep = [(a, b) for a, b in ((starts[i], lo), (hi, ends[j - 1])) if a < b]
                starts[i:j] = [a for a, _ in keep]
                ends[i:j] = [b for _, b in keep]
        out = Ranges(())
        out._set(starts, ends)
        return out


class Spans(Generic[T]):
    """``[start, end)`` spans with a value each, which may overlap (nodes that interleave):
    the ones that meet a window found by bisection (by start, with the highest end reached
    so far), at the cost of the answer rather than of all the spans."""

    def __init__(self, spans: Iterable[tuple[int, int, T]]) -> None:
        self.items = sorted(spans, key=itemgetter(0, 1))
        self.starts = [s for s, _, _ in self.items]
        # the highest end of the spans up to each: the spans before the first that starts
        # above ``lo`` hold all of ``[lo, hi)`` only if one of them reaches ``hi``
        self.reach = list(accumulate((e for _, e, _ in self.items), max))

    def meeting(self, lo: int, hi: int) -> list[tuple[int, int, T]]:
        """The spans with a part in ``[lo, hi)`` (start below ``hi``, end above ``lo``), by
        start.  Those from ``last`` on start at or above ``hi``; those before ``first`` all
        end at or below ``lo``."""
        first = bisect.bisect_right(self.reach, lo)
        last = bisect.bisect_left(self.starts, hi)
        return [s for s in self.items[first:last] if s[1] > lo]

    def covering(self, lo: int, hi: int) -> list[tuple[int, int, T]]:
        """The spans that hold all of ``[lo, hi)`` (start at or below ``lo``, end at or above
        ``hi``), by start."""
        last = bisect.bisect_right(self.starts, lo)  # the spans before it start at or below lo
        if not last or self.reach[last - 1] < hi:
            return []
        first = bisect.bisect_left(self.reach, hi, 0, last)
        return [s for s in self.items[first:last] if s[1] >= hi]

    def meets(self, lo: int, hi: int) -> bool:
        """Whether some span has a part in ``[lo, hi)``."""
        return bisect.bisect_right(self.reach, lo) < bisect.bisect_left(self.starts, hi)


def segments(lo: int, hi: int, cuts: list[int],
             starts: Sequence[int] = ()) -> Iterator[tuple[int, int]]:
    """``[lo, hi)`` split so that every id in ``cuts`` (sorted) is a segment of its own and
    the ids between cuts are one segment each; a segment also begins at every id in
    ``starts`` (sorted).  Where the cuts are the ids that hold a boundary of anything a
    verdict depends on, and the starts the ids that a boundary falls right before, each
    segment is uniform: its first element stands for all of it."""
    if starts:
        inner = starts[bisect.bisect_right(starts, lo):bisect.bisect_left(starts, hi)]
        bounds = [lo, *inner, hi]
        for a, b in zip(bounds, bounds[1:], strict=False):
            yield from segments(a, b, cuts)
        return
    i = bisect.bisect_left(cuts, lo)
    at = lo
    while at < hi:
        nxt = cuts[i] if i < len(cuts) else hi
        if nxt < at:
            i += 1
            continue
        if nxt == at:
            yield at, at + 1
            at += 1
            i += 1
            continue
        end = min(nxt, hi)
        yield at, end
        at = end


class IdRuns(Sequence[T]):
    """A long sequence of elements numbered by id, kept as runs ``(first id, count, element)``
    of elements that differ only in their id (ids ascend, a run's ids are consecutive).

    Indexing and iterating make each element (``make(element, id)``), so reading them all
    costs their number; ``runs``, ``by_id`` and ``spans`` cost the number of runs.  Two
    neighbouring runs join when their elements are alike: ``make`` gives equal ones at the
    same id (``alike``, when given, says so without making them).  ``joined``: the runs are
    joined so already (as ``replaced`` gives them), and taken as they are.
    """

    def __init__(self, runs: Iterable[tuple[int, int, T]], make: Callable[[T, int], T],
                 alike: Callable[[T, T], bool] | None = None, joined: bool = False) -> None:
        self.make, self._alike = make, alike
        out = list(runs) if joined else self._join(runs, [])
        self.runs = out
        # position of each run's first element in the sequence
        self._index = [0, *accumulate(c for _, c, _ in out)]
        self._firsts = [f for f, _, _ in out]

    def __len__(self) -> int:
        return self._index[-1]

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> list[T]: ...

    def __getitem__(self, i: int | slice) -> T | list[T]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        r = bisect.bisect_right(self._index, i) - 1
        first, _, value = self.runs[r]
        return self.make(value, first + i - self._index[r])

    def __iter__(self) -> Iterator[T]:
        for first, count, value in self.runs:
            for k in range(count):
                yield self.make(value, first + k)

    def by_id(self, ident: int) -> T | None:
        """The element with this id, or None."""
        r = bisect.bisect_right(self._firsts, ident) - 1
        if r < 0:
            return None
        first, count, value = self.runs[r]
        return self.make(value, ident) if ident < first + count else None

    def run_end(self, ident: int) -> int:
        """The id after the last one of the run that holds ``ident`` (``ident`` if none)."""
        r = bisect.bisect_right(self._firsts, ident) - 1
        if r < 0 or ident >= self.runs[r][0] + self.runs[r][1]:
            return ident
        return self.runs[r][0] + self.runs[r][1]

    def _join(self, runs: Iterable[tuple[int, int, T]],
              out: list[tuple[int, int, T]]) -> list[tuple[int, int, T]]:
        """``runs`` put after ``out`` (empty ones left out), each joining the run before it
        where their elements are alike; returns ``out``."""
        for first, count, value in runs:
            if count <= 0:
                continue
            if out:
                f0, c0, v0 = out[-1]
                if f0 + c0 == first and (v0 is value or (
                        self._alike(v0, value) if self._alike
                        else self.make(v0, first) == self.make(value, first))):
                    out[-1] = (f0, c0 + count, v0)
                    continue
            out.append((first, count, value))
        return out

    def replaced(self, new: dict[int, T]) -> list[tuple[int, int, T]]:
        """The runs with the element of each id in ``new`` replaced: a run of its own, and
        the rest of the run it split keeps its element, made at the rest's first id.  They
        come joined as the constructor joins them: only a piece of a split run can join a
        neighbour, the other runs being joined already."""
        out: list[tuple[int, int, T]] = []
        ids = sorted(new)
        done = 0  # the runs before this one are in ``out``
        for r in sorted({bisect.bisect_right(self._firsts, i) - 1 for i in ids} - {-1}):
            first, count, value = self.runs[r]
            self._join(self.runs[done:done + 1] if done < r else (), out)
            out += self.runs[done + 1:r]
            self._join(((lo, hi - lo, new[lo] if lo in new else
                         value if lo == first else self.make(value, lo))
                        for lo, hi in segments(first, first + count, ids)), out)
            done = r + 1
        self._join(self.runs[done:done + 1], out)
        out += self.runs[done + 1:]
        return out

    def runs_from(self, ident: int) -> Iterator[tuple[int, int, T]]:
        """The runs from the one that holds ``ident`` (or the first one above it) on."""
        r = bisect.bisect_right(self._firsts, ident) - 1
        if r < 0 or ident >= self.runs[r][0] + self.runs[r][1]:
            r += 1
        return islice(self.runs, r, None)

    def spans(self, keep: Callable[[T], bool] = lambda _: True) -> list[tuple[int, int]]:
        """``[first, end)`` id spans of the elements that ``keep`` accepts, joined."""
        out: list[tuple[int, int]] = []
        for first, count, value in self.runs:
            if keep(value):
                if out and out[-1][1] == first:
                    out[-1] = (out[-1][0], first + count)
                else:
                    out.append((first, first + count))
        return out


def intersect(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The common part of two sorted lists of disjoint ``[start, end)`` spans."""
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class IntSet:
    """A set of integers kept as sorted, disjoint ``[start, end)`` spans."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def __contains__(self, x: int) -> bool:
        i = bisect.bisect_right(self.starts, x) - 1
        return i >= 0 and x < self.ends[i]

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))

    def add_range(self, lo: int, hi: int) -> None:
        """Add ``[lo, hi)``, joining the spans it meets or touches."""
        if lo >= hi:
            return
        i = bisect.bisect_left(self.ends, lo)  # first span that ends at or after lo
        j = bisect.bisect_right(self.starts, hi)  # spans before j start at or before hi
        if i < j:
            lo, hi = min(lo, self.starts[i]), max(hi, self.ends[j - 1])
        self.starts[i:j] = [lo]
        self.ends[i:j] = [hi]

    def add(self, x: int) -> None:
        self.add_range(x, x + 1)

    def discard(self, x: int) -> None:
        i = bisect.bisect_right(self.starts, x) - 1
        if i < 0 or x >= self.ends[i]:
            return
        s, e = self.starts[i], self.ends[i]
        parts = [(a, b) for a, b in ((s, x), (x + 1, e)) if a < b]
        self.starts[i:i + 1] = [a for a, _ in parts]
        self.ends[i:i + 1] = [b for _, b in parts]

    def missing(self, lo: int, hi: int) -> int:
        """How many of ``[lo, hi)`` are not in the set."""
        n = hi - lo
        i = bisect.bisect_right(self.ends, lo)  # first span that ends after lo
        while i < len(self.starts) and self.starts[i] < hi:
            n -= min(hi, self.ends[i]) - max(lo, self.starts[i])
            i += 1
        return max(n, 0)

    def first_from(self, x: int) -> int | None:
        """The least member at or above ``x``, or None."""
        i = bisect.bisect_right(self.ends, x)
        if i >= len(self.starts):
            return None
        return max(x, self.starts[i])
