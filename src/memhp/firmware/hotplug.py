# SPDX-License-Identifier: GPL-2.0-or-later
"""Events after boot: what the host and the guest's user space do to memory.

Three ways to say them, all giving the same ``Event`` list:

* the ``steps`` of a corpus ``scenario.json`` (QMP commands to QEMU and the initramfs'
  guest commands ``wait_blocks N S``, ``setstate STATE FIRST LAST``, ``dump NAME``), plus
  the DIMMs its ``qemu_args`` plug at boot (``-device pc-dimm``);
* ``[[hotplug]]`` tables of a machine file (see ``memhp.firmware.machine_file``);
* command-line options (``--add 1G@1``, ``--online-movable 40-47``, ``--remove d1``).

A DIMM without an address is placed later by the platform model (QEMU 7.2 pc-dimm
placement, ``memhp.platform.qemu``); the kernel model only ever sees placed DIMMs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memhp.errors import InputError

__all__ = ["DimmAdd", "DimmRemove", "Dump", "Event", "MemSpec", "STATES",
           "SetState", "WaitBlocks", "block_range", "coldplugged", "guest_command", "load_steps",
           "parse_add", "parse_guest", "parse_mem", "parse_steps", "qemu_size"]

STATES = ("online", "online_movable", "online_kernel", "offline")


@dataclass(frozen=True)
class DimmAdd:
    """A DIMM (an ACPI memory device) appears: hot-added, or present at boot."""

    id: str
    size: int
    node: int  # its _PXM, as QEMU's node= property
    addr: int | None = None  # None: the platform places it
    at_boot: bool = False  # cold-plugged (-device pc-dimm): the kernel adds it while booting


@dataclass(frozen=True)
class DimmRemove:
    """The host asks to eject a DIMM (QMP device_del: ACPI eject request)."""

    id: str


@dataclass(frozen=True)
class SetState:
    """``echo STATE > memoryN/state`` for every existing block FIRST..LAST, in sysfs order."""

    state: str
    first: int
    last: int


@dataclass(frozen=True)
class Dump:
    """Read /proc/zoneinfo and the memory blocks (the corpus' ``dump NAME``)."""

    name: str


@dataclass(frozen=True)
class WaitBlocks:
    """Wait until N memory blocks exist (the corpus' ``wait_blocks N SECONDS``)."""

    count: int
    seconds: int = 60


Event = DimmAdd | DimmRemove | SetState | Dump | WaitBlocks



def guest_command(e: Event) -> str | None:
    """The initramfs command line of a guest event (None for a host event)."""
    if isinstance(e, SetState):
        return f"setstate {e.state} {e.first} {e.last}"
    if isinstance(e, Dump):
        return f"dump {e.name}"
    if isinstance(e, WaitBlocks):
        return f"wait_blocks {e.count} {e.seconds}"
    return None


# at most 20 digits: a QEMU size is 64 bits (and int() refuses thousands of digits)
_QEMU_SIZE = re.compile(r"([0-9]{1,20})([bkmgtpe]?)", re.IGNORECASE)
_QEMU_SHIFT = {"": 0, "b": 0, "k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}


def qemu_size(value: object, source: str, field: str, default_shift: int = 0) -> int:
    """A QEMU size (``qemu_strtosz``): an integer, or digits with a B/K/M/G/T/P/E suffix;
    ``default_shift`` is the unit of a bare number (MiB for ``-m``)."""
    size = -1
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        size = value << default_shift
    elif isinstance(value, str):
        m = _QEMU_SIZE.fullmatch(value.strip())
        if m:
            shift = _QEMU_SHIFT[m.group(2).lower()] if m.group(2) else default_shift
            size = int(m.group(1)) << shift
    if size < 0:
        raise InputError(source, field, value, "want a size like 1073741824 or \"1G\"")
    if size >> 64:
        raise InputError(source, field, value, "QEMU sizes are 64-bit: want less than 16E")
    return size


def _props(text: str) -> dict[str, str]:
    """QEMU's ``key=value,key=value`` option syntax; a first bare word is the driver."""
    out: dict[str, str] = {}
    for i, part in enumerate(text.split(",")):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
        elif i == 0 and part:
            out["driver"] = part
    return out


@dataclass(frozen=True)
class MemSpec:
    """QEMU's ``-m SIZE,slots=N,maxmem=SIZE``."""

    ram: int
    slots: int = 0
    maxmem: int = 0


def parse_mem(value: object, source: str) -> MemSpec:
    """``-m`` (a bare number is MiB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return MemSpec(qemu_size(value, source, "mem", 20))
    if not isinstance(value, str):
        raise InputError(source, "mem", value,
                         "want a QEMU -m value like \"4G,slots=4,maxmem=16G\"")
    parts = value.split(",")
    ram = qemu_size(parts[0], source, "mem", 20)
    props = _props(",".join(parts[1:]))
    slots = props.get("slots", "")
    slots_n = int(slots) if re.fullmatch(r"[0-9]{1,10}", slots) else 0  # not str.isdigit: "²"
    maxmem = qemu_size(props["maxmem"], source, "mem.maxmem", 20) if "maxmem" in props else 0
    return MemSpec(ram, slots_n, maxmem)


def _backend_size(backends: dict[str, int], memdev: object, source: str, field: str) -> int:
    if not isinstance(memdev, str) or memdev not in backends:
        raise InputError(source, field, memdev,
                         f"no memory backend of that id (have {sorted(backends)})")
    return backends[memdev]


def _int(value: object, source: str, field: str) -> int:
    if isinstance(value, bool):
        raise InputError(source, field, value, "want an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise InputError(source, field, value, "want an integer")


def coldplugged(qemu_args: list[object], source: str) -> list[DimmAdd]:
    """The ``-device pc-dimm`` of a QEMU command line: DIMMs present at boot."""
    backends: dict[str, int] = {}
    out: list[DimmAdd] = []
    for i, (opt, val) in enumerate(zip(qemu_args, qemu_args[1:], strict=False)):
        if not isinstance(val, str):
            continue
        field = f"qemu_args[{i + 1}]"
        p = _props(val)
        if opt == "-object" and p.get("driver", "").startswith("memory-backend") and "id" in p:
            backends[p["id"]] = qemu_size(p.get("size"), source, field)
        if opt == "-device" and p.get("driver") == "pc-dimm":
            size = _backend_size(backends, p.get("memdev"), source, field)
            addr = _int(p["addr"], source, field) if "addr" in p else None
            out.append(DimmAdd(p.get("id") or f"dimm{len(out)}", size,
                               _int(p.get("node", "0"), source, field), addr, at_boot=True))
    return out


def parse_guest(line: object, source: str, field: str) -> Event:
    """One guest command of the corpus initramfs."""
    words = line.split() if isinstance(line, str) else []
    try:
        if words[:1] == ["dump"] and len(words) == 2:
            return Dump(words[1])
        if words[:1] == ["wait_blocks"] and len(words) == 3:
            return WaitBlocks(int(words[1]), int(words[2]))
        if words[:1] == ["setstate"] and len(words) == 4 and words[1] in STATES:
            return SetState(words[1], int(words[2]), int(words[3]))
    except ValueError:
        pass
    raise InputError(source, field, line, "want 'dump NAME', 'wait_blocks N SECONDS' or "
                     f"'setstate STATE FIRST LAST' with STATE one of {list(STATES)}")


def parse_steps(steps: object, source: str, qemu_args: list[object] | None = None
                ) -> tuple[list[Event], list[str]]:
    """The events of a scenario's ``steps`` (and ``qemu_args`` cold plugs), with notes on
    QMP commands that do not change memory."""
    if not isinstance(steps, list):
        raise InputError(source, "steps", steps, "must be a list")
    events: list[Event] = list(coldplugged(qemu_args or [], source))
    notes: list[str] = []
    backends: dict[str, int] = {}
    for i, step in enumerate(steps):
        field = f"steps[{i}]"
        if not isinstance(step, dict) or not ({"qmp", "guest"} & set(step)):
            raise InputError(source, field, step, "want {\"qmp\": ..., \"args\": ...} or "
                             "{\"guest\": ...}")
        if "guest" in step:
            events.append(parse_guest(step["guest"], source, f"{field}.guest"))
            continue
        cmd, args = step["qmp"], step.get("args") or {}
        if not isinstance(args, dict):
            raise InputError(source, f"{field}.args", args, "must be an object")
        if cmd == "object-add":
            if str(args.get("qom-type", "")).startswith("memory-backend"):
                backends[str(args.get("id"))] = qemu_size(args.get("size"), source,
                                                          f"{field}.args.size")
        elif cmd == "device_add" and args.get("driver") == "pc-dimm":
            size = _backend_size(backends, args.get("memdev"), source, f"{field}.args.memdev")
            addr = _int(args["addr"], source, f"{field}.args.addr") if "addr" in args else None
            node = _int(args.get("node", 0), source, f"{field}.args.node")
            events.append(DimmAdd(str(args.get("id") or f"dimm{i}"), size, node, addr))
        elif cmd == "device_del":
            events.append(DimmRemove(str(args.get("id"))))
        elif cmd not in ("query-memory-devices", "object-del", "qmp_capabilities"):
            notes.append(f"{field}: QMP {cmd} is outside the model (ignored)")
    return events, notes


_RANGE = re.compile(r"(\d{1,19})(?:-(\d{1,19}))?")


def block_range(text: str, source: str, field: str) -> tuple[int, int]:
    """``40-47`` or ``40``."""
    m = _RANGE.fullmatch(text.strip())
    if not m:
        raise InputError(source, field, text, "want a block range like 40-47 or 40")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) else first
    if last < first:
        raise InputError(source, field, text, "the last block is below the first")
    return first, last


def parse_add(text: str, source: str, field: str, n: int) -> DimmAdd:
    """``SIZE@NODE`` or ``SIZE@NODE:ADDR`` (for ``--add``)."""
    m = re.fullmatch(r"([0-9]{1,20}[kmgtKMGT]?)@(\d{1,10})(?::(0x[0-9a-fA-F]{1,16}|\d{1,20}))?",
                     text.strip())
    if not m:
        raise InputError(source, field, text, "want SIZE@NODE or SIZE@NODE:ADDR, like 1G@1")
    addr = int(m.group(3), 0) if m.group(3) else None
    return DimmAdd(f"d{n}", qemu_size(m.group(1), source, field), int(m.group(2)), addr)


def load_steps(path: str) -> tuple[list[Event], list[str], MemSpec | None]:
    """The events of a corpus-style scenario.json (``steps``, ``qemu_args``, ``mem``)."""
    from memhp.inputfile import json_object, read_text, stdin_name

    doc = json_object(read_text(path), stdin_name(path))
    path = stdin_name(path)
    qemu_args = doc.get("qemu_args") or []
    if not isinstance(qemu_args, list):
        raise InputError(path, "qemu_args", qemu_args, "must be a list")
    events, notes = parse_steps(doc.get("steps", []), path, qemu_args)
    mem = parse_mem(doc["mem"], path) if "mem" in doc else None
    return events, notes, mem
