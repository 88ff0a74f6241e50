# SPDX-License-Identifier: GPL-2.0-or-later
"""sysfs memory blocks right after boot, modelled on drivers/base/memory.c and node.c (6.1).

Every block with a present section exists and is online.  At boot a block is linked to
each node that owns one of its pfns (``register_mem_block_under_node_early``); its zone
is the one populated zone of its node that it intersects, or none when it meets two
zones or two nodes (``early_node_zone_for_memory_block`` / ``memory_block_add_nid``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from memhp.intervals import IdRuns, Spans, segments
from memhp.kernel import memblock as mbk
from memhp.kernel import memory_hotplug as mh
from memhp.kernel.mm_init import ZONE_NAMES, ZoneLayout
from memhp.kernel.pfn import div_round_up, pfn_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import SparseMap
from memhp.kernel.state import Boot

__all__ = ["Blocks", "MemoryBlock", "StoreResult", "cedt_note", "device_offline", "device_online",
           "memory_dev_init", "probe_memory_block_size", "state_store", "sysfs_memory",
           "sysfs_order", "valid_zones"]




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
    """probe_memory_block_size() (arch/x86/mm/init_64.c): 128M below 64G of RAM end
    (MEM_SIZE_FOR_LARGE_BLOCK).

    Above that, bare metal takes the largest size (MAX_BLOCK_SIZE, 2G: "x86/mm: Use max
    memory block size on bare metal", Linux 5.8), under a hypervisor the largest size that
    the end of boot memory is aligned to ("x86/mm/memory_hotplug: determine block size
    based on the end of boot memory", Linux 4.17).  The rule is the same in 6.1 and 6.12,
    and it holds for any amount of RAM up to the 46-bit (4-level) or 52-bit (5-level)
    limit.  After 6.12 (7.2 has it) a CXL window in the CEDT may advise a smaller size,
    which then also applies on bare metal (memory_block_advised_max_size); memhp does not
    read the CEDT and says so (:func:`cedt_note`).
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


def cedt_note(tables: Iterable[str], prof: KernelProfile) -> str | None:
    """The note for a machine with a CEDT on a kernel whose block size follows its CXL
    windows (memory_block_advise_max_size() from acpi_parse_cfmws(), absent in 6.12)."""
    if "CEDT" in tables and prof.version > (6, 12):
        return ("the CEDT may advise a smaller memory block size for its CXL windows on this "
                "kernel (memory_block_advise_max_size); memhp does not read the CEDT, so the "
                "block size assumes no advice")
    return None


def _pfn_nids(mb: mbk.Memblock, spfn: int, epfn: int, shift: int) -> tuple[set[int | None], int]:
    """Nodes of the memory regions in ``[spfn, epfn)`` and how many of its pages they cover."""
    regs = mb.memory.regions
    lo, hi = spfn << shift, epfn << shift
    i = mbk.first_ending_above(regs, lo)
    nids: set[int | None] = set()
    covered = 0
    while i < len(regs) and regs[i].base < hi:
        r = regs[i]
        s, e = max(pfn_up(r.base, shift), spfn), min(r.end >> shift, epfn)
        if s < e:
            nids.add(r.nid)
            covered += e - s
        i += 1
    return nids, covered


class Blocks(IdRuns[MemoryBlock]):
    """The memory blocks in id order, as runs of blocks that differ only in their place."""

    def __init__(self, runs: Iterable[tuple[int, int, MemoryBlock]] = ()) -> None:
        super().__init__(runs, _block_at, _alike)

    def on_node(self, nid: int, zone: str | None = None) -> list[tuple[int, int]]:
        """Id spans of the blocks linked to node ``nid`` (with ``zone``: those of that node
        alone, in that zone)."""
        if zone is None:
            return self.spans(lambda b: nid in b.nodes)
        return self.spans(lambda b: b.nodes == (nid,) and b.zone == zone)


def _alike(a: MemoryBlock, b: MemoryBlock) -> bool:
    """Whether two blocks are the same but for their place (``_block_at`` makes equal ones
    at one id)."""
    return (a.nr_pages, a.state, a.nodes, a.zone) == (b.nr_pages, b.state, b.nodes, b.zone)


def _block_at(b: MemoryBlock, bid: int) -> MemoryBlock:
    if b.id == bid:
        return b
    return MemoryBlock(bid, bid * b.nr_pages, b.nr_pages, b.state, b.nodes, b.zone)


def memory_dev_init(
    mb: mbk.Memblock, layout: ZoneLayout, sparse: SparseMap, block_size: int,
    online: list[int], prof: KernelProfile, per_block: bool = False,
) -> Blocks:
    """memory_dev_init() + register_one_node() for each online node, in block-id order.

    A node links a block when one of the block's pfns in a present section is the node's
    by early_pfn_to_nid(): its memory region's node, or the first online node for a hole.
    Blocks between two boundaries of anything that decides this (present sections, memory
    regions, node spans, zones) are alike: the first stands for the run (``per_block``:
    each block is worked out on its own).
    """
    sections_per_block = block_size >> prof.section_size_bits
    block_pages = sections_per_block * sparse.pages_per_section
    first_online = min(online) if online else 0
    is_online = set(online)
    spans = Spans((nz.start_pfn, nz.end_pfn, nid) for nid, nz in layout.nodes.items()
                  if nid in is_online and nz.start_pfn != nz.end_pfn)
    page = prof.page_size
    edges = [pfn for a, b, _ in sparse.runs for pfn in (a * sparse.pages_per_section,
                                                         b * sparse.pages_per_section)]
    edges += [pfn for r in mb.memory.regions
              for pfn in (r.base // page, div_round_up(r.base, page), r.end // page,
                          div_round_up(r.end, page))]
    edges += [pfn for s, e, _ in spans.items for pfn in (s, e)]
    edges += [pfn for nz in layout.nodes.values() for z in nz.zones if z.present
              for pfn in (z.start_pfn, z.end_pfn)]
    # a boundary inside a block makes that block differ from both sides; one at a block's
    # first pfn only starts a new kind of block
    cuts = sorted({pfn // block_pages for pfn in edges if pfn % block_pages})
    starts = sorted({pfn // block_pages for pfn in edges if not pfn % block_pages})
    ids: list[tuple[int, int]] = []  # blocks with a present section
    for a, b, _ in sparse.runs:
        lo, hi = a // sections_per_block, (b - 1) // sections_per_block + 1
        if ids and ids[-1][1] >= lo:
            ids[-1] = (ids[-1][0], max(ids[-1][1], hi))
        else:
            ids.append((lo, hi))

    def block(bid: int) -> MemoryBlock:
        spfn = bid * block_pages
        epfn = spfn + block_pages
        nodes: list[int] = []
        zone: str | None = None
        for nid, nstart, nend in sorted((n, s, e) for s, e, n in spans.meeting(spfn, epfn)):
            lo, hi = max(spfn, nstart), min(epfn, nend)
            nids, covered = _pfn_nids(mb, lo, hi, prof.page_shift)
            holes = sparse.present_pages_in(lo, hi) - covered
            if nid not in nids and not (nid == first_online and (holes > 0 or None in nids)):
                continue
            if not nodes:
                hits = [z for z in layout.nodes[nid].zones
                        if z.present and z.start_pfn < epfn and spfn < z.end_pfn]
                zone = hits[0].name if len(hits) == 1 else None
            else:
                zone = None
            nodes.append(nid)
        nodes.sort()
        return MemoryBlock(bid, spfn, block_pages, "online", tuple(nodes), zone)

    if per_block:  # every block on its own (the reference the tests compare the runs with)
        cuts, starts = [i for lo, hi in ids for i in range(lo, hi)], []
    return Blocks((a, b - a, block(a)) for lo, hi in ids
                  for a, b in segments(lo, hi, cuts, starts))


# --- After boot: the sysfs files of a block (drivers/base/memory.c) ---


def sysfs_order(ids: Iterable[int]) -> list[int]:
    """The order a shell glob lists memoryN directories: by name, so memory10 before 2."""
    return sorted(ids, key=lambda i: f"memory{i}")


def valid_zones(st: mh.MemState, cfg: mh.HotplugConfig, blk: mh.HotBlock) -> list[str]:
    """valid_zones_show(): an online block shows its zone (or none); an offline one the
    zone plain ``online`` would pick, then the kernel and movable zones when different."""
    if blk.state == "online":
        return [ZONE_NAMES[blk.zone]] if blk.zone is not None else ["none"]
    group = st.groups.get(blk.group or "")
    default = mh.zone_for_pfn_range(st, cfg, mh.MMOP_ONLINE, blk.nid, group, blk.start_pfn,
                                    blk.nr_pages).zone
    out = [default]
    for kind in (mh.MMOP_ONLINE_KERNEL, mh.MMOP_ONLINE_MOVABLE):
        z = mh.zone_for_pfn_range(st, cfg, kind, blk.nid, group, blk.start_pfn,
                                  blk.nr_pages).zone
        if z != default:
            out.append(z)
    return [ZONE_NAMES[z] for z in out]


@dataclass(frozen=True)
class StoreResult:
    """``echo VALUE > memoryN/state``: whether the write succeeded, and what decided."""

    ok: bool | None  # None: unknown
    choice: mh.ZoneChoice | None = None  # an online: the zone and its rule
    offline: mh.OfflineOutcome | None = None  # an offline: what offline_pages() met


def device_online(st: mh.MemState, cfg: mh.HotplugConfig, blk: mh.HotBlock,
                  online_type: str) -> StoreResult:
    """device_online() -> memory_subsys_online(): an online block makes it return 1."""
    if blk.state == "online":
        return StoreResult(False, offline=mh.OfflineOutcome("failed", "already_online"))
    return StoreResult(True, choice=mh.memory_block_online(st, cfg, blk, online_type))


def device_offline(st: mh.MemState, blk: mh.HotBlock) -> StoreResult:
    """device_offline() -> memory_subsys_offline(): an offline block makes it return 1."""
    if blk.state == "offline":
        return StoreResult(False, offline=mh.OfflineOutcome("failed", "already_offline"))
    out = mh.memory_block_offline(st, blk)
    return StoreResult({"ok": True, "failed": False}.get(out.result), offline=out)


def state_store(st: mh.MemState, cfg: mh.HotplugConfig, blk: mh.HotBlock,
                value: str) -> StoreResult:
    """state_store(): ``online``, ``online_kernel``, ``online_movable`` or ``offline``."""
    if value == mh.MMOP_OFFLINE:
        return device_offline(st, blk)
    return device_online(st, cfg, blk, value)


def sysfs_memory(b: Boot) -> None:
    """driver_init() -> memory_dev_init() and node_dev_init(): the blocks at boot."""
    assert b.numa is not None and b.zones is not None and b.sparse is not None
    prof = b.profile
    b.block_size = probe_memory_block_size(b.max_pfn, b.machine.hypervisor, prof)
    note = cedt_note((t.signature for t in b.machine.acpi_tables), prof)
    if note:
        b.notes.append(note)
    b.blocks = memory_dev_init(b.memblock, b.zones, b.sparse, b.block_size, b.numa.online,
                               prof)
