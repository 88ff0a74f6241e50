# SPDX-License-Identifier: GPL-2.0-or-later
"""Sparse memory sections and their memory map, modelled on mm/sparse.c (Linux 6.1, and
7.2 where the profile says so).

``memblocks_present`` marks every section holding RAM present (with the node of the first
range that touches it); only present sections get a memory map, so only their pfns are
valid.  ``sparse_init`` makes the boot allocations for them: the section root array, one
root page per 128 sections, each node's usemap (next to its NODE_DATA), a buffer for the
node's struct pages, and the vmemmap page tables (arch/x86/mm/init_64.c).  7.2 has no
buffer and puts the usemaps anywhere on the node (``sparse_usage_init``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.kernel import memblock as mbk
from memhp.kernel.profile import KernelProfile

MAX_DMA_ADDRESS = 16 << 20  # __pa(MAX_DMA_ADDRESS) on x86_64
PMD_SIZE = 1 << 21


@dataclass(frozen=True)
class SparseMap:
    """Present sections (sorted section numbers), each section's node, and their size."""

    present: tuple[int, ...]
    pages_per_section: int
    section_nid: tuple[int | None, ...] = ()
    _set: frozenset[int] = field(default=frozenset(), repr=False, compare=False)

    def is_present(self, section_nr: int) -> bool:
        """present_section_nr()."""
        return section_nr in self._set

    def present_pages_in(self, start_pfn: int, end_pfn: int) -> int:
        """Pages of ``[start_pfn, end_pfn)`` whose section is present (pfn_valid)."""
        pps = self.pages_per_section
        total = 0
        for nr in range(start_pfn // pps, -(-end_pfn // pps)):
            if nr in self._set:
                total += min(end_pfn, (nr + 1) * pps) - max(start_pfn, nr * pps)
        return total


def memblocks_present(mb: mbk.Memblock, prof: KernelProfile) -> SparseMap:
    """memblocks_present()/memory_present(): sections touched by RAM, first node wins."""
    shift = prof.section_size_bits - prof.page_shift
    nids: dict[int, int | None] = {}
    for start_pfn, end_pfn, nid in mbk.mem_pfn_ranges(mb, None, prof.page_shift):
        for nr in range(start_pfn >> shift, ((end_pfn - 1) >> shift) + 1):
            nids.setdefault(nr, nid)
    present = tuple(sorted(nids))
    return SparseMap(present, prof.pages_per_section, tuple(nids[n] for n in present),
                     frozenset(present))


@dataclass
class MemmapRun:
    """Where the struct pages (2M of vmemmap each) of a run of sections were put: section
    ``section + k`` at ``addr + k * step``."""

    section: int
    count: int
    nid: int
    addr: int
    step: int
    from_buffer: bool

    def sections_in(self, lo: int, hi: int) -> list[int]:
        """The sections of the run whose struct pages lie in ``[lo, hi)``."""
        return [self.section + k for k in range(self.count) if lo <= self.addr + k * self.step < hi]


@dataclass
class SparseAllocs:
    """What sparse_init() allocated, for explanations and pictures."""

    usemaps: dict[int, int] = field(default_factory=dict)  # nid -> address
    buffers: dict[int, int] = field(default_factory=dict)  # nid -> address (0: failed)
    memmaps: list[MemmapRun] = field(default_factory=list)
    tables: list[int] = field(default_factory=list)  # vmemmap page-table pages

    def add(self, section: int, nid: int, addr: int, from_buffer: bool, size: int) -> None:
        runs = self.memmaps
        if runs:
            r = runs[-1]
            step = addr - (r.addr + (r.count - 1) * r.step)
            if (r.nid == nid and r.from_buffer == from_buffer and section == r.section + r.count
                    and abs(step) == size and (r.count == 1 or step == r.step)):
                r.step, r.count = step, r.count + 1
                return
        runs.append(MemmapRun(section, 1, nid, addr, size, from_buffer))


def _alloc(mb: mbk.Memblock, size: int, align: int, lo: int, hi: int, nid: int,
           caller: str, exact: bool = False) -> int:
    return mbk.memblock_alloc_internal(mb, size, align, lo, hi, nid, exact, caller)


def vmemmap_tables(mb: mbk.Memblock, prof: KernelProfile, tables: set[tuple[str, int]],
                   pfn: int, nid: int, out: SparseAllocs) -> None:
    """vmemmap_{pgd,p4d,pud}_populate(): the page-table pages a section's vmemmap needs
    (vmemmap_alloc_block_zero, from memblock on the node)."""
    va = pfn * prof.struct_page_size  # offset from vmemmap_base
    need = [("pud", va >> 39), ("pmd", va >> 30)]
    if prof.pgtable_levels == 5:
        need.insert(0, ("p4d", va >> 48))
    for key in need:
        if key not in tables:
            tables.add(key)
            out.tables.append(_alloc(mb, prof.page_size, prof.page_size, MAX_DMA_ADDRESS,
                                     mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid,
                                     "vmemmap_alloc_block_zero"))


def populate_section_memmaps(mb: mbk.Memblock, prof: KernelProfile,
                             tables: set[tuple[str, int]], sections: list[int], nid: int,
                             take: list[int], out: SparseAllocs) -> None:
    """vmemmap_populate() with 2M pages for each section, in order: page tables as needed,
    then the struct pages from the node's sparse buffer, else from memblock (any node).

    Sections that need no new page table are done as one run of identical requests.
    """
    pps, size = prof.pages_per_section, PMD_SIZE
    per_section = max(1, prof.pages_per_section * prof.struct_page_size // PMD_SIZE)
    i = 0
    while i < len(sections):
        vmemmap_tables(mb, prof, tables, sections[i] * pps, nid, out)
        j = i + 1  # extend the run while the same PMD table serves
        while j < len(sections) and (sections[j] * pps * prof.struct_page_size >> 30) == (
                sections[i] * pps * prof.struct_page_size >> 30):
            j += 1
        run = sections[i:j]
        need = len(run) * per_section
        nbuf = min(need, (take[1] - take[0]) // size) if take else 0
        base = take[0] if take else 0
        if take:
            take[0] += nbuf * size
        rest = mbk.memblock_alloc_repeat(mb, need - nbuf, size, size, MAX_DMA_ADDRESS,
                                         mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid, False,
                                         "vmemmap_populate") if nbuf < need else []
        nsec_buf = nbuf // per_section
        if nsec_buf and run[nsec_buf - 1] - run[0] == nsec_buf - 1:
            out.memmaps.append(MemmapRun(run[0], nsec_buf, nid, base, size * per_section, True))
        else:
            for k in range(nsec_buf):
                out.add(run[k], nid, base + k * per_section * size, True, size * per_section)
        for k in range(nsec_buf, len(run)):
            out.add(run[k], nid, rest[(k - nsec_buf) * per_section], False, size * per_section)
        i = j


def sparse_init(mb: mbk.Memblock, sparse: SparseMap, node_data: dict[int, int],
                online: list[int], prof: KernelProfile) -> SparseAllocs:
    """sparse_init(): the memory-map allocations of every present section, node by node."""
    out = SparseAllocs()
    # memblocks_present(): the mem_section root array (CONFIG_SPARSEMEM_EXTREME)
    sections_per_root = prof.page_size // prof.mem_section_size
    nr_roots = (1 << (prof.max_physmem_bits - prof.section_size_bits)) // sections_per_root
    _alloc(mb, nr_roots * 8, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, mbk.NUMA_NO_NODE,
           "sparse_init")
    roots: set[int] = set()
    for nr, nid in zip(sparse.present, sparse.section_nid, strict=True):
        if nr // sections_per_root not in roots:
            roots.add(nr // sections_per_root)
            _alloc(mb, prof.page_size, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE,
                   nid if nid is not None else 0, "sparse_index_alloc")
    groups: list[tuple[int, list[int]]] = []
    for nr, nid in zip(sparse.present, sparse.section_nid, strict=True):
        n = nid if nid is not None else 0
        if groups and groups[-1][0] == n:
            groups[-1][1].append(nr)
        else:
            groups.append((n, [nr]))
    tables: set[tuple[str, int]] = set()
    map_size = -(-prof.pages_per_section * prof.struct_page_size // PMD_SIZE) * PMD_SIZE
    for nid, sections in groups:
        size = prof.mem_section_usage_size * len(sections)
        if prof.has("sparse_usage_on_node"):
            # sparse_usage_init(): the node's usemaps anywhere on the node; then the struct
            # pages of each section straight from memblock, no per-node buffer
            out.usemaps[nid] = _alloc(mb, size, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid,
                                      "sparse_init_nid")
            populate_section_memmaps(mb, prof, tables, sections, nid, [], out)
            continue
        # sparse_early_usemaps_alloc_pgdat_section(): in the section of NODE_DATA(nid)
        pgdat = node_data.get(nid, 0)
        sec_bytes = 1 << prof.section_size_bits
        goal = pgdat & ~(sec_bytes - 1)
        limit = goal + sec_bytes
        unid = mbk.memblock_search_pfn_nid(mb, goal >> prof.page_shift, prof.page_shift)
        unid = unid if unid is not None else min(online or [0])
        usage = _alloc(mb, size, 64, goal, limit, unid, "sparse_init_nid")
        if not usage:
            usage = _alloc(mb, size, 64, goal, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, unid,
                           "sparse_init_nid")
        out.usemaps[nid] = usage
        # sparse_buffer_init(): struct pages of all the node's sections, on the node only
        buf_size = map_size * len(sections)
        buf = _alloc(mb, buf_size, map_size, MAX_DMA_ADDRESS, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid,
                     "sparse_init_nid", exact=True)
        out.buffers[nid] = buf
        take = [buf, buf + buf_size] if buf else []
        populate_section_memmaps(mb, prof, tables, sections, nid, take, out)
        if take and take[0] < take[1]:  # sparse_buffer_fini()
            mbk.memblock_phys_free(mb, take[0], take[1] - take[0], "sparse_buffer_fini")
    return out
