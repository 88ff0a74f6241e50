# SPDX-License-Identifier: GPL-2.0-or-later
"""A readable per-node summary of a prediction, with the reason behind each verdict."""

from __future__ import annotations

from memhp.analysis import kernel_memory_on_node
from memhp.kernel.setup import Boot
from memhp.output.terminal import Style
from memhp.units import human as human
from memhp.units import id_ranges as _ranges

PLAIN = Style()


def render(boot: Boot, style: Style = PLAIN) -> str:
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
        out.append(f"{style.paint('note', 'yellow')}: {note}")
    movable_blocks: dict[int, list[int]] = {}
    for b in boot.blocks:
        if b.zone == "Movable" and len(b.nodes) == 1:
            movable_blocks.setdefault(b.nodes[0], []).append(b.id)
    for nid in sorted(zones.nodes):
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
        elif srat_hot and nid in numa.kernel_nodes:
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
            out.append(f"  NODE_DATA({nid}) at {numa.node_data[nid]:#x}, {where}")
        for z in nz.zones:
            if z.spanned:
                out.append(
                    f"  zone {z.name:<8} [mem {z.start_pfn * ps:#x}-{z.end_pfn * ps - 1:#x}] "
                    f"spanned {z.spanned} present {z.present} pages ({style.size(z.present * ps)})")
        start = zones.zone_movable_pfn.get(nid)
        if start:
            why = ("movable_node: the lowest hotpluggable address" if m.cmdline.movable_node
                   else "kernelcore=/movablecore=")
            out.append(f"  ZONE_MOVABLE starts at {start * ps:#x} ({why}, aligned to "
                       f"{style.size(prof.max_order_nr_pages * ps)})")
        else:
            out.append("  ZONE_MOVABLE: none on this node")
        ids = movable_blocks.get(nid, [])
        total = [b.id for b in boot.blocks if nid in b.nodes]
        out.append(f"  memory blocks ({style.size(boot.block_size)} each): "
                   f"{_ranges(total) or 'none'}; in ZONE_MOVABLE: {_ranges(ids) or 'none'}")
        in_node = set(total)
        verdicts = [v for v in boot.offline if v.block in in_node]
        can = [v.block for v in verdicts if v.result == "offlined"]
        if verdicts:
            out.append(f"  can go offline right after boot: "
                       f"{style.paint(_ranges(can) or 'none', 'green')}")
        for v in verdicts:
            if v.result != "offlined":
                colour = "red" if v.result == "failed" else "yellow"
                out.append(f"    memory{v.block}: {style.paint(v.result, colour)} — {v.reason}")
    return "\n".join(out) + "\n"



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


def explain_block(boot: Boot, block_id: int, style: Style = PLAIN) -> str:
    """``--explain BLOCK``: what lives in one memory block, and whether it can go offline."""
    from memhp.errors import InputError
    from memhp.kernel.setup import reservation_owners

    block = next((b for b in boot.blocks if b.id == block_id), None)
    if block is None:
        ids = [b.id for b in boot.blocks]
        raise InputError("--explain", "BLOCK", block_id,
                         f"no such memory block (have {_ranges(ids)})")
    ps = boot.profile.page_size
    lo, hi = block.start_pfn * ps, (block.start_pfn + block.nr_pages) * ps
    nodes = ", ".join(map(str, block.nodes)) or "none"
    out = [f"memory{block.id}: [mem {lo:#x}-{hi - 1:#x}] ({style.size(hi - lo)}), "
           f"node{'s' if len(block.nodes) != 1 else ''} {nodes}, "
           f"valid_zones {','.join(block.valid_zones)}"]
    out.append("  firmware map:")
    for fw in boot.e820:
        if fw.start < hi and lo < fw.end:
            out.append(f"    [mem {max(fw.start, lo):#x}-{min(fw.end, hi) - 1:#x}] {fw.type}")
    kept = [(max(r.base, lo), min(r.end, hi)) for r in boot.memblock.reserved.regions
            if r.base < hi and lo < r.end]
    out.append("  boot memory the kernel keeps here (memblock.reserved at hand-over):")
    if not kept:
        out.append("    none")
    for what, size in attribute(reservation_owners(boot), kept):
        out.append(f"    {style.size(size):>10}  {what}")
    if boot.sparse_allocs:
        secs: list[int] = []
        owners_nid: set[int] = set()
        for run in boot.sparse_allocs.memmaps:
            hit = run.sections_in(lo, hi)
            if hit:
                secs += hit
                owners_nid.add(run.nid)
        if secs:
            out.append(f"  struct pages of sections {_ranges(secs)} (node "
                       f"{', '.join(map(str, sorted(owners_nid)))})")
    verdict = next((v for v in boot.offline if v.block == block.id), None)
    if verdict:
        out.append(f"  offline right after boot: {verdict.result} — {verdict.reason}")
    return "\n".join(out) + "\n"
