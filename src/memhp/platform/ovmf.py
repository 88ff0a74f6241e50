# SPDX-License-Identifier: GPL-2.0-or-later
"""OVMF (EDK II for QEMU) booting Linux through its EFI stub: what the firmware and the stub
hand to the kernel besides the memory maps, as far as the firmware lines show it.

Measured on Debian 12's ``ovmf`` (2022.11) with QEMU 7.2, ``-bios OVMF.fd -kernel -initrd``
(corpus ``efi/e01``–``e04``, both ``pc`` and ``q35``):

* **The e820 map** is the one the stub's ``setup_e820()`` builds from the EFI map
  (drivers/firmware/efi/libstub/x86-stub.c): loader, boot services and conventional
  memory are usable, runtime regions reserved, ACPI reclaim "ACPI data", ACPI NVS "ACPI
  NVS".  OVMF's own early-boot ranges below 9 MiB are ACPI NVS, so an OVMF e820 is told
  apart from SeaBIOS' by its ``ACPI NVS`` at 0x800000 and the EDK II ``BGRT`` table.
* **The kernel image** runs where OVMF's ``LoadImage()`` put the PE image (6.1's
  ``efi_main`` relocates only an image below LOAD_PHYSICAL_ADDR or misaligned): the largest
  EFI Loader Code region, whose size covers the image's decompressed size.
* **The EFI memory map** itself: the stub allocates it from pool as ACPI reclaim memory
  (``efi_get_memory_map(map, true)``, libstub/mem.c), with room for more descriptors (how
  many is the kernel's: kernel/efi.py); OVMF serves it from its ACPI reclaim bin top-down,
  in the whole pages right below the lowest ACPI table there, after a 24-byte pool header.
  This model gives where a request of each size lands; OVMF's descriptors are 48 bytes.
* **setup_data**: the stub's ``setup_efi_pci()`` copies each PCI option ROM into a
  setup_data blob from pool (loader data).  QEMU 7.2's default VGA and NIC (``pc``: e1000,
  ``q35``: e1000e) carry ROMs of 0x9c00 and 0x3d000 bytes; each blob is the ROM plus a
  0x40-byte header, in pages of its own (24-byte pool header first), allocated top-down right
  below the initrd.  The model takes the ROM set (with or without the NIC) whose pages make
  the loader-data region start exactly where it does; if none does, it says it cannot tell.

Not in the firmware lines, so left ``unknown`` (with why) unless the full log has it: the
EFI memory attributes table (a pool allocation inside boot services data; the full log's
``efi: ... MEMATTR=`` line and ``efi: memattr:`` entries tell it).
"""

from __future__ import annotations

import dataclasses

from memhp.firmware.types import (
    E820_NVS,
    EFI_ACPI_RECLAIM_MEMORY,
    EFI_LOADER_CODE,
    EFI_LOADER_DATA,
    UNKNOWN_EFI_BGRT,
    UNKNOWN_EFI_MAP,
    UNKNOWN_EFI_MEMATTR,
    UNKNOWN_EFI_MEMMAP_AT,
    UNKNOWN_KERNEL_LOAD,
    UNKNOWN_SETUP_DATA,
    EfiMemoryDescriptor,
    Machine,
)
from memhp.kernel.pfn import round_up

__all__ = ["is_ovmf", "complete_handover"]

PAGE = 0x1000
POOL_HEAD = 0x18  # EDK II POOL_HEAD before the caller's bytes
POOL_TAIL = 0x8  # EDK II POOL_TAIL after them
MAX_SLACK_SLOTS = 64  # room for any stub's EFI_MMAP_NR_SLACK_SLOTS (8, then 32)
DESC_SIZE = 48  # OVMF's EFI_MEMORY_DESCRIPTOR stride
PCI_SETUP_ROM_HEAD = 0x40  # struct setup_data + struct pci_setup_rom before romdata[]
# QEMU 7.2's option ROMs of the default devices, in the order the stub allocates them:
# VGA (vgabios-stdvga.bin) first, at the top, then the NIC (efi-e1000.rom / efi-e1000e.rom);
# without a NIC (-nic none) the VGA ROM alone.
QEMU_ROM_SETS = ((0x9C00, 0x3D000), (0x9C00,))
OVMF_NVS_START = 0x800000  # OVMF's early-boot ACPI NVS ranges start at 8 MiB


def is_ovmf(machine: Machine) -> bool:
    """A QEMU machine booted by OVMF: QEMU's ACPI tables (OEM ``BOCHS``) with the EDK II
    boot graphics table, or OVMF's ACPI NVS at 8 MiB in the e820 map."""
    qemu = any(t.oem_id.rstrip() == "BOCHS" for t in machine.acpi_tables)
    edk2 = any(t.signature == "BGRT" and t.oem_table_id.rstrip() == "EDK2"
               for t in machine.acpi_tables)
    nvs = any(e.type == E820_NVS and e.start == OVMF_NVS_START for e in machine.e820)
    return qemu and (edk2 or nvs)


def _pages(size: int) -> int:
    return round_up(size, PAGE)


def _kernel_load(memmap: tuple[EfiMemoryDescriptor, ...]) -> int | None:
    code = [md for md in memmap if md.type == EFI_LOADER_CODE]
    return max(code, key=lambda md: md.end - md.start).start if code else None


def _memmap_pool(machine: Machine) -> tuple[tuple[int, int], ...]:
    """Where OVMF serves the stub's request for the EFI map, for each size it may ask (the
    stub's slack grew between kernel versions): whole pages right below the lowest ACPI
    table of the ACPI reclaim region that holds the tables, the request after the pool
    header.  Empty when no such region has room for the map."""
    memmap = machine.efi_memmap
    for md in memmap:
        if md.type != EFI_ACPI_RECLAIM_MEMORY:
            continue
        inside = [t.address for t in machine.acpi_tables if md.start <= t.address < md.end]
        if not inside:
            continue
        top = min(inside) // PAGE * PAGE
        # up to the map with the most slack, plus a page for the stub's header before it
        largest = _pages(POOL_HEAD + PAGE + (len(memmap) + MAX_SLACK_SLOTS) * DESC_SIZE
                         + POOL_TAIL)
        return tuple((pages - POOL_HEAD - POOL_TAIL, top - pages + POOL_HEAD)
                     for pages in range(PAGE, largest + 1, PAGE) if top - pages >= md.start)
    return ()


def _rom_setup_data(machine: Machine) -> tuple[tuple[int, int], ...] | None:
    """The option-ROM setup_data blobs right below the initrd: those of the QEMU ROM set
    (VGA and NIC, or VGA alone under ``-nic none``) whose pages make the loader-data region
    that holds the initrd start exactly where it does; None if no set fits."""
    if machine.initrd is None:
        return None
    initrd = machine.initrd[0]
    region = next((md for md in machine.efi_memmap
                   if md.type == EFI_LOADER_DATA and md.start <= initrd < md.end), None)
    for roms in QEMU_ROM_SETS:
        top = initrd
        blobs: list[tuple[int, int]] = []
        for rom in roms:
            size = PCI_SETUP_ROM_HEAD + rom
            top -= _pages(POOL_HEAD + size + POOL_TAIL)
            blobs.append((top + POOL_HEAD, top + POOL_HEAD + size))
        if region is not None and region.start == top:
            return tuple(sorted(blobs))
    return None


def complete_handover(machine: Machine) -> Machine:
    """The machine with what OVMF and the EFI stub handed over filled in where the firmware
    lines tell it, and ``unknown_inputs`` naming what they cannot tell.  Values the log gave
    itself (``setup_data``, the attributes table) are kept.  A UEFI boot by other firmware
    (an EFI map in the log, no OVMF) gets the same inputs marked unknown: only OVMF's
    placements are measured."""
    ovmf = is_ovmf(machine)
    if not ovmf and not machine.efi_boot:
        return machine
    unknown = list(machine.unknown_inputs)
    changes: dict[str, object] = {"efi_boot": True}
    memmap = machine.efi_memmap
    nomap = ("the EFI memory map is not in the log (boot with efi=debug to print it); "
             "OVMF's allocations are known only from it")
    if not ovmf:
        memmap = ()
        nomap = ("UEFI firmware other than OVMF: where it and the boot loader put the kernel, "
                 "the EFI map and setup_data is not modelled")
    else:
        changes["efi_memdesc_size"] = DESC_SIZE
    if not machine.efi_memmap:
        unknown.append((UNKNOWN_EFI_MAP, nomap))
    if machine.kernel_load is None:
        load = _kernel_load(memmap)
        if load is None:
            unknown.append((UNKNOWN_KERNEL_LOAD, nomap if not memmap else
                            "no EFI Loader Code region holds the kernel image"))
        changes["kernel_load"] = load
    if machine.efi_memmap_at is None and machine.efi_memmap:
        pool = _memmap_pool(machine) if ovmf else ()
        if not pool:
            unknown.append((UNKNOWN_EFI_MEMMAP_AT, nomap if not ovmf else
                            "no ACPI reclaim region with room below the ACPI tables"))
        changes["efi_memmap_pool"] = pool
    if not machine.setup_data:
        blobs = _rom_setup_data(machine) if memmap else None
        if blobs is None:
            unknown.append((UNKNOWN_SETUP_DATA,
                            nomap if not memmap else "the loader-data region below the initrd "
                            "does not fit QEMU's default option ROMs"))
        changes["setup_data"] = blobs or ()
    if machine.efi_memattr is None:
        unknown.append((UNKNOWN_EFI_MEMATTR, "a firmware pool allocation: its address and "
                        "size are printed only in the full log ('efi: ... MEMATTR=' and, with "
                        "efi=debug, the 'efi: memattr:' entries)"))
    has_bgrt = any(t.signature == "BGRT" for t in machine.acpi_tables)
    if has_bgrt and not machine.efi_mem_reserve:
        unknown.append((UNKNOWN_EFI_BGRT, "the logo's address is in the BGRT table; the log "
                        "shows it only in the runtime EFI map (efi=debug)"))
    changes["unknown_inputs"] = tuple(unknown)
    return dataclasses.replace(machine, **changes)  # type: ignore[arg-type]
