# SPDX-License-Identifier: GPL-2.0-or-later
"""A readable per-node summary of a prediction, with the reason behind each verdict."""

from __future__ import annotations

from memhp.analysis import kernel_memory_on_node, memoryless, movable_reason
from memhp.intervals import intersect
from memhp.kernel.numa import NumaFallback
from memhp.kernel.setup import Boot
from memhp.output.terminal import Style
from memhp.units import human as human
from memhp.units import id_spans

__all__ = ["PLAIN", "human", "render"]

PLAIN = Style()


def render(boot: Boot, style: Style = PLAIN) -> str:
    """The default ``memhp predict`` output."""
    assert boot.numa is not None and boot.zones is not None
    m, prof, numa, zones = boot.machine, boot.profile, boot.numa, boot.zones
    ps = prof.page_size
    out = [
        f"memhp prediction for {m.name or 'machine'} — kernel profile {prof.name} "
        f"(Linux {prof.kernel_version}, {prof.arch})",
        f"profile chosen by {prof.chosen or 'the caller'}",
        f"command line: {m.cmdline.raw or '(empty)'}",
        f"movable_node: {'on' if m.cmdline.movable_node else 'off'}"
        + (f", kernelcore={m.cmdline.kernelcore}" if m.cmdline.kernelcore else "")
        + (f", movablecore={m.cmdline.movablecore}" if m.cmdline.movablecore else ""),
    ]
    if m.efi_boot:
        out.append("firmware: UEFI, " + (f"EFI memory map of {len(m.efi_memmap)} entries"
                                         if m.efi_memmap else "no EFI memory map in the input"))
    if numa.from_srat:
        out.append(f"NUMA: {len(numa.online)} node(s) from the SRAT")
    elif numa.fallback is NumaFallback.NO_SRAT:
        out.append("NUMA: no SRAT, so one fake node covers all memory; nothing is hotpluggable")
    elif numa.fallback is NumaFallback.NUMA_OFF:
        out.append("NUMA: numa=off, so one fake node covers all memory; the kernel ignores "
                   "the SRAT's hotplug ranges")
    else:
        out.append(f"NUMA: the SRAT was rejected ({numa.failure}); one fake node covers all "
                   "memory, so the kernel ignores the SRAT's hotplug ranges")
    for note in boot.notes:
        out.append(f"{style.paint('note', 'yellow')}: {note}")
    offlined = boot.offline.spans(lambda v: v.result == "offlined")
    stuck = boot.offline.spans(lambda v: v.result != "offlined")
    for nid in sorted(zones.nodes):
        if memoryless(boot, nid):  # its empty zones (7.x): explain --node says what it is
            continue
        nz = zones.nodes[nid]
        regions = [r for r in boot.memblock.memory.regions if r.nid == nid]
        ram = sum(r.size for r in regions)
        out.append("")
        out.append(f"Node {nid}: {style.size(ram)} of RAM in {len(regions)} range(s), "
                   f"[mem {nz.start_pfn * ps:#x}-{nz.end_pfn * ps - 1:#x}]")
        hot = [(s, e) for s, e, n in boot.hotplug if n == nid]
        srat_hot = numa.srat is not None and any(
            e.hotpluggable and e.enabled and numa.srat.pxm_to_node.get(e.pxm) == nid
            for e in (m.srat.memory if m.srat else ())
        ) and numa.from_srat
        if hot:
            out.append(f"  hotpluggable: {style.size(sum(e - s for s, e in hot))} keeps the SRAT "
                       "hot-pluggable flag (no kernel memory on this node)")
        elif srat_hot and nid in numa.kernel_memory:
            out.append("  hotpluggable: no — the SRAT marks it hot-pluggable, but the node holds "
                       "kernel memory, so the kernel clears the flag for the whole node:")
            out.extend(f"    {r}" for r in kernel_memory_on_node(boot, nid)[:6])
        else:
            out.append("  hotpluggable: no — the SRAT does not mark its memory hot-pluggable"
                       if numa.from_srat else "  hotpluggable: no — no NUMA information in use")
        home = numa.node_data_home.get(nid)
        if nid in numa.node_data:
            where = ("on its own memory" if home == nid
                     else f"on node {home} (its memory is all hotpluggable)")
            at = ("at an unknown address (see the notes)" if boot.unknown_fact("node_data")
                  else f"at {numa.node_data[nid]:#x}")
            out.append(f"  NODE_DATA({nid}) {at}, {where}")
        for z in nz.zones:
            if z.spanned:
                out.append(
                    f"  zone {z.name:<8} [mem {z.start_pfn * ps:#x}-{z.end_pfn * ps - 1:#x}] "
                    f"spanned {z.spanned} present {z.present} pages ({style.size(z.present * ps)})")
        start = zones.zone_movable_pfn.get(nid)
        if start:
            out.append(f"  ZONE_MOVABLE starts at {start * ps:#x} "
                       f"({movable_reason(zones, nid)}, aligned to "
                       f"{style.size(prof.max_order_nr_pages * ps)})")
        else:
            out.append("  ZONE_MOVABLE: none on this node")
        total = boot.blocks.on_node(nid)
        ids = boot.blocks.on_node(nid, "Movable")
        out.append(f"  memory blocks ({style.size(boot.block_size)} each): "
                   f"{id_spans(total) or 'none'}; in ZONE_MOVABLE: {id_spans(ids) or 'none'}")
        if len(boot.offline) and total:
            can = intersect(total, offlined)
            out.append(f"  can go offline right after boot: "
                       f"{style.paint(id_spans(can) or 'none', 'green')}")
        for s, e in intersect(total, stuck):  # a line per run of blocks alike
            for first, count, v in boot.offline.runs_from(s):
                lo, hi = max(first, s), min(first + count, e)
                if lo >= e:
                    break
                colour = "red" if v.result == "failed" else "yellow"
                out.append(f"    memory{id_spans([(lo, hi)])}: "
                           f"{style.paint(v.result, colour)} — {v.reason}")
    return "\n".join(out) + "\n"
