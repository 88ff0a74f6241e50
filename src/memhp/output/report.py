# SPDX-License-Identifier: GPL-2.0-or-later
"""Text and JSON renderings of ``memhp explain``, ``compare`` and ``advise``."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from memhp.analysis import AbsentNode, Advice, BlockVerdict, NodeVerdict, Outcome, differences
from memhp.output.terminal import Style, table
from memhp.units import id_ranges

__all__ = ["absent_text", "addr_text", "advice_text", "block_text", "compare_text", "node_text",
           "plain", "to_json"]



def plain(o: Any) -> Any:
    """Dataclasses (nested), lists and dicts as plain JSON values."""
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        d = {f.name: plain(getattr(o, f.name)) for f in dataclasses.fields(o)}
        if isinstance(o, Outcome):
            d["ratio"] = None if o.ratio == float("inf") else round(o.ratio, 3)
        return d
    if isinstance(o, (list, tuple)):
        return [plain(x) for x in o]
    if isinstance(o, dict):
        return {str(k): plain(v) for k, v in o.items()}
    return o


def to_json(obj: object) -> str:
    """Dataclasses (nested) as indented JSON."""
    return json.dumps(plain(obj), indent=1) + "\n"


def node_text(v: NodeVerdict, style: Style) -> str:
    verdict = (style.paint("hot-removable", "green") if v.removable
               else style.paint("not hot-removable", "red"))
    out = [f"node {v.nid}: {verdict} ({v.cause})",
           f"  because {v.reason}",
           f"  kernel rule: {v.rule}",
           f"  RAM {style.size(v.ram)}: kernel zones {style.size(v.kernel)}, "
           f"ZONE_MOVABLE {style.size(v.movable)}"]
    if v.movable_start is not None:
        out.append(f"  ZONE_MOVABLE starts at {v.movable_start:#x} ({v.movable_cause})")
    else:
        out.append("  no ZONE_MOVABLE on this node")
    if v.node_data_on is not None:
        out.append(f"  NODE_DATA({v.nid}) lives on node {v.node_data_on}")
    out.append(f"  memory blocks: {v.removable_blocks} of {v.blocks} can go offline"
               + (f"; not: {id_ranges(v.pinned_blocks)}" if v.pinned_blocks else ""))
    return "\n".join(out) + "\n"


def absent_text(a: AbsentNode) -> str:
    what = "online without memory" if a.cause == "memoryless" else "no node after boot"
    return (f"node {a.nid}: {what} ({a.cause})\n  because {a.reason}\n"
            f"  kernel rule: {a.rule}\n")


def block_text(v: BlockVerdict, style: Style) -> str:
    colour = {"offlined": "green", "failed": "red"}.get(v.result, "yellow")
    out = [f"memory{v.block}: [mem {v.start:#x}-{v.end - 1:#x}] ({style.size(v.end - v.start)}),"
           f" node(s) {', '.join(map(str, v.nodes)) or 'none'}, valid_zones {v.zone}",
           "  firmware map:"]
    out += [f"    [mem {s:#x}-{e - 1:#x}] {t}" for s, e, t in v.firmware]
    out.append("  boot memory the kernel keeps here (memblock.reserved at hand-over):")
    out += [f"    {style.size(size):>10}  {what}" for what, size in v.holds] or ["    none"]
    if v.memmap_sections:
        out.append(f"  struct pages of sections {id_ranges(v.memmap_sections)} (node "
                   f"{', '.join(map(str, v.memmap_nodes))})")
    out.append(f"  offline right after boot: {style.paint(v.result, colour)} ({v.cause})")
    out.append(f"  because {v.reason}")
    return "\n".join(out) + "\n"


def addr_text(info: dict[str, object]) -> str:
    addr = info["address"]
    assert isinstance(addr, int)
    out = [f"{addr:#x}: e820 {info['e820']}"]
    if info.get("ram"):
        out.append(f"  RAM of node {info.get('node')}, zone {info.get('zone')}, "
                   f"memory block {info.get('block')}")
    else:
        out.append("  not RAM the kernel manages")
    if info.get("reserved_by"):
        out.append(f"  kept by the kernel: {info['reserved_by']}")
    return "\n".join(out) + "\n"


def compare_text(outcomes: list[Outcome], style: Style, kernels: bool = False) -> str:
    """Command lines (or, with ``kernels``, kernel generations) side by side, per node."""
    nodes = sorted({n.nid for o in outcomes for n in o.nodes})
    header = ["node"] + [f"[{i + 1}] kernel / movable / removable / NODE_DATA on / memory map"
                         for i in range(len(outcomes))]
    rows = []
    for nid in nodes:
        row = [str(nid)]
        for o in outcomes:
            n = next((x for x in o.nodes if x.nid == nid), None)
            if n is None:
                row.append("-")
                continue
            rem = f"{n.removable_blocks}/{n.blocks}"
            rem = style.paint(rem, "green") if n.removable else rem
            lay = next((x for x in o.layouts if x.nid == nid), None)
            memmap = (f"{style.size(lay.memmap)} on {id_ranges(lay.memmap_on) or '-'}"
                      if lay else "-")
            row.append(f"{style.size(n.kernel)} / {style.size(n.movable)} / {rem} / "
                       f"{n.node_data_on} / {memmap}")
        rows.append(row)
    out = [f"[{i + 1}] " + (f"Linux {o.kernel_version} ({o.profile}): " if kernels else "")
           + (o.cmdline or "(empty)") for i, o in enumerate(outcomes)]
    out += [f"{style.paint('note', 'yellow')} [{i + 1}]: {o.profile_note}"
            for i, o in enumerate(outcomes) if o.profile_note]
    out.append("")
    text = "\n".join(out) + "\n" + table(header, rows, style)
    for i in range(1, len(outcomes)):
        text += f"\nfrom [1] to [{i + 1}]:\n"
        text += "".join(f"  {line}\n" for line in differences(outcomes[0], outcomes[i]))
    return text


def advice_text(a: Advice, style: Style) -> str:
    want = ", ".join(map(str, a.nodes))
    out = [f"to make node(s) {want} hot-removable:"]
    for opt in a.options:
        mark = style.paint("works", "green") if opt.works else style.paint("does not", "red")
        o = opt.outcome
        ratio = "inf" if o.ratio == float("inf") else f"{o.ratio:.2f}"
        out.append(f"  {opt.cmdline or '(empty)'}: {mark}; kernel memory "
                   f"{style.size(o.kernel)}, movable {style.size(o.movable)}, "
                   f"MOVABLE:KERNEL {ratio}:1")
        for n in o.nodes:
            out.append(f"    node {n.nid}: kernel {style.size(n.kernel)}, movable "
                       f"{style.size(n.movable)}, NODE_DATA on node {n.node_data_on}, "
                       f"{n.removable_blocks}/{n.blocks} blocks removable")
        out += [f"    {style.paint('warning', 'yellow')}: {w}" for w in opt.warnings]
    if not any(o.works for o in a.options):
        out.append("no command line works:")
        out += [f"  {w}" for w in a.why_not]
        out.append("firmware changes that would:")
        out += [f"  {f}" for f in a.firmware]
    return "\n".join(out) + "\n"
