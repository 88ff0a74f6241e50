# SPDX-License-Identifier: GPL-2.0-or-later
"""``Boot``: what the modelled boot decided, step by step, and its bookkeeping.

Every step of the boot sequence (``memhp.kernel.setup``) reads and extends one ``Boot``.
The steps live in the module named after the kernel file they model; this module holds
only the record they share and the helpers every step uses to reserve or allocate boot
memory, so that each reservation keeps a name (``reservation_owners``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memhp.firmware.types import E820Entry, Machine
from memhp.intervals import Spans
from memhp.kernel import memblock as mbk
from memhp.kernel.profile import KernelProfile

if TYPE_CHECKING:  # types only: the step modules import this one
    from memhp.kernel.efi import EfiBoot, Unknown
    from memhp.kernel.memory_blocks import Blocks
    from memhp.kernel.memory_hotplug import Verdicts
    from memhp.kernel.mm_init import ZoneLayout
    from memhp.kernel.numa import NumaResult
    from memhp.kernel.percpu import PercpuLayout
    from memhp.kernel.sparse import SparseAllocs, SparseMap

__all__ = ["CALLER_WHAT", "Boot", "Rounds", "alloc", "collapse_owners", "dump",
           "reservation_owners", "reservation_owners_apart"]


@dataclass
class Boot:
    """Everything the modelled boot decided, with the kernel's messages in order."""

    machine: Machine
    profile: KernelProfile
    memblock: mbk.Memblock
    e820: tuple[E820Entry, ...] = ()
    max_pfn: int = 0
    max_low_pfn: int = 0
    dumps: list[list[list[list[int | None]]]] = field(default_factory=list)
    numa: NumaResult | None = None
    sparse: SparseMap | None = None
    zones: ZoneLayout | None = None
    block_size: int = 0
    blocks: Blocks = field(default_factory=lambda: _blocks())
    reservations: list[tuple[int, int, str]] = field(default_factory=list)  # what each is
    cpu_node: list[int] = field(default_factory=list)  # node of each possible CPU
    dma_reserve: int = 0
    mem_limit: int | None = None  # mem= removed RAM above this address
    hotplug: list[tuple[int, int, int | None]] = field(default_factory=list)  # after NUMA
    kernel_at_numa: list[tuple[int, int, int | None]] = field(default_factory=list)
    events_at_numa: int = 0
    sparse_allocs: SparseAllocs | None = None
    percpu: PercpuLayout | None = None
    zonelists: dict[int, list[int]] = field(default_factory=dict)
    managed: dict[tuple[int, int], int] = field(default_factory=dict)  # (nid, zone) -> pages
    offline: Verdicts = field(default_factory=lambda: _verdicts())
    efi: EfiBoot | None = None  # UEFI boots: boot services memory kept or freed
    unknown: list[Unknown] = field(default_factory=list)  # facts the input cannot decide
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # model limits and kernel fallbacks

    def unknown_fact(self, fact: str) -> bool:
        """Whether the input cannot decide ``fact`` (one of kernel.efi's fact names)."""
        return any(fact in u.affects for u in self.unknown)

    def reserve(self, base: int, size: int, what: str, caller: str = "",
                kern: bool = False) -> None:
        """memblock_reserve(), or memblock_reserve_kern() for the kernel's own memory, of a
        range whose owner the model names (``what``)."""
        if kern:
            mbk.memblock_reserve_kern(self.memblock, base, size, caller)
        else:
            mbk.memblock_reserve(self.memblock, base, size, caller)
        self.reservations.append((base, base + size, what))


def _blocks() -> Blocks:
    from memhp.kernel.memory_blocks import Blocks  # the step modules import this one

    return Blocks()


def _verdicts() -> Verdicts:
    from memhp.kernel.memory_hotplug import Verdicts

    return Verdicts()


def dump(boot: Boot) -> None:
    """memblock_dump_all() at a point the real log shows it (with ``memblock=debug``)."""
    mb = boot.memblock
    boot.dumps.append([mbk.snapshot(mb.memory), mbk.snapshot(mb.reserved)])
    if boot.machine.cmdline.memblock_debug:
        boot.log.extend(mbk.memblock_dump_all(mb))


def alloc(b: Boot, size: int, caller: str, align: int = 64, lo: int = 0,
          hi: int = mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid: int = mbk.NUMA_NO_NODE) -> int:
    """memblock_alloc() on behalf of ``caller`` (its owner is named by CALLER_WHAT)."""
    return mbk.memblock_alloc_internal(b.memblock, size, align, lo, hi, nid, False, caller)


CALLER_WHAT = {
    "reserve_real_mode": "real-mode trampoline",
    "alloc_low_pages": "direct-map page tables",
    "sparse_init": "mem_section root array",
    "sparse_index_alloc": "mem_section root page",
    "sparse_init_nid": "struct pages (memory map) and usemaps",
    "vmemmap_alloc_block_zero": "vmemmap page tables",
    "vmemmap_populate": "struct pages of a node that cannot hold its own",
    "pcpu_fc_alloc": "per-CPU areas",
    "swiotlb_init_remap": "swiotlb bounce buffer",
    "alloc_large_system_hash": "dentry and inode hash tables",
    "acpi_parse_hpet": "small boot allocations",
    "io_apic_init_mappings": "small boot allocations",
    "e820__reserve_resources": "small boot allocations",
    "firmware_map_add_early": "small boot allocations",
    "register_nosave_region": "small boot allocations",
    "start_kernel": "small boot allocations",
    "alloc_bootmem_cpumask_var": "small boot allocations",
    "spp_getpage": "fixmap page tables",
    "pcpu_build_alloc_info": "per-CPU allocator metadata",
    "free_area_init": "NODE_DATA of a memoryless node",
    "efi_memmap_alloc": "EFI memory map (the kernel's copy)",
    "pcpu_embed_first_chunk": "per-CPU allocator metadata",
    "pcpu_setup_first_chunk": "per-CPU allocator metadata",
    "pcpu_alloc_first_chunk": "per-CPU allocator metadata",
}
# the callers whose allocations all hold the same thing (_what() tells the others apart,
# by node or size): the caller alone names it
_PLAIN_WHAT = {caller: what for caller, what in CALLER_WHAT.items()
               if caller not in ("alloc_node_data", "swiotlb_init_remap")}


Owner = tuple[int, int, str]  # [start, end) and what it holds


@dataclass(frozen=True)
class Rounds:
    """The owners of the rounds of a repeated cycle (a ``memblock.Repeat``), kept apart from
    the others: round ``j`` (1 to ``times``) holds ``one`` moved down by ``j * shift``.
    ``one`` is joined as collapse_owners() joins, none of it is empty, it spans at most
    ``shift`` bytes (the rounds do not overlap) and no owner of a round touches one of the
    same name in the next round: so the rounds' owners, joined, are the rounds of ``one``."""

    one: tuple[Owner, ...]
    times: int
    shift: int

    @property
    def span(self) -> tuple[int, int]:
        """[start, end) of ``one``: the cycle itself (round 0), the rounds lie below."""
        return min(s for s, _, _ in self.one), max(e for _, e, _ in self.one)

    def owners(self, first: int, last: int) -> list[Owner]:
        """The owners of rounds ``first`` to ``last`` (both included)."""
        return [(s - j * self.shift, e - j * self.shift, what)
                for j in range(first, last + 1) for s, e, what in self.one]


def reservation_owners(b: Boot, upto: int | None = None,
                       joined: bool = False) -> list[Owner]:
    """Every named boot reservation, [start, end) and what it holds (of the first ``upto``
    memblock events only, when given): the allocations no later free gives back.

    ``joined``: the owners of each round of a repeated cycle (a hot-pluggable node's
    vmemmap: a few calls, many rounds) come joined as collapse_owners() joins them, for a
    reader that joins owners anyway; otherwise one per call, as memblock made them."""
    return _owners(b, upto, joined, False)[0]


def reservation_owners_apart(b: Boot) -> tuple[list[Owner], list[Rounds]]:
    """reservation_owners(b, joined=True), the rounds of each repeated cycle kept apart
    where they can be (none of them given back, and the rounds apart as ``Rounds`` says),
    for a reader that can take them so."""
    return _owners(b, None, True, True)


def _owners(b: Boot, upto: int | None, joined: bool,
            apart: bool) -> tuple[list[Owner], list[Rounds]]:
    out = list(b.reservations)
    kept_apart: list[Rounds] = []
    events = b.memblock.events[:upto]
    frees = _Frees(events)
    starts, reach = frees.spans.starts, frees.spans.reach
    for i, e in enumerate(events):
        if type(e) is mbk.Event:
            if e.kind != "alloc":
                continue
            lo, hi = (e.base, e.base + e.size) if e.n == 1 else e.span
            # frees.kept(i, lo, hi), its first questions asked here (it is asked of every
            # allocation): most come after the last free, or no free holds all of them
            if i < frees.last:
                k = bisect.bisect_right(starts, lo)  # the frees before k start at or below lo
                if k and hi <= reach[k - 1] and not frees.kept(i, lo, hi):
                    continue
            out.append((lo, hi, _PLAIN_WHAT.get(e.caller) or _what(e, b.profile)))
        else:
            assert isinstance(e, mbk.Repeat)
            rounds = _rounds_owners(e, i, frees, joined, b.profile, apart)
            if isinstance(rounds, Rounds):
                kept_apart.append(rounds)
            else:
                out += rounds
    return out, kept_apart


def _rounds_owners(e: mbk.Repeat, i: int, frees: _Frees, joined: bool,
                   prof: KernelProfile, apart: bool) -> list[Owner] | Rounds:
    """The owners of the rounds of a cycle, event ``i``: its calls' owners, moved down
    (``joined``: each round's joined, unless a free gives part of them back; ``apart``:
    then as ``Rounds`` where the rounds are apart as it says)."""
    one = [(*c.span, _what(c, prof)) for c in e.calls if c.kind == "alloc"]
    if not one:
        return []
    whole = (min(lo for lo, _, _ in one) - e.times * e.shift,
             max(hi for _, hi, _ in one) - e.shift)
    given_back = frees.spans.meets(*whole)  # then each call's rounds on their own
    if joined and not given_back:
        one = collapse_owners(one)
        shift = e.shift
        if apart and whole[1] - whole[0] <= e.times * shift and not any(
                a2 >= z2 or (z2 - shift >= a and a2 - shift <= z)  # empty, or touching
                for a, z, what in one for a2, z2, what2 in one if what2 == what):
            return Rounds(tuple(one), e.times, shift)
    rounds = [(lo - j * e.shift, hi - j * e.shift, what)
              for j in range(1, e.times + 1) for lo, hi, what in one]
    return [o for o in rounds if frees.kept(i, *o[:2])] if given_back else rounds


def collapse_owners(owners: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Owners with the same name that touch or overlap become one, sorted by start."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for s, e, what in owners:
        each = spans.get(what)
        if each is None:
            each = spans[what] = []
        each.append((s, e))
    out: list[tuple[int, int, str]] = []
    for what, each in spans.items():
        each.sort()
        lo, hi = each[0]
        for s, e in each:
            if s > hi:
                out.append((lo, hi, what))
                lo, hi = s, e
            elif e > hi:
                hi = e
        out.append((lo, hi, what))
    out.sort()
    return out


class _Frees:
    """The memblock_free() calls of ``events``, each with its place among them."""

    def __init__(self, events: list[mbk.Event | mbk.Repeat]) -> None:
        self.spans = Spans((e.base, e.base + e.size, i) for i, e in enumerate(events)
                           if type(e) is mbk.Event and e.kind == "free" and e.size)
        # no free after this event
        self.last = max((j for _, _, j in self.spans.items), default=-1)

    def kept(self, i: int, lo: int, hi: int) -> bool:
        """Whether ``[lo, hi)``, allocated by event ``i``, stays reserved: no single later
        free gives all of it back."""
        return lo >= hi or i > self.last or all(j < i for _, _, j in self.spans.covering(lo, hi))


def _what(e: mbk.Event, prof: KernelProfile) -> str:
    """What the memory of an allocation holds, by its caller."""
    if e.caller == "alloc_node_data":
        return f"NODE_DATA({e.nid})"
    if e.caller == "swiotlb_init_remap" and e.size != prof.swiotlb_size:
        return "swiotlb metadata"
    return CALLER_WHAT.get(e.caller, e.caller)
