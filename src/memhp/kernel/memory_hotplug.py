# SPDX-License-Identifier: GPL-2.0-or-later
"""Which memory blocks can be offlined right after boot, modelled on offline_pages() in
mm/memory_hotplug.c (Linux 6.1).

A block cannot go offline when it spans zones or nodes (no single zone), when it has
holes (not all of it is System RAM), or when it holds pages the kernel keeps: boot
reservations that are never freed.  The running kernel's own first allocations (slab,
page tables) take the lowest free pages of the zone each CPU allocates from, which pins
that block too; whether they spill into the next block depends on the workload, so that
block is reported ``unknown`` when many CPUs share the zone.
"""

from __future__ import annotations

from dataclasses import dataclass

from memhp.firmware.types import E820_USABLE, E820Entry
from memhp.kernel import memblock as mbk
from memhp.kernel.memory_blocks import MemoryBlock
from memhp.kernel.mm_init import ZONE_MOVABLE, ZONE_NAMES, ZoneLayout
from memhp.kernel.page_alloc import kernel_alloc_zone
from memhp.kernel.profile import KernelProfile


@dataclass(frozen=True)
class OfflineVerdict:
    """The fate of ``echo offline > memoryN/state`` right after boot, and why."""

    block: int
    result: str  # "offlined", "failed" or "unknown"
    reason: str


def _overlap(ranges: list[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in ranges)


def _subtract(ranges: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out = []
    for s, e in ranges:
        if e <= cut[0] or s >= cut[1]:
            out.append((s, e))
            continue
        if s < cut[0]:
            out.append((s, cut[0]))
        if e > cut[1]:
            out.append((cut[1], e))
    return out


def predict_offline(
    blocks: list[MemoryBlock], zones: ZoneLayout, mb: mbk.Memblock, e820: tuple[E820Entry, ...],
    owners: list[tuple[int, int, str]], initrd: tuple[int, int] | None,
    zonelists: dict[int, list[int]], cpu_node: list[int], prof: KernelProfile,
) -> list[OfflineVerdict]:
    """offline_pages() for every block, in block order, with the reason for each failure."""
    ps = prof.page_size
    ram = [(e.start, e.end) for e in e820 if e.type == E820_USABLE]
    pinned = [(r.base, r.end) for r in mb.reserved.regions]
    if initrd:  # free_initrd_mem() gives the initrd back before user space runs
        pinned = _subtract(pinned, (initrd[0], -(-initrd[1] // ps) * ps))
    verdicts: dict[int, OfflineVerdict] = {}
    for b in blocks:
        lo, hi = b.start_pfn * ps, (b.start_pfn + b.nr_pages) * ps
        if b.zone is None:
            if len(b.nodes) > 1:
                why = "spans nodes " + " and ".join(str(n) for n in b.nodes)
            else:
                hit = [z.name for z in zones.nodes[b.nodes[0]].zones
                       if z.present and z.start_pfn < b.start_pfn + b.nr_pages
                       and b.start_pfn < z.end_pfn] if b.nodes else []
                why = "spans zones " + " and ".join(hit)
            verdicts[b.id] = OfflineVerdict(b.id, "failed", why + ": valid_zones is none")
            continue
        have = _overlap(ram, lo, hi)
        if have < hi - lo:
            verdicts[b.id] = OfflineVerdict(
                b.id, "failed", f"memory holes: only {have >> 20} MiB of its "
                f"{(hi - lo) >> 20} MiB are System RAM")
            continue
        if _overlap(pinned, lo, hi):
            names = sorted({what for s, e, what in owners if s < hi and lo < e
                            and _overlap(pinned, max(s, lo), min(e, hi))})
            verdicts[b.id] = OfflineVerdict(
                b.id, "failed", "holds boot memory the kernel keeps: "
                + (", ".join(names) if names else "reserved pages"))
            continue
        verdicts[b.id] = OfflineVerdict(b.id, "offlined", f"all pages movable or free ({b.zone})")
    # the running kernel's first allocations: lowest free block of each CPU's kernel zone
    users: dict[tuple[int, int], list[int]] = {}
    for cpu, node in enumerate(cpu_node):
        target = kernel_alloc_zone(zones, zonelists.get(node, [node]))
        if target is not None:
            users.setdefault(target, []).append(cpu)
    for (nid, zidx), cpus in sorted(users.items()):
        zone = zones.nodes[nid].zones[zidx]
        if zidx == ZONE_MOVABLE:
            continue
        cands = [b for b in blocks if nid in b.nodes and b.start_pfn < zone.end_pfn
                 and zone.start_pfn < b.start_pfn + b.nr_pages]
        cands.sort(key=lambda b: b.start_pfn)
        free = [b for b in cands if _block_has_free(b, pinned, ps)]
        who = f"CPU{'s' if len(cpus) > 1 else ''} {', '.join(map(str, cpus))}"
        where = f"{ZONE_NAMES[zidx]} on node {nid}"
        if free and verdicts[free[0].id].result == "offlined":
            verdicts[free[0].id] = OfflineVerdict(
                free[0].id, "failed", f"kernel allocations of {who} take the lowest free "
                f"pages of {where}")
        if len(cpus) >= prof.runtime_spill_min_cpus and len(free) > 1:
            nxt = free[1]
            if verdicts[nxt.id].result == "offlined":
                verdicts[nxt.id] = OfflineVerdict(
                    nxt.id, "unknown", f"{len(cpus)} CPUs allocate from {where}; their "
                    "allocations may spill from the block below into this one")
    return [verdicts[b.id] for b in blocks]


def _block_has_free(b: MemoryBlock, pinned: list[tuple[int, int]], ps: int) -> bool:
    lo, hi = b.start_pfn * ps, (b.start_pfn + b.nr_pages) * ps
    return _overlap(pinned, lo, hi) < hi - lo
