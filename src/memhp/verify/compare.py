# SPDX-License-Identifier: GPL-2.0-or-later
"""What a real boot showed, read from the serial log of verify's initramfs, and its
comparison with memhp's prediction, group by group (the groups of the corpus' compare
tool).

The serial log has sections, each opened by a marker line ``=====NAME=====``: DMESG (the
kernel log), ZONEINFO (/proc/zoneinfo), MEMORY_BLOCKS (one line per sysfs memory block),
OFFLINE_TRIAL (``echo offline > state`` for every block; absent when the trial was not
asked for) and END.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from memhp.firmware.bootlog import dmesg_section
from memhp.firmware.logline import kernel_messages

__all__ = ["DMESG_GROUPS", "GROUPS", "GroupResult", "GroupVerdict", "MEMBLOCK_GROUPS", "RealBoot",
           "block_fact", "compare", "dmesg_lines", "first_difference", "memblock_dumps",
           "parse_zoneinfo", "real_boot", "sections"]

DMESG_GROUPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("dmesg:srat", re.compile(r"ACPI: SRAT: Node")),
    ("dmesg:numa", re.compile(r"NUMA: |No NUMA configuration found|Faking a node")),
    ("dmesg:node_data", re.compile(r"\s*NODE_DATA\(")),
    ("dmesg:zone_ranges",
     re.compile(r"Zone ranges:|  (?:DMA|DMA32|Normal|Device)\s+(?:\[mem|empty)")),
    ("dmesg:movable_zone_start", re.compile(r"Movable zone start for each node|  Node \d+: 0x")),
    ("dmesg:early_node_ranges", re.compile(r"Early memory node ranges|  node\s+\d+: \[mem")),
    ("dmesg:initmem", re.compile(r"Initmem setup node")),
    ("dmesg:unavailable_ranges",
     re.compile(r"On node \d+, zone \w+: \d+ pages in unavailable ranges")),
)
MEMBLOCK_GROUPS = ("memblock:after_e820", "memblock:after_numa")
GROUPS = (tuple(name for name, _ in DMESG_GROUPS) + MEMBLOCK_GROUPS
          + ("zoneinfo:layout", "zoneinfo:managed", "memory_blocks", "offline_trial"))

OK, DIFFERS, NOT_COMPARED = "ok", "differs", "not compared"

_MARKER = re.compile(r"=====([A-Z_]+)=====")
_REGION = re.compile(r"\s*(memory|reserved)\[0x[0-9a-f]+\]\s+\[(0x[0-9a-f]+)-0x[0-9a-f]+\], "
                     r"(0x[0-9a-f]+) bytes(?: on node (\d+))? flags: (0x[0-9a-f]+)")
_ZONE = re.compile(r"Node (\d+), zone\s+(\w+)")
_ZONE_COUNT = re.compile(r"\s+(spanned|present|managed)\s+(\d+)\s*$")
_START_PFN = re.compile(r"\s+start_pfn:\s+(\d+)\s*$")
_BLOCK = re.compile(r"memory(\d+) state=(\S+) phys_index=\S+ valid_zones=(\S*) nodes=(\S*)")
_TRIAL = re.compile(r"memory(\d+) valid_zones=\S* result=(\w+)")
_BLOCK_SIZE = re.compile(r"block_size_bytes ([0-9a-fA-F]+)")
_PAGE_DUMP = re.compile(r"\bpage:\S+ .*\bpfn:(0x[0-9a-f]+)")
_UNMOVABLE = re.compile(r"page dumped because: unmovable page")


def sections(text: str) -> dict[str, list[str]]:
    """The lines of each marked section (the first section of each name)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            current = [] if m.group(1) not in out else None
            if current is not None:
                out[m.group(1)] = current
            continue
        if current is not None:
            current.append(line)
    return out


@dataclass
class RealBoot:
    """The comparable facts of a real boot."""

    dmesg: list[str] = field(default_factory=list)  # no timestamps, no trailing blanks
    memblock_dumps: list[dict[str, list[list[int | None]]]] = field(default_factory=list)
    zoneinfo: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    memory_blocks: dict[str, dict[str, Any]] = field(default_factory=dict)
    offline_trial: dict[str, str] | None = None  # None: no trial in this boot
    # pfns of the pages the kernel reported as unmovable while offlining each block
    unmovable: dict[str, list[int]] = field(default_factory=dict)
    complete: bool = False  # the END marker was reached


def dmesg_lines(lines: list[str]) -> list[str]:
    """Kernel log lines as compared: the messages of a log in any pasted form (dmesg,
    journalctl, syslog: :func:`kernel_messages`), no stamps, no trailing blanks."""
    return kernel_messages("\n".join(lines)).text.splitlines()


def memblock_dumps(dmesg: list[str]) -> list[dict[str, list[list[int | None]]]]:
    """The ``MEMBLOCK configuration:`` dumps (memblock=debug) of a kernel log."""
    dumps: list[dict[str, list[list[int | None]]]] = []
    for line in dmesg:
        if line.startswith("MEMBLOCK configuration:"):
            dumps.append({"memory": [], "reserved": []})
            continue
        m = _REGION.match(line)
        if m and dumps:
            kind, base, size, nid, flags = m.groups()
            dumps[-1][kind].append([int(base, 16), int(size, 16), int(nid) if nid else None,
                                    int(flags, 16)])
    return dumps


def parse_zoneinfo(lines: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """/proc/zoneinfo: {node: {zone: {start_pfn, spanned, present, managed}}}."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    zone: dict[str, int] | None = None
    for line in lines:
        mz = _ZONE.match(line)
        if mz:
            zone = out.setdefault(mz.group(1), {}).setdefault(mz.group(2), {})
            continue
        mc = _ZONE_COUNT.match(line)
        ms = _START_PFN.match(line)
        if zone is not None and mc:
            zone[mc.group(1)] = int(mc.group(2))
        elif zone is not None and ms:
            zone["start_pfn"] = int(ms.group(1))
    return out


def block_fact(state: str, valid_zones: str, nodes: list[str]) -> dict[str, Any]:
    """One memory block as compared: its ``state``, its ``valid_zones`` (as sysfs prints
    them, blank- or comma-separated) and its ``nodeN`` links."""
    return {"state": state, "valid_zones": [z for z in re.split(r"[ ,]+", valid_zones) if z],
            "nodes": sorted(int(n.removeprefix("node")) for n in nodes if n)}


def real_boot(text: str) -> RealBoot:
    """The facts of a serial log (a corpus serial.log or one that verify captured)."""
    sec = sections(text)
    rb = RealBoot(complete="END" in sec)
    rb.dmesg = dmesg_lines(dmesg_section(text).splitlines()) if "DMESG" in sec else []
    rb.memblock_dumps = memblock_dumps(rb.dmesg)
    rb.zoneinfo = parse_zoneinfo(sec.get("ZONEINFO", []))
    blocks = {}
    for line in sec.get("MEMORY_BLOCKS", []):
        mb = _BLOCK.match(line.strip())
        if mb:
            num, state, zones, nodes = mb.groups()
            blocks[int(num)] = block_fact(state, zones, nodes.split(","))
    rb.memory_blocks = {str(k): v for k, v in sorted(blocks.items())}
    if "OFFLINE_TRIAL" in sec:
        _offline_trial(rb, sec)
    return rb


def _offline_trial(rb: RealBoot, sec: dict[str, list[str]]) -> None:
    """The results, and the unmovable pages the kernel dumped (``dump_page`` from
    ``has_unmovable_pages``) before each block's result line, where the page lies in that
    block."""
    size = next((int(m.group(1), 16) for m in map(_BLOCK_SIZE.match, sec.get("MEMORY_BLOCKS", []))
                 if m), 0)
    trial: dict[int, str] = {}
    dumped: int | None = None
    pending: list[int] = []
    for line in sec["OFFLINE_TRIAL"]:
        mp = _PAGE_DUMP.search(line)
        if mp:
            dumped = int(mp.group(1), 16)
        elif _UNMOVABLE.search(line) and dumped is not None:
            pending.append(dumped)
            dumped = None
        mt = _TRIAL.search(line)
        if mt:
            block = int(mt.group(1))
            trial[block] = mt.group(2)
            per_block = size >> 12
            mine = [p for p in pending if per_block and p // per_block == block]
            if mine:
                rb.unmovable[str(block)] = mine
            pending, dumped = [], None
    rb.offline_trial = {str(k): v for k, v in sorted(trial.items())}


@dataclass(frozen=True)
class GroupResult:
    """One group: ok, differs (with the first difference) or not compared (and why);
    ``skipped`` counts the items left out of the comparison."""

    name: str
    status: str
    detail: str = ""
    skipped: int = 0


class GroupVerdict:
    """The verdict of a list of group results: exit status 0 when every compared group
    matches (and some group was compared), else 1."""

    groups: list[GroupResult]

    @property
    def compared(self) -> list[GroupResult]:
        return [g for g in self.groups if g.status != NOT_COMPARED]

    @property
    def matched(self) -> int:
        return sum(1 for g in self.compared if g.status == OK)

    @property
    def exit_status(self) -> int:
        return 0 if self.compared and self.matched == len(self.compared) else 1


def first_difference(real: list[Any], pred: list[Any]) -> str:
    """The first differing item of two lists, or "" when they are equal."""
    for i, (a, b) in enumerate(zip(real, pred, strict=False)):
        if a != b:
            return f"#{i}: real {a!r} != predicted {b!r}"
    if len(real) != len(pred):
        n = min(len(real), len(pred))
        extra = real[n] if len(real) > n else pred[n]
        side = "real" if len(real) > n else "predicted"
        return (f"real has {len(real)} items, predicted {len(pred)}; first unmatched "
                f"({side}): {extra!r}")
    return ""


def _result(name: str, diff: str, skipped: int = 0, detail_ok: str = "") -> GroupResult:
    if diff:
        return GroupResult(name, DIFFERS, diff, skipped)
    return GroupResult(name, OK, detail_ok, skipped)


def _zones(name: str, real: dict[str, Any], pred: dict[str, Any],
           keys: tuple[str, ...]) -> GroupResult:
    for node in sorted(set(real) | set(pred), key=int):
        rn, pn = real.get(node, {}), pred.get(node, {})
        for zone in sorted(set(rn) | set(pn)):
            a, b = rn.get(zone, {}), pn.get(zone, {})
            if not a.get("spanned") and not b.get("spanned"):
                continue  # an empty zone on both sides
            for k in keys:
                if a.get(k) != b.get(k):
                    return _result(name, f"node {node} zone {zone} {k}: real {a.get(k)} != "
                                         f"predicted {b.get(k)}")
    return _result(name, "")


def _blocks(name: str, real: dict[str, Any], pred: dict[str, Any],
            skip: set[str] | None = None,
            unmovable: dict[str, list[int]] | None = None) -> GroupResult:
    skip = skip or set()
    ids = sorted((set(real) | set(pred)) - skip, key=int)
    bad = [i for i in ids if real.get(i) != pred.get(i)]
    diff = ""
    if bad:
        many = "blocks differ" if len(bad) > 1 else "block differs"
        diff = (f"{len(bad)} {many}; first memory{bad[0]}: "
                f"real {real.get(bad[0])} != predicted {pred.get(bad[0])}")
        pfns = (unmovable or {}).get(bad[0])
        if pfns:
            diff += (" (the kernel found an unmovable page at pfn "
                     + ", ".join(f"{p:#x}" for p in pfns) + ")")
    ok = ""
    if skip:
        ok = (f"{len(skip)} block{'s' if len(skip) > 1 else ''} not compared "
              f"(memhp: unknown): memory{', memory'.join(sorted(skip, key=int))}")
    return _result(name, diff, len(skip), ok)


def compare(real: RealBoot, pred: dict[str, Any]) -> list[GroupResult]:
    """Every group, in the compare tool's order.  ``pred`` is memhp's JSON facts (as
    ``json_facts.facts`` gives them, after a JSON round trip)."""
    results: list[GroupResult] = []
    pred_dmesg = [str(line).rstrip() for line in pred.get("dmesg", [])]
    for name, rx in DMESG_GROUPS:
        r = [line for line in real.dmesg if rx.match(line)]
        p = [line for line in pred_dmesg if rx.match(line)]
        results.append(_result(name, first_difference(r, p)))
    pdumps = pred.get("memblock_dumps") or []
    for i, name in enumerate(MEMBLOCK_GROUPS):
        if len(pdumps) <= i:
            results.append(GroupResult(name, DIFFERS, "missing from the prediction"))
        elif len(real.memblock_dumps) <= i:
            results.append(GroupResult(name, DIFFERS, "the real log has no such dump "
                                       "(no memblock=debug?)"))
        else:
            diffs = []
            for kind in ("memory", "reserved"):
                d = first_difference(real.memblock_dumps[i][kind], pdumps[i].get(kind, []))
                if d:
                    diffs.append(f"{kind}: {d}")
            results.append(_result(name, "; ".join(diffs)))
    pz = {str(k): {str(z): v for z, v in zs.items()}
          for k, zs in (pred.get("zoneinfo") or {}).items()}
    results.append(_zones("zoneinfo:layout", real.zoneinfo, pz,
                          ("start_pfn", "spanned", "present")))
    results.append(_zones("zoneinfo:managed", real.zoneinfo, pz, ("managed",)))
    pblocks = {str(k): v for k, v in (pred.get("memory_blocks") or {}).items()}
    results.append(_blocks("memory_blocks", real.memory_blocks, pblocks))
    ptrial = {str(k): v for k, v in (pred.get("offline_trial") or {}).items()}
    if real.offline_trial is None:
        results.append(GroupResult("offline_trial", NOT_COMPARED,
                                   "the boot ran no offline trial (no tryoffline)",
                                   len(ptrial)))
    else:
        unknown = {k for k, v in ptrial.items() if v == "unknown"}
        results.append(_blocks("offline_trial", real.offline_trial, ptrial, unknown,
                               real.unmovable))
    return results


RUNTIME_GROUPS = ("runtime:memory_blocks", "runtime:zoneinfo:layout", "runtime:zoneinfo:managed",
                  "runtime:setstate", "runtime:blocks_now")
_RUN = re.compile(r"^=====RUN (.*?)=====\n(.*?)^=====DONE=====", re.S | re.M)
_STATE = re.compile(r"^=====STATE (\S+)=====\n(.*?)^=====END_STATE=====", re.S | re.M)
_SETSTATE = re.compile(r"^memory(\d+) (\S+) result=(\w+) state=(\S+) valid_zones=(\S*)", re.M)
_BLOCKS_NOW = re.compile(r"^blocks now (\d+)", re.M)


def _subsections(body: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        m = re.match(r"-----([A-Z_]+)-----$", line)
        if m:
            current = out.setdefault(m.group(1), [])
        elif current is not None:
            current.append(line)
    return out


def real_runtime(text: str) -> list[dict[str, Any]]:
    """The guest commands of a runtime boot and what each printed, as the corpus'
    facts.py gives them (``run``, and ``state``, ``results`` or ``blocks_now``)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out: list[dict[str, Any]] = []
    for m in _RUN.finditer(text):
        e: dict[str, Any] = {"run": m.group(1)}
        st = _STATE.search(m.group(2))
        if st:
            sub = _subsections(st.group(2))
            rb = real_boot("=====ZONEINFO=====\n" + "\n".join(sub.get("ZONEINFO", []))
                           + "\n=====MEMORY_BLOCKS=====\n"
                           + "\n".join(sub.get("MEMORY_BLOCKS", [])) + "\n=====END=====\n")
            e["state"] = {"name": st.group(1), "zoneinfo": rb.zoneinfo,
                          "memory_blocks": rb.memory_blocks}
        res = {r.group(1): {"result": r.group(3), "state": r.group(4),
                            "valid_zones": [z for z in r.group(5).split(",") if z]}
               for r in _SETSTATE.finditer(m.group(2))}
        if res:
            e["results"] = dict(sorted(res.items(), key=lambda kv: int(kv[0])))
        w = _BLOCKS_NOW.search(m.group(2))
        if w:
            e["blocks_now"] = int(w.group(1))
        out.append(e)
    return out


def compare_runtime(real: list[dict[str, Any]], pred: list[dict[str, Any]] | None
                    ) -> list[GroupResult]:
    """Every runtime group: the first step (by position) where prediction and kernel
    differ; a step or block the prediction leaves unknown is skipped and counted."""
    if pred is None:
        return [GroupResult(g, DIFFERS, "missing from the prediction") for g in RUNTIME_GROUPS]
    diff = dict.fromkeys(RUNTIME_GROUPS, "")
    skipped = dict.fromkeys(RUNTIME_GROUPS, 0)

    def note(group: str, i: int, run: str, result: GroupResult) -> None:
        if result.status == DIFFERS and not diff[group]:
            diff[group] = f"step {i} ({run}): {result.detail}"

    for i, e in enumerate(real):
        q = pred[i] if i < len(pred) else {}
        if q.get("run") != e["run"]:
            for g in RUNTIME_GROUPS:
                note(g, i, e["run"], GroupResult(g, DIFFERS, f"the prediction has "
                                                             f"{q.get('run')!r} here"))
            continue
        if q.get("unknown"):
            for g in RUNTIME_GROUPS:
                skipped[g] += 1
            continue
        if "state" in e:
            st = q.get("state") or {}
            pz = {str(k): v for k, v in (st.get("zoneinfo") or {}).items()}
            note("runtime:memory_blocks", i, e["run"],
                 _blocks("b", e["state"]["memory_blocks"],
                         {str(k): v for k, v in (st.get("memory_blocks") or {}).items()}))
            note("runtime:zoneinfo:layout", i, e["run"],
                 _zones("z", e["state"]["zoneinfo"], pz, ("start_pfn", "spanned", "present")))
            note("runtime:zoneinfo:managed", i, e["run"],
                 _zones("z", e["state"]["zoneinfo"], pz, ("managed",)))
        if "results" in e:
            pres = {str(k): v for k, v in (q.get("results") or {}).items()}
            unk = {k for k, v in pres.items()
                   if v == "unknown" or (isinstance(v, dict) and v.get("result") == "unknown")}
            skipped["runtime:setstate"] += len(unk)
            note("runtime:setstate", i, e["run"], _blocks("s", e["results"], pres, unk))
        if "blocks_now" in e and e["blocks_now"] != q.get("blocks_now"):
            note("runtime:blocks_now", i, e["run"], GroupResult(
                "b", DIFFERS, f"real {e['blocks_now']} != predicted {q.get('blocks_now')}"))
    return [_result(g, diff[g], skipped[g]) for g in RUNTIME_GROUPS]
