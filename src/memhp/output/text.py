# SPDX-License-Identifier: GPL-2.0-or-later
"""A readable per-node summary of a prediction, with the reason behind each verdict."""

from __future__ import annotations

from memhp.kernel import memblock as mbk
from memhp.kernel.setup import Boot


def human(n: int) -> str:
    """Bytes in binary units: 1.5 GiB, 640 KiB."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n} B"


def _ranges(ids: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    pairs: list[list[int]] = []
    for i in sorted(ids):
        if pairs and pairs[-1][1] == i - 1:
            pairs[-1][1] = i
        else:
            pairs.append([i, i])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in pairs)


def node_reservations(boot: Boot, nid: int) -> list[str]:
    """The named boot reservations that lie on node ``nid`` (why it is a kernel node)."""
    assert boot.numa is not None
    spans = [(b.start, b.end) for b in boot.numa.meminfo if b.nid == nid]
    hits = []
    for start, end, what in boot.reservations:
        if any(start < e and s < end for s, e in spans):
            hits.append(f"{what} at {start:#x}-{end - 1:#x}")
    return hits


def render(boot: Boot) -> str:
    """The default ``memhp predict`` output."""
    assert boot.numa is not None and boot.zones is not None
    m, prof, numa, zones = boot.machine, boot.profile, boot.numa, boot.zones
    ps = prof.page_size
    out = [
        f"memhp prediction for {m.name or 'machine'} — kernel profile {prof.name} "
        f"(Linux {prof.kernel_version}, {prof.arch})",
        f"command line: {m.cmdline.raw or '(empty)'}",
        f"movable_node: {'on' if m.cmdline.movable_node else 'off'}"
        + (f", kernelcore={m.cmdline.kernelcore}" if m.cmdline.kernelcore else "")
        + (f", movablecore={m.cmdline.movablecore}" if m.cmdline.movablecore else ""),
    ]
    if numa.from_srat:
        out.append(f"NUMA: {len(numa.online)} node(s) from the SRAT")
    elif m.srat is None:
        out.append("NUMA: no SRAT, so one fake node covers all memory; nothing is hotpluggable")
    else:
        out.append(f"NUMA: the SRAT was rejected ({numa.failure}); one fake node covers all "
                   "memory, so the kernel ignores the SRAT's hotplug ranges")
    for note in boot.notes:
        out.append(f"note: {note}")
    movable_blocks: dict[int, list[int]] = {}
    for b in boot.blocks:
        if b.zone == "Movable" and len(b.nodes) == 1:
            movable_blocks.setdefault(b.nodes[0], []).append(b.id)
    for nid in sorted(zones.nodes):
        nz = zones.nodes[nid]
        regions = [r for r in boot.memblock.memory.regions if r.nid == nid]
        ram = sum(r.size for r in regions)
        out.append("")
        out.append(f"Node {nid}: {human(ram)} of RAM in {len(regions)} range(s), "
                   f"[mem {nz.start_pfn * ps:#x}-{nz.end_pfn * ps - 1:#x}]")
        hot = [r for r in regions if r.flags & mbk.MEMBLOCK_HOTPLUG]
        srat_hot = numa.srat is not None and any(
            e.hotpluggable and e.enabled and numa.srat.pxm_to_node.get(e.pxm) == nid
            for e in (m.srat.memory if m.srat else ())
        ) and numa.from_srat
        if hot:
            out.append(f"  hotpluggable: {human(sum(r.size for r in hot))} keeps the SRAT "
                       "hot-pluggable flag (no kernel memory on this node)")
        elif srat_hot and nid in numa.kernel_nodes:
            out.append("  hotpluggable: no — the SRAT marks it hot-pluggable, but the node holds "
                       "kernel memory, so the kernel clears the flag for the whole node:")
            out.extend(f"    {r}" for r in node_reservations(boot, nid)[:6])
        else:
            out.append("  hotpluggable: no — the SRAT does not mark its memory hot-pluggable"
                       if numa.from_srat else "  hotpluggable: no — no NUMA information in use")
        home = numa.node_data_home.get(nid)
        if nid in numa.node_data:
            where = ("on its own memory" if home == nid
                     else f"on node {home} (its memory is all hotpluggable)")
            out.append(f"  NODE_DATA({nid}) at {numa.node_data[nid]:#x}, {where}")
        for z in nz.zones:
            if z.spanned:
                out.append(
                    f"  zone {z.name:<8} [mem {z.start_pfn * ps:#x}-{z.end_pfn * ps - 1:#x}] "
                    f"spanned {z.spanned} present {z.present} pages ({human(z.present * ps)})")
        start = zones.zone_movable_pfn.get(nid)
        if start:
            why = ("movable_node: the lowest hotpluggable address" if m.cmdline.movable_node
                   else "kernelcore=/movablecore=")
            out.append(f"  ZONE_MOVABLE starts at {start * ps:#x} ({why}, aligned to "
                       f"{human(prof.max_order_nr_pages * ps)})")
        else:
            out.append("  ZONE_MOVABLE: none on this node")
        ids = movable_blocks.get(nid, [])
        total = [b.id for b in boot.blocks if nid in b.nodes]
        out.append(f"  memory blocks ({human(boot.block_size)} each): {_ranges(total) or 'none'}; "
                   f"in ZONE_MOVABLE: {_ranges(ids) or 'none'}")
    return "\n".join(out) + "\n"
