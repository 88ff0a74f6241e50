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
from memhp.intervals import Ranges
from memhp.kernel import memblock as mbk
from memhp.kernel.memory_blocks import MemoryBlock
from memhp.kernel.mm_init import ZONE_MOVABLE, ZONE_NAMES, ZoneLayout
from memhp.kernel.page_alloc import kernel_alloc_zone
from memhp.kernel.profile import KernelProfile
from memhp.units import human, id_ranges


@dataclass(frozen=True)
class OfflineVerdict:
    """The fate of ``echo offline > memoryN/state`` right after boot, and why."""

    block: int
    result: str  # "offlined", "failed" or "unknown"
    reason: str


def collapse_owners(owners: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Owners with the same name that touch or overlap become one, sorted by start."""
    out: list[tuple[int, int, str]] = []
    for s, e, what in sorted(owners, key=lambda o: (o[2], o[0])):
        if out and out[-1][2] == what and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e), what)
        else:
            out.append((s, e, what))
    return sorted(out)


def predict_offline(
    blocks: list[MemoryBlock], zones: ZoneLayout, mb: mbk.Memblock, e820: tuple[E820Entry, ...],
    owners: list[tuple[int, int, str]], initrd: tuple[int, int] | None,
    zonelists: dict[int, list[int]], cpu_node: list[int], prof: KernelProfile,
) -> list[OfflineVerdict]:
    """offline_pages() for every block, in block order, with the reason for each failure."""
    ps = prof.page_size
    ram = Ranges([(e.start, e.end) for e in e820 if e.type == E820_USABLE])
    pinned = Ranges([(r.base, r.end) for r in mb.reserved.regions])
    if initrd:  # free_initrd_mem() gives the initrd back before user space runs
        pinned = pinned.minus((initrd[0], -(-initrd[1] // ps) * ps))
    named = collapse_owners(owners)
    nxt = 0
    active: list[tuple[int, int, str]] = []
    verdicts: dict[int, OfflineVerdict] = {}
    for b in sorted(blocks, key=lambda b: b.start_pfn):
        lo, hi = b.start_pfn * ps, (b.start_pfn + b.nr_pages) * ps
        while nxt < len(named) and named[nxt][0] < hi:
            active.append(named[nxt])
            nxt += 1
        active = [o for o in active if o[1] > lo]
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
        have = ram.overlap(lo, hi)
        if have < hi - lo:
            verdicts[b.id] = OfflineVerdict(
                b.id, "failed", f"memory holes: only {have >> 20} MiB of its "
                f"{(hi - lo) >> 20} MiB are System RAM")
            continue
        if pinned.overlap(lo, hi):
            names = sorted({what for s, e, what in active
                            if pinned.overlap(max(s, lo), min(e, hi))})
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
        free = [b for b in cands
                if pinned.overlap(b.start_pfn * ps, (b.start_pfn + b.nr_pages) * ps)
                < b.nr_pages * ps]
        who = f"CPU{'s' if len(cpus) > 1 else ''} {id_ranges(cpus)}"
        where = f"{ZONE_NAMES[zidx]} on node {nid}"
        if free and verdicts[free[0].id].result == "offlined":
            verdicts[free[0].id] = OfflineVerdict(
                free[0].id, "failed", f"kernel allocations of {who} take the lowest free "
                f"pages of {where}")
        room = 0
        if free:
            lo = free[0].start_pfn * ps
            room = (free[0].nr_pages * ps - pinned.overlap(lo, lo + free[0].nr_pages * ps)) // ps
        if len(cpus) * prof.runtime_pages_per_cpu * prof.runtime_margin > room and len(free) > 1:
            spill = free[1]
            if verdicts[spill.id].result == "offlined":
                verdicts[spill.id] = OfflineVerdict(
                    spill.id, "unknown", f"{len(cpus)} CPUs allocate from {where}; their "
                    f"allocations (about {human(len(cpus) * prof.runtime_pages_per_cpu * ps)})"
                    f" may not fit in the {human(room * ps)} left free in the block below; "
                    "where they land varies from boot to boot")
    return [verdicts[b.id] for b in blocks]
