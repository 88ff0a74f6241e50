# SPDX-License-Identifier: GPL-2.0-or-later
"""The firmware memory map (e820): read from dmesg lines or /sys/firmware/memmap, sanitized.

Types are kept as the strings ``e820_print_type`` (arch/x86/kernel/e820.c) prints up to
6.12.  A type number the kernel has no name for is kept as ``"type N"``, exactly as the kernel
prints it; like the kernel, the rest of memhp must treat such ranges as not-RAM (reserved).
``"type N"`` for a number that has a name is canonicalised to that name (``"type 1"`` ->
``"usable"``), and so are the names the 7.x kernels print (``"System RAM"`` -> ``"usable"``).
"""

from __future__ import annotations

import heapq
import os
import re
from collections.abc import Iterable

from memhp.errors import InputError
from memhp.firmware.logline import LINE_PREFIX
from memhp.firmware.types import (
    E820_ACPI,
    E820_NVS,
    E820_PMEM,
    E820_PRAM,
    E820_RESERVED,
    E820_SOFT_RESERVED,
    E820_UNUSABLE,
    E820_USABLE,
    E820Entry,
)

__all__ = ["U64_LIMIT", "canonical_e820_type", "e820_print_name", "e820_type_name",
           "e820_type_number", "parse_e820_lines", "read_sys_firmware_memmap", "sanitize_e820"]

U64_LIMIT = 1 << 64

# enum e820_type (arch/x86/include/asm/e820/types.h); 128 is E820_TYPE_RESERVED_KERN,
# which the kernel prints as "usable" and never comes from firmware.
_NAME_OF = {
    1: E820_USABLE, 2: E820_RESERVED, 3: E820_ACPI, 4: E820_NVS, 5: E820_UNUSABLE,
    7: E820_PMEM, 12: E820_PRAM, 0xEFFFFFFF: E820_SOFT_RESERVED, 128: E820_USABLE,
}
# e820_print_type() as the 7.x kernels have it (7.2's arch/x86/kernel/e820.c; 6.12 still
# prints the names above): RAM is "System RAM", reserved is "device reserved", PMEM and PRAM
# are "persistent RAM (type N)", E820_TYPE_RESERVED_KERN is gone, and the type is set off
# by two blanks.  e820__print_table() also prints the holes between entries as
# "[gap 0xSTART-0xLAST]" lines.
_NAME_OF_7 = {
    1: "System RAM", 2: "device reserved", 3: "ACPI data", 4: "ACPI NVS", 5: "unusable",
    7: "persistent RAM (type 7)", 12: "persistent RAM (type 12)",
    0xEFFFFFFF: "soft reserved",
}
_NUMBER_OF = {
    **{name: number for number, name in _NAME_OF_7.items()},
    **{name: number for number, name in _NAME_OF.items() if number != 128},
}
_NOMERGE = {12, 0xEFFFFFFF}  # e820_nomerge(): PRAM and soft reserved are never merged
_TYPE_N = re.compile(r"type (\d{1,10})")

# /sys/firmware/memmap/N/type, written from e820_type_to_string()
_SYSFS_TYPES = {
    "System RAM": E820_USABLE,
    "Reserved": E820_RESERVED,
    "ACPI Tables": E820_ACPI,
    "ACPI Non-volatile Storage": E820_NVS,
    "Unusable memory": E820_UNUSABLE,
    "Persistent Memory (legacy)": E820_PRAM,
    "Persistent Memory": E820_PMEM,
    "Soft Reserved": E820_SOFT_RESERVED,
    # The number is lost here; the kernel treats unknown types as reserved, and so do we.
    "Unknown E820 type": E820_RESERVED,
}

_SYSFS_MAX = 4096  # a sysfs attribute is at most a page

# the type is group 3 with trailing blanks stripped (not "(\S.*?)\s*$": quadratic in blanks);
# one blank before it up to 6.12, two in 7.x
_E820_LINE = re.compile(r" \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]  ?(\S.*)$")
# 7.x: a hole between two entries (or below the first), which adds nothing to the table
_E820_GAP = re.compile(r" \[gap 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]\s*$")
# a "[mem ...]" line cut before its type (or inside its range): what a wrapped paste leaves
_E820_CUT = re.compile(r" \[mem(?: 0x[0-9a-fA-F]*(?:-(?:0x[0-9a-fA-F]*\]?)?)?)?\s*$")
# 2.6 and early 3.x kernels, before e820 printing moved to "[mem ...]": "BIOS-e820:
# 0000000000000000 - 000000000009f400 (usable)", with an exclusive end
_E820_OLD = re.compile(r" ([0-9a-fA-F]{16}) - ([0-9a-fA-F]{16}) \((\S[^)]*)\)$")


def e820_type_name(number: int) -> str:
    """The kernel's spelling of e820 type ``number`` (``e820_print_type``, up to 6.12): the
    type name memhp keeps."""
    return _NAME_OF.get(number, f"type {number}")


def e820_print_name(name: str, spelling: int = 6) -> str:
    """How the kernel generation ``spelling`` (6 or 7) prints the kept type ``name``."""
    if spelling < 7:
        return name
    number = e820_type_number(name)
    return name if number is None else _NAME_OF_7.get(number, f"type {number}")


def e820_type_number(name: str) -> int | None:
    """The e820 type number of a printed type name (``"usable"`` -> 1, ``"type 9"`` -> 9),
    or None when ``name`` is no spelling the kernel uses."""
    if name in _NUMBER_OF:
        return _NUMBER_OF[name]
    match = _TYPE_N.fullmatch(name)
    if match and int(match.group(1)) < 1 << 32:
        return int(match.group(1))
    return None


def canonical_e820_type(name: str) -> str | None:
    """``name`` as the kernel would print it, or None if it is not an e820 type at all."""
    number = e820_type_number(name)
    return None if number is None else e820_type_name(number)


def parse_e820_lines(text: str, source: str, tag: str = "BIOS-e820") -> tuple[E820Entry, ...]:
    """The ``BIOS-e820: [mem 0xSTART-0xLAST] TYPE`` lines of a kernel log, in log order.

    ``e820__print_table("BIOS-e820")`` prints an inclusive last address; entries keep the
    half-open end.  The 7.x spelling (``[mem ...]  System RAM``) reads as the 6.x one
    (``usable``); its ``[gap 0xSTART-0xLAST]`` lines are checked and skipped.  2.6 and early
    3.x kernels printed ``BIOS-e820: START - END (TYPE)`` with an exclusive end; that form is
    read too.  ``tag`` ``"Xen"`` reads the map a Xen PV domain prints instead (``Xen: [mem
    ...]``).  Lines may carry ``[    0.000000] `` timestamps; all other lines are skipped.
    The kernel prints the table only after sanitizing it, so no entry can repeat: an exact
    repeat is a second copy of the log (console plus dmesg) and is dropped.
    """
    entries: dict[E820Entry, None] = {}  # ordered, and no quadratic search for repeats
    start_tag = re.compile(LINE_PREFIX + re.escape(tag) + ":")
    lines = text.splitlines()
    for lineno, line in enumerate(lines, 1):
        tag_match = start_tag.match(line)
        if not tag_match:
            continue
        rest = line[tag_match.end():]
        if tag != "BIOS-e820" and not rest.startswith(" [mem "):
            continue  # "Xen: using vcpuop timer interface" and the like
        match = _E820_LINE.match(rest)
        old = None if match else _E820_OLD.match(rest.rstrip())
        if not match and not old:
            gap = _E820_GAP.match(rest)
            if gap and int(gap.group(2), 16) < int(gap.group(1), 16):
                raise InputError(source, f"line {lineno}", line.strip(), "end below start")
            if gap:
                continue
            following = lines[lineno] if lineno < len(lines) else ""
            if _E820_CUT.match(rest) and following.strip() and not start_tag.match(following):
                raise InputError(source, f"line {lineno}", line.strip(),
                                 f"malformed {tag} line: it stops before the entry's type and "
                                 "the next line goes on with it (was the log wrapped, by a mail "
                                 "client or a terminal?); give the log as dmesg or journalctl "
                                 "wrote it")
            raise InputError(source, f"line {lineno}", line.strip(),
                             f"malformed {tag} line, want '[mem 0xSTART-0xLAST] TYPE' or "
                             "'[gap 0xSTART-0xLAST]'")
        if match:
            start, last = int(match.group(1), 16), int(match.group(2), 16)
            name = match.group(3).rstrip()
        else:
            assert old is not None
            start, last = int(old.group(1), 16), int(old.group(2), 16) - 1
            name = old.group(3)
            if last < start:  # an empty entry: the old form could print one
                continue
        kind = canonical_e820_type(name)
        if kind is None:
            raise InputError(source, f"line {lineno}", line.strip(),
                             f"unknown e820 type {name!r}")
        if last < start:
            raise InputError(source, f"line {lineno}", line.strip(), "end below start")
        entries.setdefault(E820Entry(start, last + 1, kind))
    return tuple(entries)


def _read_sysfs(path: str) -> str:
    try:
        with open(path, "rb") as file:
            data = file.read(_SYSFS_MAX + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, "file", path, f"cannot read: {error}") from None
    if len(data) > _SYSFS_MAX:
        raise InputError(path, "file", path, f"longer than a sysfs attribute ({_SYSFS_MAX} "
                         "bytes)")
    return text.strip()


def _sysfs_address(path: str, field: str) -> int:
    text = _read_sysfs(path)
    if not re.fullmatch(r"0[xX][0-9a-fA-F]{1,16}", text):
        raise InputError(path, field, text, "want a 64-bit hex address like 0x9fbff")
    return int(text, 16)


def read_sys_firmware_memmap(path: str, by_address: bool = True) -> tuple[E820Entry, ...]:
    """The /sys/firmware/memmap tree (drivers/firmware/memmap.c): one numbered directory per
    e820 entry (``e820_table_firmware``) holding ``start``, ``end`` (inclusive) and ``type``
    (``e820_type_to_string``).  Returned sorted by start.  "Unknown E820 type" becomes
    ``reserved``: the number is not in sysfs, and the kernel treats such ranges as reserved.
    ``by_address=False`` keeps the kernel's order (entries added after boot come last).
    """
    try:
        names = [n for n in os.listdir(path) if n.isdigit() and n.isascii()]
    except OSError as error:
        raise InputError(path, "directory", path, f"cannot list: {error}") from None
    if not names:
        raise InputError(path, "directory", path, "no numbered entry directories")
    entries = []
    for name in sorted(names, key=int):
        entry_dir = os.path.join(path, name)
        start = _sysfs_address(os.path.join(entry_dir, "start"), "start")
        last_path = os.path.join(entry_dir, "end")
        last = _sysfs_address(last_path, "end")
        if last < start:
            raise InputError(last_path, "end", hex(last), f"below start {start:#x}")
        type_path = os.path.join(entry_dir, "type")
        text = _read_sysfs(type_path)
        if text not in _SYSFS_TYPES:
            raise InputError(type_path, "type", text, "not a type e820_type_to_string() writes")
        entries.append(E820Entry(start, last + 1, _SYSFS_TYPES[text]))
    return tuple(sorted(entries, key=lambda e: (e.start, e.end)) if by_address else entries)


def sanitize_e820(entries: Iterable[E820Entry]) -> tuple[E820Entry, ...]:
    """Model of ``e820__update_table`` (arch/x86/kernel/e820.c).

    Walks the sorted start/end points of all non-empty entries; where entries overlap the
    highest type number wins; neighbours of one type merge, except PRAM (type 12) and soft
    reserved, which ``e820_nomerge`` keeps apart.  Type-0 entries count as holes.  Like the
    kernel, a table of fewer than two entries, or one with an entry running past 2^64, is
    returned unchanged.  (The kernel also stops at E820_MAX_ENTRIES; not modelled.)
    """
    table = tuple(entries)
    if len(table) < 2 or any(e.end < e.start or e.end >= U64_LIMIT for e in table):
        return table
    numbers = []
    for i, e in enumerate(table):
        number = e820_type_number(e.type)
        if number is None:
            raise InputError("e820", f"entries[{i}].type", e.type, "unknown e820 type")
        numbers.append(number)
    # (address, 0 = start / 1 = end, index): at one address starts sort before ends
    points = sorted(
        [(e.start, 0, i) for i, e in enumerate(table) if e.end > e.start]
        + [(e.end, 1, i) for i, e in enumerate(table) if e.end > e.start]
    )
    # the types of the entries overlapping the current address: a count per type and a
    # max-heap of types whose stale tops are dropped lazily (n log n, not n^2)
    active: dict[int, int] = {}
    heap: list[int] = []
    out: list[E820Entry] = []
    last_type, last_addr = 0, 0
    for addr, is_end, index in points:
        number = numbers[index]
        if is_end:
            active[number] -= 1
        else:
            if not active.get(number):
                heapq.heappush(heap, -number)
            active[number] = active.get(number, 0) + 1
        while heap and not active.get(-heap[0]):
            heapq.heappop(heap)
        current = -heap[0] if heap else 0
        if current != last_type or current in _NOMERGE:
            if last_type != 0 and addr != last_addr:
                out.append(E820Entry(last_addr, addr, e820_type_name(last_type)))
            if current != 0:
                last_addr = addr
            last_type = current
    return tuple(out)
