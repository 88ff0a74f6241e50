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

from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import rshift
from typing import TYPE_CHECKING

from memhp.firmware.cmdline import split_cmdline
from memhp.firmware.types import E820_USABLE, CommandLine, E820Entry
from memhp.intervals import IdRuns, Ranges, segments
from memhp.kernel import memblock as mbk
from memhp.kernel.efi import boot_services_freed
from memhp.kernel.mm_init import (
    ZONE_DEVICE,
    ZONE_DMA32,
    ZONE_MOVABLE,
    ZONE_NAMES,
    ZONE_NORMAL,
    ZoneLayout,
)
from memhp.kernel.page_alloc import kernel_alloc_zones
from memhp.kernel.pfn import div_round_up, round_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.state import Boot, Rounds, collapse_owners, reservation_owners_apart
from memhp.units import human, id_ranges

if TYPE_CHECKING:
    from memhp.kernel.memory_blocks import Blocks, MemoryBlock

__all__ = ["AddResult", "BOOT_OFFLINE_CAUSES", "HotBlock", "HotplugConfig", "MemState",
           "MemoryGroup", "OFFLINE_CAUSES", "ONLINE_TYPES", "OfflineOutcome", "OfflineVerdict",
           "POLICIES", "RatioCheck", "Verdicts", "ZONE_RULES", "ZoneChoice", "ZoneState",
           "add_memory_resource", "adjust_present_page_count", "auto_movable_can_online_movable",
           "auto_movable_zone_for_pfn", "default_kernel_zone_for_pfn",
           "hotplug_config", "memmap_pages", "memory_block_offline", "memory_block_online",
           "mhp_supports_memmap_on_memory", "move_pfn_range_to_zone", "offline_after_boot",
           "offline_outcome", "predict_offline", "range_block_ids", "shrink_zone_span",
           "state_after_boot",
           "try_remove_memory", "vmemmap_pages_per_block", "zone_for_pfn_range"]

BOOT_OFFLINE_CAUSES = {  # why a block can (not) go offline right after boot
    "spans_zones": "the block spans zones or nodes (valid_zones none)",
    "memory_holes": "not all of the block is System RAM",
    "boot_memory": "the block holds boot memory the kernel keeps",
    "runtime_allocations": "the running kernel's first allocations take its free pages",
    "runtime_spill": "runtime allocations may spill into it (boot to boot)",
    "movable_or_free": "all pages movable or free",
}


@dataclass(frozen=True)
class OfflineVerdict:
    """The fate of ``echo offline > memoryN/state`` right after boot, and why."""

    block: int
    result: str  # "offlined", "failed" or "unknown"
    reason: str
    cause: str = "movable_or_free"  # one of BOOT_OFFLINE_CAUSES


class Verdicts(IdRuns[OfflineVerdict]):
    """One verdict per memory block, in block order, as runs of equal verdicts."""

    def __init__(self, runs: Iterable[tuple[int, int, OfflineVerdict]] = (),
                 joined: bool = False) -> None:
        super().__init__(runs, _verdict_at, _alike, joined)


def _verdict_at(v: OfflineVerdict, block: int) -> OfflineVerdict:
    return v if v.block == block else OfflineVerdict(block, v.result, v.reason, v.cause)


def _alike(a: OfflineVerdict, b: OfflineVerdict) -> bool:
    return a.reason == b.reason and a.result == b.result and a.cause == b.cause


def predict_offline(
    blocks: Blocks, zones: ZoneLayout, mb: mbk.Memblock, e820: tuple[E820Entry, ...],
    owners: list[tuple[int, int, str]], initrd: tuple[int, int] | None,
    zonelists: dict[int, list[int]], cpu_node: list[int], prof: KernelProfile,
    freed_late: list[tuple[int, int]] | None = None, per_block: bool = False,
    rounds: Sequence[Rounds] = (),
) -> Verdicts:
    """offline_pages() for every block, in block order, with the reason for each failure.
    ``freed_late``: reserved ranges given back after boot besides the initrd (EFI boot
    services memory); ``rounds``: owners of repeated cycles kept apart from ``owners``.

    Blocks between two boundaries of what decides (System RAM, reserved memory, the named
    boot reservations, zones) are alike, so the first block of such a run stands for it
    (``per_block``: each block is worked out on its own).  Inside the rounds of a cycle the
    verdicts repeat, so most rounds are not looked at (_hide_rounds).
    """
    ps = prof.page_size
    ram = Ranges([(e.start, e.end) for e in e820 if e.type == E820_USABLE])
    # free_initrd_mem() gives the initrd back before user space runs
    given_back = [(initrd[0], round_up(initrd[1], ps))] if initrd else []
    pinned = Ranges([(r.base, r.base + r.size) for r in mb.reserved.regions]).minus(
        *given_back, *(freed_late or ()))
    block_bytes = blocks.runs[0][2].nr_pages * ps if blocks.runs else 0  # all alike
    # memory block sizes are powers of two (memory_block_size_bytes())
    shift = block_bytes.bit_length() - 1
    assert block_bytes == 1 << shift or not blocks.runs
    edges = [*ram.starts, *ram.ends, *pinned.starts, *pinned.ends]
    edges += [x * ps for nz in zones.nodes.values() for z in nz.zones if z.present
              for x in (z.start_pfn, z.end_pfn)]
    holes: list[tuple[int, int, int]] = []
    cuts: list[int] = []  # the blocks that hold an edge (_hide_rounds makes them with holes)
    if rounds:
        if blocks.runs and not per_block:
            owners, holes, cuts = _hide_rounds(rounds, owners, edges, blocks, shift)
        else:
            owners = owners + [o for r in rounds for o in r.owners(1, r.times)]
    named = collapse_owners(owners)
    nxt = 0
    active: list[tuple[int, int, str]] = []  # the owners that may meet the block
    shared: dict[str, OfflineVerdict] = {}  # one verdict object per outcome (reason)
    holding: dict[tuple[str, ...], OfflineVerdict] = {}  # ... per owners kept, by address
    covers, meets = pinned.covers, pinned.meets

    def verdict(bid: int, b: MemoryBlock) -> OfflineVerdict:
        """The verdict of block ``bid`` of the run ``b`` stands for.  (Asked once per run
        of alike blocks, a few per node: kept lean.)"""
        nonlocal nxt, active
        lo = bid * block_bytes
        hi = lo + block_bytes
        if nxt < len(named) and named[nxt][0] < hi:
            active = [o for o in active if o[1] > lo]
            while nxt < len(named) and named[nxt][0] < hi:
                active.append(named[nxt])
                nxt += 1
        if b.zone is None:
            reason, cause, result = _no_zone(b, bid, zones), "spans_zones", "failed"
        elif not ram.covers(lo, hi):
            reason = (f"memory holes: only {ram.overlap(lo, hi) >> 20} MiB of its "
                      f"{(hi - lo) >> 20} MiB are System RAM")
            cause, result = "memory_holes", "failed"
        elif (everywhere := covers(lo, hi)) or meets(lo, hi):
            # an owner is kept where it has reserved pages in the block (an empty one
            # wherever it lies in it)
            names = tuple([what for s, e, what in active if e > lo and (
                everywhere or s >= e or meets(max(s, lo), min(e, hi)))])
            v = holding.get(names)
            if v is None:
                reason = ("holds boot memory the kernel keeps: "
                          + (", ".join(sorted(set(names))) if names else "reserved pages"))
                v = holding[names] = shared.setdefault(
                    reason, OfflineVerdict(bid, "failed", reason, "boot_memory"))
            return v
        else:
            result, reason, cause = "offlined", f"all pages movable or free ({b.zone})", \
                "movable_or_free"
        v = shared.get(reason)
        if v is None:
            v = shared[reason] = OfflineVerdict(bid, result, reason, cause)
        return v

    runs: list[tuple[int, int, OfflineVerdict]] = []
    if blocks.runs:
        if not cuts:
            edges += [*(s for s, _, _ in named), *(e for _, e, _ in named)]
            cuts = sorted(set(map(rshift, edges, repeat(shift))))  # x >> shift, as map does
        if per_block:
            cuts = [i for first, count, _ in blocks.runs for i in range(first, first + count)]
        pieces = [(first, first + count, b) for first, count, b in blocks.runs] if not holes \
            else [(a, z, b) for first, count, b in blocks.runs
                  for a, z in _outside(first, first + count, holes)]
        runs = [(lo, hi - lo, verdict(lo, b)) for a, z, b in pieces
                for lo, hi in segments(a, z, cuts)]
        if holes:
            runs = _fill_holes(runs, holes)
    base = Verdicts(runs, joined=bool(holes))
    changed: dict[int, OfflineVerdict] = {}

    def result(bid: int) -> str:
        v = changed.get(bid) or base.by_id(bid)
        return v.result if v else ""

    # the running kernel's first allocations: lowest free block of each CPU's kernel zone
    users: dict[tuple[int, int], list[int]] = {}
    targets = kernel_alloc_zones(zones, zonelists, set(cpu_node))  # the same for a node's CPUs
    for cpu, node in enumerate(cpu_node):
        target = targets[node]
        if target is not None:
            users.setdefault(target, []).append(cpu)
    kernel_zones = set(users)
    if prof.has("runtime_dma32_page_per_node"):
        for cpu, node in enumerate(cpu_node):
            z = zones.nodes[node].zones[ZONE_DMA32] if node in zones.nodes else None
            if z is not None and z.present and (node, ZONE_DMA32) not in kernel_zones:
                users.setdefault((node, ZONE_DMA32), []).append(cpu)
    for (nid, zidx), cpus in sorted(users.items()):
        zone = zones.nodes[nid].zones[zidx]
        if zidx == ZONE_MOVABLE:
            continue
        free = _lowest_free_blocks(blocks, nid, zone.start_pfn, zone.end_pfn, pinned, ps, 2)
        where = f"{ZONE_NAMES[zidx]} on node {nid}"
        if free and result(free[0]) == "offlined":
            who = f"CPU{'s' if len(cpus) > 1 else ''} {id_ranges(cpus)}"
            why = (f"kernel allocations of {who} take the lowest free pages of {where}"
                   if (nid, zidx) in kernel_zones else
                   f"kernel allocations at runtime take a page at the bottom of {where}, "
                   f"the node of {who} (seen on 7.2; which allocation is not identified)")
            changed[free[0]] = OfflineVerdict(free[0], "failed", why, "runtime_allocations")
        room = 0
        if free:
            lo = free[0] * block_bytes
            room = (block_bytes - pinned.overlap(lo, lo + block_bytes)) // ps
        if (nid, zidx) not in kernel_zones:
            continue  # only one page there: no spill into the block above
        if len(cpus) * prof.runtime_pages_per_cpu * prof.runtime_margin > room and len(free) > 1:
            spill = free[1]
            if result(spill) == "offlined":
                changed[spill] = OfflineVerdict(
                    spill, "unknown", f"{len(cpus)} CPUs allocate from {where}; their "
                    f"allocations (about {human(len(cpus) * prof.runtime_pages_per_cpu * ps)})"
                    f" may not fit in the {human(room * ps)} left free in the block below; "
                    "where they land varies from boot to boot", "runtime_spill")
    return Verdicts(base.replaced(changed), joined=True) if changed else base


# the fewest rounds a hole is worth leaving out for: each left out spares the verdicts of
# its blocks (about two runs), a hole costs a look at every other owner's edges
_HIDDEN_ROUNDS_WORTH = 6


def _hide_rounds(rounds: Sequence[Rounds], owners: list[tuple[int, int, str]],
                 edges: list[int], blocks: Blocks, shift: int,
                 ) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, int]], list[int]]:
    """The rounds of repeated cycles whose blocks need no look (``holes``), and the owners
    of the others, added to ``owners``.

    Round ``j`` of a cycle is its owners moved down ``j * shift`` bytes.  Take a stretch of
    blocks ``[i0, i1)`` that lies above round ``times`` (whose owners may join ones below)
    and below round 0 (the cycle itself), where nothing else has an edge (``edges``: RAM,
    reserved memory, zones; the other owners; the other cycles) and the blocks are one run:
    a block's verdict there depends only on which rounds' owners meet it.  A few rounds
    span ``n`` blocks and ``d`` bytes more (``_period``); so block ``b`` meets the owners
    that block ``b - n`` would meet were it ``d`` bytes lower, and the same ones when no
    owner starts in the last ``d`` bytes of a block or ends in them (or at its end).  Then
    the blocks ``[i0 + 1 + n, i1)`` are a hole: their verdicts are those of the ``n`` blocks
    below it, repeated (_fill_holes), and the rounds only they meet are left out; each
    verdict of the hole is met first below it, as it would be without the hole.  Holes
    are made only where they leave out ``_HIDDEN_ROUNDS_WORTH`` rounds or more.  Returns
    the owners, the holes ``(first, end, n)`` and, where there are holes, the blocks that
    hold an edge of anything, the owners included (sorted; without holes predict_offline
    makes them from the joined owners)."""
    size = 1 << shift
    spans = [r.span for r in rounds]
    fixed: list[int] = []  # the blocks that hold an edge of anything but the rounds
    holes: list[tuple[int, int, int]] = []
    out = list(owners)
    for r, (lo, hi) in zip(rounds, spans, strict=True):
        step, times = r.shift, r.times
        i0 = -(-(hi - times * step) >> shift)  # above round ``times``
        i1 = min(lo, hi - step) >> shift  # below round 0
        m, n, d = _period(step, size, i1 - i0 - 2)
        h0, h1 = i0 + 1 + n, i1
        first = -(-(hi - (h1 << shift)) // step)  # the rounds wholly in the hole
        last = (lo - (h0 << shift)) // step
        if n and h0 < h1 and last - first + 1 >= _HIDDEN_ROUNDS_WORTH:  # (rounds apart: Rounds)
            if not fixed:
                fixed = sorted({x >> shift for x in [
                    *edges, *(x for s, e, _ in owners for x in (s, e)),
                    *(x for r2, (lo2, hi2) in zip(rounds, spans, strict=True)
                      for x in (lo2 - r2.times * r2.shift, hi2 - r2.shift))]})
            k = bisect_left(fixed, i0)  # no edge in the blocks [i0, i1)
            if ((k == len(fixed) or fixed[k] >= i1) and blocks.run_end(i0) >= i1
                    and not (d and _edge_slips(r, m, d, size))):
                out += r.owners(1, first - 1) + r.owners(last + 1, times)
                holes.append((h0, h1, n))
                continue
        out += r.owners(1, times)
    holes.sort()
    if not holes:
        return out, holes, []
    more = out[len(owners):]
    cuts = sorted({*fixed, *(x >> shift for s, e, _ in more for x in (s, e))})
    return out, holes, cuts


def _period(step: int, size: int, most: int) -> tuple[int, int, int]:
    """``(m, n, d)``: ``m`` rounds (1 to 16) span ``n`` whole blocks (1 to ``most``) and
    ``d`` bytes, the ``m`` that leaves the fewest bytes over (none when some ``m`` does);
    ``(0, 0, size)`` when no ``m`` fits."""
    best = (0, 0, size)
    for m in range(1, 17):
        n, d = divmod(m * step, size)
        if n > most:
            break
        if n and d < best[2]:
            best = (m, n, d)
            if not d:
                break
    return best


def _edge_slips(r: Rounds, m: int, d: int, size: int) -> bool:
    """Whether some round's owner starts in the last ``d`` bytes of a block, or ends in
    them or at the block's end (its last byte in them).  Every ``m`` rounds an edge comes
    ``d`` bytes further down its block (``m`` rounds move ``n`` blocks and ``d`` bytes), so
    for each of the first ``m`` rounds it is there at once, or gets there when it wraps
    round, after ``offset // d + 1`` periods."""
    for x in (x for s, e, _ in r.one for x in (s, e - 1)):
        for j in range(1, m + 1):
            offset = (x - j * r.shift) % size
            if offset >= size - d or j + (offset // d + 1) * m <= r.times:
                return True
    return False


def _outside(first: int, end: int, holes: list[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """``[first, end)`` less the holes (sorted), in pieces."""
    for h0, h1, _ in holes:
        if h0 < end and h1 > first:
            if h0 > first:
                yield first, h0
            first = h1
    if first < end:
        yield first, end


def _fill_holes(runs: list[tuple[int, int, OfflineVerdict]], holes: list[tuple[int, int, int]],
                ) -> list[tuple[int, int, OfflineVerdict]]:
    """``runs`` (in block order, none in the holes, one verdict object per outcome) with
    each hole ``(h0, h1, n)`` filled, block ``b`` with the verdict of block ``h0 - n + (b -
    h0) mod n``; joined as Verdicts joins them.  The pattern of the ``n`` blocks below a
    hole is laid down from one of its run starts on, one whole copy at a time."""
    out: list[tuple[int, int, OfflineVerdict]] = []

    def put(first: int, count: int, v: OfflineVerdict) -> None:
        if out:
            f, c, v0 = out[-1]
            if v0 is v and f + c == first:
                out[-1] = (f, c + count, v)
                return
        out.append((first, count, v))

    def part(base: int, pattern: list[tuple[int, int, OfflineVerdict]], h0: int,
             h1: int) -> None:  # the copy of the pattern at ``base``, cut to the hole
        for off, c, v in pattern:
            lo, hi = max(base + off, h0), min(base + off + c, h1)
            if lo < hi:
                put(lo, hi - lo, v)

    firsts = [f for f, _, _ in runs]
    at = 0
    for h0, h1, n in holes:
        k = bisect_left(firsts, h0)
        for r in runs[at:k]:
            put(*r)
        at = k
        below = h0 - n
        ref = [(max(f, below) - below, f + c - max(f, below), v)  # the n blocks below
               for f, c, v in runs[max(bisect_left(firsts, below + 1) - 1, 0):k]]
        # a run start whose run differs from the one before it (around the pattern): the
        # copies laid from there on do not join each other
        s = next((i for i in range(len(ref)) if ref[i - 1][2] is not ref[i][2]), -1)
        if s < 0:  # one verdict all along
            put(h0, h1 - h0, ref[0][2])
            continue
        pattern: list[tuple[int, int, OfflineVerdict]] = []
        for off, c, v in ref[s:] + ref[:s]:  # joined, around too
            if pattern and pattern[-1][2] is v:
                pattern[-1] = (pattern[-1][0], pattern[-1][1] + c, v)
            else:
                pattern.append(((off - ref[s][0]) % n, c, v))
        start = below + ref[s][0]  # a copy's start below the hole
        whole = start + n  # the first copy wholly in the hole
        end = whole + max(0, (h1 - whole) // n) * n  # and the end of those
        part(start, pattern, h0, h1)
        if whole < end:
            put(whole, pattern[0][1], pattern[0][2])
            out += [(copy + off, c, v) for copy in range(whole, end, n)
                    for off, c, v in pattern][1:]
        if end < h1:
            part(end, pattern, h0, h1)
    for r in runs[at:]:
        put(*r)
    return out


def _no_zone(b: MemoryBlock, bid: int, zones: ZoneLayout) -> str:
    """Why block ``bid`` of the run ``b`` stands for has no zone (valid_zones none)."""
    start_pfn = bid * b.nr_pages
    if len(b.nodes) > 1:
        why = "spans nodes " + " and ".join(str(n) for n in b.nodes)
    else:
        hit = [z.name for z in zones.nodes[b.nodes[0]].zones
               if z.present and z.start_pfn < start_pfn + b.nr_pages
               and start_pfn < z.end_pfn] if b.nodes else []
        why = "spans zones " + " and ".join(hit)
    return why + ": valid_zones is none"


def _lowest_free_blocks(blocks: Blocks, nid: int, start_pfn: int, end_pfn: int,
                        pinned: Ranges, ps: int, want: int) -> list[int]:
    """The ids of the lowest ``want`` blocks of node ``nid`` meeting ``[start_pfn,
    end_pfn)`` that are not wholly reserved."""
    out: list[int] = []
    if not blocks.runs:
        return out
    bp = blocks.runs[0][2].nr_pages  # every memory block has the same size
    end = div_round_up(end_pfn, bp)
    for first, count, b in blocks.runs_from(start_pfn // bp):
        if first >= end:
            break
        if nid not in b.nodes:
            continue
        for bid in range(max(first, start_pfn // bp), min(first + count, end)):
            if not pinned.covers(bid * bp * ps, (bid + 1) * bp * ps):
                out.append(bid)
                if len(out) == want:
                    return out
    return out


# --- After boot: adding, onlining, offlining and removing memory (mm/memory_hotplug.c) ---

MMOP_OFFLINE, MMOP_ONLINE, MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE = (
    "offline", "online", "online_kernel", "online_movable")
ONLINE_TYPES = (MMOP_OFFLINE, MMOP_ONLINE, MMOP_ONLINE_KERNEL, MMOP_ONLINE_MOVABLE)
POLICIES = ("contig-zones", "auto-movable")


@dataclass(frozen=True)
class HotplugConfig:
    """The knobs of memory hotplug after boot: command line over the build's defaults."""

    default_online_type: str  # what a hot-added block gets (mhp_default_online_type)
    default_online_from: str  # where that came from, in words
    online_policy: str = "contig-zones"
    auto_movable_ratio: int = 301
    auto_movable_numa_aware: bool = True
    memmap_on_memory: bool = False
    memmap_force: bool = False  # memmap_on_memory=force (6.6+)
    movable_node: bool = False
    notes: tuple[str, ...] = ()


def _kstrtobool(value: str | None) -> bool | None:
    """kstrtobool(): y/Y/1/t/T/on true, n/N/0/f/F/off false; a bare parameter is true."""
    if value is None:
        return True
    v = value.lower()
    if v[:1] in ("y", "1", "t") or v == "on":
        return True
    if v[:1] in ("n", "0", "f") or v == "off":
        return False
    return None


def hotplug_config(cmd: CommandLine, prof: KernelProfile) -> HotplugConfig:
    """The handlers of ``memhp_default_state=`` (setup_memhp_default_state) and of the
    ``memory_hotplug.*`` module parameters, applied in command-line order; a value a
    handler rejects leaves the setting as it was (noted)."""
    default, source = prof.memhp_default_online_type, (
        f"the kernel build's default: {prof.memhp_default_online_config}")
    policy, ratio, numa_aware, memmap, force = "contig-zones", 301, True, False, False
    notes: list[str] = []
    force_ok = prof.has("memmap_on_memory_force")
    for name, value in split_cmdline(cmd.raw):
        if name == "memhp_default_state":
            if value in ONLINE_TYPES:
                default, source = value, f"memhp_default_state={value}"
            else:
                notes.append(f"memhp_default_state={value}: not a state; "
                             "setup_memhp_default_state() keeps " + default)
        elif name == "memory_hotplug.online_policy":
            if value in POLICIES:
                policy = value
            else:
                notes.append(f"{name}={value}: not one of {', '.join(POLICIES)}; ignored")
        elif name == "memory_hotplug.auto_movable_ratio":
            try:
                ratio = int(value or "", 0)
                if not 0 <= ratio < 1 << 32:
                    raise ValueError
            except ValueError:
                notes.append(f"{name}={value}: not an unsigned number; ignored")
        elif name == "memory_hotplug.auto_movable_numa_aware":
            b = _kstrtobool(value)
            if b is None:
                notes.append(f"{name}={value}: not a boolean; ignored")
            else:
                numa_aware = b
        elif name == "memory_hotplug.memmap_on_memory":
            if force_ok and value is not None and value.lower() == "force":
                memmap, force = True, True  # set_memmap_mode()
                continue
            b = _kstrtobool(value)
            if b is None:
                notes.append(f"{name}={value}: not a boolean; ignored")
            else:
                memmap, force = b, False
    if "cma=" in cmd.raw:
        notes.append("cma=: CMA pages count as MOVABLE for online_policy=auto-movable; "
                     "the model does not reserve CMA")
    return HotplugConfig(default, source, policy, ratio, numa_aware, memmap, force,
                         cmd.movable_node, tuple(notes))


@dataclass
class ZoneState:
    """A zone after boot: span, present (and present_early) and managed pages."""

    nid: int
    idx: int
    start_pfn: int = 0
    spanned: int = 0
    present: int = 0
    present_early: int = 0
    managed: int = 0

    @property
    def end_pfn(self) -> int:
        return self.start_pfn + self.spanned

    @property
    def name(self) -> str:
        return ZONE_NAMES[self.idx]

    def intersects(self, start_pfn: int, nr_pages: int) -> bool:
        """zone_intersects()."""
        return bool(self.spanned) and start_pfn < self.end_pfn and \
            self.start_pfn < start_pfn + nr_pages


@dataclass
class MemoryGroup:
    """struct memory_group, static: one ACPI memory device (acpi_memory_enable_device)."""

    id: str
    nid: int
    max_pages: int
    present_kernel_pages: int = 0
    present_movable_pages: int = 0


@dataclass
class HotBlock:
    """struct memory_block as the running kernel keeps it."""

    id: int
    start_pfn: int
    nr_pages: int
    nid: int
    nodes: tuple[int, ...]
    state: str  # "online" or "offline"
    zone: int | None  # mem->zone: None while offline, or online across zones ("none")
    early: bool  # a boot block (early sections)
    group: str | None = None  # the DIMM it belongs to
    nr_vmemmap: int = 0  # memmap_on_memory: pages at its start holding its own memmap
    pieces: tuple[tuple[int, int, int, int], ...] = ()  # online (start, end, nid, zone)
    boot_verdict: OfflineVerdict | None = None
    choice: ZoneChoice | None = None  # why it has its zone (the last online)


@dataclass
class MemState:
    """Memory as the running kernel sees it: zones, blocks, groups, online nodes."""

    zones: dict[tuple[int, int], ZoneState]
    blocks: dict[int, HotBlock]
    groups: dict[str, MemoryGroup]
    online_nodes: set[int]
    block_pages: int
    page_shift: int
    pages_per_section: int
    pageblock_pages: int


def state_after_boot(boot_zones: ZoneLayout, managed: dict[tuple[int, int], int],
                     blocks: Sequence[MemoryBlock], offline: Sequence[OfflineVerdict],
                     online_nodes: list[int], block_size: int, prof: KernelProfile) -> MemState:
    """The boot's zones and blocks as the starting point of hotplug."""
    zones: dict[tuple[int, int], ZoneState] = {}
    for nid, node in boot_zones.nodes.items():
        for z in node.zones:
            zones[(nid, z.idx)] = ZoneState(nid, z.idx, z.start_pfn if z.spanned else 0,
                                            z.spanned, z.present, z.present,
                                            managed.get((nid, z.idx), 0))
    verdicts = {v.block: v for v in offline}
    out: dict[int, HotBlock] = {}
    for b in blocks:
        pieces = []
        for nid in b.nodes:
            for z in boot_zones.nodes[nid].zones:
                s, e = max(b.start_pfn, z.start_pfn), min(b.start_pfn + b.nr_pages, z.end_pfn)
                if z.spanned and s < e:
                    pieces.append((s, e, nid, z.idx))
        zidx = ZONE_NAMES.index(b.zone) if b.zone else None
        out[b.id] = HotBlock(b.id, b.start_pfn, b.nr_pages, b.nodes[0] if b.nodes else 0,
                             b.nodes, b.state, zidx, True, pieces=tuple(pieces),
                             boot_verdict=verdicts.get(b.id))
    return MemState(zones, out, {}, set(online_nodes), block_size >> prof.page_shift,
                    prof.page_shift, prof.pages_per_section, prof.pageblock_nr_pages)


def _zone(st: MemState, nid: int, idx: int) -> ZoneState:
    if (nid, idx) not in st.zones:
        st.zones[(nid, idx)] = ZoneState(nid, idx)
    return st.zones[(nid, idx)]


@dataclass(frozen=True)
class RatioCheck:
    """One auto_movable_can_online_movable() test: MOVABLE after onlining the rest of the
    group against ratio% of the early KERNEL pages, system-wide (nid None) or on a node."""

    nid: int | None
    movable_pages: int
    kernel_early_pages: int
    ratio: int

    @property
    def limit(self) -> int:
        return self.ratio * self.kernel_early_pages // 100

    @property
    def fits(self) -> bool:
        return self.kernel_early_pages > 0 and self.movable_pages <= self.limit


@dataclass(frozen=True)
class ZoneChoice:
    """zone_for_pfn_range(): the zone a block gets, and the rule that decided it."""

    zone: int
    online_type: str
    rule: str  # one of ZONE_RULES
    checks: tuple[RatioCheck, ...] = ()
    group_pages: int = 0  # auto-movable: the pages of the group still to online


ZONE_RULES = {
    "online_movable": "online_movable asks for ZONE_MOVABLE",
    "online_kernel": "online_kernel: the kernel zone the range intersects, else Normal "
                     "(default_kernel_zone_for_pfn)",
    "inherit": "contig-zones: the range touches only this zone, so it inherits it "
               "(default_zone_for_pfn)",
    "kernel_default": "contig-zones: no single zone to inherit, and without movable_node "
                      "the kernel onlines to a kernel zone (default_zone_for_pfn)",
    "movable_node": "contig-zones: no single zone to inherit, and movable_node makes "
                    "ZONE_MOVABLE the default (default_zone_for_pfn)",
    "ratio_fits": "auto-movable: all of the DIMM fits in ZONE_MOVABLE within "
                  "auto_movable_ratio (auto_movable_zone_for_pfn)",
    "ratio_exceeded": "auto-movable: the DIMM would exceed auto_movable_ratio, so it goes "
                      "to a kernel zone (auto_movable_zone_for_pfn)",
    "group_has_kernel": "auto-movable: part of this DIMM is already in a kernel zone, so "
                        "the rest follows (auto_movable_zone_for_pfn)",
    "ratio_zero": "auto-movable with auto_movable_ratio=0: always a kernel zone",
}


def default_kernel_zone_for_pfn(st: MemState, nid: int, start_pfn: int, nr_pages: int) -> int:
    """The lowest kernel zone the range intersects, else ZONE_NORMAL."""
    for idx in range(ZONE_NORMAL):
        if _zone(st, nid, idx).intersects(start_pfn, nr_pages):
            return idx
    return ZONE_NORMAL


def _account(st: MemState, nid: int | None) -> tuple[int, int]:
    """auto_movable_stats_account_zone() over the populated zones (of one node)."""
    kernel_early = movable = 0
    for (znid, idx), z in st.zones.items():
        if (nid is None or znid == nid) and z.present:
            if idx == ZONE_MOVABLE:
                movable += z.present
            elif idx != ZONE_DEVICE:
                kernel_early += z.present_early
    return kernel_early, movable


def auto_movable_can_online_movable(st: MemState, cfg: HotplugConfig, nid: int | None,
                                    nr_pages: int) -> RatioCheck:
    """Static groups only (ACPI DIMMs): no dynamic-group corrections apply."""
    kernel_early, movable = _account(st, nid)
    return RatioCheck(nid, movable + nr_pages, kernel_early, cfg.auto_movable_ratio)


def auto_movable_zone_for_pfn(st: MemState, cfg: HotplugConfig, nid: int,
                              group: MemoryGroup | None, start_pfn: int,
                              nr_pages: int) -> ZoneChoice:
    kernel = default_kernel_zone_for_pfn(st, nid, start_pfn, nr_pages)
    if not cfg.auto_movable_ratio:
        return ZoneChoice(kernel, MMOP_ONLINE, "ratio_zero")
    if group is not None:
        if group.present_kernel_pages:
            return ZoneChoice(kernel, MMOP_ONLINE, "group_has_kernel")
        nr_pages = group.max_pages - group.present_movable_pages
    checks = [auto_movable_can_online_movable(st, cfg, None, nr_pages)]
    if checks[0].fits and cfg.auto_movable_numa_aware:
        checks.append(auto_movable_can_online_movable(st, cfg, nid, nr_pages))
    if all(c.fits for c in checks):
        return ZoneChoice(ZONE_MOVABLE, MMOP_ONLINE, "ratio_fits", tuple(checks), nr_pages)
    return ZoneChoice(kernel, MMOP_ONLINE, "ratio_exceeded", tuple(checks), nr_pages)


def zone_for_pfn_range(st: MemState, cfg: HotplugConfig, online_type: str, nid: int,
                       group: MemoryGroup | None, start_pfn: int, nr_pages: int) -> ZoneChoice:
    """The zone ``echo ONLINE_TYPE > state`` puts a block in, with the deciding rule."""
    if online_type == MMOP_ONLINE_KERNEL:
        return ZoneChoice(default_kernel_zone_for_pfn(st, nid, start_pfn, nr_pages),
                          online_type, "online_kernel")
    if online_type == MMOP_ONLINE_MOVABLE:
        return ZoneChoice(ZONE_MOVABLE, online_type, "online_movable")
    if cfg.online_policy == "auto-movable":
        return auto_movable_zone_for_pfn(st, cfg, nid, group, start_pfn, nr_pages)
    kernel = default_kernel_zone_for_pfn(st, nid, start_pfn, nr_pages)
    in_kernel = _zone(st, nid, kernel).intersects(start_pfn, nr_pages)
    in_movable = _zone(st, nid, ZONE_MOVABLE).intersects(start_pfn, nr_pages)
    if in_kernel != in_movable:
        return ZoneChoice(kernel if in_kernel else ZONE_MOVABLE, online_type, "inherit")
    if cfg.movable_node:
        return ZoneChoice(ZONE_MOVABLE, online_type, "movable_node")
    return ZoneChoice(kernel, online_type, "kernel_default")


def move_pfn_range_to_zone(z: ZoneState, start_pfn: int, nr_pages: int) -> None:
    """Grow the zone's span over the range (init_currently_empty_zone / resize_zone_range)."""
    if not z.spanned:
        z.start_pfn, z.spanned = start_pfn, nr_pages
        return
    start = min(z.start_pfn, start_pfn)
    z.spanned = max(z.end_pfn, start_pfn + nr_pages) - start
    z.start_pfn = start


def _online_pfns(st: MemState, z: ZoneState) -> list[tuple[int, int]]:
    return [(s, e) for b in st.blocks.values() if b.state == "online"
            for s, e, nid, idx in b.pieces if nid == z.nid and idx == z.idx]


def shrink_zone_span(st: MemState, z: ZoneState, start_pfn: int, end_pfn: int) -> None:
    """remove_pfn_range_from_zone(): a zone shrinks only when the range was its first or
    its last online part (find_smallest/biggest_section_pfn); a hole inside stays."""
    online = _online_pfns(st, z)
    if z.start_pfn == start_pfn:
        rest = [max(s, end_pfn) for s, e in online if e > end_pfn and s < z.end_pfn]
        if rest:
            new = min(rest)
            z.spanned, z.start_pfn = z.end_pfn - new, new
        else:
            z.start_pfn = z.spanned = 0
    elif z.end_pfn == end_pfn:
        rest = [min(e, start_pfn) for s, e in online if s < start_pfn and e > z.start_pfn]
        if rest:
            z.spanned = max(rest) - z.start_pfn
        else:
            z.start_pfn = z.spanned = 0


def adjust_present_page_count(st: MemState, blk: HotBlock, z: ZoneState, nr_pages: int) -> None:
    if blk.early:
        z.present_early += nr_pages
    z.present += nr_pages
    group = st.groups.get(blk.group or "")
    if group is not None:
        if z.idx == ZONE_MOVABLE:
            group.present_movable_pages += nr_pages
        else:
            group.present_kernel_pages += nr_pages


def memory_block_online(st: MemState, cfg: HotplugConfig, blk: HotBlock,
                        online_type: str) -> ZoneChoice:
    """memory_block_online() with online_pages(): the memmap part first (it belongs to
    the same zone but is never managed), then the rest goes to the buddy allocator."""
    group = st.groups.get(blk.group or "")
    choice = zone_for_pfn_range(st, cfg, online_type, blk.nid, group, blk.start_pfn,
                                blk.nr_pages)
    z = _zone(st, blk.nid, choice.zone)
    v = blk.nr_vmemmap
    if v:
        move_pfn_range_to_zone(z, blk.start_pfn, v)  # mhp_init_memmap_on_memory()
    move_pfn_range_to_zone(z, blk.start_pfn + v, blk.nr_pages - v)
    adjust_present_page_count(st, blk, z, blk.nr_pages - v)
    z.managed += blk.nr_pages - v
    if v:
        adjust_present_page_count(st, blk, z, v)
    blk.state, blk.zone, blk.choice = "online", choice.zone, choice
    blk.pieces = ((blk.start_pfn, blk.start_pfn + blk.nr_pages, blk.nid, choice.zone),)
    st.online_nodes.add(blk.nid)
    return choice


@dataclass(frozen=True)
class OfflineOutcome:
    """What ``offline_pages()`` does with one block, and why."""

    result: str  # "ok", "failed" or "unknown"
    cause: str  # one of OFFLINE_CAUSES
    detail: str = ""  # the boot model's reason, for boot blocks
    boot_cause: str = ""  # the boot verdict's cause (BOOT_OFFLINE_CAUSES), for boot blocks


OFFLINE_CAUSES = {
    "movable": "ZONE_MOVABLE holds only movable pages: they migrate away",
    "hotadded_kernel": "hot-added memory in a kernel zone: its pages were freed to the tail "
                       "of the free lists when onlined (__free_pages_core, FPI_TO_TAIL) and "
                       "no unmovable allocation is expected there",
    "boot": "boot memory",
    "zone_none": "the block spans zones or nodes (valid_zones none): memory_block_offline() "
                 "refuses it",
    "already_offline": "the block is already offline: device_offline() returns 1, "
                       "state_store() makes that -EINVAL",
    "already_online": "the block is already online: device_online() returns 1, "
                      "state_store() makes that -EINVAL",
}


def offline_outcome(blk: HotBlock) -> OfflineOutcome:
    """Whether offline_pages() succeeds on an online block."""
    if blk.early and blk.boot_verdict is not None:  # still as the boot left it
        v = blk.boot_verdict
        result = {"offlined": "ok"}.get(v.result, v.result)
        return OfflineOutcome(result, "boot", v.reason, v.cause)
    if blk.zone is None:
        return OfflineOutcome("failed", "zone_none")
    if blk.zone == ZONE_MOVABLE:
        return OfflineOutcome("ok", "movable")
    return OfflineOutcome("ok", "hotadded_kernel")


def memory_block_offline(st: MemState, blk: HotBlock) -> OfflineOutcome:
    """memory_block_offline() / offline_pages(): on success the pages leave the zone,
    which shrinks when they were its first or last part."""
    out = offline_outcome(blk)
    if out.result != "ok":
        return out
    assert blk.zone is not None
    z = _zone(st, blk.nid, blk.zone)
    v = blk.nr_vmemmap
    if v:
        adjust_present_page_count(st, blk, z, -v)
    adjust_present_page_count(st, blk, z, -(blk.nr_pages - v))
    z.managed -= blk.nr_pages - v
    blk.state, blk.zone, blk.choice, blk.pieces = "offline", None, None, ()
    blk.boot_verdict = None  # its boot contents are gone; onlined again it is fresh memory
    shrink_zone_span(st, z, blk.start_pfn + v, blk.start_pfn + blk.nr_pages)
    if v:
        shrink_zone_span(st, z, blk.start_pfn, blk.start_pfn + v)  # mhp_deinit_memmap_on_memory
    return out


def memmap_pages(nr_pages: int, prof: KernelProfile) -> int:
    """Pages of struct page for ``nr_pages`` pages."""
    return nr_pages * prof.struct_page_size >> prof.page_shift


def mhp_supports_memmap_on_memory(cfg: HotplugConfig, size: int, block_size: int,
                                  prof: KernelProfile) -> tuple[bool, str]:
    """Whether an add of ``size`` bytes carries its memmap, and why not.

    6.1: only an add of exactly one memory block whose memmap fills whole PMDs and leaves
    whole pageblocks.  Later (profile.CHANGES ``memmap_on_memory_per_block``) per memory
    block of an add of any size; ``force`` (``memmap_on_memory_force``) pads the memmap up to
    a pageblock.
    """
    if not cfg.memmap_on_memory:
        return False, "memory_hotplug.memmap_on_memory is off"
    pmd = 1 << (prof.page_shift + 9)
    pageblock = prof.pageblock_nr_pages << prof.page_shift
    newer = prof.has("memmap_on_memory_per_block")
    unit = block_size if newer else size
    if not newer and size != block_size:
        return False, (f"before 6.8 the memmap is carried only by an add of exactly one block "
                       f"({block_size >> 20} MiB); this one is {size >> 20} MiB")
    vmemmap = memmap_pages(unit >> prof.page_shift, prof) << prof.page_shift
    if vmemmap % pmd or (not cfg.memmap_force and (unit - vmemmap) % pageblock):
        return False, "its memmap would not fill whole PMDs and pageblocks"
    return True, ""


def vmemmap_pages_per_block(cfg: HotplugConfig, block_pages: int, prof: KernelProfile) -> int:
    """memory_block_memmap_on_memory_pages(): the memmap of one block, rounded up to a
    pageblock in force mode."""
    pages = memmap_pages(block_pages, prof)
    if cfg.memmap_force:
        pages = round_up(pages, prof.pageblock_nr_pages)
    return pages


@dataclass(frozen=True)
class AddResult:
    """add_memory_resource(): the blocks created, or why none were."""

    blocks: tuple[int, ...]
    error: str = ""
    node_onlined: bool = False  # the node had no pgdat online: __try_online_node()
    vmemmap_pages: int = 0  # per block carrying its memmap
    memmap_why_not: str = ""


def add_memory_resource(st: MemState, cfg: HotplugConfig, prof: KernelProfile, group: str,
                        nid: int, start: int, size: int) -> AddResult:
    """Memory blocks for a new range, offline, on node ``nid`` (then the caller onlines
    them by mhp_default_online_type)."""
    block_bytes = st.block_pages << st.page_shift
    if not size or start % block_bytes or size % block_bytes:
        return AddResult((), f"Block size [{block_bytes:#x}] unaligned hotplug range: start "
                             f"{start:#x}, size {size:#x} (check_hotplug_memory_range)")
    ids = tuple(range_block_ids(st, start, size))
    if any(i in st.blocks for i in ids):
        return AddResult((), "the range is already System RAM (register_memory_resource: "
                             "-EEXIST)")
    if (start + size) >> st.page_shift > 1 << (prof.max_physmem_bits - prof.page_shift):
        return AddResult((), "the range is above MAX_PHYSMEM_BITS (mhp_range_allowed)")
    carry, why = mhp_supports_memmap_on_memory(cfg, size, block_bytes, prof)
    v = vmemmap_pages_per_block(cfg, st.block_pages, prof) if carry else 0
    new_node = nid not in st.online_nodes
    st.groups.setdefault(group, MemoryGroup(group, nid, size >> st.page_shift))
    for i in ids:
        st.blocks[i] = HotBlock(i, i * st.block_pages, st.block_pages, nid, (nid,), "offline",
                                None, False, group, v)
    st.online_nodes.add(nid)
    return AddResult(ids, "", new_node, v, why)


def range_block_ids(st: MemState, start: int, size: int) -> range:
    """The ids of the memory blocks a block-aligned range [start, start + size) covers."""
    first = (start >> st.page_shift) // st.block_pages
    return range(first, first + (size >> st.page_shift) // st.block_pages)


def try_remove_memory(st: MemState, start: int, size: int) -> list[int]:
    """Remove the (offline) blocks of a range; returns their ids."""
    ids = [i for i in range_block_ids(st, start, size) if i in st.blocks]
    for i in ids:
        del st.blocks[i]
    return ids


def offline_after_boot(b: Boot) -> None:
    """``echo offline > memoryN/state`` for every block right after boot (once the pages
    are handed over, so that ``managed`` is known)."""
    assert b.zones is not None
    if b.managed:
        owners, rounds = reservation_owners_apart(b)
        b.offline = predict_offline(b.blocks, b.zones, b.memblock, b.e820, owners,
                                    b.machine.initrd, b.zonelists, b.cpu_node, b.profile,
                                    boot_services_freed(b), rounds=rounds)
