# SPDX-License-Identifier: GPL-2.0-or-later
"""Sparse memory sections, modelled on mm/sparse.c (Linux 6.1).

At boot ``memblocks_present()`` marks every section that holds any RAM present; only
present sections get a memory map, so only their pfns are valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from memhp.kernel import memblock as mbk
from memhp.kernel.profile import KernelProfile


@dataclass(frozen=True)
class SparseMap:
    """The present sections (as a sorted tuple of section numbers) and their size."""

    present: tuple[int, ...]
    pages_per_section: int

    def is_present(self, section_nr: int) -> bool:
        """present_section_nr()."""
        return section_nr in self._present_set

    @property
    def _present_set(self) -> frozenset[int]:
        return frozenset(self.present)

    def present_pages_in(self, start_pfn: int, end_pfn: int) -> int:
        """Pages of ``[start_pfn, end_pfn)`` whose section is present (pfn_valid)."""
        pps = self.pages_per_section
        total = 0
        for nr in self.present:
            lo, hi = max(start_pfn, nr * pps), min(end_pfn, (nr + 1) * pps)
            if lo < hi:
                total += hi - lo
        return total


def memblocks_present(mb: mbk.Memblock, prof: KernelProfile) -> SparseMap:
    """memblocks_present(): every section that a memory region touches is present."""
    shift = prof.section_size_bits - prof.page_shift
    present: set[int] = set()
    for start_pfn, end_pfn, _ in mbk.mem_pfn_ranges(mb, None, prof.page_shift):
        present.update(range(start_pfn >> shift, ((end_pfn - 1) >> shift) + 1))
    return SparseMap(tuple(sorted(present)), prof.pages_per_section)
