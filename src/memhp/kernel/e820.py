# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's own handling of the firmware memory map, modelled on arch/x86/kernel/e820.c.

The firmware table comes in as read (``memhp.firmware``); these functions change it the
way the kernel does during ``setup_arch()`` and hand RAM to memblock.
"""

from __future__ import annotations

import re

from memhp.firmware.cmdline import memparse
from memhp.firmware.e820 import e820_print_name, e820_type_name, sanitize_e820
from memhp.firmware.types import (
    E820_ACPI,
    E820_PRAM,
    E820_RESERVED,
    E820_SOFT_RESERVED,
    E820_USABLE,
    E820Entry,
)
from memhp.intervals import Ranges
from memhp.kernel import memblock as mbk
from memhp.kernel.pfn import pfn_up
from memhp.kernel.profile import KernelProfile
from memhp.kernel.state import Boot, alloc

__all__ = ["BIOS_BEGIN", "BIOS_END", "ISA_END_ADDRESS", "e820__end_of_ram_pfn",
           "e820__memblock_setup", "e820__memory_setup", "e820__range_remove", "e820__range_update",
           "e820__register_nosave_regions", "e820__reserve_resources", "e820_end_pfn",
           "e820_entries_with_setup_data", "e820_memblock_done", "e820_print", "nosave_regions",
           "parse_memmap_opt", "trim_bios_range"]


ISA_END_ADDRESS = 0x100000
BIOS_BEGIN = 0xA0000
BIOS_END = 0x100000
# memmap=nn%ss-FROM+TO: simple_strtoull(p, &p, 0) type numbers
_MEMMAP_FROM = re.compile(r"-(0[xX][0-9a-fA-F]{1,16}|\d{1,20})")
_MEMMAP_TO = re.compile(r"\+(0[xX][0-9a-fA-F]{1,16}|\d{1,20})")


def e820_print(entries: tuple[E820Entry, ...], who: str, prof: KernelProfile) -> list[str]:
    """e820__print_table(): ``WHO: [mem 0x...-0x...] type`` lines; 7.x spells the types
    its own way and prints the holes as ``WHO: [gap 0x...-0x...]``."""
    if not prof.has("e820_print_system_ram"):
        return [f"{who}: [mem {e.start:#018x}-{e.end - 1:#018x}] {e.type}" for e in entries]
    out, prev = [], 0
    for e in entries:
        if e.start > prev:
            out.append(f"{who}: [gap {prev:#018x}-{e.start - 1:#018x}]")
        out.append(f"{who}: [mem {e.start:#018x}-{e.end - 1:#018x}]  "
                   f"{e820_print_name(e.type, e820_spelling(prof))}")
        prev = e.end
    return out


def _cut(entries: tuple[E820Entry, ...], start: int, end: int, old_type: str | None,
         new_type: str | None) -> tuple[E820Entry, ...]:
    """Retype (``new_type``) or drop (None) the part of every ``old_type`` entry in range."""
    out: list[E820Entry] = []
    for e in entries:
        if (old_type is not None and e.type != old_type) or e.end <= start or e.start >= end:
            out.append(e)
            continue
        if e.start < start:
            out.append(E820Entry(e.start, start, e.type))
        if new_type is not None:
            out.append(E820Entry(max(e.start, start), min(e.end, end), new_type))
        if e.end > end:
            out.append(E820Entry(end, e.end, e.type))
    return sanitize_e820(out)  # e820__update_table()


def e820__range_update(entries: tuple[E820Entry, ...], start: int, size: int, old_type: str,
                       new_type: str, spelling: int = 6) -> tuple[tuple[E820Entry, ...], str]:
    """e820__range_update(): retype ``old_type`` memory in the range; returns the log line
    (types spelled as kernel generation ``spelling`` prints them)."""
    line = (f"e820: update [mem {start:#010x}-{start + size - 1:#010x}] "
            f"{e820_print_name(old_type, spelling)} ==> {e820_print_name(new_type, spelling)}")
    return _cut(entries, start, start + size, old_type, new_type), line


def e820__range_remove(entries: tuple[E820Entry, ...], start: int, size: int,
                       old_type: str | None, spelling: int = 6
                       ) -> tuple[tuple[E820Entry, ...], str]:
    """e820__range_remove(): drop memory in the range (only ``old_type`` unless None)."""
    what = f" {e820_print_name(old_type, spelling)}" if old_type else ""
    line = f"e820: remove [mem {start:#010x}-{start + size - 1:#010x}]{what}"
    return _cut(entries, start, start + size, old_type, None), line


def e820_end_pfn(entries: tuple[E820Entry, ...], limit_pfn: int, type_: str,
                 page_shift: int = 12) -> int:
    """e820_end_pfn(): the end pfn of the highest ``type_`` entry below ``limit_pfn``."""
    last_pfn = 0
    for e in entries:
        if e.type != type_:
            continue
        start_pfn, end_pfn = e.start >> page_shift, e.end >> page_shift
        if start_pfn >= limit_pfn:
            continue
        if end_pfn > limit_pfn:
            last_pfn = limit_pfn
            break
        last_pfn = max(last_pfn, end_pfn)
    return last_pfn


def e820_spelling(prof: KernelProfile) -> int:
    """The generation whose type names the kernel prints (e820_print_type())."""
    return 7 if prof.has("e820_print_system_ram") else 6


def trim_bios_range(entries: tuple[E820Entry, ...], prof: KernelProfile
                    ) -> tuple[tuple[E820Entry, ...], list[str]]:
    """trim_bios_range(): page 0 becomes reserved and 640K-1M is never RAM."""
    sp = e820_spelling(prof)
    entries, l1 = e820__range_update(entries, 0, 0x1000, E820_USABLE, E820_RESERVED, sp)
    entries, l2 = e820__range_remove(entries, BIOS_BEGIN, BIOS_END - BIOS_BEGIN, E820_USABLE,
                                     sp)
    return entries, [l1, l2]


def e820__memblock_setup(entries: tuple[E820Entry, ...], mb: mbk.Memblock,
                         prof: KernelProfile) -> None:
    """e820__memblock_setup(): RAM into memblock.memory, soft-reserved into reserved."""
    for e in entries:
        if e.end >= 1 << 64:
            continue
        if e.type == E820_SOFT_RESERVED:
            mbk.memblock_reserve(mb, e.start, e.end - e.start, "e820__memblock_setup")
        if e.type != E820_USABLE:
            continue
        mbk.memblock_add(mb, e.start, e.end - e.start, "e820__memblock_setup")
    e820_memblock_done(mb, prof)


def e820_memblock_done(mb: mbk.Memblock, prof: KernelProfile) -> None:
    """The end of e820__memblock_setup(), after the RAM is in: memory below 1M becomes
    KHO scratch where the kernel does that (until reserve_real_mode()), partial pages go."""
    if prof.has("kho_scratch_below_1m"):
        mbk.memblock_mark_kho_scratch(mb, 0, ISA_END_ADDRESS)
    mbk.memblock_trim_memory(mb, prof.page_size)


def e820_entries_with_setup_data(entries: tuple[E820Entry, ...],
                                 setup_data: tuple[tuple[int, int], ...]) -> int:
    """How many entries the kernel's table has after e820__reserve_setup_data() retyped
    each setup_data blob in RAM as E820_TYPE_RESERVED_KERN (before 7.0: CHANGES
    setup_data_stays_ram_in_e820).  That type prints as "usable"
    and is RAM to every later step memhp models, so memhp keeps the table without it; only
    the entry count shows (e820__reserve_resources() allocates one resource per entry)."""
    blobs = Ranges(list(setup_data))
    count = 0
    for e in entries:
        if e.type != E820_USABLE or not blobs.overlap(e.start, e.end):
            count += 1
            continue
        edge = e.start
        for s, t in zip(blobs.starts, blobs.ends, strict=True):
            s, t = max(s, e.start), min(t, e.end)
            if s >= t:
                continue
            count += (edge < s) + 1  # RAM before the blob, the blob
            edge = t
        count += edge < e.end
    return count


def parse_memmap_opt(entries: tuple[E820Entry, ...], value: str) -> tuple[E820Entry, ...]:
    """parse_memmap_opt() / parse_memmap_one() (arch/x86/kernel/e820.c): one ``memmap=``
    value, comma-separated parts applied in order.

    ``exactmap`` empties the table; ``nn@ss`` adds RAM, ``nn#ss`` ACPI data, ``nn$ss``
    reserved, ``nn!ss`` persistent memory (type 12); ``nn%ss-from+to`` retypes, adds or
    removes by type number; a bare ``nn`` removes RAM above ``nn`` like ``mem=``.  A part
    that memparse cannot read is ignored, as the kernel does (-EINVAL, not reported).
    The kernel adds entries unsorted and sanitizes once at the end
    (``e820__finish_early_params``); overlaps resolve the same way either way.
    """
    for part in value.split(","):
        if part.startswith("exactmap"):
            entries = ()
            continue
        size, rest = memparse(part)
        if rest == part:
            continue
        if rest[:1] in ("@", "#", "$", "!"):
            start, tail = memparse(rest[1:])
            kind = {"@": E820_USABLE, "#": E820_ACPI, "$": E820_RESERVED, "!": E820_PRAM}[rest[0]]
            entries = sanitize_e820((*entries, E820Entry(start, start + size, kind)))
        elif rest[:1] == "%":
            start, tail = memparse(rest[1:])
            old = new = 0
            if (m := _MEMMAP_FROM.match(tail)):
                old, tail = int(m.group(1), 0), tail[m.end():]
            if (m := _MEMMAP_TO.match(tail)):
                new, tail = int(m.group(1), 0), tail[m.end():]
            if tail:
                continue
            if old and new:
                entries, _ = e820__range_update(entries, start, size, e820_type_name(old),
                                                e820_type_name(new))
            elif new:
                entries = sanitize_e820((*entries, E820Entry(start, start + size,
                                                             e820_type_name(new))))
            else:
                entries, _ = e820__range_remove(entries, start, size,
                                                e820_type_name(old) if old else None)
        else:
            entries, _ = e820__range_remove(entries, size, (1 << 64) - 1 - size, E820_USABLE)
    return entries


def e820__memory_setup(b: Boot) -> tuple[E820Entry, ...]:
    """e820__memory_setup(): the firmware table as the kernel keeps it, at most
    E820_MAX_ENTRIES entries (the rest ignored, as the kernel says) and sanitized."""
    limit = 128 + 3 * b.profile.max_numnodes  # E820_MAX_ENTRIES_ZEROPAGE + 3 * MAX_NUMNODES
    table = b.machine.e820
    for e in table[limit:]:
        b.log.append(f"e820: too many entries; ignoring [mem {e.start:#010x}-{e.end - 1:#010x}]")
    if len(table) > limit:
        b.notes.append(f"the e820 map has {len(table)} entries; the kernel keeps the first "
                       f"{limit}")
    return sanitize_e820(table[:limit])


def e820__end_of_ram_pfn(b: Boot, e820: tuple[E820Entry, ...]) -> tuple[E820Entry, ...]:
    """e820__end_of_ram_pfn() and e820__end_of_low_ram_pfn(): ``max_pfn`` and
    ``max_low_pfn``; RAM beyond the architecture's physical address width is dropped."""
    prof, log = b.profile, b.log
    max_arch_pfn = 1 << (prof.max_physmem_bits - prof.page_shift)
    b.max_pfn = e820_end_pfn(e820, max_arch_pfn, E820_USABLE, prof.page_shift)
    beyond = [e for e in e820 if e.type == E820_USABLE and e.end > max_arch_pfn << prof.page_shift]
    if beyond:
        b.notes.append(
            f"RAM above {max_arch_pfn << prof.page_shift:#x} ({prof.max_physmem_bits}-bit "
            f"physical addresses with {prof.pgtable_levels}-level paging) is beyond what the "
            "kernel maps: it is left out of the prediction, as the kernel leaves it unused")
        e820, _ = e820__range_remove(e820, max_arch_pfn << prof.page_shift,
                                     (1 << 64) - (max_arch_pfn << prof.page_shift), E820_USABLE)
    log.append(f"last_pfn = {b.max_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    b.max_low_pfn = b.max_pfn
    if b.max_pfn > 1 << (32 - prof.page_shift):
        b.max_low_pfn = e820_end_pfn(e820, 1 << (32 - prof.page_shift), E820_USABLE,
                                     prof.page_shift)
        log.append(f"last_pfn = {b.max_low_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    return e820


def nosave_regions(e820: tuple[E820Entry, ...], limit_pfn: int,
                   page_shift: int = 12) -> list[tuple[int, int]]:
    """The pfn ranges e820__register_nosave_regions() registers: holes and non-RAM below
    max_pfn, merged as register_nosave_region() merges a region that continues the
    previous one."""
    out: list[tuple[int, int]] = []

    def register(s: int, e: int) -> None:
        if s >= e:
            return
        if out and out[-1][1] == s:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))

    pfn = 0
    for entry in e820:
        up = pfn_up(entry.start, page_shift)
        if pfn < up:
            register(pfn, up)
        pfn = entry.end >> page_shift
        if entry.type != E820_USABLE:
            register(up, pfn)
        if pfn >= limit_pfn:
            break
    return out


def e820__register_nosave_regions(b: Boot) -> None:
    """e820__register_nosave_regions(): one small allocation and one line per region."""
    prof = b.profile
    for s, e in nosave_regions(b.e820, b.max_pfn, prof.page_shift):
        alloc(b, prof.nosave_region_size, "register_nosave_region")
        b.log.append(f"PM: hibernation: Registered nosave memory: "
                     f"[mem {s << prof.page_shift:#010x}-{(e << prof.page_shift) - 1:#010x}]")


def e820__reserve_resources(b: Boot) -> None:
    """e820__reserve_resources(): the resource array, and firmware_map_add_early() for
    each entry of the firmware's own table."""
    prof = b.profile
    entries = (len(b.e820) if prof.has("setup_data_stays_ram_in_e820")
               else e820_entries_with_setup_data(b.e820, b.machine.setup_data))
    alloc(b, prof.resource_size * entries, "e820__reserve_resources")
    for _ in b.machine.e820:
        alloc(b, prof.firmware_map_entry_size, "firmware_map_add_early")
