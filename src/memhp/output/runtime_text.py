# SPDX-License-Identifier: GPL-2.0-or-later
"""What happened after boot, step by step: text for people and JSON for tools.

Only reads the session's records (the zone choices, offline outcomes and their rule
codes); every sentence comes from those.
"""

from __future__ import annotations

import json
from typing import Any

from memhp.firmware.hotplug import DimmAdd, DimmRemove, Dump, SetState, WaitBlocks
from memhp.kernel import memory_hotplug as mh
from memhp.kernel.memory_blocks import StoreResult
from memhp.kernel.mm_init import ZONE_NAMES
from memhp.kernel.state import Boot
from memhp.output import json_facts
from memhp.output.terminal import Style
from memhp.runtime import HotplugOption, Session, Step, runtime_facts
from memhp.units import id_ranges

__all__ = ["check_text", "choice_text", "render", "render_json", "step_json", "step_lines",
           "store_lines"]


def _pages(pages: int, st: mh.MemState, style: Style) -> str:
    return f"{pages} pages ({style.size(pages << st.page_shift)})"


def check_text(c: mh.RatioCheck, st: mh.MemState, style: Style) -> str:
    """One MOVABLE:KERNEL test of auto_movable_can_online_movable(), with its numbers."""
    where = "system-wide" if c.nid is None else f"node {c.nid}"
    verdict = "<=" if c.fits else ">"
    return (f"ratio {where}: MOVABLE {_pages(c.movable_pages, st, style)} {verdict} "
            f"{c.ratio}% of early KERNEL {_pages(c.kernel_early_pages, st, style)} = "
            f"{c.limit} pages")


def choice_text(ch: mh.ZoneChoice, st: mh.MemState, style: Style) -> list[str]:
    return [mh.ZONE_RULES[ch.rule]] + [check_text(c, st, style) for c in ch.checks]


def _group_by(results: dict[int, Any], key: Any) -> list[tuple[Any, list[int]]]:
    out: list[tuple[Any, list[int]]] = []
    for bid in sorted(results):
        k = key(results[bid])
        if out and out[-1][0] == k:
            out[-1][1].append(bid)
        else:
            out.append((k, [bid]))
    return out


def _store_key(r: StoreResult) -> tuple[Any, ...]:
    ch = r.choice
    off = r.offline
    return (r.ok, ch.zone if ch else None, ch.rule if ch else None,
            ch.checks if ch else (), off.result if off else None, off.cause if off else None,
            off.boot_cause if off else None, off.detail if off else None)


def store_lines(results: dict[int, StoreResult], st: mh.MemState, indent: str,
                style: Style) -> list[str]:
    out: list[str] = []
    for _, ids in _group_by(results, _store_key):
        r = results[ids[0]]
        blocks = f"memory{id_ranges(ids)}"
        if r.choice is not None:
            out.append(f"{indent}{blocks}: online in {ZONE_NAMES[r.choice.zone]}")
            why = choice_text(r.choice, st, style)
            out.append(f"{indent}  why: {why[0]}")
            out += [f"{indent}       {t}" for t in why[1:]]
        elif r.offline is not None:
            word = {True: "offline", False: "FAILED", None: "UNKNOWN"}[r.ok]
            out.append(f"{indent}{blocks}: {word}")
            cause = mh.OFFLINE_CAUSES[r.offline.cause]
            if r.offline.boot_cause:
                cause += f", {mh.BOOT_OFFLINE_CAUSES[r.offline.boot_cause]}"
            if r.offline.detail:
                cause += f": {r.offline.detail}"
            out.append(f"{indent}  why: {cause}")
    return out


def step_lines(step: Step, s: Session, style: Style) -> list[str]:
    st = s.final
    e = step.event
    out: list[str] = []
    if isinstance(e, DimmAdd):
        head = ("DIMM present at boot" if e.at_boot else "hot-add DIMM")
        out.append(f"{head} {e.id}: {style.size(e.size)} on node {e.node}")
        if step.refused:
            out.append(f"  QEMU refuses it: {step.refused}")
            return out
        assert step.add is not None and step.addr is not None
        a = step.add
        where = f"[mem {step.addr:#x}-{step.addr + e.size - 1:#x}]"
        out.append(f"  at {where}" + (f", placed by {step.placed_by} (first free gap of "
                                      "the device-memory region)" if step.placed_by else ""))
        if a.add.error:
            out.append(f"  the kernel does not add it: {a.add.error}")
            return out
        plural = "s" if len(a.add.blocks) > 1 else ""
        out.append(f"  memory block{plural} {id_ranges(a.add.blocks)} created on node {a.nid}, "
                   "offline (add_memory_resource)")
        if a.add.node_onlined:
            out.append(f"  node {a.nid} had no memory: brought online (__try_online_node)")
        if a.add.vmemmap_pages:
            out.append(f"  memmap_on_memory: each block keeps its own memmap in its first "
                       f"{a.add.vmemmap_pages} pages (present, never managed)")
        elif s.config.memmap_on_memory and a.add.memmap_why_not:
            out.append(f"  memmap_on_memory not used: {a.add.memmap_why_not}")
        if not a.onlined:
            out.append(f"  left offline: the default online type is offline "
                       f"({s.config.default_online_from})")
        else:
            out.append(f"  onlined as '{s.config.default_online_type}' "
                       f"({s.config.default_online_from}):")
            out += store_lines({c.block: c.result for c in a.onlined}, st, "    ", style)
    elif isinstance(e, DimmRemove):
        out.append(f"eject DIMM {e.id} (ACPI eject request)")
        if step.unknown and step.eject is None:
            out.append(f"  unknown: {step.unknown}")
        elif step.refused:
            out.append(f"  QEMU refuses it: {step.refused}")
        elif step.eject is not None:
            ej = step.eject
            if ej.offlined:
                out.append("  offline its blocks (acpi_scan_try_to_offline):")
                out += store_lines({c.block: c.result for c in ej.offlined}, st, "    ", style)
            if ej.unknown:
                out.append(f"  unknown: {ej.unknown}")
            elif ej.failed is not None:
                out.append("  a block stays online, so the DIMM stays:")
                out += store_lines({ej.failed.block: ej.failed.result}, st, "    ", style)
                if ej.reonlined:
                    out.append("  the blocks it did offline are onlined again "
                               "(acpi_bus_online: plain online):")
                    out += store_lines({c.block: c.result for c in ej.reonlined}, st, "    ", style)
            else:
                plural = "s" if len(ej.removed) > 1 else ""
                out.append(f"  removed: memory block{plural} {id_ranges(ej.removed)}")
                if step.node_offlined is not None:
                    out.append(f"  node {step.node_offlined} has no memory and no CPU left: "
                               "offline (try_offline_node)")
    elif isinstance(e, SetState):
        out.append(f"write {e.state} to memory{e.first}..memory{e.last}")
        if step.unknown:
            out.append(f"  unknown: {step.unknown}")
        elif not step.results:
            out.append("  no such blocks")
        out += store_lines(step.results, st, "  ", style)
    elif isinstance(e, Dump):
        out.append(f"state {e.name}")
        if step.unknown:
            out.append(f"  unknown: {step.unknown}")
        elif step.state is not None:
            out += _state_lines(step.state)
    elif isinstance(e, WaitBlocks):
        out.append(f"memory blocks now: {step.blocks_now if not step.unknown else 'unknown'}")
    return out


def zone_change_lines(step: Step) -> list[str]:
    """What the step did to the zones: span, present and managed before -> after."""
    out = []
    for c in step.zone_changes:
        (s0, sp0, p0, m0), (s1, sp1, p1, m1) = c.before, c.after
        span = (f"[pfn {s1}-{s1 + sp1}) unchanged" if (s0, sp0) == (s1, sp1) else
                f"[pfn {s0}-{s0 + sp0}) -> [pfn {s1}-{s1 + sp1})" if sp0 and sp1 else
                f"now [pfn {s1}-{s1 + sp1})" if sp1 else "now empty")
        out.append(f"  zone {c.zone} of node {c.nid}: span {span}; present {p0} -> {p1}, "
                   f"managed {m0} -> {m1}")
    return out


def _state_lines(state: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for nid, zones in state["zoneinfo"].items():
        for name, z in zones.items():
            if z["spanned"]:
                out.append(f"  node {nid} {name:<8} start_pfn {z['start_pfn']:>8} spanned "
                           f"{z['spanned']:>8} present {z['present']:>8} managed "
                           f"{z['managed']:>8}")
    groups: list[tuple[tuple[str, str, str], list[int]]] = []
    for bid, b in sorted(state["memory_blocks"].items(), key=lambda kv: int(kv[0])):
        k = (b["state"], ",".join(b["valid_zones"]), ",".join(map(str, b["nodes"])))
        if groups and groups[-1][0] == k and groups[-1][1][-1] == int(bid) - 1:
            groups[-1][1].append(int(bid))
        else:
            groups.append((k, [int(bid)]))
    for (state_, zones_, nodes), ids in groups:
        out.append(f"  memory{id_ranges(ids):<10} {state_:<8} valid_zones {zones_:<16} "
                   f"node {nodes}")
    return out


def render(s: Session, style: Style) -> str:
    """The steps, for people."""
    c = s.config
    lines = ["", "After boot:",
             f"  hot-added memory is onlined as: {c.default_online_type} "
             f"({c.default_online_from})",
             f"  online policy: {c.online_policy}"
             + (f" (auto_movable_ratio {c.auto_movable_ratio}%, numa-aware "
                f"{'yes' if c.auto_movable_numa_aware else 'no'})"
                if c.online_policy == "auto-movable" else ""),
             f"  movable_node: {'yes' if c.movable_node else 'no'}; memmap_on_memory: "
             f"{'force' if c.memmap_force else 'yes' if c.memmap_on_memory else 'no'}",
             f"  device memory: [mem {s.region.base:#x}-"
             + (f"{s.region.end - 1:#x}]" if s.region.end else "...]")
             + f" ({s.region.source})"]
    for i, step in enumerate(s.steps, 1):
        body = step_lines(step, s, style) + zone_change_lines(step)
        lines.append(f"{i:>2}. {body[0]}")
        lines += [f"    {ln}" for ln in body[1:]]
    lines += [f"note: {n}" for n in s.notes]
    return "\n".join(lines) + "\n"


def _choice_json(ch: mh.ZoneChoice | None) -> dict[str, Any] | None:
    if ch is None:
        return None
    return {"zone": ZONE_NAMES[ch.zone], "online_type": ch.online_type, "rule": ch.rule,
            "why": mh.ZONE_RULES[ch.rule], "group_pages": ch.group_pages,
            "checks": [{"scope": "system" if c.nid is None else f"node {c.nid}",
                        "movable_pages": c.movable_pages,
                        "kernel_early_pages": c.kernel_early_pages, "ratio": c.ratio,
                        "limit_pages": c.limit, "fits": c.fits} for c in ch.checks]}


def _store_json(r: StoreResult) -> dict[str, Any]:
    out: dict[str, Any] = {"result": {True: "ok", False: "failed", None: "unknown"}[r.ok]}
    if r.choice is not None:
        out["zone_choice"] = _choice_json(r.choice)
    if r.offline is not None:
        out["offline"] = {"result": r.offline.result, "cause": r.offline.cause,
                          "why": mh.OFFLINE_CAUSES[r.offline.cause],
                          "boot_cause": r.offline.boot_cause or None,
                          "detail": r.offline.detail}
    return out


def step_json(step: Step) -> dict[str, Any]:
    e = step.event
    out: dict[str, Any] = {"event": type(e).__name__, **{k: v for k, v in vars(e).items()}}
    if step.command:
        out["run"] = step.command
    if step.unknown:
        out["unknown"] = step.unknown
    if step.refused:
        out["refused"] = step.refused
    if step.addr is not None:
        out["addr"] = step.addr
        out["placed_by"] = step.placed_by or "given"
    if step.add is not None:
        a = step.add
        out.update(blocks=list(a.add.blocks), error=a.add.error, node=a.nid,
                   node_onlined=a.add.node_onlined, vmemmap_pages_per_block=a.add.vmemmap_pages,
                   onlined={str(c.block): _store_json(c.result) for c in a.onlined})
    if step.eject is not None:
        ej = step.eject
        out.update(offlined={str(c.block): _store_json(c.result) for c in ej.offlined},
                   failed=({str(ej.failed.block): _store_json(ej.failed.result)}
                           if ej.failed else None),
                   reonlined={str(c.block): _store_json(c.result) for c in ej.reonlined},
                   removed=ej.removed, node_offlined=step.node_offlined)
    if step.results:
        out["results"] = {str(b): _store_json(r) for b, r in step.results.items()}
    out["zone_changes"] = [
        {"node": c.nid, "zone": c.zone,
         **{f"{k}_{when}": v for when, vals in (("before", c.before), ("after", c.after))
            for k, v in zip(("start_pfn", "spanned", "present", "managed"), vals,
                            strict=True)}} for c in step.zone_changes]
    return out


def render_json(b: Boot, s: Session) -> str:
    """facts.py's schema: the boot (with the DIMMs present at boot), ``runtime``, and the
    steps with their causes."""
    f = json_facts.facts(b)
    f["zoneinfo"] = s.boot_state["zoneinfo"]
    f["memory_blocks"] = s.boot_state["memory_blocks"]
    f["runtime"] = runtime_facts(s)
    c = s.config
    f["hotplug_config"] = {
        "default_online_type": c.default_online_type,
        "default_online_from": c.default_online_from, "online_policy": c.online_policy,
        "auto_movable_ratio": c.auto_movable_ratio,
        "auto_movable_numa_aware": c.auto_movable_numa_aware,
        "memmap_on_memory": "force" if c.memmap_force else c.memmap_on_memory,
        "movable_node": c.movable_node,
        "device_memory": {"base": s.region.base, "size": s.region.size,
                          "source": s.region.source}}
    f["runtime_steps"] = [step_json(st) for st in s.steps]
    f["notes"] = list(f.get("notes", [])) + s.notes
    return json.dumps(f, indent=1 if len(b.blocks) < 2048 else None)


def advice_text(adds: list[DimmAdd], options: list[HotplugOption], style: Style) -> str:
    """advise --hot-add for people: per command line, each DIMM's zone, whether it comes
    out again, and the kernel memory it costs."""
    plan = ", ".join(f"{style.size(a.size)} on node {a.node}" for a in adds)
    lines = [f"Hot-adding {plan} later; each command line tried (the machine's own, without "
             "its hotplug parameters, plus):", ""]
    for o in options:
        mark = "WORKS" if o.works else "no"
        lines.append(f"[{mark}] {o.added}")
        for f in o.dimms:
            where = ", ".join(f.zones) if f.zones else "not added"
            rule = f" ({mh.ZONE_RULES[f.rule]})" if f.rule else ""
            lines.append(f"    {f.dimm} {style.size(f.size)} node {f.node}: {where}{rule}")
            lines.append(f"      removable: {f.removed}")
            if f.movable_room is not None:
                lines.append(f"      auto-movable would take up to {style.size(f.movable_room)}"
                             " more as MOVABLE here: smaller DIMMs, or a higher "
                             "memory_hotplug.auto_movable_ratio")
            if f.memmap_on_dimm:
                lines.append(f"      cost: its memmap, {style.size(f.memmap_on_dimm)}, lives on "
                             "the DIMM itself (memmap_on_memory): no kernel memory")
            elif f.memmap_kernel:
                lines.append(f"      cost: {style.size(f.memmap_kernel)} of kernel memory for "
                             "its memmap (struct pages), allocated at hot-add")
            if f.memmap_why_not:
                lines.append(f"      memmap_on_memory does not apply: {f.memmap_why_not}")
        lines.append(f"    boot: kernel {style.size(o.boot_kernel)}, movable "
                     f"{style.size(o.boot_movable)}; MOVABLE:KERNEL after the hot-add "
                     f"{o.ratio_after:.2f}:1")
        lines += [f"    warning: {w}" for w in o.warnings]
        lines.append("")
    return "\n".join(lines)


def advice_json(adds: list[DimmAdd], options: list[HotplugOption]) -> str:
    return json.dumps({
        "hot_add": [{"id": a.id, "size": a.size, "node": a.node, "addr": a.addr}
                    for a in adds],
        "options": [{"cmdline": o.cmdline, "added": o.added, "works": o.works,
                     "boot_kernel": o.boot_kernel, "boot_movable": o.boot_movable,
                     "ratio_after": o.ratio_after if o.ratio_after != float("inf") else None,
                     "warnings": list(o.warnings),
                     "dimms": [vars(f) for f in o.dimms]} for o in options]}, indent=1)
