# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp replay``: feed every memblock request of a real ``memblock=debug`` log to the
model and check each lands where the real kernel put it.

The memblock state comes from the log's firmware lines and the model's boot sequence
(``memhp.kernel.setup``); what the log does not say — the current limit, bottom-up or
top-down, NUMA nodes and hotplug flags, NODE_DATA — comes from the model too.  Only the
requests themselves (size, alignment, node, range) and the plain reservations, frees and
additions are read from the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from memhp.firmware.bootlog import dmesg_section
from memhp.firmware.logline import strip_prefix
from memhp.kernel import memblock as mbk
from memhp.kernel import setup
from memhp.kernel.e820 import ISA_END_ADDRESS, e820_memblock_done
from memhp.kernel.numa import initmem_init
from memhp.kernel.profile import KernelProfile, choose_profile
from memhp.kernel.realmode import real_mode_reserved
from memhp.kernel.state import Boot

__all__ = ["LogEvent", "ReplayResult", "parse_memblock_log", "render", "replay", "replay_log"]

_REQUEST = re.compile(
    r"^memblock_(alloc_try_nid|alloc_try_nid_raw|alloc_exact_nid_raw|phys_alloc_range): "
    r"(\d+) bytes align=(0x[0-9a-f]+)(?: nid=(-?\d+))? from=(0x[0-9a-f]+) "
    r"max_addr=(0x[0-9a-f]+) (\S+)$")
# 6.1 logs memblock_reserve(); later kernels log __memblock_reserve() with the node and the
# flags the reservation gets (the memblock flag MEMBLOCK_RSRV_KERN is 0x20), as
# memblock_add_node() always did.
_RANGE = re.compile(
    r"^(?:__)?memblock_(reserve|phys_free|add|add_node|remove): "
    r"\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\](?: nid=(-?\d+) flags=([0-9a-f]+))? (\S+)$")
_REGION = re.compile(
    r"^\s*(memory|reserved)\[0x[0-9a-f]+\]\s+\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\], (0x[0-9a-f]+) bytes"
    r"(?: on node (\d+))? flags: (0x[0-9a-f]+)")
_MARKERS = ("RAMDISK: ", "ACPI: ", "SRAT: ", "NUMA: ", "No NUMA configuration found",
            "NUMA turned off")


@dataclass(frozen=True)
class LogEvent:
    """One memblock line of the log (or a marker line the replay steers by)."""

    kind: str  # request, reserve, phys_free, add, remove, dump, marker
    base: int = 0
    size: int = 0
    align: int = 0
    nid: int = mbk.NUMA_NO_NODE
    flags: int = 0  # of a reservation or addition, where the log gives them
    lo: int = 0
    hi: int = 0
    what: str = ""  # request kind, caller, or marker text
    caller: str = ""
    dump: tuple[tuple[tuple[int, int, int | None, int], ...], ...] = ()
    line: int = 0


def _caller(text: str) -> str:
    """``vmemmap_alloc_block_zero.constprop.0+0xc/0x28`` -> ``vmemmap_alloc_block_zero``."""
    return re.sub(r"\.(?:constprop|isra|part|cold)(?:\.\d+)?", "", text.split("+", 1)[0])


_DUMP_LINE = re.compile(r"^\s+(?:memory|reserved)(?:\[|\.cnt)")


def _dump_resumes(lines: list[str], j: int, most: int = 4) -> int | None:
    """Where a memblock dump goes on after line ``j``, which is not one of its lines: the
    serial console prints kernel messages while user space prints the log, so a corpus
    log's dmesg copy can have a few of them inside a dump.  None: the dump ended."""
    for k in range(j + 1, min(j + 1 + most, len(lines))):
        if _DUMP_LINE.match(lines[k]):
            return k
        if lines[k].startswith((" ", "\t")):
            return None
    return None


def parse_memblock_log(text: str) -> list[LogEvent]:
    """The memblock requests, reservations, frees, additions, dumps and steering markers
    of a log, in order."""
    events: list[LogEvent] = []
    lines = [strip_prefix(ln.rstrip()) for ln in dmesg_section(text).splitlines()]
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = _REQUEST.match(ln)
        if m:
            events.append(LogEvent("request", size=int(m[2]), align=int(m[3], 16),
                                   nid=int(m[4]) if m[4] is not None else mbk.NUMA_NO_NODE,
                                   lo=int(m[5], 16), hi=int(m[6], 16), what=m[1],
                                   caller=_caller(m[7]), line=i + 1))
        elif (m := _RANGE.match(ln)):
            base, last = int(m[2], 16), int(m[3], 16)
            events.append(LogEvent("add" if m[1] == "add_node" else m[1], base, last - base + 1,
                                   nid=int(m[4]) if m[4] is not None else mbk.NUMA_NO_NODE,
                                   flags=int(m[5], 16) if m[5] is not None else 0,
                                   caller=_caller(m[6]), line=i + 1))
        elif ln.startswith("MEMBLOCK configuration:"):
            regions: dict[str, list[tuple[int, int, int | None, int]]] = {"memory": [],
                                                                          "reserved": []}
            j = i + 1
            while j < len(lines):
                if not lines[j].startswith((" ", "\t")):
                    resumes = _dump_resumes(lines, j)
                    if resumes is None:
                        break
                    j = resumes
                r = _REGION.match(lines[j])
                if r:
                    regions[r[1]].append((int(r[2], 16), int(r[4], 16),
                                          int(r[5]) if r[5] else None, int(r[6], 16)))
                j += 1
            events.append(LogEvent("dump", dump=(tuple(regions["memory"]),
                                                 tuple(regions["reserved"])), line=i + 1))
            i = j - 1
        elif ln.startswith(_MARKERS):
            events.append(LogEvent("marker", what=ln, line=i + 1))
        i += 1
    return events


@dataclass
class ReplayResult:
    """What the replay found: one entry per allocation, and per dump."""

    matched: int = 0
    total: int = 0
    dumps_matched: int = 0
    dumps_total: int = 0
    mismatches: list[str] = field(default_factory=list)
    profile: str = ""
    profile_chosen: str = ""
    notes: list[str] = field(default_factory=list)


def _fmt(base: int, size: int) -> str:
    return f"[{base:#018x}-{base + size - 1:#018x}]" if size else "(failed)"


def _state_around(mb: mbk.Memblock, addr: int) -> str:
    """The reserved regions next to ``addr``, for a mismatch report."""
    regs = mb.reserved.regions
    near = sorted(regs, key=lambda r: abs(r.base - addr))[:3]
    return "; ".join(f"reserved {_fmt(r.base, r.size)}" for r in sorted(near, key=lambda r: r.base))


def _perform(mb: mbk.Memblock, ev: LogEvent) -> int:
    """The request as the kernel's allocator API would run it."""
    if ev.what == "phys_alloc_range":
        return mbk.memblock_alloc_range_nid(mb, ev.size, ev.align, ev.lo, ev.hi,
                                            mbk.NUMA_NO_NODE, False, ev.caller)
    return mbk.memblock_alloc_internal(mb, ev.size, ev.align, ev.lo, ev.hi, ev.nid,
                                       ev.what == "alloc_exact_nid_raw", ev.caller)


def _reserve_as_logged(mb: mbk.Memblock, ev: LogEvent) -> None:
    """Put the kernel's own reservation of an allocation in place (where memhp's differed)."""
    mbk.memblock_add_range(mb.reserved, ev.base, ev.size, ev.nid if ev.nid >= 0 else None,
                           ev.flags)


def replay(text: str, b: Boot) -> ReplayResult:
    """Run the log's memblock calls on the model, ``b`` fresh from setup.setup_start()."""
    mb = b.memblock
    events = parse_memblock_log(text)
    res = ReplayResult(profile=b.profile.name, profile_chosen=b.profile.chosen,
                       notes=list(b.notes))
    phase = "early"  # early -> e820 -> mapped -> numa
    implicit: list[tuple[int, int]] = []  # allocations the model made itself (NODE_DATA)
    i = 0
    while i < len(events):
        ev = events[i]
        if ev.kind == "add" and phase == "early":
            mb.current_limit = ISA_END_ADDRESS
            phase = "e820"
        if ev.kind == "marker" and phase == "e820" and ev.what.startswith(("RAMDISK", "ACPI")):
            setup.mapped_limit(b)
            phase = "mapped"
        if (ev.kind == "marker" and phase == "mapped"
                and ev.what.startswith(("SRAT: ", "ACPI: SRAT: ", "NUMA", "No NUMA"))):
            before = len(mb.events)
            initmem_init(b)
            implicit = [(e.base, e.size) for e in mbk.each_event(mb.events[before:])
                        if e.kind == "alloc"]
            phase = "numa"
        if ev.kind == "dump":
            if res.dumps_total == 0:
                e820_memblock_done(mb, b.profile)
            res.dumps_total += 1
            ours = (tuple(tuple(r) for r in mbk.snapshot(mb.memory)),
                    tuple(tuple(r) for r in mbk.snapshot(mb.reserved)))
            if ours == ev.dump:
                res.dumps_matched += 1
            else:
                res.mismatches.append(f"line {ev.line}: MEMBLOCK configuration dump "
                                      f"#{res.dumps_total} differs")
        elif ev.kind == "request":
            nxt = events[i + 1] if i + 1 < len(events) else None
            landed = (nxt is not None and nxt.kind == "reserve"
                      and nxt.caller == "memblock_alloc_range_nid")
            expected = (nxt.base, nxt.size) if landed and nxt is not None else (0, 0)
            got = _perform(mb, ev)
            res.total += 1
            if got == expected[0]:
                res.matched += 1
            else:
                res.mismatches.append(
                    f"line {ev.line}: {ev.what} {ev.size} bytes align={ev.align:#x} nid={ev.nid} "
                    f"from={ev.lo:#x} max_addr={ev.hi:#x} {ev.caller}: kernel "
                    f"{_fmt(*expected)}, memhp {_fmt(got, ev.size if got else 0)}; around: "
                    f"{_state_around(mb, expected[0] or got)}")
                if got:  # carry on from the kernel's state, not ours
                    mbk.memblock_remove_range(mb.reserved, got, ev.size)
                if expected[1] and nxt is not None:
                    _reserve_as_logged(mb, nxt)
            if expected[1]:
                i += 1  # that reserve line was this request's
        elif ev.kind == "reserve" and ev.caller == "memblock_alloc_range_nid":
            res.total += 1  # an allocation without a request line: the model made it
            if implicit and implicit[0] == (ev.base, ev.size):
                res.matched += 1
                implicit.pop(0)
            else:
                res.mismatches.append(f"line {ev.line}: kernel allocated {_fmt(ev.base, ev.size)}"
                                      f" (no request line), memhp "
                                      f"{_fmt(*implicit[0]) if implicit else 'nothing'}")
                if implicit:
                    mbk.memblock_remove_range(mb.reserved, *implicit.pop(0))
                _reserve_as_logged(mb, ev)
        elif ev.kind == "reserve":
            mbk.memblock_reserve(mb, ev.base, ev.size, ev.caller, ev.nid, ev.flags)
            if ev.caller == "reserve_real_mode":  # its reservation of the first 1M (7.x)
                real_mode_reserved(b)
        elif ev.kind == "phys_free":
            mbk.memblock_phys_free(mb, ev.base, ev.size, ev.caller)
        elif ev.kind == "add":
            mbk.memblock_add(mb, ev.base, ev.size, ev.caller)
        elif ev.kind == "remove":
            mbk.memblock_remove(mb, ev.base, ev.size)
        i += 1
    return res


def replay_log(text: str, source: str, srat_path: str | None,
               profile: str | KernelProfile | None = None) -> ReplayResult:
    """Replay a log file: its firmware lines (plus an SRAT file, else the log's SRAT lines)
    build the machine; the profile is ``profile`` (a name: ``--profile``), else the one for
    the log's ``Linux version``."""
    from memhp.firmware import acpi, bootlog

    machine = bootlog.machine_from_boot_log(
        text, source, srat=acpi.load_srat(srat_path) if srat_path else None)
    prof = (profile if isinstance(profile, KernelProfile)
            else choose_profile(profile, machine.kernel, "the log's Linux version"))
    return replay(text, setup.setup_start(machine, prof))


def render(res: ReplayResult) -> str:
    lines = [f"kernel profile {res.profile} ({res.profile_chosen})"] if res.profile else []
    lines += [f"note: {n}" for n in res.notes]
    lines += res.mismatches
    lines.append(f"dumps matched: {res.dumps_matched}/{res.dumps_total}")
    lines.append(f"allocations matched: {res.matched}/{res.total}")
    return "\n".join(lines) + "\n"
