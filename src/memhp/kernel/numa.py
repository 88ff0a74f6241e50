# SPDX-License-Identifier: GPL-2.0-or-later
"""NUMA set-up at boot, modelled on arch/x86/mm/numa.c (Linux 6.1) and, since 6.12, the
generic mm/numa_memblks.c it moved to.

``x86_numa_init`` tries the SRAT and falls back to one fake node, like the kernel.
Along the way it gives memblock regions their nodes, clears the hotplug flag of every
node that holds kernel (reserved) memory and allocates each node's ``NODE_DATA``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import StrEnum

from memhp.firmware.types import Srat
from memhp.intervals import Spans
from memhp.kernel import efi
from memhp.kernel import memblock as mbk
from memhp.kernel.acpi_numa import NumaMemblk, SratState, acpi_numa_init
from memhp.kernel.pfn import pfn_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.smpboot import possible_cpus
from memhp.kernel.state import Boot, dump

__all__ = ["NumaResult", "absent_pages_in_range", "alloc_node_data", "early_pfn_to_nid",
           "init_cpu_to_node", "initmem_init", "numa_cleanup_meminfo",
           "numa_clear_kernel_node_hotplug", "numa_init", "numa_meminfo_cover_memory",
           "numa_register_memblks", "x86_numa_init"]


class NumaFallback(StrEnum):
    """Why x86_numa_init() fell back to one fake node (dummy_numa_init)."""

    NUMA_OFF = "numa_off"  # numa=off: the SRAT is never read
    SRAT_REJECTED = "numa_rejected"  # numa_init() failed on the SRAT (NumaResult.failure)
    NO_SRAT = "no_srat"


@dataclass
class NumaResult:
    """What NUMA set-up decided."""

    meminfo: list[NumaMemblk] = field(default_factory=list)
    node_data: dict[int, int] = field(default_factory=dict)  # nid -> NODE_DATA address
    node_data_home: dict[int, int] = field(default_factory=dict)  # nid -> node it sits on
    online: list[int] = field(default_factory=list)
    from_srat: bool = False
    kernel_memory: dict[int, HotplugCleared] = field(default_factory=dict)  # per kernel node
    fallback: NumaFallback | None = None  # why the SRAT is not in use, if it is not
    no_memory: set[int] = field(default_factory=set)  # possible nodes left without memory
    possible: list[int] = field(default_factory=list)  # node_possible_map (numa_nodes_parsed)
    srat: SratState | None = None
    failure: str = ""  # why the SRAT configuration was rejected, if it was
    log: list[str] = field(default_factory=list)
    dump: list[str] = field(default_factory=list)  # memblock_dump_all() at the end

    @property
    def kernel_nodes(self) -> set[int]:
        """Nodes that held reserved memory at NUMA set-up (their hotplug flag is gone)."""
        return set(self.kernel_memory)


def absent_pages_in_range(mb: mbk.Memblock, nid: int | None, start_pfn: int, end_pfn: int) -> int:
    """__absent_pages_in_range(): pages in ``[start_pfn, end_pfn)`` not in node ``nid``'s RAM."""
    absent = end_pfn - start_pfn
    regs = mb.memory.regions
    shift = mbk.PAGE_SHIFT
    i = mbk.first_ending_above(regs, start_pfn << shift)
    while i < len(regs) and regs[i].base < end_pfn << shift:
        r = regs[i]
        i += 1
        if nid is not None and r.nid != nid:
            continue
        s = min(max(pfn_up(r.base, shift), start_pfn), end_pfn)
        e = min(max(r.end >> shift, start_pfn), end_pfn)
        absent -= max(e - s, 0)
    return absent


def numa_cleanup_meminfo(mi: list[NumaMemblk], mb: mbk.Memblock, max_pfn: int,
                         prof: KernelProfile, log: list[str]) -> tuple[list[NumaMemblk], str]:
    """numa_cleanup_meminfo(): drop blocks without RAM, trim to the RAM's limits, merge per
    node (mm/numa_memblks.c since 6.12).

    Returns the cleaned blocks and an error text ("" when fine): nodes that overlap
    make the kernel reject the configuration.
    """
    regs = mb.memory.regions
    if prof.has("numa_meminfo_dram_limits") and regs:
        low, high = regs[0].base, regs[-1].end
    else:
        low, high = 0, max_pfn * prof.page_size
    blks: list[NumaMemblk] = []
    for b in mi:
        if not mbk.memblock_overlaps_region(mb.memory, b.start, b.end - b.start):
            continue  # kept in numa_reserved_meminfo by the kernel
        start, end = max(b.start, low), min(b.end, high)
        if start < end:
            blks.append(NumaMemblk(start, end, b.nid))
    # The kernel compares every pair (i, j > i).  Only the pairs of one node's blocks, and a
    # block with another node's block that overlaps it, can log or change anything; they
    # are taken in the kernel's order.  A block grows only over a span that meets no other
    # node's block, so it never comes to overlap one it did not overlap as given, and such a
    # span meets another node's merged block exactly when it meets one of its blocks as
    # given: both tests read the blocks as given (``given``).
    given = Spans((b.start, b.end, k) for k, b in enumerate(blks))
    of_node: dict[int, list[int]] = {}
    for k, b in enumerate(blks):
        of_node.setdefault(b.nid, []).append(k)
    gone: set[int] = set()  # merged into an earlier block (numa_remove_memblk_from)
    for i, b in enumerate(blks):
        if i in gone:
            continue
        mine = of_node[b.nid]
        pairs = set(mine[bisect.bisect_right(mine, i):])
        pairs.update(k for _, _, k in given.meeting(b.start, b.end) if k > i)
        for j in sorted(pairs - gone):
            bi, bj = blks[i], blks[j]
            if bi.end > bj.start and bi.start < bj.end:
                if bi.nid != bj.nid:
                    msg = (f"node {bi.nid} [mem {bi.start:#010x}-{bi.end - 1:#010x}] overlaps with "
                           f"node {bj.nid} [mem {bj.start:#010x}-{bj.end - 1:#010x}]")
                    log.append(msg)
                    return [b for k, b in enumerate(blks) if k not in gone], msg
                log.append(f"Warning: node {bi.nid} [mem {bi.start:#010x}-{bi.end - 1:#010x}] "
                           f"overlaps with itself [mem {bj.start:#010x}-{bj.end - 1:#010x}]")
            if bi.nid != bj.nid:
                continue
            start, end = min(bi.start, bj.start), max(bi.end, bj.end)
            if any(blks[k].nid != bi.nid for _, _, k in given.meeting(start, end)):
                continue  # the hole between them holds another node's memory
            log.append(
                f"NUMA: Node {bi.nid} [mem {bi.start:#010x}-{bi.end - 1:#010x}] + "
                f"[mem {bj.start:#010x}-{bj.end - 1:#010x}] -> [mem {start:#010x}-{end - 1:#010x}]"
            )
            blks[i] = NumaMemblk(start, end, bi.nid)
            gone.add(j)
    return [b for k, b in enumerate(blks) if k not in gone], ""


@dataclass(frozen=True)
class HotplugCleared:
    """Why numa_clear_kernel_node_hotplug() cleared a node's hotplug flag: the reserved
    (kernel) memory it found on the node, ``[start, end)`` ranges at that moment."""

    nid: int
    reserved: tuple[tuple[int, int], ...]


def numa_clear_kernel_node_hotplug(mb: mbk.Memblock,
                                   mi: list[NumaMemblk]) -> dict[int, HotplugCleared]:
    """numa_clear_kernel_node_hotplug(): nodes with reserved memory lose their hotplug flag.

    Gives memblock.reserved its nodes first; returns, per such kernel node, what was
    reserved on it (the cause).  The kernel cannot tell which of the node's memory a later
    hot-remove would take, so one reserved byte anywhere on the node clears the flag of
    every range of the node.
    """
    for b in mi:
        mbk.memblock_set_node(mb.reserved, b.start, b.end - b.start, b.nid)
    found: dict[int, list[tuple[int, int]]] = {}
    for r in mb.reserved.regions:
        if r.nid is not None:
            found.setdefault(r.nid, []).append((r.base, r.end))
    for b in mi:
        if b.nid in found:
            mbk.memblock_clear_hotplug(mb, b.start, b.end - b.start)
    return {nid: HotplugCleared(nid, tuple(rs)) for nid, rs in sorted(found.items())}


def memblock_validate_numa_coverage(mb: mbk.Memblock, threshold: int, page_shift: int,
                                    log: list[str]) -> bool:
    """memblock_validate_numa_coverage() (mm/memblock.c, since 6.8): RAM without a node must
    not exceed ``threshold`` bytes."""
    lost = 0
    for r in mb.memory.regions:
        if r.nid is None:
            lost += max((r.end >> page_shift) - pfn_up(r.base, page_shift), 0)
    if lost << page_shift > threshold:
        total = sum(r.size for r in mb.memory.regions)
        log.append(f"NUMA: no nodes coverage for {(lost << page_shift) >> 20}MB of "
                   f"{total >> 20}MB RAM")
        return False
    return True


def numa_meminfo_cover_memory(mb: mbk.Memblock, mi: list[NumaMemblk], max_pfn: int,
                              page_shift: int, log: list[str]) -> bool:
    """numa_meminfo_cover_memory() (6.1): the nodes must hold all RAM but 1M."""
    numaram = 0
    for b in mi:
        s, e = b.start >> page_shift, b.end >> page_shift
        numaram += e - s - absent_pages_in_range(mb, b.nid, s, e)
        numaram = max(numaram, 0)
    e820ram = max_pfn - absent_pages_in_range(mb, None, 0, max_pfn)
    if e820ram - numaram >= 1 << (20 - page_shift):
        log.append(f"NUMA: nodes only cover {(numaram << page_shift) >> 20}MB of your "
                   f"{(e820ram << page_shift) >> 20}MB e820 RAM. Not used.")
        return False
    return True


def node_data_line(nid: int, pa: int, size: int) -> str:
    """alloc_node_data()'s message for NODE_DATA(nid) at ``pa``."""
    return f"NODE_DATA({nid}) allocated [mem {pa:#010x}-{pa + size - 1:#010x}]"


def alloc_node_data(mb: mbk.Memblock, nid: int, prof: KernelProfile, res: NumaResult) -> None:
    """alloc_node_data(): NODE_DATA on the node itself, else on any node."""
    size = prof.node_data_size
    pa = mbk.memblock_phys_alloc_try_nid(mb, size, prof.smp_cache_bytes, nid, "alloc_node_data")
    if not pa:
        res.log.append(f"Cannot find {size} bytes in any node (initial node: {nid})")
        return
    res.log.append(node_data_line(nid, pa, size))
    home = early_pfn_to_nid(mb, pa >> prof.page_shift, res.online or [0], prof.page_shift)
    if home != nid:
        res.log.append(f"    NODE_DATA({nid}) on node {home}")
    res.node_data[nid] = pa
    res.node_data_home[nid] = home
    res.online.append(nid)


def early_pfn_to_nid(mb: mbk.Memblock, pfn: int, online: list[int], page_shift: int = 12) -> int:
    """early_pfn_to_nid(): node of the memory holding ``pfn``, else the first online node."""
    nid = mbk.memblock_search_pfn_nid(mb, pfn, page_shift)
    return nid if nid is not None else min(online)


def numa_register_memblks(mb: mbk.Memblock, mi: list[NumaMemblk], nodes_parsed: set[int],
                          max_pfn: int, prof: KernelProfile, res: NumaResult) -> bool:
    """numa_register_memblks(): nodes into memblock, kernel nodes, coverage, NODE_DATA."""
    possible = set(nodes_parsed) | {b.nid for b in mi}
    if not possible:
        res.failure = "no node"
        return False
    res.possible = sorted(possible)
    for b in mi:
        mbk.memblock_set_node(mb.memory, b.start, b.end - b.start, b.nid)
    res.kernel_memory = numa_clear_kernel_node_hotplug(mb, mi)
    if not (memblock_validate_numa_coverage(mb, 1 << 20, prof.page_shift, res.log)
            if prof.has("numa_coverage_from_memblock")
            else numa_meminfo_cover_memory(mb, mi, max_pfn, prof.page_shift, res.log)):
        res.failure = res.log[-1]
        return False
    spans: dict[int, tuple[int, int]] = {}  # each node's lowest start and highest end
    for b in mi:
        lo, hi = spans.get(b.nid, (b.start, b.end))
        spans[b.nid] = min(lo, b.start), max(hi, b.end)
    for nid in sorted(possible):
        if nid not in spans or spans[nid][0] >= spans[nid][1]:
            res.no_memory.add(nid)  # named by the SRAT, but no memory of it is left
            continue
        alloc_node_data(mb, nid, prof, res)
    res.dump = mbk.memblock_dump_all(mb)
    return True


def numa_init(mb: mbk.Memblock, srat: Srat | None, max_pfn: int, prof: KernelProfile,
              res: NumaResult, numa_off: bool = False) -> bool:
    """numa_init(): reset node state, run one init function, register what it found.

    ``srat=None`` runs dummy_numa_init().
    """
    mbk.memblock_set_node(mb.memory, 0, mbk.PHYS_ADDR_MAX, None)
    mbk.memblock_set_node(mb.reserved, 0, mbk.PHYS_ADDR_MAX, None)
    mbk.memblock_clear_hotplug(mb, 0, mbk.PHYS_ADDR_MAX)
    res.meminfo, res.node_data, res.node_data_home, res.online = [], {}, {}, []
    res.no_memory = set()
    if srat is not None:
        st = acpi_numa_init(srat, mb, prof)
        res.srat = st
        res.log.extend(st.log)
        if st.disabled or not st.parsed_memblks:
            res.failure = "SRAT not used" if st.disabled else "no SRAT memory entries"
            return False
        mi, parsed = list(st.blks), set(st.nodes_parsed)
    else:
        res.log.append("NUMA turned off" if numa_off else "No NUMA configuration found")
        res.log.append(f"Faking a node at [mem {0:#018x}-{max_pfn * prof.page_size - 1:#018x}]")
        mi, parsed = [NumaMemblk(0, max_pfn * prof.page_size, 0)], {0}
    mb.bottom_up = False
    mi, err = numa_cleanup_meminfo(mi, mb, max_pfn, prof, res.log)
    if err:
        res.failure = err
        return False
    res.meminfo = mi
    return numa_register_memblks(mb, mi, parsed, max_pfn, prof, res)


def x86_numa_init(mb: mbk.Memblock, srat: Srat | None, numa_off: bool, max_pfn: int,
                  prof: KernelProfile) -> NumaResult:
    """x86_numa_init(): SRAT first (unless ``numa=off``), then the dummy single node."""
    res = NumaResult()
    if not numa_off and srat is not None and numa_init(mb, srat, max_pfn, prof, res):
        res.from_srat = True
        return res
    res.fallback = (NumaFallback.NO_SRAT if srat is None else
                    NumaFallback.NUMA_OFF if numa_off else NumaFallback.SRAT_REJECTED)
    numa_init(mb, None, max_pfn, prof, res, numa_off)
    return res


def initmem_init(b: Boot) -> None:
    """initmem_init() -> x86_numa_init(), with what NUMA set-up left behind recorded: the
    memory that kept its hotplug flag and the reservations the kernel had by then."""
    prof, m = b.profile, b.machine
    b.numa = x86_numa_init(b.memblock, m.srat, m.cmdline.numa_off, b.max_pfn, prof)
    placed = set()
    if b.unknown_fact(efi.NODE_DATA):  # where NODE_DATA lands is not known: not printed
        placed = {node_data_line(nid, pa, prof.node_data_size)
                  for nid, pa in b.numa.node_data.items()}
    b.log.extend(line for line in b.numa.log if line not in placed)
    b.hotplug = [(r.base, r.end, r.nid) for r in b.memblock.memory.regions
                 if r.flags & mbk.MEMBLOCK_HOTPLUG]
    b.kernel_at_numa = [(r.base, r.end, r.nid) for r in b.memblock.reserved.regions]
    b.events_at_numa = len(b.memblock.events)
    dump(b)


def init_memory_less_node(b: Boot, nid: int) -> None:
    """init_memory_less_node() of kernels before 5.18, from init_cpu_to_node(): a node with
    CPUs and no memory gets NODE_DATA (alloc_node_data()'s allocation and messages) and an
    empty node (free_area_init_node() prints its span as [mem 0-0])."""
    assert b.numa is not None
    prof, size = b.profile, b.profile.node_data_size
    pa = mbk.memblock_phys_alloc_try_nid(b.memblock, size, prof.smp_cache_bytes, nid,
                                         "alloc_node_data")
    if pa:
        b.log.append(node_data_line(nid, pa, size))
        home = early_pfn_to_nid(b.memblock, pa >> prof.page_shift, b.numa.online or [0],
                                prof.page_shift)
        if home != nid:
            b.log.append(f"    NODE_DATA({nid}) on node {home}")
        b.numa.node_data[nid], b.numa.node_data_home[nid] = pa, home
    b.log.append(f"Initmem setup node {nid} [mem {0:#018x}-{0:#018x}]")


def init_cpu_to_node(b: Boot) -> None:
    """init_cpu_to_node(): each possible CPU's node from the SRAT.  A CPU's node that is
    possible but not online (a CPU-only proximity domain: a memoryless node) is brought
    online here, after free_area_init() gave it its pg_data_t; a CPU without an SRAT entry
    goes to the first online node (numa_init_array)."""
    assert b.numa is not None
    apics, how = possible_cpus(b.machine)
    if how.startswith("nothing"):
        b.notes.append("the number of CPUs is unknown (give cpus = N in the machine file); "
                       "assumed 1")
    st = b.numa.srat if b.numa.from_srat else None
    online = b.numa.online or [0]
    b.cpu_node = []
    for apic in apics:
        node = st.apicid_to_node.get(apic, -1) if st else -1
        if node in b.numa.possible and node not in online:
            if not b.profile.has("memoryless_nodes_in_free_area_init"):
                init_memory_less_node(b, node)
            online.append(node)  # node_set_online()
            online.sort()
        b.cpu_node.append(node if node in online else min(online))
