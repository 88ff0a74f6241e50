# SPDX-License-Identifier: GPL-2.0-or-later
"""What x86_64 Linux 6.1 does with the EFI memory map at boot: arch/x86/platform/efi/efi.c
and quirks.c, drivers/firmware/efi/memattr.c (and memmap.c for the map itself).

* ``efi_memblock_x86_reserve_range`` reserves the map the boot loader handed over.
* ``efi_memattr_init`` (from ``efi_init``) reserves the EFI memory attributes table.
* ``efi_find_mirror`` (after ``e820__memblock_setup``) marks memory the map calls
  EFI_MEMORY_MORE_RELIABLE as mirrored, for ``kernelcore=mirror``.
* ``efi_reserve_boot_services`` (after ``e820__memblock_setup``) reserves every boot services
  region nobody reserved yet, so that early allocations keep off memory the firmware may
  still touch; a region that was already (partly) reserved, or that overlaps the kernel or
  is not all RAM in e820, is tagged EFI_MEMORY_RUNTIME instead and never freed.
* ``efi_arch_mem_reserve`` (quirks.c; for the BGRT boot logo, from ``acpi_boot_init``)
  splits a boot services data region, tags the piece runtime, copies the map into a new
  memblock allocation one or two descriptors longer (6.1 does not free the old copy), and
  makes the piece e820-reserved.
* ``efi_unmap_boot_services``/``efi_free_boot_services`` (arch_initcall, after the buddy
  allocator took over) give the reserved regions back, except below 1 MiB — and not at all
  with ``efi=debug``, which keeps them for /sys/kernel/debug/efi (6.1's
  ``efi_unmap_boot_services`` returns early under EFI_DBG).

Each function takes the boot state of ``memhp.kernel.setup`` and records what it reserved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from memhp.firmware.types import (
    E820_RESERVED,
    E820_USABLE,
    EFI_BOOT_SERVICES_DATA,
    EFI_MEMORY_MORE_RELIABLE,
    EFI_MEMORY_RUNTIME,
    UNKNOWN_EFI_BGRT,
    UNKNOWN_EFI_MAP,
    UNKNOWN_EFI_MEMATTR,
    UNKNOWN_EFI_MEMMAP_AT,
    UNKNOWN_KERNEL_LOAD,
    UNKNOWN_SETUP_DATA,
    E820Entry,
    EfiMemoryDescriptor,
    Machine,
)
from memhp.intervals import Ranges
from memhp.kernel import memblock as mbk
from memhp.kernel.e820 import e820__range_update, e820_spelling
from memhp.kernel.pfn import round_up

if TYPE_CHECKING:
    from memhp.kernel.state import Boot

__all__ = ["EfiBoot", "Unknown", "unknown_facts", "efi_memmap_at", "efi_memblock_x86_reserve_range",
           "efi_memattr_init", "efi_find_mirror", "efi_reserve_boot_services",
           "efi_arch_mem_reserve", "efi_freed_late", "boot_services_freed"]

SZ_1M = 1 << 20
SMP_CACHE_BYTES = 64
EFI_BOOT_MEMMAP_HEAD = 0x28  # struct efi_boot_memmap before its map[] (libstub)

# Which predicted facts each missing hand-over input decides (so they are reported
# ``unknown``): the reserved regions of both memblock dumps, where top-down boot
# allocations land (NODE_DATA), and the pages that stay reserved (managed).
DUMPS, NODE_DATA, MANAGED = "memblock_dumps", "node_data", "managed"
AFFECTS = {
    UNKNOWN_EFI_MAP: (DUMPS, NODE_DATA, MANAGED),
    UNKNOWN_KERNEL_LOAD: (DUMPS, MANAGED),
    UNKNOWN_EFI_MEMMAP_AT: (DUMPS, MANAGED),
    UNKNOWN_SETUP_DATA: (DUMPS, MANAGED),
    UNKNOWN_EFI_MEMATTR: (DUMPS, MANAGED),
    UNKNOWN_EFI_BGRT: (MANAGED,),
}


@dataclass(frozen=True)
class Unknown:
    """A predicted fact the input cannot decide: which input is missing, why, and which
    facts (``memblock_dumps``, ``node_data``, ``managed``) it leaves unknown."""

    input: str
    why: str
    affects: tuple[str, ...]


def unknown_facts(b: Boot) -> list[Unknown]:
    """The hand-over inputs this boot lacks, with the facts each leaves unknown."""
    out = []
    for what, why in b.machine.unknown_inputs:
        affects = AFFECTS.get(what, (DUMPS, NODE_DATA, MANAGED))
        out.append(Unknown(what, why, affects))
    return out


@dataclass
class EfiBoot:
    """The kernel's EFI decisions: the boot services ranges it reserved (and may free
    later) and the ones it tagged runtime and keeps, each ``[start, end)``; the map as
    the kernel holds it now (``efi.memmap``) and the pieces efi_mem_reserve() kept."""

    reserved: list[tuple[int, int]]
    kept: list[tuple[int, int]]
    memmap: list[EfiMemoryDescriptor] = field(default_factory=list)
    mem_reserved: list[tuple[int, int]] = field(default_factory=list)


def efi_memmap_at(machine: Machine, slack_slots: int) -> int | None:
    """Where the EFI map handed over lies: as the input says, or where the firmware puts
    the EFI stub's request for it (``efi_get_memory_map``, libstub/mem.c: a ``struct
    efi_boot_memmap`` header, then room for the map and ``slack_slots`` more descriptors,
    EFI_MMAP_NR_SLACK_SLOTS), by the platform's placement rule (Machine.efi_memmap_pool)."""
    if machine.efi_memmap_at is not None:
        return machine.efi_memmap_at
    request = EFI_BOOT_MEMMAP_HEAD + (len(machine.efi_memmap) + slack_slots) * \
        machine.efi_memdesc_size
    return next((start + EFI_BOOT_MEMMAP_HEAD for largest, start in machine.efi_memmap_pool
                 if request <= largest), None)


def efi_memblock_x86_reserve_range(b: Boot) -> None:
    """Reserve the EFI memory map itself: nr_map descriptors at boot_params.efi_info."""
    m = b.machine
    at = efi_memmap_at(m, b.profile.efi_mmap_nr_slack_slots)
    if not m.efi_boot or at is None or not m.efi_memmap:
        return
    size = len(m.efi_memmap) * m.efi_memdesc_size
    b.reserve(at, size, "EFI memory map", "efi_memblock_x86_reserve_range")


def efi_memattr_init(b: Boot) -> None:
    """Reserve the EFI memory attributes table (it lies in boot services memory)."""
    if b.machine.efi_boot and b.machine.efi_memattr is not None:
        start, end = b.machine.efi_memattr
        b.reserve(start, end - start, "EFI memory attributes table", "efi_memattr_init")


def _mapped_all_ram(e820: tuple[E820Entry, ...], start: int, end: int) -> bool:
    """e820__mapped_all(start, end, E820_TYPE_RAM)."""
    ram = Ranges([(e.start, e.end) for e in e820 if e.type == E820_USABLE])
    return ram.overlap(start, end) == end - start


def efi_find_mirror(b: Boot) -> None:
    """efi_find_mirror() (drivers/firmware/efi/efi.c): MORE_RELIABLE ranges become
    MEMBLOCK_MIRROR — only under kernelcore=mirror, as 6.1's memblock_mark_mirror() does
    nothing without it; the total is printed either way."""
    mirror = total = 0
    marks = bool(b.machine.cmdline.kernelcore and b.machine.cmdline.kernelcore.mirror)
    for md in b.machine.efi_memmap:
        total += md.end - md.start
        if md.attribute & EFI_MEMORY_MORE_RELIABLE:
            if marks:
                mbk.memblock_mark_mirror(b.memblock, md.start, md.end - md.start)
            mirror += md.end - md.start
    if mirror:
        b.log.append(f"efi: Memory: {mirror >> 20}M/{total >> 20}M mirrored memory")


def efi_reserve_boot_services(b: Boot) -> EfiBoot:
    """efi_reserve_boot_services() (arch/x86/platform/efi/quirks.c)."""
    prof, mb = b.profile, b.memblock
    out = EfiBoot([], [], list(b.machine.efi_memmap))
    for md in b.machine.efi_memmap:
        if not md.boot_services or md.runtime:
            continue
        start, size = md.start, md.end - md.start
        if not mbk.memblock_overlaps_region(mb.reserved, start, size):
            overlaps_kernel = start + size > prof.kernel_text and start <= prof.kernel_end
            freeable = not overlaps_kernel and _mapped_all_ram(b.e820, start, start + size)
            what = ("EFI boot services memory (kept: it overlaps the kernel or non-RAM)"
                    if not freeable else "EFI boot services memory (kept: efi=debug)"
                    if b.machine.cmdline.efi_debug else
                    "EFI boot services memory (given back after boot)")
            b.reserve(start, size, what, "efi_reserve_boot_services")
            if freeable:
                out.reserved.append((start, start + size))
                continue
        out.kept.append((start, start + size))  # tagged EFI_MEMORY_RUNTIME: never freed
    return out


def efi_memmap_split_count(md: EfiMemoryDescriptor, start: int, end: int) -> int:
    """efi_memmap_split_count(): how many descriptors carving ``[start, end)`` out of
    ``md`` adds (0, 1 or 2)."""
    count = 0
    if start <= md.start and md.start < end < md.end:
        count += 1
    if md.start < start < md.end:
        count += 2 if end < md.end else 1
    return count


def efi_arch_mem_reserve(b: Boot, efi: EfiBoot, addr: int, size: int) -> None:
    """efi_arch_mem_reserve() (arch/x86/platform/efi/quirks.c, 6.1)."""
    md = next((d for d in efi.memmap if d.start <= addr < d.end), None)
    if md is None or md.type != EFI_BOOT_SERVICES_DATA:
        b.log.append(f"efi: Failed to lookup EFI memory descriptor for {addr:#018x}")
        return
    if addr + size > md.end:
        b.log.append(f"efi: Region spans EFI memory descriptors, {addr:#018x}")
        return
    page = b.profile.page_size
    start, end = addr // page * page, round_up(addr + size, page)
    count = len(efi.memmap) + efi_memmap_split_count(md, start, end)
    new = mbk.memblock_phys_alloc_range(b.memblock, count * b.machine.efi_memdesc_size,
                                        SMP_CACHE_BYTES, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE,
                                        "efi_memmap_alloc")
    if not new:
        b.log.append("efi: Could not allocate boot services memmap")
        return
    i = efi.memmap.index(md)  # efi_memmap_insert()
    pieces = [EfiMemoryDescriptor(md.type, s, e, md.attribute | (EFI_MEMORY_RUNTIME if r else 0))
              for s, e, r in ((md.start, start, False), (start, end, True), (end, md.end, False))
              if s < e]
    efi.memmap[i:i + 1] = pieces
    efi.mem_reserved.append((start, end))
    b.e820, line = e820__range_update(b.e820, start, end - start, E820_USABLE, E820_RESERVED,
                                      e820_spelling(b.profile))
    b.log.append(line)


def efi_freed_late(b: Boot, efi: EfiBoot) -> list[tuple[int, int]]:
    """The ranges efi_free_boot_services() hands to the buddy allocator: none with
    efi=debug; else each reserved region from 1 MiB up, less the pieces efi_mem_reserve()
    tagged runtime.  (The real-mode trampoline quirk applies only when the trampoline
    found no memory below 1 MiB.)"""
    if b.machine.cmdline.efi_debug:
        return []
    kept = efi.mem_reserved
    out: list[tuple[int, int]] = []
    for s, e in efi.reserved:
        ranges = Ranges([(max(s, SZ_1M), e)]).minus(*kept)
        out.extend(zip(ranges.starts, ranges.ends, strict=True))
    return out


def boot_services_freed(b: Boot) -> list[tuple[int, int]]:
    """EFI boot services memory efi_free_boot_services() gives back after boot (none on
    a BIOS boot)."""
    return efi_freed_late(b, b.efi) if b.efi else []
