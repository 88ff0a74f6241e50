# SPDX-License-Identifier: GPL-2.0-or-later
"""Page allocator set-up after memblock, modelled on mm/page_alloc.c and mm/memblock.c (6.1).

``build_all_zonelists`` orders the nodes each node falls back to; ``memblock_free_all``
hands every page memblock did not reserve to the buddy allocator, which is what
``managed`` in /proc/zoneinfo counts (plus memory freed later in boot).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from memhp.intervals import Ranges, Spans
from memhp.kernel import memblock as mbk
from memhp.kernel.mm_init import ZONE_MOVABLE, ZoneLayout
from memhp.kernel.pfn import pfn_up, round_up
from memhp.kernel.state import Boot, alloc

__all__ = ["LOCAL_DISTANCE", "PENALTY_FOR_NODE_WITH_CPUS", "REMOTE_DISTANCE",
           "alloc_large_system_hash", "build_all_zonelists", "kernel_alloc_zones",
           "managed_pages", "memblock_free_all"]

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
PENALTY_FOR_NODE_WITH_CPUS = 1


def build_all_zonelists(online: list[int], memory_nodes: list[int], cpu_node: list[int],
                        max_numnodes: int) -> tuple[dict[int, list[int]], list[str]]:
    """__build_all_zonelists() -> build_zonelists(): each online node's fallback node order
    (find_next_best_node() until no node is left), and its log lines.

    Without a SLIT every other node is REMOTE_DISTANCE away, so the value
    find_next_best_node() gives a remote node ``n`` is ``(REMOTE_DISTANCE + (n < local) +
    PENALTY_FOR_NODE_WITH_CPUS if n has CPUs) * MAX_NUMNODES + node_load[n]``, the lowest
    ``n`` winning a tie: ties of distance go to nodes above the local one, then to nodes
    without CPUs, then to the less loaded, then to the lower id (a load stays below
    MAX_NUMNODES: each node adds one to one other).  build_zonelists() loads only the
    first remote node of an order (all remote nodes are one distance group), so the rest
    of the order is the same value's: the nodes kept in (load, id) order, sorted (stably)
    by the value's first part.  Cost: the orders' size, no sort per node chosen.
    """
    node_load = dict.fromkeys(memory_nodes, 0)
    by_load = sorted(memory_nodes)  # (load, id) order
    has_cpus = set(cpu_node)
    # the value's first part (less REMOTE_DISTANCE) by node id, for a node above the local
    # one and for a node below it
    above = [PENALTY_FOR_NODE_WITH_CPUS if n in has_cpus else 0
             for n in range(max(memory_nodes, default=-1) + 1)]
    below = [v + 1 for v in above]
    names = {n: str(n) for n in {*online, *memory_nodes}}  # each order line prints them all
    orders: dict[int, list[int]] = {}
    log: list[str] = []
    for local in sorted(online):
        value = below[:local] + above[local:]
        rest = by_load.copy()
        if local in node_load:
            rest.remove(local)
        rest.sort(key=value.__getitem__)
        if rest:  # the first remote node is a new distance group: it takes a load
            first = rest[0]
            node_load[first] += 1
            by_load.remove(first)
            bisect.insort(by_load, first, key=lambda n: (node_load[n], n))
        orders[local] = order = [local, *rest]
        log.append(f"Fallback order for Node {local}: {' '.join(map(names.__getitem__, order))} ")
    return orders, log


def memblock_free_all(mb: mbk.Memblock, max_low_pfn: int,
                      page_shift: int = 12) -> list[tuple[int, int]]:
    """memblock_free_all() / free_low_memory_core_early(): pfn ranges given to the buddy.

    Hotplug flags are cleared first, so hotpluggable memory is freed like any other.
    """
    mbk.memblock_clear_hotplug(mb, 0, mbk.PHYS_ADDR_MAX)
    out = []
    for start, end, _ in mbk.free_mem_ranges(mb):
        spfn = pfn_up(start, page_shift)
        epfn = min(end >> page_shift, max_low_pfn)
        if spfn < epfn:
            out.append((spfn, epfn))
    return out


def managed_pages(zones: ZoneLayout, freed: list[tuple[int, int]],
                  node_pfns: list[tuple[int, int, int | None]] | None = None
                  ) -> dict[tuple[int, int], int]:
    """Pages each zone (nid, zone index) received from a list of freed pfn ranges.

    A freed page counts in the zone of its own node (page_zone()): where another node's
    memory lies inside this node's zone span (interleaved nodes), those pages are not this
    zone's.  ``node_pfns``: the memory's pfn ranges and nodes (mem_pfn_ranges)."""
    out: dict[tuple[int, int], int] = {}
    spans = Spans((lo, hi, None) for lo, hi in freed)
    mem = Spans((s, e, n) for s, e, n in node_pfns or () if n is not None)
    for nid, node in zones.nodes.items():
        spanned = [z for z in node.zones if z.spanned]
        if not spanned:
            continue
        lo_n, hi_n = min(z.start_pfn for z in spanned), max(z.end_pfn for z in spanned)
        inside = [(s, e) for s, e, n in mem.meeting(lo_n, hi_n) if n != nid]
        others = Ranges(inside) if inside else None  # (a node not interleaved has none)
        for z in spanned:
            n = 0
            for s, e, _ in spans.meeting(z.start_pfn, z.end_pfn):
                lo, hi = max(s, z.start_pfn), min(e, z.end_pfn)
                if lo < hi:
                    n += hi - lo - (others.overlap(lo, hi) if others else 0)
            out[(nid, z.idx)] = n
    return out


def kernel_alloc_zones(zones: ZoneLayout, zonelists: dict[int, list[int]],
                       nodes: Iterable[int]) -> dict[int, tuple[int, int] | None]:
    """For each of ``nodes``, the (node, zone) where a GFP_KERNEL allocation of the node
    lands first: the highest populated zone below ZONE_MOVABLE of the first node in its
    fallback order (``zonelists``, else the node alone) that has one.

    Each node's own such zone is found once; an order is then walked to its first node
    that has one (the order of a hot-pluggable node that holds only ZONE_MOVABLE walks
    past the other such nodes it lists first)."""
    own: dict[int, tuple[int, int]] = {}
    for nid, nz in zones.nodes.items():
        for z in reversed(nz.zones[:ZONE_MOVABLE]):
            if z.present:
                own[nid] = (nid, z.idx)
                break
    out: dict[int, tuple[int, int] | None] = {}
    for node in nodes:
        first = next(filter(own.__contains__, zonelists.get(node, [node])), None)
        out[node] = None if first is None else own[first]
    return out


def alloc_large_system_hash(b: Boot, scale: int, bucketsize: int = 8) -> int:
    """alloc_large_system_hash() for an early (HASH_EARLY|HASH_ZERO) table: one bucket
    per 2^scale bytes of kernel memory, a power of two, at most 1/16 of memory."""
    assert b.zones is not None
    ps = b.profile.page_shift
    n = b.zones.nr_kernel_pages
    n = round_up(n, (1 << 20) >> ps)
    adapt = (64 << 30) >> ps
    while adapt < n:
        scale += 1
        adapt <<= 2
    n = n >> (scale - ps) if scale > ps else n << (ps - scale)
    if n * bucketsize < 1 << ps:
        n = (1 << ps) // bucketsize
    n = 1 << max(n - 1, 0).bit_length()
    limit = min(((b.zones.nr_kernel_pages << ps) >> 4) // bucketsize, 0x80000000)
    n = min(n, limit)
    size = bucketsize << (n.bit_length() - 1)
    alloc(b, size, "alloc_large_system_hash")
    return size
