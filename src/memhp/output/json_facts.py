# SPDX-License-Identifier: GPL-2.0-or-later
"""The JSON facts of a prediction, in the schema of the corpus' tools/facts.py."""

from __future__ import annotations

import json
from typing import Any

from memhp.kernel.setup import Boot

__all__ = ["MAX_BLOCKS_LISTED", "facts", "memory_block_runs", "memory_blocks", "render", "zoneinfo"]


def zoneinfo(boot: Boot) -> dict[str, dict[str, dict[str, int]]]:
    """/proc/zoneinfo: {node: {zone: {start_pfn, spanned, present, managed}}}."""
    assert boot.zones is not None
    out: dict[str, dict[str, dict[str, int]]] = {}
    for nid, node in sorted(boot.zones.nodes.items()):
        out[str(nid)] = {}
        for z in node.zones:
            zi = {"start_pfn": z.start_pfn, "spanned": z.spanned, "present": z.present}
            if boot.managed and not boot.unknown_fact("managed"):
                zi["managed"] = boot.managed.get((nid, z.idx), 0)
            out[str(nid)][z.name] = zi
    return out


MAX_BLOCKS_LISTED = 1 << 16  # beyond this many blocks, per-block detail comes as runs only


def memory_block_runs(boot: Boot) -> list[dict[str, Any]]:
    """The blocks as runs of alike ones, with their offline verdict: ``first`` id,
    ``count``, and what every block of the run shows."""
    out: list[dict[str, Any]] = []
    for first, count, b in boot.blocks.runs:
        at, end = first, first + count
        while at < end:
            v = boot.offline.by_id(at)
            nxt = min(end, boot.offline.run_end(at)) if v else end
            out.append({"first": at, "count": max(nxt - at, 1), "state": b.state,
                        "valid_zones": b.valid_zones, "nodes": list(b.nodes),
                        "offline": v.result if v else None, "reason": v.reason if v else None})
            at = max(nxt, at + 1)
    return out


def memory_blocks(boot: Boot) -> dict[str, dict[str, Any]]:
    """{id: {state, valid_zones, nodes}} for every sysfs memory block."""
    return {
        str(b.id): {"state": b.state, "valid_zones": b.valid_zones, "nodes": list(b.nodes)}
        for b in boot.blocks
    }


def facts(boot: Boot) -> dict[str, Any]:
    """Everything compare.py can check, plus what memhp knows beyond it."""
    dumps = [{"memory": mem, "reserved": res} for mem, res in boot.dumps]
    listed = len(boot.blocks) <= MAX_BLOCKS_LISTED
    offline = {str(v.block): v.result for v in boot.offline} if listed else None
    reasons = {str(v.block): v.reason for v in boot.offline} if listed else None
    if boot.unknown_fact("memblock_dumps"):
        dumps = []
    return {
        "dmesg": list(boot.log),
        "memblock": dumps[-1] if dumps else None,
        "memblock_dumps": dumps,
        "zoneinfo": zoneinfo(boot),
        "memory_blocks": memory_blocks(boot) if listed else None,  # None: see the runs
        "memory_block_runs": memory_block_runs(boot),
        "offline_trial": offline,
        "offline_reasons": reasons,
        "block_size_bytes": boot.block_size,
        "kernel_profile": boot.profile.name,
        "kernel_profile_chosen": boot.profile.chosen,
        "notes": list(boot.notes),
        "unknown": [{"input": u.input, "why": u.why, "affects": list(u.affects)}
                    for u in boot.unknown],
    }


def render(boot: Boot) -> str:
    """Indented for a machine of corpus size; one line for a big one (it is read by tools)."""
    return json.dumps(facts(boot), indent=1 if len(boot.blocks) < 2048 else None)
