# SPDX-License-Identifier: GPL-2.0-or-later
"""What x86_64 Linux 6.1 does with the EFI memory map at boot: arch/x86/platform/efi/efi.c
and quirks.c, drivers/firmware/efi/memattr.c (and memmap.c for the map itself).

* ``efi_memblock_x86_reserve_range`` reserves the map the boot loader handed over.
* ``efi_memattr_init`` (from ``efi_init``) reserves the EFI memory attributes table.
* ``efi_reserve_boot_services`` (after ``e820__memblock_setup``) reserves every boot services
  region nobody reserved yet, so that early allocations keep off memory the firmware may
  still touch; a region that was already (partly) reserved, or that overlaps the kernel or
  is not all RAM in e820, is tagged EFI_MEMORY_RUNTIME instead and never freed.
* ``efi_unmap_boot_services``/``efi_free_boot_services`` (arch_initcall, after the buddy
  allocator took over) give the reserved regions back, except below 1 MiB — and not at all
  with ``efi=debug``, which keeps them for /sys/kernel/debug/efi (6.1's
  ``efi_unmap_boot_services`` returns early under EFI_DBG).

Each function takes the boot state of ``memhp.kernel.setup`` and records what it reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from memhp.firmware.types import E820_USABLE, E820Entry
from memhp.intervals import Ranges
from memhp.kernel import memblock as mbk

if TYPE_CHECKING:
    from memhp.kernel.setup import Boot

__all__ = ["EfiBoot", "efi_memblock_x86_reserve_range", "efi_memattr_init",
           "efi_reserve_boot_services", "efi_freed_late"]

SZ_1M = 1 << 20


@dataclass
class EfiBoot:
    """The kernel's EFI decisions: the boot services ranges it reserved (and may free
    later) and the ones it tagged runtime and keeps, each ``[start, end)``."""

    reserved: list[tuple[int, int]]
    kept: list[tuple[int, int]]


def efi_memblock_x86_reserve_range(b: Boot) -> None:
    """Reserve the EFI memory map itself: nr_map descriptors at boot_params.efi_info."""
    m = b.machine
    if not m.efi_boot or m.efi_memmap_at is None or not m.efi_memmap:
        return
    size = len(m.efi_memmap) * m.efi_memdesc_size
    b.reserve(m.efi_memmap_at, size, "EFI memory map", "efi_memblock_x86_reserve_range")


def efi_memattr_init(b: Boot) -> None:
    """Reserve the EFI memory attributes table (it lies in boot services memory)."""
    if b.machine.efi_boot and b.machine.efi_memattr is not None:
        start, end = b.machine.efi_memattr
        b.reserve(start, end - start, "EFI memory attributes table", "efi_memattr_init")


def _mapped_all_ram(e820: tuple[E820Entry, ...], start: int, end: int) -> bool:
    """e820__mapped_all(start, end, E820_TYPE_RAM)."""
    ram = Ranges([(e.start, e.end) for e in e820 if e.type == E820_USABLE])
    return ram.overlap(start, end) == end - start


def efi_reserve_boot_services(b: Boot) -> EfiBoot:
    """efi_reserve_boot_services() (arch/x86/platform/efi/quirks.c)."""
    prof, mb = b.profile, b.memblock
    out = EfiBoot([], [])
    for md in b.machine.efi_memmap:
        if not md.boot_services or md.runtime:
            continue
        start, size = md.start, md.end - md.start
        if not mbk.memblock_overlaps_region(mb.reserved, start, size):
            b.reserve(start, size, "EFI boot services memory", "efi_reserve_boot_services")
            overlaps_kernel = start + size > prof.kernel_text and start <= prof.kernel_end
            if not overlaps_kernel and _mapped_all_ram(b.e820, start, start + size):
                out.reserved.append((start, start + size))
                continue
        out.kept.append((start, start + size))  # tagged EFI_MEMORY_RUNTIME: never freed
    return out


def efi_freed_late(b: Boot, efi: EfiBoot) -> list[tuple[int, int]]:
    """The ranges efi_free_boot_services() hands to the buddy allocator: none with
    efi=debug; else each reserved region from 1 MiB up.  (The real-mode trampoline quirk
    applies only when the trampoline found no memory below 1 MiB.)"""
    if b.machine.cmdline.efi_debug:
        return []
    return [(max(s, SZ_1M), e) for s, e in efi.reserved if e > SZ_1M]
