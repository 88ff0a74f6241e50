# SPDX-License-Identifier: GPL-2.0-or-later
"""The answers memhp gives people, as data: why a node is (not) hot-removable, where
ZONE_MOVABLE starts and why, what pins a block, how command lines compare, and which
command line (or firmware change) makes chosen nodes removable.

Each verdict carries a ``cause`` code (stable, for scripts and tests), the kernel rule it
comes from and a sentence naming the concrete cause.  Output formats live in
``memhp.output``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.types import Machine, SratCpu, SratMemory
from memhp.intervals import intersect
from memhp.kernel.mm_init import ZONE_MOVABLE, MovableCause, ZoneLayout
from memhp.kernel.numa import NumaFallback
from memhp.kernel.profile import KernelProfile
from memhp.kernel.setup import boot
from memhp.kernel.state import Boot, reservation_owners
from memhp.units import human, id_ranges

__all__ = ["AbsentNode", "Advice", "BlockVerdict", "MOVABLE_CAUSE_TEXT", "NodeVerdict", "Option",
           "Outcome", "RATIO_FINE", "RATIO_IMPOSSIBLE", "absent_node", "advise", "attribute",
           "block_verdict", "differences", "kernel_memory_on_node", "memoryless",
           "movable_reason", "node_verdicts", "outcome", "where_is", "with_params"]


# MOVABLE:KERNEL limits of Documentation/admin-guide/mm/memory-hotplug.rst
RATIO_FINE = 3.0  # "up to 3:1 or even 4:1 are fine"
RATIO_IMPOSSIBLE = 63.0  # "definitely impossible due to the overhead for the memory map"


@dataclass(frozen=True)
class NodeVerdict:
    """Is a node hot-removable after this boot, and why (or why not)."""

    nid: int
    ram: int
    kernel: int  # bytes of the node in kernel zones
    movable: int  # bytes in ZONE_MOVABLE
    removable: bool  # every memory block of the node can go offline
    cause: str
    rule: str
    reason: str
    movable_start: int | None
    movable_cause: str
    node_data_on: int | None
    blocks: int
    removable_blocks: int
    pinned_blocks: tuple[int, ...] = ()


@dataclass(frozen=True)
class BlockVerdict:
    """What a memory block holds and whether it can go offline."""

    block: int
    start: int
    end: int
    nodes: tuple[int, ...]
    zone: str
    result: str
    cause: str
    reason: str
    holds: tuple[tuple[str, int], ...] = ()  # (what, bytes) of boot memory kept here
    firmware: tuple[tuple[int, int, str], ...] = ()  # the e820 map inside the block
    memmap_sections: tuple[int, ...] = ()  # sections whose struct pages live here
    memmap_nodes: tuple[int, ...] = ()


MOVABLE_CAUSE_TEXT = {
    MovableCause.MOVABLE_NODE: "movable_node: the lowest hotpluggable address",
    MovableCause.KERNELCORE: "kernelcore=: kernel memory spread evenly over the nodes",
    MovableCause.MOVABLECORE: "movablecore=: the kernel keeps total - movablecore, spread "
                              "evenly over the nodes",
    MovableCause.MIRROR: "kernelcore=mirror: the lowest memory that is not mirrored",
}


def movable_reason(zones: ZoneLayout, nid: int) -> str:
    """Why ZONE_MOVABLE starts where it does on ``nid``, in words, from the recorded cause."""
    cause = zones.movable.cause_of(nid)
    return MOVABLE_CAUSE_TEXT[cause] if cause else "none"


def kernel_memory_on_node(b: Boot, nid: int) -> list[str]:
    """What the kernel had reserved on the node when NUMA set-up cleared its hotplug flag
    (numa_clear_kernel_node_hotplug's recorded cause), named."""
    assert b.numa is not None
    rec = b.numa.kernel_memory.get(nid)
    kept = list(rec.reserved) if rec else []
    hits: list[tuple[str, int]] = []
    for s, e, what in reservation_owners(b, b.events_at_numa):
        if any(s < ke and ks < e for ks, ke in kept) and what not in (h[0] for h in hits):
            hits.append((what, max(s, min(ks for ks, ke in kept if ks < e and s < ke))))
    return [f"{what} at {at:#x}" for what, at in hits]


def memoryless(b: Boot, nid: int) -> bool:
    """Whether ``nid`` is a node without memory that its CPUs keep online.  Kernels from
    7.0 (and before 5.18) set it up with the nodes that have memory, so it has (empty)
    zones; it is no node with memory to judge, and absent_node() says what it is."""
    assert b.numa is not None and b.zones is not None
    nz = b.zones.nodes.get(nid)
    return nid in b.numa.no_memory and (nz is None or not nz.present)


def node_verdicts(b: Boot) -> list[NodeVerdict]:
    """One verdict per node with memory."""
    assert b.numa is not None and b.zones is not None
    m, numa, zones, ps = b.machine, b.numa, b.zones, b.profile.page_size
    srat_hot: dict[int, bool] = {}
    if m.srat is not None and numa.srat is not None:
        for e in m.srat.memory:
            node = numa.srat.pxm_to_node.get(e.pxm)
            if node is not None and e.enabled:
                srat_hot[node] = srat_hot.get(node, False) or e.hotpluggable
    out = []
    offlined = b.offline.spans(lambda v: v.result == "offlined")
    stuck = b.offline.spans(lambda v: v.result != "offlined")
    for nid, nz in sorted(zones.nodes.items()):
        if memoryless(b, nid):
            continue
        ram = sum(r.size for r in b.memblock.memory.regions if r.nid == nid)
        movable = sum(z.present for z in nz.zones if z.idx == ZONE_MOVABLE) * ps
        kernel = sum(z.present for z in nz.zones if z.idx != ZONE_MOVABLE) * ps
        blocks = b.blocks.on_node(nid)
        nblocks = sum(e - s for s, e in blocks)
        good = sum(e - s for s, e in intersect(blocks, offlined))
        pinned = tuple(i for s, e in intersect(blocks, stuck) for i in range(s, e))
        removable = bool(blocks) and good == nblocks
        hot = [(s, e) for s, e, n in b.hotplug if n == nid]
        start = zones.zone_movable_pfn.get(nid)
        decided = zones.movable.cause_of(nid)
        mcause = str(decided) if decided else "none"
        if numa.fallback is NumaFallback.NUMA_OFF:
            cause, rule = "numa_off", "numa=off"
            reason = "numa=off: the kernel ignores the SRAT, so no memory is hotpluggable"
        elif numa.fallback is NumaFallback.SRAT_REJECTED:
            cause, rule = "numa_rejected", "x86_numa_init falls back to dummy_numa_init"
            reason = (f"the kernel rejected the SRAT ({numa.failure}) and fakes one node, so "
                      "the SRAT's hotplug ranges are ignored")
        elif numa.fallback is NumaFallback.NO_SRAT:
            cause, rule = "no_srat", "dummy_numa_init"
            reason = "no SRAT: one fake node, nothing is marked hotpluggable"
        elif srat_hot.get(nid) and nid in numa.kernel_nodes:
            cause, rule = "kernel_memory", "numa_clear_kernel_node_hotplug"
            where = kernel_memory_on_node(b, nid)
            reason = (f"the SRAT marks node {nid} hot-pluggable, but kernel memory lies in its "
                      f"SRAT range ({'; '.join(where[:4]) or 'reserved memory'}), so the kernel "
                      f"clears the hotplug flag of all of node {nid}")
        elif not srat_hot.get(nid):
            cause, rule = "not_hotpluggable", "acpi_numa_memory_affinity_init"
            reason = f"the SRAT does not mark node {nid}'s memory hot-pluggable"
        elif zones.movable.cause is not MovableCause.MOVABLE_NODE:
            cause, rule = "no_movable_node", "find_zone_movable_pfns_for_nodes"
            reason = (f"node {nid} keeps its hotplug flag, but without movable_node the kernel "
                      "does not put hotpluggable memory into ZONE_MOVABLE")
        elif kernel:
            cause, rule = "partly_hotpluggable", "find_zone_movable_pfns_for_nodes"
            reason = (f"only {human(sum(e - s for s, e in hot))} of node {nid} is "
                      "hotpluggable; ZONE_MOVABLE starts at its lowest hotpluggable address")
        else:
            cause, rule = "movable", "find_zone_movable_pfns_for_nodes"
            reason = (f"node {nid} is hotpluggable and has no kernel memory; with movable_node "
                      "all of it is ZONE_MOVABLE")
        if decided in (MovableCause.KERNELCORE, MovableCause.MOVABLECORE) and cause in (
                "not_hotpluggable", "no_srat", "numa_rejected", "no_movable_node"):
            cause, rule = mcause, "find_zone_movable_pfns_for_nodes"
            d = zones.movable
            how = (f"kernelcore={human(d.required_kernelcore * ps)}" if decided is
                   MovableCause.KERNELCORE else
                   f"required kernelcore = total - movablecore = "
                   f"{human(d.required_kernelcore * ps)}")
            reason += (f"; {mcause}= puts {human(movable)} of it into ZONE_MOVABLE ({how}, "
                       "spread evenly over the nodes)")
        if b.mem_limit is not None:
            reason += f"; mem={human(b.mem_limit)} drops all RAM above {b.mem_limit:#x}"
        if movable and pinned and not removable:
            reason += (f"; blocks {id_ranges(pinned)} still cannot go offline (see --block)")
        out.append(NodeVerdict(
            nid, ram, kernel, movable, removable, cause, rule, reason,
            start * ps if start else None, mcause, numa.node_data_home.get(nid), nblocks,
            good, pinned))
    return out


@dataclass(frozen=True)
class AbsentNode:
    """Why a node the SRAT named is no node after boot."""

    nid: int
    pxms: tuple[int, ...]
    cause: str  # numa_off, numa_rejected, no_memory
    rule: str
    reason: str


def absent_node(b: Boot, nid: int) -> AbsentNode | None:
    """Why ``nid``, named by the SRAT, is not a node after boot (None: the SRAT does not
    name it either), from what x86_numa_init recorded."""
    assert b.numa is not None and b.zones is not None
    numa = b.numa
    st = numa.srat
    if st is not None:
        pxm_node = st.pxm_to_node
    else:  # numa=off: never parsed; acpi_map_pxm_to_node() numbers PXMs as they come
        order = [e.pxm for e in (b.machine.srat.entries if b.machine.srat else ())
                 if isinstance(e, (SratCpu, SratMemory)) and e.enabled]
        pxm_node = {p: i for i, p in enumerate(dict.fromkeys(order))}
    pxms = tuple(sorted(p for p, n in pxm_node.items() if n == nid))
    if not pxms or (nid in b.zones.nodes and not memoryless(b, nid)):
        return None
    named = f"the SRAT names node {nid} (PXM {', '.join(map(str, pxms))})"
    if numa.fallback is NumaFallback.NUMA_OFF:
        return AbsentNode(nid, pxms, "numa_off", "numa=off", f"{named}, but numa=off makes "
                          "the kernel skip the SRAT: one fake node 0 holds all memory")
    if numa.fallback is NumaFallback.SRAT_REJECTED:
        return AbsentNode(nid, pxms, "numa_rejected",
                          "x86_numa_init falls back to dummy_numa_init",
                          f"{named}, but the kernel rejected the SRAT ({numa.failure}); one "
                          "fake node 0 holds all memory")
    if nid in numa.no_memory and nid in numa.online:
        cpus = [c for c, n in enumerate(b.cpu_node) if n == nid]
        order = b.zonelists.get(nid, [nid])
        return AbsentNode(nid, pxms, "memoryless", "free_area_init",
                          f"{named} with CPUs ({id_ranges(cpus)}) and no memory: a memoryless "
                          "node; free_area_init gives it a pg_data_t from memblock, and its "
                          "CPUs bring it online (init_cpu_to_node).  It has no zones with "
                          "pages and no memory blocks; its CPUs allocate from node(s) "
                          f"{', '.join(map(str, order[1:])) or 'none'} (fallback order)")
    if nid in numa.no_memory:
        return AbsentNode(nid, pxms, "no_memory", "numa_register_memblks",
                          f"{named}, but none of its memory is left after "
                          "numa_cleanup_meminfo (no RAM in its ranges, or all of it above "
                          "max_pfn), and no CPU brings it online")
    return AbsentNode(nid, pxms, "no_memory", "acpi_numa_init",
                      f"{named} only for processors (no memory affinity entry), and none "
                      "of them is possible")


def attribute(owners: list[tuple[int, int, str]],
              kept: list[tuple[int, int]]) -> list[tuple[str, int]]:
    """Bytes of ``kept`` per owner, the latest owner of a byte winning; largest first."""
    painted: list[tuple[int, int, str]] = []
    lo, hi = min((s for s, _ in kept), default=0), max((e for _, e in kept), default=0)
    near: list[tuple[int, int, str]] = []
    for s, e, what in owners:  # in time order; a run of touching same-named ones is one
        if not (s < hi and lo < e):
            continue
        if near and near[-1][2] == what and s <= near[-1][1] and near[-1][0] <= e:
            near[-1] = (min(s, near[-1][0]), max(e, near[-1][1]), what)
        else:
            near.append((s, e, what))
    for s, e, what in near:
        nxt = []
        for ps, pe, pw in painted:
            if pe <= s or ps >= e:
                nxt.append((ps, pe, pw))
                continue
            if ps < s:
                nxt.append((ps, s, pw))
            if pe > e:
                nxt.append((e, pe, pw))
        nxt.append((s, e, what))
        painted = nxt
    sizes: dict[str, int] = {}
    for ks, ke in kept:
        covered = 0
        for ps, pe, pw in painted:
            n = max(0, min(pe, ke) - max(ps, ks))
            if n:
                sizes[pw] = sizes.get(pw, 0) + n
                covered += n
        if covered < ke - ks:
            sizes["early reservations"] = sizes.get("early reservations", 0) + ke - ks - covered
    return sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))


def block_verdict(b: Boot, block_id: int) -> BlockVerdict | None:
    """What one memory block holds, and what pins (or frees) it."""
    block = b.blocks.by_id(block_id)
    if block is None:
        return None
    ps = b.profile.page_size
    lo, hi = block.start_pfn * ps, (block.start_pfn + block.nr_pages) * ps
    v = b.offline.by_id(block_id)
    kept = [(max(r.base, lo), min(r.end, hi)) for r in b.memblock.reserved.regions
            if r.base < hi and lo < r.end]
    holds = tuple(attribute(reservation_owners(b), kept))
    reason = v.reason if v else ""
    cause = v.cause if v else "movable_or_free"
    firmware = tuple((max(fw.start, lo), min(fw.end, hi), fw.type) for fw in b.e820
                     if fw.start < hi and lo < fw.end)
    secs: list[int] = []
    nids: set[int] = set()
    for run in b.sparse_allocs.memmaps if b.sparse_allocs else ():
        hit = run.sections_in(lo, hi)
        if hit:
            secs += hit
            nids.add(run.nid)
    return BlockVerdict(block_id, lo, hi, block.nodes, ",".join(block.valid_zones),
                        v.result if v else "unknown", cause, reason, holds, firmware,
                        tuple(secs), tuple(sorted(nids)))


def where_is(b: Boot, addr: int) -> dict[str, object]:
    """Which node, zone, memory block and boot reservation hold a physical address."""
    ps = b.profile.page_size
    out: dict[str, object] = {"address": addr}
    region = next((r for r in b.memblock.memory.regions if r.base <= addr < r.end), None)
    fw = next((e for e in b.machine.e820 if e.start <= addr < e.end), None)
    out["e820"] = fw.type if fw else "not in the e820 map"
    out["ram"] = region is not None
    if region is not None:
        out["node"] = region.nid
        if b.zones is not None and region.nid is not None:
            z = b.zones.zone_of_pfn(region.nid, addr // ps)
            out["zone"] = z.name if z else None
    blk = b.blocks.by_id(addr // b.block_size) if b.block_size else None
    out["block"] = blk.id if blk else None
    owners = [w for s, e, w in reservation_owners(b) if s <= addr < e]
    kept = any(r.base <= addr < r.end for r in b.memblock.reserved.regions)
    out["reserved_by"] = owners[-1] if owners and kept else None
    return out


@dataclass(frozen=True)
class NodeLayout:
    """A node's zones and the cost of its memory map: what a kernel upgrade may change on a
    node besides its verdict."""

    nid: int
    zones: tuple[tuple[str, int, int, int], ...]  # name, [start, end) bytes, present bytes
    memmap: int  # bytes of struct pages for the node's memory sections
    memmap_on: tuple[int, ...]  # the nodes whose memory holds them
    managed: int  # bytes the buddy allocator gets once boot is over


def node_layouts(b: Boot) -> list[NodeLayout]:
    """Every node's zones (with pages) and memory map, as sparse_init() placed it."""
    assert b.zones is not None
    ps = b.profile.page_size
    cost: dict[int, int] = {}
    homes: dict[int, set[int]] = {}
    per_section = b.profile.pages_per_section * b.profile.struct_page_size
    for run in b.sparse_allocs.memmaps if b.sparse_allocs else ():
        cost[run.nid] = cost.get(run.nid, 0) + run.count * per_section
        last = run.addr + (run.count - 1) * run.step
        lo, hi = min(run.addr, last), max(run.addr, last) + per_section
        homes.setdefault(run.nid, set()).update(
            r.nid for r in b.memblock.memory.regions
            if r.base < hi and lo < r.end and r.nid is not None)
    return [NodeLayout(nid, tuple((z.name, z.start_pfn * ps, z.end_pfn * ps, z.present * ps)
                                  for z in nz.zones if z.present),
                       cost.get(nid, 0), tuple(sorted(homes.get(nid, ()))),
                       sum(p for (n, _), p in b.managed.items() if n == nid) * ps)
            for nid, nz in sorted(b.zones.nodes.items())]


@dataclass(frozen=True)
class Outcome:
    """One command line's (or kernel's) result, per node."""

    cmdline: str
    nodes: tuple[NodeVerdict, ...]
    movable: int
    kernel: int
    notes: tuple[str, ...] = ()
    profile: str = ""  # the kernel profile that predicted it
    kernel_version: str = ""
    profile_note: str = ""  # when the profile is not the asked-for kernel's own
    layouts: tuple[NodeLayout, ...] = ()

    @property
    def ratio(self) -> float:
        return self.movable / self.kernel if self.kernel else float("inf")


def outcome(machine: Machine, cmdline: str | None, prof: KernelProfile) -> Outcome:
    """Predict the machine under ``cmdline`` (None: its own) and sum up the nodes."""
    m = machine if cmdline is None else dataclasses.replace(machine, cmdline=parse_cmdline(cmdline))
    b = boot(m, prof)
    nodes = tuple(node_verdicts(b))
    return Outcome(m.cmdline.raw, nodes, sum(n.movable for n in nodes),
                   sum(n.kernel for n in nodes), tuple(b.notes), prof.name, prof.kernel_version,
                   prof.chosen_note, tuple(node_layouts(b)))


def _zone_text(z: tuple[str, int, int, int] | None) -> str:
    return f"[mem {z[1]:#x}-{z[2] - 1:#x}] {human(z[3])}" if z else "none"


def layout_differences(a: NodeLayout, b: NodeLayout) -> list[str]:
    """How a node's zones and memory map differ, in sentences."""
    out = []
    za, zb = {z[0]: z for z in a.zones}, {z[0]: z for z in b.zones}
    for name in [*za, *(n for n in zb if n not in za)]:
        if za.get(name) != zb.get(name):
            out.append(f"node {a.nid}: zone {name} {_zone_text(za.get(name))} -> "
                       f"{_zone_text(zb.get(name))}")
    if (a.memmap, a.memmap_on) != (b.memmap, b.memmap_on):
        out.append(f"node {a.nid}: memory map {human(a.memmap)} on node(s) "
                   f"{id_ranges(a.memmap_on) or '-'} -> {human(b.memmap)} on node(s) "
                   f"{id_ranges(b.memmap_on) or '-'}")
    if a.managed != b.managed:
        out.append(f"node {a.nid}: managed after boot {human(a.managed)} -> {human(b.managed)} "
                   f"({'+' if b.managed > a.managed else '-'}"
                   f"{human(abs(b.managed - a.managed))})")
    return out


def differences(a: Outcome, b: Outcome) -> list[str]:
    """What changed from ``a`` to ``b``, node by node, in sentences."""
    out = []
    bn = {n.nid: n for n in b.nodes}
    la, lb = {x.nid: x for x in a.layouts}, {x.nid: x for x in b.layouts}
    for na in a.nodes:
        nb = bn.get(na.nid)
        if nb is None:
            out.append(f"node {na.nid} is gone")
            continue
        if na.nid in la and na.nid in lb:
            out += layout_differences(la[na.nid], lb[na.nid])
        if na.movable != nb.movable:
            out.append(f"node {na.nid}: ZONE_MOVABLE {human(na.movable)} -> {human(nb.movable)}")
        if na.removable != nb.removable:
            out.append(f"node {na.nid}: {'becomes' if nb.removable else 'is no longer'} "
                       "hot-removable")
        if na.node_data_on != nb.node_data_on:
            out.append(f"node {na.nid}: NODE_DATA moves from node {na.node_data_on} to node "
                       f"{nb.node_data_on}")
        if na.removable_blocks != nb.removable_blocks:
            out.append(f"node {na.nid}: removable blocks {na.removable_blocks} -> "
                       f"{nb.removable_blocks} of {nb.blocks}")
    for nid in sorted(set(bn) - {n.nid for n in a.nodes}):
        out.append(f"node {nid} appears")
    return out or ["nothing changes"]


@dataclass(frozen=True)
class Option:
    """A command line tried by ``advise`` and what it costs."""

    cmdline: str
    works: bool
    outcome: Outcome
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Advice:
    """``memhp advise``: the command lines tried, and firmware changes when none works."""

    nodes: tuple[int, ...]
    options: tuple[Option, ...]
    firmware: tuple[str, ...] = ()
    why_not: tuple[str, ...] = field(default=())


def with_params(cmdline: str, params: str, drop: tuple[str, ...]) -> str:
    """``cmdline`` without the kernel parameters named ``drop`` and with ``params`` (none
    when empty), both before a ``--``: the kernel hands everything after it to init
    (``parse_args`` stops there)."""
    words = cmdline.split()
    at = words.index("--") if "--" in words else len(words)
    kernel = [w for w in words[:at] if w.split("=", 1)[0] not in drop]
    return " ".join([*kernel, *params.split(), *words[at:]])


def advise(machine: Machine, want: list[int], prof: KernelProfile) -> Advice:
    """Try the command lines that can make ``want`` hot-removable; say what each costs."""
    drop = ("movable_node", "kernelcore", "movablecore")
    candidates = [with_params(machine.cmdline.raw, p, drop) for p in
                  ("movable_node", *(f"movablecore={pct}%" for pct in (25, 50, 75, 90)))]
    options = []
    for c in candidates:
        o = outcome(machine, c, prof)
        by = {n.nid: n for n in o.nodes}
        works = all(n in by and by[n].removable for n in want)
        warnings = []
        if o.ratio > RATIO_IMPOSSIBLE:
            warnings.append(f"MOVABLE:KERNEL is {o.ratio:.1f}:1, beyond 63:1, which the memory-"
                            "hotplug documentation calls impossible (memory map overhead)")
        elif o.ratio > RATIO_FINE:
            warnings.append(f"MOVABLE:KERNEL is {o.ratio:.1f}:1; the memory-hotplug "
                            "documentation calls up to 3:1 (or even 4:1) fine")
        for other in o.nodes:
            if other.kernel == 0 and other.nid not in want and other.movable:
                warnings.append(f"node {other.nid} also loses all its kernel memory")
        options.append(Option(c, works, o, tuple(warnings)))
    firmware: list[str] = []
    why: list[str] = []
    if not any(o.works for o in options):
        first = options[0].outcome
        by = {n.nid: n for n in first.nodes}
        for nid in want:
            n = by.get(nid)
            if n is None:
                why.append(f"node {nid} does not exist after boot")
                firmware.append(f"describe node {nid}'s memory in the SRAT")
                continue
            why.append(f"node {nid}: {n.reason}")
            if n.cause == "kernel_memory":
                firmware.append(f"keep ACPI tables, the initrd and other boot data out of node "
                                f"{nid}'s SRAT range (the boot loader and firmware place them)")
            elif n.cause in ("not_hotpluggable", "no_srat"):
                firmware.append(f"mark node {nid}'s Memory Affinity entries hot-pluggable "
                                "(SRAT flags bit 1)")
            elif n.cause == "numa_rejected":
                firmware.append("make the SRAT cover all RAM the e820 map reports")
            elif n.pinned_blocks:
                firmware.append(f"node {nid}: blocks {id_ranges(n.pinned_blocks)} hold boot "
                                "memory; only a firmware layout change moves it")
    return Advice(tuple(want), tuple(options), tuple(dict.fromkeys(firmware)), tuple(why))
