# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory after boot: play hotplug events on the booted model, step by step.

The host's events (a DIMM plugged or ejected) go through the platform model (QEMU 7.2
places a DIMM without an address) and then the kernel's ACPI memory device driver; the
guest's (writes to memoryN/state, reading the state) go to the sysfs model.  Every step
records what changed and the rule that decided it; a dump records the state as
/proc/zoneinfo and the memory blocks show it.

Once an outcome depends on what the running system allocated (offlining a boot block the
boot model could not decide), everything after it is ``unknown`` with that reason.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from memhp.firmware.hotplug import (
    DimmAdd,
    DimmRemove,
    Dump,
    Event,
    MemSpec,
    SetState,
    WaitBlocks,
    guest_command,
)
from memhp.firmware.types import Machine
from memhp.kernel import acpi_memhotplug as acpi
from memhp.kernel import memory_blocks as mblk
from memhp.kernel import memory_hotplug as mh
from memhp.kernel.mm_init import ZONE_NAMES
from memhp.kernel.profile import KernelProfile
from memhp.kernel.state import Boot
from memhp.platform import qemu
from memhp.units import human

__all__ = ["Session", "Step", "memory_blocks", "play", "runtime_facts", "zoneinfo"]


@dataclass
class Step:
    """One event and what it did."""

    event: Event
    command: str | None  # the guest command (None for a host event)
    add: acpi.DeviceAdd | None = None
    eject: acpi.DeviceEject | None = None
    refused: str = ""  # QEMU refused the device_add / device_del
    addr: int | None = None  # where the DIMM went
    placed_by: str = ""  # "QEMU 7.2" when the platform chose the address
    results: dict[int, mblk.StoreResult] = field(default_factory=dict)
    valid: dict[int, tuple[str, list[str]]] = field(default_factory=dict)  # after setstate
    state: dict[str, Any] | None = None  # a dump: {zoneinfo, memory_blocks}
    blocks_now: int | None = None
    unknown: str = ""
    node_offlined: int | None = None
    zone_changes: list[ZoneChange] = field(default_factory=list)


@dataclass(frozen=True)
class ZoneChange:
    """A zone a step changed: (start_pfn, spanned, present, managed) before and after."""

    nid: int
    zone: str
    before: tuple[int, int, int, int]
    after: tuple[int, int, int, int]


def _zones_now(st: mh.MemState) -> dict[tuple[int, int], tuple[int, int, int, int]]:
    return {k: (z.start_pfn, z.spanned, z.present, z.managed) for k, z in st.zones.items()}


def _zone_changes(before: dict[tuple[int, int], tuple[int, int, int, int]],
                  after: dict[tuple[int, int], tuple[int, int, int, int]]) -> list[ZoneChange]:
    empty = (0, 0, 0, 0)
    return [ZoneChange(nid, ZONE_NAMES[idx], before.get((nid, idx), empty), a)
            for (nid, idx), a in sorted(after.items()) if before.get((nid, idx), empty) != a]


@dataclass
class Session:
    """The whole run: configuration, steps, and the state at the end."""

    config: mh.HotplugConfig
    region: qemu.DeviceMemory
    boot_state: dict[str, Any]  # zoneinfo and memory blocks after the cold-plugged DIMMs
    steps: list[Step]
    final: mh.MemState
    notes: list[str]


def zoneinfo(st: mh.MemState) -> dict[str, dict[str, dict[str, int]]]:
    """/proc/zoneinfo of every online node: start_pfn, spanned, present, managed."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for nid in sorted(st.online_nodes):
        out[str(nid)] = {}
        for idx, name in enumerate(ZONE_NAMES):
            z = st.zones.get((nid, idx)) or mh.ZoneState(nid, idx)
            out[str(nid)][name] = {"start_pfn": z.start_pfn, "spanned": z.spanned,
                                   "present": z.present, "managed": z.managed}
    return out


def memory_blocks(st: mh.MemState, cfg: mh.HotplugConfig) -> dict[str, dict[str, Any]]:
    """{id: {state, valid_zones, nodes}}, as /sys/devices/system/memory shows them."""
    return {str(b.id): {"state": b.state, "valid_zones": mblk.valid_zones(st, cfg, b),
                        "nodes": list(b.nodes)}
            for b in (st.blocks[i] for i in sorted(st.blocks))}


def _snapshot(st: mh.MemState, cfg: mh.HotplugConfig) -> dict[str, Any]:
    return {"zoneinfo": zoneinfo(st), "memory_blocks": memory_blocks(st, cfg)}


def play(b: Boot, events: list[Event], region: qemu.DeviceMemory | None = None,
         notes: list[str] | None = None) -> Session:
    """Play ``events`` in order on the state the boot left."""
    assert b.zones is not None and b.numa is not None
    prof = b.profile
    cfg = mh.hotplug_config(b.machine.cmdline, prof)
    region = region or qemu.device_memory(b.machine)
    st = mh.state_after_boot(b.zones, b.managed, b.blocks, b.offline, b.numa.online,
                             b.block_size, prof)
    pxm_nid = dict(b.numa.srat.pxm_to_node) if b.numa.srat is not None else {}
    meminfo = [(m.start, m.end, m.nid) for m in b.numa.meminfo]
    plugged: dict[str, tuple[int, int]] = {}
    dimm_nid: dict[str, int] = {}
    out_notes = list(notes or []) + list(cfg.notes)
    steps: list[Step] = []
    unknown = ""

    def add(e: DimmAdd) -> Step:
        s = Step(e, None)
        try:
            s.addr = qemu.plug(region, plugged, e)
        except qemu.PlacementError as err:
            s.refused = str(err)
            return s
        s.placed_by = "" if e.addr is not None else "QEMU 7.2"
        plugged[e.id] = (s.addr, e.size)
        nid, how = acpi.acpi_memory_node(pxm_nid, meminfo, e.node, s.addr)
        if how:
            out_notes.append(f"DIMM {e.id}: {how}")
        dimm_nid[e.id] = nid
        s.add = acpi.acpi_memory_enable_device(st, cfg, prof, e.id, nid, s.addr, e.size)
        return s

    for cold in [e for e in events if isinstance(e, DimmAdd) and e.at_boot]:
        before = _zones_now(st)
        steps.append(add(cold))
        steps[-1].zone_changes = _zone_changes(before, _zones_now(st))
    boot_state = _snapshot(st, cfg)
    for e in events:
        if isinstance(e, DimmAdd) and e.at_boot:
            continue
        before = _zones_now(st)
        if unknown:
            steps.append(Step(e, guest_command(e), unknown=unknown))
            continue
        if isinstance(e, DimmAdd):
            steps.append(add(e))
        elif isinstance(e, DimmRemove):
            s = Step(e, None)
            if e.id not in plugged:
                s.refused = f"Device '{e.id}' not found"
            else:
                addr, size = plugged[e.id]
                s.eject = acpi.acpi_scan_hot_remove(st, cfg, e.id, addr, size)
                unknown = s.eject.unknown
                if s.eject.failed is None and not unknown:
                    del plugged[e.id]
                    s.node_offlined = _try_offline_node(st, b, dimm_nid.pop(e.id))
            steps.append(s)
        elif isinstance(e, SetState):
            s = Step(e, guest_command(e))
            for bid in mblk.sysfs_order(i for i in st.blocks if e.first <= i <= e.last):
                blk = st.blocks[bid]
                res = mblk.state_store(st, cfg, blk, e.state)
                s.results[bid] = res
                if res.ok is None:
                    unknown = (f"offlining memory{bid}: "
                               f"{res.offline.detail if res.offline else ''}")
                    break
                s.valid[bid] = (blk.state, mblk.valid_zones(st, cfg, blk))
            steps.append(s)
        elif isinstance(e, Dump):
            steps.append(Step(e, guest_command(e), state=_snapshot(st, cfg)))
        elif isinstance(e, WaitBlocks):
            steps.append(Step(e, guest_command(e), blocks_now=len(st.blocks)))
        steps[-1].zone_changes = _zone_changes(before, _zones_now(st))
    return Session(cfg, region, boot_state, steps, st, out_notes)


def _try_offline_node(st: mh.MemState, b: Boot, nid: int) -> int | None:
    """try_offline_node(): a node left without memory blocks and without CPUs goes
    offline."""
    if any(blk.nid == nid for blk in st.blocks.values()) or nid in b.cpu_node:
        return None
    st.online_nodes.discard(nid)
    return nid


def runtime_facts(s: Session) -> list[dict[str, Any]]:
    """The ``runtime`` list of facts.py: one entry per guest command."""
    out: list[dict[str, Any]] = []
    for step in s.steps:
        if step.command is None:
            continue
        e: dict[str, Any] = {"run": step.command}
        if step.unknown:
            e["unknown"] = step.unknown
        elif isinstance(step.event, Dump) and step.state is not None:
            e["state"] = {"name": step.event.name, **step.state}
        elif isinstance(step.event, SetState):
            res: dict[str, Any] = {}
            for bid, r in step.results.items():
                if r.ok is None:
                    res[str(bid)] = "unknown"
                    continue
                state, zones = step.valid[bid]
                res[str(bid)] = {"result": "ok" if r.ok else "failed", "state": state,
                                 "valid_zones": zones}
            e["results"] = res
        elif step.blocks_now is not None:
            e["blocks_now"] = step.blocks_now
        out.append(e)
    return out


# --- Planning: which command line keeps memory hot-added later removable ---------------

HOTPLUG_KNOBS = ("memhp_default_state", "memory_hotplug.online_policy",
                 "memory_hotplug.auto_movable_ratio", "memory_hotplug.auto_movable_numa_aware",
                 "memory_hotplug.memmap_on_memory", "movable_node")
ADVICE_CANDIDATES = (
    "",
    "memhp_default_state=online_movable",
    "memhp_default_state=online_movable memory_hotplug.memmap_on_memory=1",
    "memhp_default_state=online memory_hotplug.online_policy=auto-movable",
    "memhp_default_state=online movable_node",
    "memhp_default_state=online",
)


@dataclass(frozen=True)
class DimmFate:
    """One planned DIMM under one command line."""

    dimm: str
    size: int
    node: int
    zones: tuple[str, ...]  # the zones its blocks got ("offline" when left offline)
    rule: str  # the rule that chose the (first block's) zone; "" when left offline
    removed: str  # "yes", "no: ..." or "unknown: ..."
    memmap_kernel: int  # bytes of its memmap taken from kernel memory
    memmap_on_dimm: int  # bytes of its memmap kept on the DIMM itself (memmap_on_memory)
    memmap_why_not: str = ""  # memmap_on_memory asked for but not possible for this DIMM
    movable_room: int | None = None  # auto-movable: bytes that would still fit the ratio


@dataclass(frozen=True)
class HotplugOption:
    """A command line tried by the hot-add advice, and what it gives and costs."""

    cmdline: str
    added: str  # the parameters tried, on top of the machine's own
    works: bool  # every DIMM lands in ZONE_MOVABLE and comes out again
    dimms: tuple[DimmFate, ...]
    boot_kernel: int  # kernel memory after boot (bytes)
    boot_movable: int
    ratio_after: float  # MOVABLE:KERNEL after the hot-add
    warnings: tuple[str, ...]


def advise_hotplug(machine: Machine, adds: list[DimmAdd], prof: KernelProfile,
                   mem: MemSpec | None = None) -> list[HotplugOption]:
    """Try the hotplug knobs on the machine: hot-add the DIMMs, then eject them."""
    from memhp.analysis import RATIO_FINE, node_verdicts, with_params
    from memhp.firmware.cmdline import parse_cmdline
    from memhp.kernel.setup import boot

    region = qemu.device_memory(machine, mem)
    out: list[HotplugOption] = []
    for extra in ADVICE_CANDIDATES:
        cmd = with_params(machine.cmdline.raw, extra, HOTPLUG_KNOBS)
        m = dataclasses.replace(machine, cmdline=parse_cmdline(cmd))
        b = boot(m, prof)
        nodes = node_verdicts(b)
        boot_kernel, boot_movable = sum(n.kernel for n in nodes), sum(n.movable for n in nodes)
        events: list[Event] = [*adds, Dump("ADDED"), *(DimmRemove(a.id) for a in adds)]
        s = play(b, events, region)
        added = next(step.state for step in s.steps if isinstance(step.event, Dump))
        fates: list[DimmFate] = []
        for a in adds:
            add = next(st for st in s.steps if isinstance(st.event, DimmAdd)
                       and st.event.id == a.id)
            ej = next((st for st in s.steps if isinstance(st.event, DimmRemove)
                       and st.event.id == a.id), None)
            fates.append(_fate(a, add, ej, prof, s.config.memmap_on_memory))
        zinfo = (added or {}).get("zoneinfo", {})
        movable = sum(z["present"] for n in zinfo.values() for name, z in n.items()
                      if name == "Movable") << prof.page_shift
        kernel = sum(z["present"] for n in zinfo.values() for name, z in n.items()
                     if name not in ("Movable", "Device")) << prof.page_shift
        ratio = movable / kernel if kernel else float("inf")
        works = all(f.zones and set(f.zones) == {"Movable"} and f.removed == "yes"
                    for f in fates)
        warnings = []
        if ratio > RATIO_FINE:
            warnings.append(f"MOVABLE:KERNEL becomes {ratio:.1f}:1; the memory-hotplug "
                            "documentation calls up to 3:1 (or even 4:1) fine")
        if m.cmdline.movable_node and boot_movable:  # only a candidate adds it
            warnings.append(f"movable_node also makes {human(boot_movable)} of boot memory "
                            "ZONE_MOVABLE (the SRAT's hot-pluggable nodes)")
        out.append(HotplugOption(cmd, extra or "(as is)", works, tuple(fates), boot_kernel,
                                 boot_movable, ratio, tuple(warnings)))
    return out


def _fate(a: DimmAdd, add: Step, ej: Step | None, prof: KernelProfile,
          memmap_asked: bool) -> DimmFate:
    if add.refused or add.add is None or add.add.add.error:
        why = add.refused or (add.add.add.error if add.add else "")
        return DimmFate(a.id, a.size, a.node, (), "", f"no: not added ({why})", 0, 0)
    res = add.add
    zones = tuple(dict.fromkeys(ZONE_NAMES[c.result.choice.zone] for c in res.onlined
                                if c.result.choice)) or ("offline",)
    rule = next((c.result.choice.rule for c in res.onlined if c.result.choice), "")
    removed = "yes"
    if zones == ("offline",):
        removed = "yes, but it was never onlined (unused until someone onlines it)"
    elif zones != ("Movable",):
        removed = ("not guaranteed: a kernel zone takes unmovable allocations once lower "
                   "memory fills up; the model expects it empty now")
    if ej is None or ej.eject is None:
        removed = "unknown: " + (ej.unknown if ej else "not ejected")
    elif ej.eject.unknown:
        removed = "unknown: " + ej.eject.unknown
    elif ej.eject.failed is not None:
        removed = f"no: memory{ej.eject.failed.block} stays online"
    blocks = len(res.add.blocks)
    block_pages = a.size // max(blocks, 1) >> prof.page_shift
    on_dimm = res.add.vmemmap_pages * blocks << prof.page_shift
    kernel = 0 if on_dimm else mh.memmap_pages(blocks * block_pages, prof) << prof.page_shift
    room = None
    first = next((c.result.choice for c in res.onlined if c.result.choice), None)
    if first is not None and first.rule == "ratio_exceeded":
        room = min(max(c.limit - (c.movable_pages - first.group_pages), 0)
                   for c in first.checks) << prof.page_shift
    return DimmFate(a.id, a.size, a.node, zones, rule, removed, kernel, on_dimm,
                    res.add.memmap_why_not if memmap_asked else "", room)
