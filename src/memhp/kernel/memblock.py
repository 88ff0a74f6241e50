# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot-time memory allocator, modelled on mm/memblock.c (Linux 6.1).

``Memblock`` holds two region arrays, ``memory`` and ``reserved``, each kept sorted,
non-overlapping and merged exactly where the kernel merges (adjacent, same node,
same flags).  A region's ``nid`` is ``None`` where the kernel keeps ``MAX_NUMNODES``
("no node yet"); requests use ``NUMA_NO_NODE`` (-1) for "any node".

The functions take the ``Memblock`` they work on, like the kernel's functions take
``&memblock``: the state is plain data passed in, never global.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from memhp.kernel.pfn import round_up

__all__ = ["Event", "MEMBLOCK_ALLOC_ACCESSIBLE", "MEMBLOCK_ALLOC_ANYWHERE",
           "MEMBLOCK_ALLOC_NOLEAKTRACE", "MEMBLOCK_DRIVER_MANAGED", "MEMBLOCK_HOTPLUG",
           "MEMBLOCK_KHO_SCRATCH", "MEMBLOCK_MIRROR", "MEMBLOCK_NOMAP", "MEMBLOCK_NONE",
           "MEMBLOCK_RSRV_KERN", "MEMBLOCK_RSRV_NOINIT", "Memblock", "MemblockType", "NUMA_NO_NODE",
           "PAGE_SHIFT", "PAGE_SIZE", "PHYS_ADDR_MAX", "Region", "Repeat", "RunsAhead",
           "WindowExhausted", "each_call", "each_event", "first_ending_above", "free_ceiling",
           "free_floor", "free_mem_ranges", "mem_pfn_ranges",
           "memblock_add", "memblock_add_range",
           "memblock_alloc_internal", "memblock_alloc_range_nid", "memblock_alloc_repeat",
           "memblock_alloc_runs", "memblock_clear_hotplug", "memblock_clear_kho_scratch",
           "memblock_dump", "memblock_dump_all", "memblock_find_in_range_node",
           "memblock_is_region_memory", "memblock_isolate_range", "memblock_mark_hotplug",
           "memblock_mark_kho_scratch", "memblock_mark_mirror", "memblock_mark_nomap",
           "memblock_merge_regions", "memblock_overlaps_region", "memblock_phys_alloc_range",
           "memblock_phys_alloc_try_nid", "memblock_phys_free", "memblock_remove",
           "memblock_remove_range", "memblock_reserve", "memblock_reserve_kern",
           "memblock_search_pfn_nid", "memblock_set_node", "memblock_setclr_flag",
           "memblock_start_of_dram", "memblock_trim_memory", "moved", "region_base",
           "should_skip_region", "snapshot"]

NUMA_NO_NODE = -1
PHYS_ADDR_MAX = (1 << 64) - 1
# memblock_alloc_*() "end" sentinels (include/linux/memblock.h)
MEMBLOCK_ALLOC_ANYWHERE = PHYS_ADDR_MAX
MEMBLOCK_ALLOC_ACCESSIBLE = 0
MEMBLOCK_ALLOC_NOLEAKTRACE = 1

# enum memblock_flags
MEMBLOCK_NONE = 0x0
MEMBLOCK_HOTPLUG = 0x1
MEMBLOCK_MIRROR = 0x2
MEMBLOCK_NOMAP = 0x4
MEMBLOCK_DRIVER_MANAGED = 0x8
MEMBLOCK_RSRV_NOINIT = 0x10
MEMBLOCK_RSRV_KERN = 0x20  # reserved for the kernel's own use (memblock_reserve_kern)
MEMBLOCK_KHO_SCRATCH = 0x40  # memory a kexec-handover kernel may allocate from

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT


@dataclass
class Region:
    """struct memblock_region: ``[base, base + size)`` on ``nid`` with ``flags``."""

    base: int
    size: int
    nid: int | None = None
    flags: int = MEMBLOCK_NONE

    @property
    def end(self) -> int:
        return self.base + self.size


region_base = attrgetter("base")  # bisect key over a region array (sorted, disjoint)


def first_ending_above(regs: list[Region], addr: int) -> int:
    """The index of the first region of a sorted, disjoint array that ends above ``addr``
    (``len(regs)`` when none does): the last one that starts at or below it, if it reaches
    past it, else the next (bisected on the bases, a plain attribute)."""
    i = bisect.bisect_right(regs, addr, key=region_base) - 1
    if i < 0 or regs[i].base + regs[i].size <= addr:
        return i + 1
    return i


@dataclass
class MemblockType:
    """struct memblock_type: a named, sorted array of regions."""

    name: str
    regions: list[Region] = field(default_factory=list)
    version: int = 0  # bumped by every change that can give back free space

    @property
    def total_size(self) -> int:
        return sum(r.size for r in self.regions)


class Event(NamedTuple):
    """One memblock call as ``memblock=debug`` would log it (``kind``, range, caller).
    (A named tuple: every memblock call makes one, and a frozen dataclass costs ten times
    as much to make.)"""

    kind: str  # "add", "reserve", "free", "alloc", "alloc_failed", "remove"
    base: int
    size: int
    caller: str = ""
    nid: int = NUMA_NO_NODE
    fallback: bool = False  # the allocation succeeded only on the any-node retry
    n: int = 1  # an "alloc" repeated: ``n`` of them, each ``size`` below the last
    up: bool = False  # ... each ``size`` above the last (bottom-up)

    @property
    def step(self) -> int:
        return self.size if self.up else -self.size

    @property
    def span(self) -> tuple[int, int]:
        """``[lo, hi)`` that the event's ``n`` allocations cover together."""
        if self.up:
            return self.base, self.base + self.n * self.size
        return self.base - (self.n - 1) * self.size, self.base + self.size


def moved(e: Event, delta: int) -> Event:
    """The same call ``delta`` bytes higher."""
    return e._replace(base=e.base + delta)


@dataclass(frozen=True, slots=True)
class Repeat:
    """The calls ``calls`` made ``times`` more times in a row, each time ``shift`` bytes
    below the last: a cycle of requests that comes out the same, moved down (a hot-pluggable
    node's vmemmap, sparse._repeat_cycles).  Stands for those events in ``Memblock.events``
    (``times * len(calls)`` of them), so that the cycles cost one entry."""

    calls: tuple[Event, ...]
    times: int
    shift: int

    def rounds(self) -> Iterator[Event]:
        for j in range(1, self.times + 1):
            for e in self.calls:
                yield moved(e, -j * self.shift)


def each_call(events: list[Event | Repeat]) -> Iterator[Event]:
    """The events with every ``Repeat`` written out (runs of one call stay one event)."""
    for e in events:
        if isinstance(e, Repeat):
            yield from e.rounds()
        else:
            yield e


def each_event(events: list[Event | Repeat]) -> Iterator[Event]:
    """The events one call each, as ``memblock=debug`` logs them (runs expanded)."""
    for e in each_call(events):
        if e.n == 1:
            yield e
        else:
            for k in range(e.n):
                yield Event(e.kind, e.base + k * e.step, e.size, e.caller, e.nid, e.fallback)


@dataclass
class Memblock:
    """struct memblock plus the knobs the allocator reads (``movable_node``)."""

    memory: MemblockType = field(default_factory=lambda: MemblockType("memory"))
    reserved: MemblockType = field(default_factory=lambda: MemblockType("reserved"))
    bottom_up: bool = False
    current_limit: int = MEMBLOCK_ALLOC_ANYWHERE
    movable_node: bool = False  # movable_node_is_enabled()
    mirror: bool = False  # system_has_some_mirror
    # Kernels with MEMBLOCK_RSRV_KERN: allocations and memblock_reserve_kern() mark their
    # reservations with it, and an allocation's reservation keeps the node it was asked
    # for (__memblock_reserve(found, size, nid, MEMBLOCK_RSRV_KERN)); set from the profile
    rsrv_kern: bool = False
    events: list[Event | Repeat] = field(default_factory=list)
    # Search memo: a search that failed fails again, and a top-down (bottom-up) search
    # finds nothing above (below) its last answer, as long as no free space came back.
    memo: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)
    memo_version: tuple[int, int] = (0, 0)
    # The memory regions each kind of walk visits, for one version of memory (_walked)
    walked: dict[tuple[int, int, bool], list[Region]] = field(default_factory=dict, repr=False)
    on_node: dict[int | None, list[Region]] = field(default_factory=dict, repr=False)
    walked_version: int = -1


def _cap_size(base: int, size: int) -> int:
    """memblock_cap_size(): keep ``base + size`` within the physical address space."""
    return min(size, PHYS_ADDR_MAX - base)


def memblock_merge_regions(type_: MemblockType, lo: int = 0, hi: int | None = None) -> None:
    """memblock_merge_regions(): join neighbours that touch with equal nid and flags.

    ``lo``/``hi`` limit the walk to the indexes a change touched; outside them the array
    is already merged, so the result is the kernel's full walk.
    """
    regs = type_.regions
    i = max(lo, 0)
    while i < min(len(regs), len(regs) if hi is None else hi) - 1:
        this, nxt = regs[i], regs[i + 1]
        if this.end != nxt.base or this.nid != nxt.nid or this.flags != nxt.flags:
            assert this.end <= nxt.base, "memblock regions overlap"
            i += 1
            continue
        this.size += nxt.size
        del regs[i + 1]


def memblock_add_range(
    type_: MemblockType, base: int, size: int, nid: int | None, flags: int
) -> None:
    """memblock_add_range(): insert the parts of the range not yet covered, then merge.

    Parts that already exist keep their own nid and flags, as in the kernel.
    """
    size = _cap_size(base, size)
    if not size:
        return
    end = base + size
    regs = type_.regions
    idx = first_ending_above(regs, base)
    if idx == len(regs) or regs[idx].base >= end:  # nothing there yet (most reservations)
        _add_alone(type_, idx, base, size, nid, flags)
        return
    new: list[Region] = []
    insert_at: list[int] = []
    cur = base
    i = idx
    while i < len(regs):
        r = regs[i]
        if r.base >= end:
            break
        if r.base > cur:
            new.append(Region(cur, r.base - cur, nid, flags))
            insert_at.append(i)
        cur = max(cur, min(r.end, end))
        i += 1
    if cur < end:
        new.append(Region(cur, end - cur, nid, flags))
        insert_at.append(i)
    for pos, reg in reversed(list(zip(insert_at, new, strict=True))):
        regs.insert(pos, reg)
    if new:
        memblock_merge_regions(type_, idx - 1, i + len(new) + 1)
        if type_.name != "reserved":
            type_.version += 1


def _add_alone(type_: MemblockType, idx: int, base: int, size: int, nid: int | None,
               flags: int) -> None:
    """memblock_add_range() of a range no region meets, to go in at ``idx``: it joins the
    neighbour it touches with the same nid and flags (both, where it fills the gap
    between them), else becomes a region of its own."""
    regs = type_.regions
    left = regs[idx - 1] if idx and regs[idx - 1].end == base else None
    right = regs[idx] if idx < len(regs) and regs[idx].base == base + size else None
    if left is not None and (left.nid != nid or left.flags != flags):
        left = None
    if right is not None and (right.nid != nid or right.flags != flags):
        right = None
    if left is not None:
        left.size += size
        if right is not None:
            left.size += right.size
            del regs[idx]
    elif right is not None:
        right.base, right.size = base, right.size + size
    else:
        regs.insert(idx, Region(base, size, nid, flags))
    if type_.name != "reserved":
        type_.version += 1


def memblock_isolate_range(type_: MemblockType, base: int, size: int) -> tuple[int, int]:
    """memblock_isolate_range(): split regions at ``base`` and ``base + size``.

    Returns the index range ``[start, end)`` of the regions now wholly inside.
    """
    size = _cap_size(base, size)
    if not size:
        return 0, 0
    end = base + size
    regs = type_.regions
    start_rgn = end_rgn = 0
    i = first_ending_above(regs, base)  # those below end at or before
    while i < len(regs):
        r = regs[i]
        if r.base >= end:
            break
        r_end = r.base + r.size
        if r_end <= base:
            i += 1
            continue
        if r.base < base:
            regs.insert(i, Region(r.base, base - r.base, r.nid, r.flags))
            r.size -= base - r.base
            r.base = base
            i += 1
            continue
        if r_end > end:
            regs.insert(i, Region(r.base, end - r.base, r.nid, r.flags))
            r.size -= end - r.base
            r.base = end
            continue
        if not end_rgn:
            start_rgn = i
        end_rgn = i + 1
        i += 1
    return start_rgn, end_rgn


def memblock_remove_range(type_: MemblockType, base: int, size: int) -> None:
    """memblock_remove_range(): drop ``[base, base + size)`` from ``type_``."""
    start, end = memblock_isolate_range(type_, base, size)
    del type_.regions[start:end]
    type_.version += 1


def memblock_add(mb: Memblock, base: int, size: int, caller: str = "") -> None:
    """memblock_add(): register RAM with no node yet."""
    mb.events.append(Event("add", base, size, caller))
    memblock_add_range(mb.memory, base, size, None, MEMBLOCK_NONE)


def memblock_remove(mb: Memblock, base: int, size: int) -> None:
    """memblock_remove(): forget RAM."""
    mb.events.append(Event("remove", base, size))
    memblock_remove_range(mb.memory, base, size)


def memblock_reserve(mb: Memblock, base: int, size: int, caller: str = "",
                     nid: int = NUMA_NO_NODE, flags: int = MEMBLOCK_NONE) -> None:
    """memblock_reserve() (``__memblock_reserve()`` with a node and flags where the kernel
    has them): mark ``[base, base + size)`` as used by the kernel."""
    mb.events.append(Event("reserve", base, size, caller))
    memblock_add_range(mb.reserved, base, size, nid if nid >= 0 else None, flags)


def memblock_reserve_kern(mb: Memblock, base: int, size: int, caller: str = "") -> None:
    """memblock_reserve_kern(): a reservation of the kernel's own (the image, brk, initrd),
    flagged MEMBLOCK_RSRV_KERN where the kernel has that flag; plain before."""
    memblock_reserve(mb, base, size, caller,
                     flags=MEMBLOCK_RSRV_KERN if mb.rsrv_kern else MEMBLOCK_NONE)


def _reserve_found(mb: Memblock, base: int, size: int, nid: int, fallback: bool) -> None:
    """The reservation memblock_alloc_range_nid() makes for what it found: with
    MEMBLOCK_RSRV_KERN, on the requested node (none when the any-node retry found it)."""
    if mb.rsrv_kern:
        memblock_add_range(mb.reserved, base, size, None if fallback or nid < 0 else nid,
                           MEMBLOCK_RSRV_KERN)
    else:
        memblock_add_range(mb.reserved, base, size, None, MEMBLOCK_NONE)


def memblock_phys_free(mb: Memblock, base: int, size: int, caller: str = "") -> None:
    """memblock_phys_free(): give a reservation back."""
    mb.events.append(Event("free", base, size, caller))
    memblock_remove_range(mb.reserved, base, size)


def memblock_setclr_flag(mb: Memblock, base: int, size: int, set_: bool, flag: int) -> None:
    """memblock_setclr_flag(): set or clear ``flag`` on the memory in the range."""
    start, end = memblock_isolate_range(mb.memory, base, size)
    for r in mb.memory.regions[start:end]:
        r.flags = (r.flags | flag) if set_ else (r.flags & ~flag)
    memblock_merge_regions(mb.memory, start - 1, end + 1)  # only these can join now
    mb.memory.version += 1


def memblock_mark_hotplug(mb: Memblock, base: int, size: int) -> None:
    """memblock_mark_hotplug()."""
    memblock_setclr_flag(mb, base, size, True, MEMBLOCK_HOTPLUG)


def memblock_clear_hotplug(mb: Memblock, base: int, size: int) -> None:
    """memblock_clear_hotplug()."""
    memblock_setclr_flag(mb, base, size, False, MEMBLOCK_HOTPLUG)


def memblock_mark_mirror(mb: Memblock, base: int, size: int) -> None:
    """memblock_mark_mirror(): also records that the system has mirrored memory."""
    mb.mirror = True
    memblock_setclr_flag(mb, base, size, True, MEMBLOCK_MIRROR)


def memblock_mark_nomap(mb: Memblock, base: int, size: int) -> None:
    """memblock_mark_nomap()."""
    memblock_setclr_flag(mb, base, size, True, MEMBLOCK_NOMAP)


def memblock_mark_kho_scratch(mb: Memblock, base: int, size: int) -> None:
    """memblock_mark_kho_scratch()."""
    memblock_setclr_flag(mb, base, size, True, MEMBLOCK_KHO_SCRATCH)


def memblock_clear_kho_scratch(mb: Memblock, base: int, size: int) -> None:
    """memblock_clear_kho_scratch()."""
    memblock_setclr_flag(mb, base, size, False, MEMBLOCK_KHO_SCRATCH)


def memblock_set_node(type_: MemblockType, base: int, size: int, nid: int | None) -> None:
    """memblock_set_node(): give every region in the range node ``nid`` (split as needed)."""
    start, end = memblock_isolate_range(type_, base, size)
    for r in type_.regions[start:end]:
        r.nid = nid
    memblock_merge_regions(type_, start - 1, end + 1)  # only these can join now
    type_.version += 1


def memblock_trim_memory(mb: Memblock, align: int) -> None:
    """memblock_trim_memory(): shrink memory regions to ``align`` and drop the empty ones."""
    kept: list[Region] = []
    for r in mb.memory.regions:
        start = round_up(r.base, align)
        end = (r.end // align) * align
        if start >= end:
            continue
        kept.append(Region(start, end - start, r.nid, r.flags))
    mb.memory.regions[:] = kept
    mb.memory.version += 1


def should_skip_region(mb: Memblock, r: Region, nid: int, flags: int) -> bool:
    """should_skip_region() for memblock.memory: node, hotplug, mirror and nomap filters."""
    if nid != NUMA_NO_NODE and nid != r.nid:
        return True
    if mb.movable_node and r.flags & MEMBLOCK_HOTPLUG and not flags & MEMBLOCK_HOTPLUG:
        return True
    if flags & MEMBLOCK_MIRROR and not r.flags & MEMBLOCK_MIRROR:
        return True
    if not flags & MEMBLOCK_NOMAP and r.flags & MEMBLOCK_NOMAP:
        return True
    return bool(not flags & MEMBLOCK_DRIVER_MANAGED and r.flags & MEMBLOCK_DRIVER_MANAGED)


def _reserved_gaps(res: list[Region], m_start: int, m_end: int, at: int,
                   min_size: int = 0) -> Iterator[tuple[int, int]]:
    """The parts of ``[m_start, m_end)`` no reserved region covers, in address order, from
    the one that holds or follows ``at`` on (whole, not cut at ``at``); those shorter than
    ``min_size`` left out."""
    cur = m_start
    i = first_ending_above(res, max(m_start, at))
    if i > 0:
        cur = max(cur, res[i - 1].end)  # the gap that holds ``at`` starts there
    while i < len(res) and res[i].base < m_end:
        r = res[i]
        if r.base > cur and r.base - cur >= min_size:
            yield cur, r.base
        cur = max(cur, r.base + r.size)
        i += 1
    if cur < m_end and m_end - cur >= min_size:
        yield cur, m_end


def _reserved_gaps_down(res: list[Region], m_start: int, m_end: int, at: int,
                        min_size: int = 0) -> Iterator[tuple[int, int]]:
    """The parts of ``[m_start, m_end)`` no reserved region covers, from the top down,
    from the one that holds or precedes ``at`` on (whole, not cut at ``at``); those
    shorter than ``min_size`` left out."""
    hi = m_end
    j = bisect.bisect_left(res, min(m_end, at), key=region_base)
    if j < len(res):
        hi = min(hi, res[j].base)  # the gap that holds ``at`` ends there
    j -= 1
    while j >= 0 and hi > m_start:
        r = res[j]
        lo = max(r.base + r.size, m_start)
        if lo < hi and hi - lo >= min_size:
            yield lo, hi
        hi = min(hi, r.base)
        j -= 1
    if hi > m_start and hi - m_start >= min_size:
        yield m_start, hi


def _walked(mb: Memblock, nid: int, flags: int) -> list[Region]:
    """The memory regions a walk of free ranges for ``nid`` with ``flags`` visits (those
    should_skip_region() keeps), in address order: sorted out once per change of
    memblock.memory, so that a search does not pass, region by region, every other node's
    memory or the hot-pluggable memory that movable_node keeps it from."""
    if mb.walked_version != mb.memory.version:
        mb.walked, mb.on_node = {}, {}
        for r in mb.memory.regions:  # each node's regions, in one pass
            mb.on_node.setdefault(r.nid, []).append(r)
        mb.walked_version = mb.memory.version
    key = (nid, flags, mb.movable_node)
    regs = mb.walked.get(key)
    if regs is None:
        regs = mb.memory.regions if nid == NUMA_NO_NODE else mb.on_node.get(nid, [])
        regs = [r for r in regs if not should_skip_region(mb, r, nid, flags)]
        mb.walked[key] = regs
    return regs


def free_mem_ranges(
    mb: Memblock, nid: int = NUMA_NO_NODE, flags: int = MEMBLOCK_NONE, reverse: bool = False,
    start: int = 0, end: int = PHYS_ADDR_MAX, min_size: int = 0, within: bool = False,
) -> Iterator[tuple[int, int, int | None]]:
    """for_each_free_mem_range(_reverse)(): memory not reserved, as (start, end, nid).

    Lazy: ``start``/``end`` only say where the walk may begin (it still yields whole free
    ranges), so a search near one end of a large machine, or of a node with many
    reservations, does not visit the rest.  ``min_size``: free ranges shorter than that are
    passed over without a stop (a search for that many bytes cannot use them; the gaps
    many small allocations leave between them are many).  ``within``: the walk also ends
    where it leaves ``[start, end)``, and the ranges at its far end are cut there (a search
    of that window: what lies beyond cannot hold its request).
    """
    regs, res = _walked(mb, nid, flags), mb.reserved.regions
    if reverse:
        i = bisect.bisect_left(regs, end, key=region_base) - 1
        floor = start if within else 0
        while i >= 0 and regs[i].end > floor:
            m = regs[i]
            i -= 1
            for lo, hi in _reserved_gaps_down(res, max(m.base, floor), m.end, end, min_size):
                yield lo, hi, m.nid
    else:
        i = max(first_ending_above(regs, start), 0)
        ceiling = end if within else PHYS_ADDR_MAX
        while i < len(regs) and regs[i].base < ceiling:
            m = regs[i]
            i += 1
            for lo, hi in _reserved_gaps(res, m.base, min(m.end, ceiling), start, min_size):
                yield lo, hi, m.nid


def memblock_find_in_range_node(
    mb: Memblock, size: int, align: int, start: int, end: int, nid: int, flags: int
) -> int:
    """memblock_find_in_range_node(): first fit bottom-up or top-down; 0 when none fits."""
    if end in (MEMBLOCK_ALLOC_ACCESSIBLE, MEMBLOCK_ALLOC_NOLEAKTRACE):
        end = mb.current_limit
    start = max(start, PAGE_SIZE)
    end = max(start, end)
    if end - start < size:
        return 0  # no room in the window at all (a usemap larger than its section)
    version = (mb.memory.version, mb.reserved.version)
    if mb.memo_version != version:
        mb.memo.clear()
        mb.memo_version = version
    key = (size, align, start, end, nid, flags, mb.bottom_up, mb.movable_node)
    last = mb.memo.get(key)
    if last == 0:
        return 0
    found = _find(mb, size, align, start, end, nid, flags, last)
    mb.memo[key] = found
    return found


def _find(mb: Memblock, size: int, align: int, start: int, end: int, nid: int, flags: int,
          last: int | None) -> int:
    """__memblock_find_range_{bottom_up,top_down}(), resuming after the last answer."""
    if last is not None:
        if mb.bottom_up:
            start = max(start, last + size)
        else:
            end = min(end, last)
    for this_start, this_end, _ in free_mem_ranges(mb, nid, flags, not mb.bottom_up, start, end,
                                                   size, within=bool(size)):
        this_start = min(max(this_start, start), end)
        this_end = min(max(this_end, start), end)
        if mb.bottom_up:
            cand = round_up(this_start, align)
            if cand < this_end and this_end - cand >= size:
                return cand
        else:
            cand = _fit_down(this_start, this_end, size, align)
            if cand >= 0:
                return cand
    return 0


def _fit_down(lo: int, hi: int, size: int, align: int) -> int:
    """The top-down place of ``size`` bytes at ``align`` in the free range ``[lo, hi)``:
    the highest that fits (__memblock_find_range_top_down()); -1 when none does."""
    if hi < size:
        return -1
    cand = ((hi - size) // align) * align
    return cand if cand >= lo else -1


def memblock_alloc_range_nid(
    mb: Memblock,
    size: int,
    align: int,
    start: int,
    end: int,
    nid: int,
    exact_nid: bool,
    caller: str = "",
    note_failure: bool = True,
) -> int:
    """memblock_alloc_range_nid(): find, reserve, retry on any node, then without mirror.

    Returns the physical address, or 0 when nothing fits.
    """
    flags = MEMBLOCK_MIRROR if mb.mirror else MEMBLOCK_NONE
    if not align:
        align = 64
    while True:
        found = memblock_find_in_range_node(mb, size, align, start, end, nid, flags)
        fallback = False
        if not found and nid != NUMA_NO_NODE and not exact_nid:
            found = memblock_find_in_range_node(mb, size, align, start, end, NUMA_NO_NODE, flags)
            fallback = True
        if found:
            mb.events.append(Event("alloc", found, size, caller, nid, fallback))
            _reserve_found(mb, found, size, nid, fallback)
            return found
        if flags & MEMBLOCK_MIRROR:
            flags &= ~MEMBLOCK_MIRROR
            continue
        if note_failure:
            mb.events.append(Event("alloc_failed", 0, size, caller, nid))
        return 0


def memblock_phys_alloc_range(
    mb: Memblock, size: int, align: int, start: int, end: int, caller: str = ""
) -> int:
    """memblock_phys_alloc_range(): any node, within ``[start, end)``."""
    return memblock_alloc_range_nid(mb, size, align, start, end, NUMA_NO_NODE, False, caller)


def memblock_phys_alloc_try_nid(
    mb: Memblock, size: int, align: int, nid: int, caller: str = ""
) -> int:
    """memblock_phys_alloc_try_nid(): node ``nid`` first, then any node, below the limit."""
    return memblock_alloc_range_nid(
        mb, size, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE, nid, False, caller
    )


def memblock_alloc_internal(
    mb: Memblock,
    size: int,
    align: int,
    min_addr: int,
    max_addr: int,
    nid: int,
    exact_nid: bool = False,
    caller: str = "",
) -> int:
    """memblock_alloc_internal() behind memblock_alloc_try_nid() and its _raw/_exact_nid kin.

    Caps ``max_addr`` at the current limit and retries without ``min_addr``.
    """
    if max_addr > mb.current_limit:
        max_addr = mb.current_limit
    found = memblock_alloc_range_nid(mb, size, align, min_addr, max_addr, nid, exact_nid, caller,
                                     note_failure=not min_addr)
    if not found and min_addr:
        found = memblock_alloc_range_nid(mb, size, align, 0, max_addr, nid, exact_nid, caller)
    return found


def memblock_overlaps_region(type_: MemblockType, base: int, size: int) -> bool:
    """memblock_overlaps_region(): the first region that ends above ``base`` (the regions
    are sorted and disjoint) starts below the range's end."""
    end = base + _cap_size(base, size)
    regs = type_.regions
    i = first_ending_above(regs, base)
    return i < len(regs) and regs[i].base < end


def memblock_is_region_memory(mb: Memblock, base: int, size: int) -> bool:
    """memblock_is_region_memory(): the whole range lies inside one memory region (the one
    holding ``base``: the regions are sorted and disjoint)."""
    end = base + _cap_size(base, size)
    regs = mb.memory.regions
    i = bisect.bisect_right(regs, base, key=region_base) - 1
    return i >= 0 and end <= regs[i].end


def memblock_start_of_dram(mb: Memblock) -> int:
    """memblock_start_of_DRAM()."""
    return mb.memory.regions[0].base


def mem_pfn_ranges(
    mb: Memblock, nid: int | None = None, page_shift: int = 12
) -> Iterator[tuple[int, int, int | None]]:
    """for_each_mem_pfn_range(): whole pages of each memory region as (start, end, nid).

    ``nid=None`` walks every node (the kernel's ``MAX_NUMNODES``).
    """
    page = 1 << page_shift
    for r in mb.memory.regions:
        spfn = (r.base + page - 1) >> page_shift
        epfn = r.end >> page_shift
        if spfn >= epfn:
            continue
        if nid is None or nid == r.nid:
            yield spfn, epfn, r.nid


def memblock_search_pfn_nid(mb: Memblock, pfn: int, page_shift: int = 12) -> int | None:
    """memblock_search_pfn_nid(): node of the memory region holding ``pfn``, or None."""
    addr = pfn << page_shift
    regs = mb.memory.regions
    i = bisect.bisect_right(regs, addr, key=region_base) - 1
    if i >= 0 and addr < regs[i].end:
        return regs[i].nid
    return None


def memblock_dump(type_: MemblockType) -> list[str]:
    """memblock_dump(): one type's lines, as the kernel prints them."""
    lines = [f" {type_.name}.cnt  = {max(len(type_.regions), 1):#x}"]
    regions = type_.regions or [Region(0, 0)]
    for idx, r in enumerate(regions):
        node = f" on node {r.nid}" if r.nid is not None else ""
        end = r.base + r.size - 1 if r.size else 0xFFFFFFFFFFFFFFFF
        lines.append(
            f" {type_.name}[{idx:#x}]\t[{r.base:#018x}-{end:#018x}], "
            f"{r.size:#018x} bytes{node} flags: {r.flags:#x}"
        )
    return lines


def memblock_dump_all(mb: Memblock) -> list[str]:
    """__memblock_dump_all(): the ``MEMBLOCK configuration:`` block of ``memblock=debug``."""
    return [
        "MEMBLOCK configuration:",
        f" memory size = {mb.memory.total_size:#018x} "
        f"reserved size = {mb.reserved.total_size:#018x}",
        *memblock_dump(mb.memory),
        *memblock_dump(mb.reserved),
    ]


def snapshot(type_: MemblockType) -> list[list[int | None]]:
    """Regions as ``[base, size, nid, flags]`` (the facts schema of a dump)."""
    return [[r.base, r.size, r.nid, r.flags] for r in type_.regions]


def memblock_alloc_runs(
    mb: Memblock, count: int, size: int, align: int, min_addr: int, max_addr: int, nid: int,
    exact_nid: bool = False, caller: str = "", phys: bool = False,
) -> list[tuple[int, int, int]]:
    """``count`` identical memblock_alloc_internal() calls in a row (``phys``: the
    memblock_alloc_range_nid() under memblock_phys_alloc_range(), with its bounds as given),
    as runs ``(addr, n, step)``: ``n`` allocations at ``addr``, ``addr + step``, ...
    (``step`` is ``-size`` top-down, ``size`` bottom-up; ``addr`` 0: ``n`` failed ones).

    Top-down, once one lands, the following ones take the aligned slots right below it in
    the same free range (nothing above can fit, the search route stays the same), so a
    whole run of them is found, reserved and logged (one event with a count) in one step;
    bottom-up the same holds upwards.
    """
    out: list[tuple[int, int, int]] = []
    done = 0
    while done < count:
        if phys:
            first = memblock_alloc_range_nid(mb, size, align, min_addr, max_addr, nid, exact_nid,
                                             caller)
        else:
            first = memblock_alloc_internal(mb, size, align, min_addr, max_addr, nid, exact_nid,
                                            caller)
        if not first:
            out.append((0, count - done, -size))
            break
        done += 1
        call = mb.events[-1]  # the one just logged
        assert isinstance(call, Event)
        n = 0
        if mb.bottom_up and not size % align and done < count:
            end = mb.current_limit if max_addr in (MEMBLOCK_ALLOC_ACCESSIBLE,
                                                   MEMBLOCK_ALLOC_NOLEAKTRACE) else max_addr
            if not phys:
                end = min(end, mb.current_limit)
            ceiling = free_ceiling(mb, first + size, end)
            n = max(min((ceiling - first - size) // size, count - done), 0)
            if n:
                mb.events.append(Event("alloc", first + size, size, caller, nid, call.fallback,
                                       n, up=True))
                _reserve_found(mb, first + size, n * size, nid, call.fallback)
                done += n
                out.append((first, n + 1, size))
                continue
        elif not (mb.bottom_up or size % align or done == count):
            floor = free_floor(mb, first, max(min_addr, PAGE_SIZE))
            n = max(min((first - floor) // size, count - done), 0)
        if n:
            mb.events.append(Event("alloc", first - size, size, caller, nid, call.fallback, n))
            _reserve_found(mb, first - n * size, n * size, nid, call.fallback)
            done += n
        if out and out[-1][0] and out[-1][0] + out[-1][1] * out[-1][2] == first:
            out[-1] = (out[-1][0], out[-1][1] + n + 1, out[-1][2])
        else:
            out.append((first, n + 1, -size))
    return out


def memblock_alloc_repeat(
    mb: Memblock, count: int, size: int, align: int, min_addr: int, max_addr: int, nid: int,
    exact_nid: bool = False, caller: str = "",
) -> list[int]:
    """``count`` identical memblock_alloc_internal() calls in a row, as a loop of them
    returns them (memblock_alloc_runs, one address each)."""
    return [addr + k * step if addr else 0
            for addr, n, step in memblock_alloc_runs(mb, count, size, align, min_addr, max_addr,
                                                     nid, exact_nid, caller)
            for k in range(n)]


def free_ceiling(mb: Memblock, addr: int, end: int) -> int:
    """Highest address of the free space that starts at ``addr`` (inside one memory region,
    below ``end``)."""
    regs = mb.memory.regions
    i = first_ending_above(regs, addr)
    if i >= len(regs) or regs[i].base > addr:
        return addr
    ceiling = min(regs[i].end, end)
    res = mb.reserved.regions
    j = first_ending_above(res, addr)
    if j < len(res) and res[j].base < ceiling:
        ceiling = res[j].base
    return max(ceiling, addr)


def free_floor(mb: Memblock, addr: int, start: int) -> int:
    """Lowest address (not below ``start``) of the free space that ends at ``addr``, inside
    the memory region holding ``addr``: ``addr`` itself when the byte below is reserved or
    in another region (a top-down search does not go on there in one step)."""
    regs = mb.memory.regions
    i = first_ending_above(regs, addr)
    if i >= len(regs) or regs[i].base >= addr:
        return addr
    floor = max(regs[i].base, start)
    res = mb.reserved.regions
    j = bisect.bisect_right(res, addr - 1, key=region_base) - 1
    if j >= 0:
        if res[j].end >= addr:
            return addr
        floor = max(floor, res[j].end)
    return min(floor, addr)


def top_free_range(mb: Memblock, size: int, start: int, end: int,
                   nid: int) -> tuple[int, int] | None:
    """The free range ``[lo, hi)`` that a top-down request of ``size`` (aligned to it)
    in ``[start, end)`` would come from next: on ``nid``, else (the retry of
    memblock_alloc_range_nid()) on any node; None when none holds one.  A look only: it
    does not move the resumed search of memblock_find_in_range_node()."""
    start = max(start, PAGE_SIZE)
    end = max(start, mb.current_limit if end == MEMBLOCK_ALLOC_ACCESSIBLE else end)
    for node in dict.fromkeys((nid, NUMA_NO_NODE)):
        addr = _find(mb, size, size, start, end, node, MEMBLOCK_NONE, None)
        if addr:
            return free_floor(mb, addr + size, start), free_ceiling(mb, addr, end)
    return None


class WindowExhausted(Exception):
    """A request ``RunsAhead`` cannot answer: memblock itself must (another node, a failure)."""


class RunsAhead:
    """A node's run of top-down ``memblock_alloc_internal(size, align, start, limit, nid)``
    requests (``memblock_alloc_runs``) answered ahead of memblock, then reserved and logged
    in one go (``commit``): the same addresses, events and reservations as making them one
    by one, at the cost of the few free ranges they touch instead of a memblock search each.

    All the requests are answered from one source: the node's own free ranges when it has
    a free page at the start, else (none ever frees up) the any-node ranges the retry of
    memblock_alloc_range_nid() searches.  The free ranges are taken from memblock lazily,
    top down, and cut by each answer with memblock's own top-down rule (``_fit_down``).  A
    request that does not fit there raises ``WindowExhausted`` (the node's ranges would be
    left for the any-node retry, or the request fails): nothing has touched memblock then,
    and the caller makes the requests on memblock instead.  Bottom-up, mirrored memory
    and ``exact_nid`` are not taken here (the caller uses memblock).
    """

    def __init__(self, mb: Memblock, nid: int, start: int) -> None:
        assert not mb.bottom_up and not mb.mirror
        self.mb, self.nid = mb, nid
        self.start, self.end = max(start, PAGE_SIZE), max(start, mb.current_limit)
        on_node = memblock_find_in_range_node(mb, PAGE_SIZE, PAGE_SIZE, self.start, self.end,
                                              nid, MEMBLOCK_NONE) != 0
        self.fallback = nid != NUMA_NO_NODE and not on_node
        self._source = free_mem_ranges(mb, NUMA_NO_NODE if self.fallback else nid,
                                       MEMBLOCK_NONE, True, self.start, self.end)
        self.free: list[list[int]] = []  # free ranges [lo, hi) pulled so far, top down
        self.events: list[Event | Repeat] = []
        self.taken: list[tuple[int, int]] = []  # [lo, hi) answered, to reserve on commit
        self.low = 0  # the lowest address answered (0: none yet)

    def _pull(self) -> bool:
        """One more free range from memblock (clipped as a search clips it)."""
        for lo, hi, _ in self._source:
            lo, hi = min(max(lo, self.start), self.end), min(max(hi, self.start), self.end)
            if lo < hi:
                self.free.append([lo, hi])
                return True
        return False

    def _cut(self, i: int, lo: int, hi: int) -> None:
        """Take ``[lo, hi)`` out of free range ``i``, which holds it."""
        flo, fhi = self.free[i]
        assert flo <= lo < hi <= fhi
        self.free[i:i + 1] = [r for r in ([hi, fhi], [flo, lo]) if r[0] < r[1]]
        self.taken.append((lo, hi))
        self.low = min(self.low, lo) if self.low else lo

    def alloc_runs(self, count: int, size: int, align: int,
                   caller: str) -> list[tuple[int, int, int]]:
        """memblock_alloc_runs() of ``count`` such requests, top-down: runs ``(addr, n,
        -size)``; raises WindowExhausted when one does not fit."""
        out: list[tuple[int, int, int]] = []
        done = 0
        while done < count:
            i, first = 0, -1
            while first < 0:
                if i == len(self.free) and not self._pull():
                    raise WindowExhausted(f"{count - done} x {size} for node {self.nid}")
                lo, hi = self.free[i]
                first = _fit_down(lo, hi, size, align)
                i += 1
            i -= 1
            self.events.append(Event("alloc", first, size, caller, self.nid, self.fallback))
            done += 1
            n = 0
            if not (size % align or done == count):  # the slots right below, as memblock
                n = max(min((first - self.free[i][0]) // size, count - done), 0)
            if n:
                self.events.append(Event("alloc", first - size, size, caller, self.nid,
                                         self.fallback, n))
                done += n
            self._cut(i, first - n * size, first + size)
            if out and out[-1][0] + out[-1][1] * out[-1][2] == first:
                out[-1] = (out[-1][0], out[-1][1] + n + 1, out[-1][2])
            else:
                out.append((first, n + 1, -size))
        return out

    def _holding(self, addr: int) -> int:
        """The index of the free range holding the byte below ``addr``; -1 if none does."""
        while not self.free or self.free[-1][0] >= addr:
            if not self._pull():
                break
        for i, (lo, hi) in enumerate(self.free):
            if lo < addr <= hi:
                return i
        return -1

    def floor(self, addr: int) -> int:
        """free_floor() for an address of this run."""
        i = self._holding(addr)
        return self.free[i][0] if i >= 0 else addr

    def top_free(self, size: int) -> tuple[int, int] | None:
        """The free range ``[lo, hi)`` a request of ``size`` (aligned to it) would come
        from next: the highest that holds one; None when none does."""
        i = 0
        while i < len(self.free) or self._pull():
            lo, hi = self.free[i]
            if _fit_down(lo, hi, size, size) >= 0:
                return lo, hi
            i += 1
        return None

    def nothing_free_above(self) -> bool:
        """Whether the next answers can only come from right below the lowest one so far:
        the free range there ends at it, and no free range above can hold a page."""
        i = self._holding(self.low) if self.low else -1
        return (i >= 0 and self.free[i][1] == self.low
                and all(_fit_down(lo, hi, PAGE_SIZE, PAGE_SIZE) < 0 for lo, hi in self.free[:i]))

    def reserve(self, lo: int, size: int) -> None:
        """Answered in closed form: ``[lo, lo + size)``, at the top of a free range."""
        i = self._holding(lo + size)
        self._cut(i, lo, lo + size)

    def commit(self) -> None:
        """Log the events and make the reservations on memblock, as the requests would."""
        self.mb.events.extend(self.events)
        lo = hi = -1
        for a, b in sorted(self.taken):
            if a != hi:
                if hi > lo:
                    _reserve_found(self.mb, lo, hi - lo, self.nid, self.fallback)
                lo = a
            hi = b
        if hi > lo:
            _reserve_found(self.mb, lo, hi - lo, self.nid, self.fallback)
