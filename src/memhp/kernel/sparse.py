# SPDX-License-Identifier: GPL-2.0-or-later
"""Sparse memory sections and their memory map, modelled on mm/sparse.c (Linux 6.1).

``memblocks_present`` marks every section holding RAM present (with the node of the first
range that touches it); only present sections get a memory map, so only their pfns are
valid.  ``sparse_init`` makes the boot allocations for them: the section root array, one
root page per 128 sections, each node's usemap (next to its NODE_DATA), a buffer for the
node's struct pages, and the vmemmap page tables (arch/x86/mm/init_64.c).
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
class SectionMemmap:
    """Where one section's struct pages (2M of vmemmap) were put."""

    section: int
    nid: int
    addr: int
    from_buffer: bool


@dataclass
class SparseAllocs:
    """What sparse_init() allocated, for explanations and pictures."""

    usemaps: dict[int, int] = field(default_factory=dict)  # nid -> address
    buffers: dict[int, int] = field(default_factory=dict)  # nid -> address (0: failed)
    memmaps: list[SectionMemmap] = field(default_factory=list)
    tables: list[int] = field(default_factory=list)  # vmemmap page-table pages


def _alloc(mb: mbk.Memblock, size: int, align: int, lo: int, hi: int, nid: int,
           caller: str, exact: bool = False) -> int:
    return mbk.memblock_alloc_internal(mb, size, align, lo, hi, nid, exact, caller)


def vmemmap_populate(mb: mbk.Memblock, prof: KernelProfile, tables: set[tuple[str, int]],
                     pfn: int, nid: int, take_buffer: list[int], out: SparseAllocs,
                     section: int) -> None:
    """vmemmap_populate() with 2M pages: page tables for the section, then its struct pages.

    The page-table pages come from memblock (vmemmap_alloc_block_zero); the struct pages
    from the node's sparse buffer, else from memblock on any node.
    """
    va = pfn * prof.struct_page_size  # offset from vmemmap_base
    need = [("pud", va >> 39), ("pmd", va >> 30)]
    if prof.pgtable_levels == 5:
        need.insert(0, ("p4d", va >> 48))
    for key in need:
        if key not in tables:
            tables.add(key)
            pa = _alloc(mb, prof.page_size, prof.page_size, MAX_DMA_ADDRESS,
                        mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid, "vmemmap_alloc_block_zero")
            out.tables.append(pa)
    size = prof.pages_per_section * prof.struct_page_size
    for _ in range(max(1, size // PMD_SIZE)):
        if take_buffer and take_buffer[0] + PMD_SIZE <= take_buffer[1]:
            addr = take_buffer[0]
            take_buffer[0] += PMD_SIZE
            out.memmaps.append(SectionMemmap(section, nid, addr, True))
        else:
            addr = _alloc(mb, PMD_SIZE, PMD_SIZE, MAX_DMA_ADDRESS, mbk.MEMBLOCK_ALLOC_ACCESSIBLE,
                          nid, "vmemmap_populate")
            out.memmaps.append(SectionMemmap(section, nid, addr, False))


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
        # sparse_early_usemaps_alloc_pgdat_section(): in the section of NODE_DATA(nid)
        pgdat = node_data.get(nid, 0)
        sec_bytes = 1 << prof.section_size_bits
        goal = pgdat & ~(sec_bytes - 1)
        limit = goal + sec_bytes
        unid = mbk.memblock_search_pfn_nid(mb, goal >> prof.page_shift, prof.page_shift)
        unid = unid if unid is not None else min(online or [0])
        size = prof.mem_section_usage_size * len(sections)
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
        for nr in sections:
            vmemmap_populate(mb, prof, tables, nr * prof.pages_per_section, nid, take, out, nr)
        if take and take[0] < take[1]:  # sparse_buffer_fini()
            mbk.memblock_phys_free(mb, take[0], take[1] - take[0], "sparse_buffer_fini")
    return out
