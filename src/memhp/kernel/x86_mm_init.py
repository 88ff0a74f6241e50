# SPDX-License-Identifier: GPL-2.0-or-later
"""Building the direct map at boot, modelled on arch/x86/mm/init.c and init_64.c (6.1).

Only what decides memblock allocations is modelled: which page-table pages
``init_mem_mapping()`` needs, and whether each comes from the brk buffer or from
memblock.  Tables are tracked per physical range they cover (the direct map is linear).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.intervals import IntSet
from memhp.kernel import memblock as mbk
from memhp.kernel.e820 import ISA_END_ADDRESS
from memhp.kernel.efi import boot_services_freed
from memhp.kernel.mm_init import MAX_DMA32_PFN, MAX_DMA_PFN, free_area_init
from memhp.kernel.page_alloc import managed_pages, memblock_free_all
from memhp.kernel.pfn import div_round_up, pfn_up, round_down, round_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import memblocks_present, sparse_init
from memhp.kernel.state import Boot
from memhp.kernel.swiotlb import swiotlb_init

__all__ = ["DirectMap", "PG_LEVEL_1G", "PG_LEVEL_2M", "PG_LEVEL_4K", "PMD_SIZE", "PUD_SIZE",
           "init_mem_mapping", "mem_init", "paging_init", "zone_sizes_init"]

PMD_SIZE = 1 << 21
PUD_SIZE = 1 << 30
P4D_SIZE = 1 << 39
PGDIR_SIZE_L5 = 1 << 48
PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G = 0, 1, 2


@dataclass
class DirectMap:
    """The page-table state init_mem_mapping() builds, plus its brk buffer and bounds."""

    levels: int
    gbpages: bool
    pgt_buf_end: int  # pfn
    pgt_buf_top: int  # pfn
    min_pfn_mapped: int = 0
    max_pfn_mapped: int = 0
    tables: dict[str, IntSet] = field(  # page tables made, by level: the indexes they map
        default_factory=lambda: {k: IntSet() for k in ("p4d", "pud", "pmd", "pte")})
    pud_large: IntSet = field(default_factory=IntSet)  # GB indexes mapped by a 1G page
    pmd_large: IntSet = field(default_factory=IntSet)  # 2M indexes mapped by a 2M page
    can_use_brk_pgt: bool = True
    brk_pages: int = 0


def alloc_low_pages(dm: DirectMap, mb: mbk.Memblock, page_size: int, count: int = 1) -> None:
    """alloc_low_pages(1), ``count`` times in a row: page-table pages from the brk buffer,
    or from memblock (the requests are alike, so memblock makes them as runs)."""
    while count:
        if dm.pgt_buf_end + 1 > dm.pgt_buf_top or not dm.can_use_brk_pgt:
            if dm.min_pfn_mapped < dm.max_pfn_mapped:
                got = mbk.memblock_alloc_runs(mb, count, page_size, page_size,
                                              dm.min_pfn_mapped * page_size,
                                              dm.max_pfn_mapped * page_size,
                                              mbk.NUMA_NO_NODE, False, "alloc_low_pages",
                                              phys=True)
                # extend_brk() for the ones memblock has no room for; the kernel panics when
                # that is exhausted too
                dm.brk_pages += sum(n for addr, n, _ in got if not addr)
            else:
                dm.brk_pages += count
            return
        n = min(count, dm.pgt_buf_top - dm.pgt_buf_end)
        dm.pgt_buf_end += n
        dm.brk_pages += n
        count -= n


def _need_table(dm: DirectMap, mb: mbk.Memblock, kind: str, index: int, page_size: int) -> None:
    if index not in dm.tables[kind]:
        alloc_low_pages(dm, mb, page_size)
        dm.tables[kind].add(index)


def kernel_physical_mapping_init(dm: DirectMap, mb: mbk.Memblock, start: int, end: int,
                                 mask: int, page_size: int) -> None:
    """kernel_physical_mapping_init() / phys_{p4d,pud,pmd,pte}_init(): tables for a range."""
    paddr = start
    while paddr < end:
        if dm.levels == 5:
            _need_table(dm, mb, "p4d", paddr // PGDIR_SIZE_L5, page_size)
        _need_table(dm, mb, "pud", paddr // P4D_SIZE, page_size)
        gb = paddr // PUD_SIZE
        if mask & (1 << PG_LEVEL_1G) and paddr % PUD_SIZE == 0:
            # whole 1G pages up to the next PMD table or the end of this PUD table: all
            # mapped by 1G pages, already or now (the one-by-one rule, done as a run)
            stop = end // PUD_SIZE
            split = dm.tables["pmd"].first_from(gb)
            if split is not None:
                stop = min(stop, split)
            if stop > gb:
                # the PUD (and P4D) tables these gigabytes need, all alike: one run
                new = 0
                for kind, size in (("p4d", PGDIR_SIZE_L5), ("pud", P4D_SIZE)):
                    if kind == "p4d" and dm.levels != 5:
                        continue
                    lo, hi = paddr // size, div_round_up(stop * PUD_SIZE, size)
                    new += dm.tables[kind].missing(lo, hi)
                    dm.tables[kind].add_range(lo, hi)
                alloc_low_pages(dm, mb, page_size, new)
                dm.pud_large.add_range(gb, stop)
                paddr = stop * PUD_SIZE
                continue
        gb_next = min((gb + 1) * PUD_SIZE, end)
        if gb in dm.pud_large and mask & (1 << PG_LEVEL_1G):
            paddr = gb_next
            continue
        if gb not in dm.pud_large and gb not in dm.tables["pmd"] and mask & (1 << PG_LEVEL_1G):
            dm.pud_large.add(gb)
            paddr = gb_next
            continue
        _need_table(dm, mb, "pmd", gb, page_size)  # new table, or a 1G page split
        dm.pud_large.discard(gb)
        m2, stop = paddr // PMD_SIZE, div_round_up(gb_next, PMD_SIZE)
        if mask & (1 << PG_LEVEL_2M):
            # a 2M page for each 2M without a PTE table (one with a table keeps it): a run
            # of them at a time
            while m2 < stop:
                pte = dm.tables["pte"].first_from(m2)
                upto = stop if pte is None else min(pte, stop)
                dm.pmd_large.add_range(m2, upto)
                m2 = upto + 1
        else:
            for idx in range(m2, stop):  # 4K pages only: a PTE table for each 2M
                _need_table(dm, mb, "pte", idx, page_size)
                dm.pmd_large.discard(idx)
        paddr = gb_next


def split_mem_range(mb: mbk.Memblock, start: int, end: int, page_size_mask: int,
                    page_size: int) -> list[tuple[int, int, int]]:
    """split_mem_range() + adjust_range_page_size_mask(): (start, end, page size mask)."""
    pmd_pfns, pud_pfns = PMD_SIZE // page_size, PUD_SIZE // page_size
    limit_pfn = end // page_size
    pfn = start // page_size
    mr: list[list[int]] = []

    def save(s: int, e: int, m: int) -> None:
        if s < e:
            mr.append([s, e, m])

    end_pfn = min(round_up(pfn, pmd_pfns), limit_pfn)
    if pfn < end_pfn:
        save(pfn, end_pfn, 0)
        pfn = end_pfn
    s = round_up(pfn, pmd_pfns)
    e = min(round_up(pfn, pud_pfns), round_down(limit_pfn, pmd_pfns))
    if s < e:
        save(s, e, page_size_mask & (1 << PG_LEVEL_2M))
        pfn = e
    s, e = round_up(pfn, pud_pfns), round_down(limit_pfn, pud_pfns)
    if s < e:
        save(s, e, page_size_mask & ((1 << PG_LEVEL_2M) | (1 << PG_LEVEL_1G)))
        pfn = e
    s, e = round_up(pfn, pmd_pfns), round_down(limit_pfn, pmd_pfns)
    if s < e:
        save(s, e, page_size_mask & (1 << PG_LEVEL_2M))
        pfn = e
    save(pfn, limit_pfn, 0)

    for r in mr:
        for level, size in ((PG_LEVEL_2M, PMD_SIZE), (PG_LEVEL_1G, PUD_SIZE)):
            bit = 1 << level
            if page_size_mask & bit and not r[2] & bit:
                lo = round_down(r[0] * page_size, size)
                hi = round_up(r[1] * page_size, size)
                if mbk.memblock_is_region_memory(mb, lo, hi - lo):
                    r[2] |= bit
    merged: list[list[int]] = []
    for r in mr:
        if merged and merged[-1][1] == r[0] and merged[-1][2] == r[2]:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(s * page_size, e * page_size, m) for s, e, m in merged]


def init_memory_mapping(dm: DirectMap, mb: mbk.Memblock, start: int, end: int,
                        page_size: int) -> None:
    """init_memory_mapping(): map ``[start, end)`` and widen the mapped pfn bounds."""
    mask = (1 << PG_LEVEL_2M) | ((1 << PG_LEVEL_1G) if dm.gbpages else 0)
    for s, e, m in split_mem_range(mb, start, end, mask, page_size):
        kernel_physical_mapping_init(dm, mb, s, e, m, page_size)
    dm.max_pfn_mapped = max(dm.max_pfn_mapped, end // page_size)


def init_range_memory_mapping(dm: DirectMap, mb: mbk.Memblock, r_start: int, r_end: int,
                              page_size: int) -> int:
    """init_range_memory_mapping(): map the RAM in a step; no brk pages near the brk."""
    mapped = 0
    for spfn, epfn, _ in list(mbk.mem_pfn_ranges(mb)):
        start = min(max(spfn * page_size, r_start), r_end)
        end = min(max(epfn * page_size, r_start), r_end)
        if start >= end:
            continue
        dm.can_use_brk_pgt = (max(start, dm.pgt_buf_end * page_size)
                              >= min(end, dm.pgt_buf_top * page_size))
        init_memory_mapping(dm, mb, start, end, page_size)
        mapped += end - start
        dm.can_use_brk_pgt = True
    return mapped


def get_new_step_size(step_size: int) -> int:
    """get_new_step_size(): grow the mapping step by 2^(PMD_SHIFT - PAGE_SHIFT - 1)."""
    return step_size << 8


def memory_map_top_down(dm: DirectMap, mb: mbk.Memblock, map_start: int, map_end: int,
                        page_size: int) -> None:
    """memory_map_top_down(): probe a free 2M at the top, then map downwards."""
    addr = mbk.memblock_phys_alloc_range(mb, PMD_SIZE, PMD_SIZE, map_start, map_end,
                                         "init_mem_mapping")
    mbk.memblock_phys_free(mb, addr, PMD_SIZE, "init_mem_mapping")
    real_end = addr + PMD_SIZE
    step_size = PMD_SIZE
    dm.max_pfn_mapped = 0
    dm.min_pfn_mapped = real_end // page_size
    last_start = real_end
    mapped = 0
    while last_start > map_start:
        if last_start > step_size:
            start = max(round_down(last_start - 1, step_size), map_start)
        else:
            start = map_start
        got = init_range_memory_mapping(dm, mb, start, last_start, page_size)
        mapped += got
        last_start = start
        if mapped >= step_size:
            step_size = get_new_step_size(step_size)
        elif not got and last_start > map_start:
            last_start = _skip_down(mb, last_start, step_size, map_start, page_size)
        dm.min_pfn_mapped = last_start // page_size
    if real_end < map_end:
        init_range_memory_mapping(dm, mb, real_end, map_end, page_size)


def memory_map_bottom_up(dm: DirectMap, mb: mbk.Memblock, map_start: int, map_end: int,
                         page_size: int) -> None:
    """memory_map_bottom_up(): map upwards from ``map_start`` in growing steps."""
    step_size = PMD_SIZE
    start = map_start
    dm.min_pfn_mapped = start // page_size
    mapped = 0
    while start < map_end:
        if step_size and map_end - start > step_size:
            nxt = min(round_up(start + 1, step_size), map_end)
        else:
            nxt = map_end
        got = init_range_memory_mapping(dm, mb, start, nxt, page_size)
        mapped += got
        start = nxt
        if mapped >= step_size:
            step_size = get_new_step_size(step_size)
        elif not got and start < map_end:
            start = _skip_up(mb, start, step_size, map_end, page_size)


def _skip_up(mb: mbk.Memblock, start: int, step_size: int, map_end: int,
             page_size: int) -> int:
    """Where memory_map_bottom_up() next maps RAM, from a step that mapped none at
    ``start``: the steps in between are as large (the step grows only with what is mapped)
    and map nothing, so they are passed in one go, to the step that holds the next RAM
    (``map_end`` when there is none).  The kernel walks them one by one, each a look at the
    RAM ranges; over a hole of many TiB that is millions of steps."""
    for spfn, epfn, _ in mbk.mem_pfn_ranges(mb):
        if epfn * page_size > start:
            return max(start, min(round_down(spfn * page_size, step_size), map_end))
    return map_end


def _skip_down(mb: mbk.Memblock, last_start: int, step_size: int, map_start: int,
               page_size: int) -> int:
    """The same for memory_map_top_down(), which goes down: from a step down to
    ``last_start`` that mapped no RAM, the top of the step that holds the next RAM below
    (``map_start`` when none lies above it)."""
    below = 0
    for spfn, epfn, _ in mbk.mem_pfn_ranges(mb):
        if spfn * page_size >= last_start:
            break
        below = min(epfn * page_size, last_start)
    if below <= map_start:
        return map_start
    return min(last_start, round_up(below, step_size))


def init_mem_mapping(mb: mbk.Memblock, prof: KernelProfile, max_pfn: int) -> DirectMap:
    """init_mem_mapping(): the ISA range, then all RAM bottom-up or top-down.

    Returns the direct-map state; ``max_pfn_mapped`` becomes the memblock limit.
    """
    ps = prof.page_size
    brk_end_pfn = (prof.brk_start + prof.brk_used) // ps
    dm = DirectMap(
        levels=prof.pgtable_levels,
        gbpages=prof.gbpages,
        pgt_buf_end=brk_end_pfn - prof.pgt_buf_pages,
        pgt_buf_top=brk_end_pfn,
        # head_64.S maps the kernel image area (KERNEL_IMAGE_SIZE, 1G with KASLR support)
        max_pfn_mapped=PUD_SIZE // ps,
    )
    end = max_pfn * ps
    init_memory_mapping(dm, mb, 0, ISA_END_ADDRESS, ps)
    if mb.bottom_up:
        memory_map_bottom_up(dm, mb, prof.kernel_end, end, ps)
        memory_map_bottom_up(dm, mb, ISA_END_ADDRESS, prof.kernel_end, ps)
    else:
        memory_map_top_down(dm, mb, ISA_END_ADDRESS, end, ps)
    return dm


def paging_init(b: Boot) -> None:
    """paging_init() (init_64.c): sparse_init() and then the zones (zone_sizes_init())."""
    assert b.numa is not None
    prof, mb = b.profile, b.memblock
    b.sparse = memblocks_present(mb, prof)
    b.sparse_allocs = sparse_init(mb, b.sparse, b.numa.node_data, b.numa.online, prof)
    zone_sizes_init(b)


def zone_sizes_init(b: Boot) -> None:
    """zone_sizes_init(): the highest pfn of each zone on x86_64, then free_area_init():
    zone ranges, movable zone, each node."""
    assert b.numa is not None
    if b.sparse is None:
        b.sparse = memblocks_present(b.memblock, b.profile)
    low = b.max_low_pfn
    max_zone_pfns = [min(MAX_DMA_PFN, low), min(MAX_DMA32_PFN, low), low, 0, 0]
    b.zones = free_area_init(b.memblock, max_zone_pfns, b.numa.online, b.machine.cmdline,
                             b.sparse, b.profile, b.dma_reserve, b.numa.possible,
                             b.numa.node_data)
    b.log.extend(b.zones.log)
    b.notes.extend(b.zones.notes)


def mem_init(b: Boot) -> None:
    """mem_init() (init_64.c): swiotlb, then memblock_free_all(); ``managed`` adds what
    boot frees later: the initrd and the kernel's init and alignment-gap memory."""
    assert b.zones is not None
    prof = b.profile
    swiotlb_init(b)
    freed = memblock_free_all(b.memblock, b.max_low_pfn, prof.page_shift)
    ps = prof.page_size
    late: list[tuple[int, int]] = []
    if b.machine.initrd:
        s, e = b.machine.initrd
        late.append((pfn_up(s, prof.page_shift), e // ps))
    late.append((prof.kernel_text // ps, (prof.kernel_text + prof.late_free_kernel) // ps))
    late.extend((s // ps, e // ps) for s, e in boot_services_freed(b))
    b.managed = managed_pages(b.zones, freed + late,
                              list(mbk.mem_pfn_ranges(b.memblock, None, prof.page_shift)))
