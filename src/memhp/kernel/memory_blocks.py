# SPDX-License-Identifier: GPL-2.0-or-later
"""sysfs memory blocks right after boot, modelled on drivers/base/memory.c and node.c (6.1).

Every block with a present section exists and is online.  At boot a block is linked to
each node that owns one of its pfns (``register_mem_block_under_node_early``); its zone
is the one populated zone of its node that it intersects, or none when it meets two
zones or two nodes (``early_node_zone_for_memory_block`` / ``memory_block_add_nid``).
"""

from __future__ import annotations

from dataclasses import dataclass

from memhp.kernel import memblock as mbk
from memhp.kernel.mm_init import ZoneLayout
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import SparseMap


@dataclass(frozen=True)
class MemoryBlock:
    """/sys/devices/system/memory/memoryN as read right after boot."""

    id: int
    start_pfn: int
    nr_pages: int
    state: str
    nodes: tuple[int, ...]
    zone: str | None  # None: "none" in valid_zones (spans zones or nodes)

    @property
    def valid_zones(self) -> list[str]:
        return [self.zone] if self.zone else ["none"]


def probe_memory_block_size(max_pfn: int, hypervisor: bool, prof: KernelProfile) -> int:
    """probe_memory_block_size() (arch/x86/mm/init_64.c): 128M below 64G of RAM end.

    Above that, bare metal takes the largest size (2G); under a hypervisor the
    largest size that the end of boot memory is aligned to.
    """
    boot_mem_end = max_pfn << prof.page_shift
    if boot_mem_end < prof.large_block_threshold:
        return prof.min_memory_block_size
    if not hypervisor:
        return prof.max_memory_block_size
    bz = prof.max_memory_block_size
    while bz > prof.min_memory_block_size and boot_mem_end % bz:
        bz >>= 1
    return bz


def _nodes_of_range(mb: mbk.Memblock, spfn: int, epfn: int, first_online: int,
                    shift: int) -> set[int]:
    """early_pfn_to_nid() of every pfn in ``[spfn, epfn)``, as a set (holes: first online)."""
    nids: set[int] = set()
    covered = 0
    for s, e, nid in mbk.mem_pfn_ranges(mb, None, shift):
        lo, hi = max(s, spfn), min(e, epfn)
        if lo < hi:
            nids.add(first_online if nid is None else nid)
            covered += hi - lo
    if covered < epfn - spfn:
        nids.add(first_online)
    return nids


def memory_dev_init(
    mb: mbk.Memblock, layout: ZoneLayout, sparse: SparseMap, block_size: int,
    online: list[int], prof: KernelProfile,
) -> list[MemoryBlock]:
    """memory_dev_init() + register_one_node() for each online node, in block-id order."""
    sections_per_block = block_size >> prof.section_size_bits
    pps = sparse.pages_per_section
    block_pages = sections_per_block * pps
    first_online = min(online) if online else 0
    ids = sorted({nr // sections_per_block for nr in sparse.present})
    blocks: list[MemoryBlock] = []
    for bid in ids:
        spfn = bid * block_pages
        nodes: list[int] = []
        zone: str | None = None
        for nid in sorted(online):
            nz = layout.nodes.get(nid)
            if nz is None or nz.start_pfn == nz.end_pfn:
                continue
            lo, hi = max(spfn, nz.start_pfn), min(spfn + block_pages, nz.end_pfn)
            if lo >= hi:
                continue
            linked = any(
                nid in _nodes_of_range(mb, max(lo, nr * pps), min(hi, (nr + 1) * pps),
                                       first_online, prof.page_shift)
                for nr in range(lo // pps, (hi - 1) // pps + 1)
                if sparse.is_present(nr)
            )
            if not linked:
                continue
            if not nodes:
                hits = [z for z in nz.zones
                        if z.present and z.start_pfn < spfn + block_pages and spfn < z.end_pfn]
                zone = hits[0].name if len(hits) == 1 else None
            else:
                zone = None
            nodes.append(nid)
        blocks.append(MemoryBlock(bid, spfn, block_pages, "online", tuple(nodes), zone))
    return blocks


def sysfs_order(blocks: list[MemoryBlock]) -> list[MemoryBlock]:
    """The order a shell lists /sys/devices/system/memory: memory0, memory1, memory10, ..."""
    return sorted(blocks, key=lambda b: f"memory{b.id}")
