# SPDX-License-Identifier: GPL-2.0-or-later
"""Zones at boot, modelled on mm/page_alloc.c of Linux 6.1 (moved to mm/mm_init.c in 6.4).

``free_area_init`` computes the architecture's zone ranges, where ZONE_MOVABLE starts on
each node (``find_zone_movable_pfns_for_nodes``), each node's zones (start, spanned,
present) and the holes ``memmap_init`` reports as "pages in unavailable ranges".
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum

from memhp.firmware.types import CommandLine
from memhp.kernel import memblock as mbk
from memhp.kernel.numa import absent_pages_in_range
from memhp.kernel.pfn import div_round_up, pfn_up, round_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import SparseMap

__all__ = ["MAX_DMA32_PFN", "MAX_DMA_PFN", "MAX_NR_ZONES", "NodeZones", "ZONE_NAMES", "Zone",
           "ZoneLayout", "adjust_zone_range_for_zone_movable", "calc_memmap_size",
           "calculate_node_totalpages", "find_zone_movable_pfns_for_nodes", "free_area_init",
           "memblock_find_dma_reserve", "memmap_init", "node_pfn_ranges"]

ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE, ZONE_DEVICE = range(5)
MAX_NR_ZONES = 5
ZONE_NAMES = ("DMA", "DMA32", "Normal", "Movable", "Device")
MAX_DMA_PFN = (16 << 20) >> 12  # arch/x86/include/asm/dma.h, for 4K pages
MAX_DMA32_PFN = (4 << 30) >> 12


@dataclass
class Zone:
    """A node's zone: ``[start_pfn, start_pfn + spanned)`` with ``present`` pages of RAM."""

    nid: int
    idx: int
    start_pfn: int = 0
    spanned: int = 0
    present: int = 0

    @property
    def name(self) -> str:
        return ZONE_NAMES[self.idx]

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.spanned


@dataclass
class NodeZones:
    """pg_data_t as free_area_init_node() leaves it."""

    nid: int
    start_pfn: int
    end_pfn: int
    zones: list[Zone]

    @property
    def present(self) -> int:
        return sum(z.present for z in self.zones)


@dataclass
class ZoneLayout:
    """Everything free_area_init() decided, with its kernel messages."""

    zone_low: list[int]  # arch_zone_lowest_possible_pfn
    zone_high: list[int]  # arch_zone_highest_possible_pfn
    zone_movable_pfn: dict[int, int]
    movable_zone: int
    movable: MovableDecision = field(default_factory=lambda: MovableDecision())
    nodes: dict[int, NodeZones] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the kernel did with the settings
    log: list[str] = field(default_factory=list)
    nr_kernel_pages: int = 0  # free_area_init_core(): present less memmap and DMA reserve

    def zone_of_pfn(self, nid: int, pfn: int) -> Zone | None:
        for z in self.nodes[nid].zones:
            if z.spanned and z.start_pfn <= pfn < z.end_pfn:
                return z
        return None


def node_pfn_ranges(mb: mbk.Memblock) -> dict[int | None, tuple[int, int]]:
    """get_pfn_range_for_nid() of every node in one walk of memblock.memory: the lowest start
    and highest end pfn of each node's RAM (a node without RAM is absent: the kernel's
    0, 0)."""
    out: dict[int | None, tuple[int, int]] = {}
    for s, e, nid in mbk.mem_pfn_ranges(mb):
        lo, hi = out.get(nid, (s, e))
        out[nid] = min(lo, s), max(hi, e)
    return out


def _core_pages(total: int, size: int | None, percent: int | None, page_shift: int) -> int:
    if percent:
        return (total * 100 * percent) // 10000
    return (size or 0) >> page_shift


class MovableCause(StrEnum):
    """What set where ZONE_MOVABLE starts on a node (find_zone_movable_pfns_for_nodes)."""

    MOVABLE_NODE = "movable_node"  # the node's lowest hotpluggable address
    KERNELCORE = "kernelcore"  # kernelcore= spread evenly over the nodes
    MOVABLECORE = "movablecore"  # required kernelcore = total - movablecore, spread evenly
    MIRROR = "mirror"  # kernelcore=mirror: the lowest non-mirrored memory above 4G


@dataclass(frozen=True)
class MovableDecision:
    """find_zone_movable_pfns_for_nodes() as data: per node where ZONE_MOVABLE starts and
    what set it, the settings it ignored and why, and the figures it worked with."""

    start: dict[int, int] = field(default_factory=dict)  # nid -> first pfn of ZONE_MOVABLE
    cause: MovableCause | None = None  # the setting that decided (None: none asked)
    ignored: tuple[str, ...] = ()  # given but ignored: "kernelcore", "movablecore"
    totalpages: int = 0
    required_kernelcore: int = 0  # pages (kernelcore/movablecore only)
    required_movablecore: int = 0
    no_room: bool = False  # the settings leave no memory for ZONE_MOVABLE
    unmirrored_kernel: bool = False  # kernelcore=mirror with unmirrored memory below 4G

    def cause_of(self, nid: int) -> MovableCause | None:
        """What set ZONE_MOVABLE's start on ``nid`` (None: the node has none)."""
        return self.cause if nid in self.start else None


def find_zone_movable_pfns_for_nodes(
    mb: mbk.Memblock, cmd: CommandLine, zone_low: list[int], zone_high: list[int],
    prof: KernelProfile,
) -> tuple[MovableDecision, int]:
    """find_zone_movable_pfns_for_nodes(): where ZONE_MOVABLE starts on each node, and why.

    ``movable_node`` wins: each node's movable zone starts at its lowest hotpluggable
    region.  Otherwise ``kernelcore=mirror``, else ``kernelcore=``/``movablecore=``
    spread kernel memory evenly over the nodes.  Starts are rounded up to
    MAX_ORDER_NR_PAGES and dropped when that passes the node's end.
    Returns (the decision, movable_zone).
    """
    movable_zone = next(i for i in reversed(range(MAX_NR_ZONES))
                        if i != ZONE_MOVABLE and zone_high[i] > zone_low[i])
    zmp: dict[int, int] = {}
    ranges = list(mbk.mem_pfn_ranges(mb))
    totalpages = sum(e - s for s, e, _ in ranges)
    mem_nodes = sorted({n for s, e, n in ranges if e > s and n is not None})
    kc, mc = cmd.kernelcore, cmd.movablecore
    given = tuple(n for n, v in (("kernelcore", kc), ("movablecore", mc)) if v is not None)
    step = prof.max_order_nr_pages

    def decided(cause: MovableCause | None, **kw: object) -> tuple[MovableDecision, int]:
        out: dict[int, int] = {}
        node_ranges = node_pfn_ranges(mb)
        for nid, pfn in zmp.items():
            pfn = round_up(pfn, step)
            _, end_pfn = node_ranges.get(nid, (0, 0))
            if pfn and pfn < end_pfn:
                out[nid] = pfn
        return MovableDecision(out, cause, totalpages=totalpages, **kw), movable_zone  # type: ignore[arg-type]

    if cmd.movable_node:
        # the kernel looks no further: kernelcore= and movablecore= are ignored
        for r in mb.memory.regions:
            if r.flags & mbk.MEMBLOCK_HOTPLUG and r.nid is not None:
                pfn = r.base >> prof.page_shift
                zmp[r.nid] = min(pfn, zmp[r.nid]) if zmp.get(r.nid) else pfn
        return decided(MovableCause.MOVABLE_NODE, ignored=given)
    if kc is not None and kc.mirror:
        below_4g = False
        for r in mb.memory.regions:
            if r.flags & mbk.MEMBLOCK_MIRROR or r.nid is None:
                continue
            pfn = pfn_up(r.base, prof.page_shift)
            if pfn < MAX_DMA32_PFN:
                below_4g = True
                continue
            zmp[r.nid] = min(pfn, zmp[r.nid]) if zmp.get(r.nid) else pfn
        return decided(MovableCause.MIRROR, ignored=("movablecore",) if mc else (),
                       unmirrored_kernel=below_4g)
    if not given:
        return decided(None)
    required_kernelcore = _core_pages(
        totalpages, kc.bytes if kc else None, kc.percent if kc else None, prof.page_shift)
    required_movablecore = _core_pages(
        totalpages, mc.bytes if mc else None, mc.percent if mc else None, prof.page_shift)
    cause = MovableCause.KERNELCORE if kc is not None else MovableCause.MOVABLECORE
    if required_movablecore:
        # movablecore= is turned into the kernelcore it leaves, and the larger of the two
        # kernel sizes wins: required_kernelcore = max(kernelcore, total - movablecore)
        required_movablecore = min(totalpages, round_up(required_movablecore, step))
        corepages = totalpages - required_movablecore
        if corepages > required_kernelcore:
            cause = MovableCause.MOVABLECORE
        required_kernelcore = max(required_kernelcore, corepages)
    figures = {"required_kernelcore": required_kernelcore,
               "required_movablecore": required_movablecore}
    if not required_kernelcore or required_kernelcore >= totalpages:
        return decided(cause, no_room=True, **figures)
    usable_startpfn = zone_low[movable_zone]
    usable_nodes = len(mem_nodes)
    if not usable_nodes:  # only memory outside every node is left: nothing to spread over
        return decided(cause, **figures)
    by_nid: dict[int | None, list[tuple[int, int]]] = {}
    for s, e, n in ranges:
        by_nid.setdefault(n, []).append((s, e))
    # Spread the kernel's pages evenly over the nodes with memory.  A node too small for
    # its share gives all it has; the shortfall is spread again over one node fewer, as
    # long as more kernel pages are left than nodes to take them (restart).
    while True:
        kernelcore_node = required_kernelcore // usable_nodes
        for nid in mem_nodes:
            if required_kernelcore < kernelcore_node:
                kernelcore_node = required_kernelcore // usable_nodes
            remaining = kernelcore_node
            for start_pfn, end_pfn in by_nid.get(nid, []):
                # a node's memory below the movable zone's lowest possible start is kernel
                # memory anyway; it counts against the node's share
                start_pfn = max(start_pfn, zmp.get(nid, 0))
                if start_pfn >= end_pfn:
                    continue
                if start_pfn < usable_startpfn:
                    kernel_pages = min(end_pfn, usable_startpfn) - start_pfn
                    remaining -= min(kernel_pages, remaining)
                    required_kernelcore -= min(kernel_pages, required_kernelcore)
                    if end_pfn <= usable_startpfn:
                        zmp[nid] = end_pfn
                        continue
                    start_pfn = usable_startpfn
                # the share's rest comes from the bottom of this range; ZONE_MOVABLE
                # starts where it ends
                size_pages = min(end_pfn - start_pfn, remaining)
                zmp[nid] = start_pfn + size_pages
                required_kernelcore -= min(required_kernelcore, size_pages)
                remaining -= size_pages
                if not remaining:
                    break
        usable_nodes -= 1
        if not (usable_nodes and required_kernelcore > usable_nodes):
            break
    return decided(cause, **figures)


def adjust_zone_range_for_zone_movable(
    nid: int, zone_type: int, node_end_pfn: int, zone_start: int, zone_end: int,
    zmp: dict[int, int], zone_high: list[int], movable_zone: int, mirrored: bool,
) -> tuple[int, int]:
    """adjust_zone_range_for_zone_movable(): carve ZONE_MOVABLE out of the highest zone."""
    movable = zmp.get(nid, 0)
    if not movable:
        return zone_start, zone_end
    if zone_type == ZONE_MOVABLE:
        return movable, min(node_end_pfn, zone_high[movable_zone])
    if not mirrored and zone_start < movable < zone_end:
        return zone_start, movable
    if zone_start >= movable:
        return zone_end, zone_end
    return zone_start, zone_end


def calculate_node_totalpages(
    mb: mbk.Memblock, nid: int, node_start: int, node_end: int, zone_low: list[int],
    zone_high: list[int], zmp: dict[int, int], movable_zone: int, mirrored: bool, page: int,
) -> list[Zone]:
    """calculate_node_totalpages(): spanned and present pages of each of a node's zones.

    With ``kernelcore=mirror`` (zone_absent_pages_in_node) mirrored memory counts as absent
    from ZONE_MOVABLE and the rest as absent from ZONE_NORMAL.
    """
    zones = []
    for i in range(MAX_NR_ZONES):
        z = Zone(nid, i)
        if node_start or node_end:
            zs = min(max(node_start, zone_low[i]), zone_high[i])
            ze = min(max(node_end, zone_low[i]), zone_high[i])
            zs, ze = adjust_zone_range_for_zone_movable(
                nid, i, node_end, zs, ze, zmp, zone_high, movable_zone, mirrored)
            if not (ze < node_start or zs > node_end):
                ze, zs = min(ze, node_end), max(zs, node_start)
                spanned = ze - zs
                absent = absent_pages_in_range(mb, nid, zs, ze)
                if mirrored and zmp.get(nid):
                    for r in mb.memory.regions:
                        rs = min(max(div_round_up(r.base, page), zs), ze)
                        re_ = min(max(r.end // page, zs), ze)
                        if i == (ZONE_MOVABLE if r.flags & mbk.MEMBLOCK_MIRROR else ZONE_NORMAL):
                            absent += re_ - rs
                if spanned:
                    z.start_pfn, z.spanned, z.present = zs, spanned, spanned - absent
        zones.append(z)
    return zones


def memmap_init(mb: mbk.Memblock, layout: ZoneLayout, sparse: SparseMap) -> list[str]:
    """memmap_init(): report the holes between RAM ranges that get struct pages anyway.

    A hole is charged to the zone and node of the range that follows it; pages count
    only where their memory section is present (pfn_valid).
    """
    log: list[str] = []

    def unavailable(spfn: int, epfn: int, zone: int, nid: int) -> None:
        count = sparse.present_pages_in(spfn, epfn)
        if count:
            log.append(f"On node {nid}, zone {ZONE_NAMES[zone]}: "
                       f"{count} pages in unavailable ranges")

    hole_pfn = 0
    zone_id, last_nid, end_pfn = 0, 0, 0
    for start_pfn, end_pfn, nid in mbk.mem_pfn_ranges(mb):
        if nid is None or nid not in layout.nodes:
            continue  # memory outside every node (within the 1M slack of the NUMA check)
        last_nid = nid
        for z in layout.nodes[nid].zones:
            if not z.present:
                continue
            s = min(max(start_pfn, z.start_pfn), z.end_pfn)
            e = min(max(end_pfn, z.start_pfn), z.end_pfn)
            if s < e:
                if hole_pfn < s:
                    unavailable(hole_pfn, s, z.idx, nid)
                hole_pfn = e
            zone_id = z.idx
    end_pfn = round_up(end_pfn, sparse.pages_per_section)
    if hole_pfn < end_pfn:
        unavailable(hole_pfn, end_pfn, zone_id, last_nid)
    return log


def calc_memmap_size(spanned: int, present: int, prof: KernelProfile) -> int:
    """calc_memmap_size(): pages of struct page a zone is charged for (sparse: present)."""
    pages = present if spanned > present + (present >> 4) else spanned
    return div_round_up(pages * prof.struct_page_size, prof.page_size)


def memblock_find_dma_reserve(mb: mbk.Memblock, page_shift: int = 12) -> int:
    """memblock_find_dma_reserve() (arch/x86/mm/init.c): RAM pages below 16M not free."""
    total = sum(min(e, MAX_DMA_PFN) - min(s, MAX_DMA_PFN)
                for s, e, _ in mbk.mem_pfn_ranges(mb, None, page_shift))
    page = 1 << page_shift
    free = 0
    for start, end, _ in mbk.free_mem_ranges(mb):
        s, e = min(div_round_up(start, page), MAX_DMA_PFN), min(end // page, MAX_DMA_PFN)
        free += max(0, e - s)
    return total - free


def movable_notes(d: MovableDecision) -> list[str]:
    """The notes a movable-zone decision gives, one per fact, in one wording."""
    notes = []
    if d.ignored:
        by = "movable_node" if d.cause is MovableCause.MOVABLE_NODE else "kernelcore=mirror"
        notes.append(f"{by} is set: find_zone_movable_pfns_for_nodes ignores "
                     + " and ".join(f"{n}=" for n in d.ignored))
    if d.unmirrored_kernel:
        notes.append("This configuration results in unmirrored kernel memory.")
    if d.no_room:
        notes.append("kernelcore/movablecore leave no memory for ZONE_MOVABLE")
    return notes


def free_area_init(
    mb: mbk.Memblock, max_zone_pfn: list[int], online: list[int], cmd: CommandLine,
    sparse: SparseMap, prof: KernelProfile, dma_reserve: int = 0,
    possible: list[int] | None = None, node_data: Collection[int] = (),
) -> ZoneLayout:
    """free_area_init(): zone ranges, ZONE_MOVABLE, early node map, each node, memmap holes.

    ``node_data``: the nodes that already have their pg_data_t (NODE_DATA); which nodes the
    kernel gives one here depends on its version (CHANGES pgdat_for_nodes_without_node_data).
    """
    zone_low, zone_high = [0] * MAX_NR_ZONES, [0] * MAX_NR_ZONES
    start_pfn = mbk.memblock_start_of_dram(mb) >> prof.page_shift
    for i in range(MAX_NR_ZONES):
        if i == ZONE_MOVABLE:
            continue
        end_pfn = max(max_zone_pfn[i], start_pfn)
        zone_low[i], zone_high[i] = start_pfn, end_pfn
        start_pfn = end_pfn
    decision, movable_zone = find_zone_movable_pfns_for_nodes(mb, cmd, zone_low, zone_high,
                                                              prof)
    zmp = decision.start
    layout = ZoneLayout(zone_low, zone_high, zmp, movable_zone, decision,
                        notes=movable_notes(decision))
    log = layout.log
    log.append("Zone ranges:")
    for i in range(MAX_NR_ZONES):
        if i == ZONE_MOVABLE:
            continue
        if zone_low[i] == zone_high[i]:
            log.append(f"  {ZONE_NAMES[i]:<8} empty")
        else:
            log.append(f"  {ZONE_NAMES[i]:<8} [mem {zone_low[i] << prof.page_shift:#018x}-"
                       f"{(zone_high[i] << prof.page_shift) - 1:#018x}]")
    log.append("Movable zone start for each node")
    for nid in sorted(zmp):
        log.append(f"  Node {nid}: {zmp[nid] << prof.page_shift:#018x}")
    log.append("Early memory node ranges")
    for s, e, rnid in mbk.mem_pfn_ranges(mb):
        shown = rnid if rnid is not None else prof.max_numnodes  # outside every node
        log.append(f"  node {shown:3d}: [mem {s << prof.page_shift:#018x}-"
                   f"{(e << prof.page_shift) - 1:#018x}]")
    mirrored = bool(cmd.kernelcore and cmd.kernelcore.mirror)
    if mirrored and not mb.mirror:
        layout.notes.append(
            "kernelcore=mirror: no memory is mirrored (mirrored memory is what the EFI memory "
            "map marks EFI_MEMORY_MORE_RELIABLE, and the input has no such map or range); the "
            "layout is the kernel's for a machine without mirrored memory")
    offline = set(possible or ()) if prof.has("memoryless_nodes_in_free_area_init") else set()
    # the nodes free_area_init() takes as having a pg_data_t: before 7.0 the online ones
    # (a CPU-only node was not online yet), from 7.0 those with NODE_DATA (a CPU-only node
    # is online already, set so by init_cpu_to_node() in setup_arch())
    has_pgdat = set(node_data if prof.has("pgdat_for_nodes_without_node_data") else online)
    node_ranges = node_pfn_ranges(mb)
    for nid in sorted(set(online) | offline):
        if nid not in has_pgdat:
            # a possible node without memory (CPU-only in the SRAT): its pg_data_t comes
            # from memblock anywhere (arch_alloc_nodedata, alloc_offline_node_data); it
            # has no zones with pages
            if not prof.has("offline_node_data_silent"):
                log.append(f"Initializing node {nid} as memoryless")
            mbk.memblock_alloc_internal(mb, prof.pg_data_size, prof.smp_cache_bytes, 0,
                                        mbk.MEMBLOCK_ALLOC_ACCESSIBLE, mbk.NUMA_NO_NODE,
                                        False, "free_area_init")
        if nid not in online:  # no zoneinfo for a node that is not online
            log.append(f"Initmem setup node {nid} as memoryless")
            continue
        s, e = node_ranges.get(nid, (0, 0))
        if s != e:
            log.append(f"Initmem setup node {nid} [mem {s << prof.page_shift:#018x}-"
                       f"{(e << prof.page_shift) - 1 if e else 0:#018x}]")
        else:
            log.append(f"Initmem setup node {nid} as memoryless")
        zones = calculate_node_totalpages(
            mb, nid, s, e, zone_low, zone_high, zmp, movable_zone, mirrored, prof.page_size)
        layout.nodes[nid] = NodeZones(nid, s, e, zones)
        for z in zones:  # free_area_init_core()'s accounting of kernel pages
            free = z.present
            memmap = calc_memmap_size(z.spanned, z.present, prof)
            if free >= memmap:
                free -= memmap
            if z.idx == 0 and free > dma_reserve:
                free -= dma_reserve
            layout.nr_kernel_pages += free
    log.extend(memmap_init(mb, layout, sparse))
    return layout
