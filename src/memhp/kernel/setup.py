# SPDX-License-Identifier: GPL-2.0-or-later
"""The x86_64 boot sequence, modelled on setup_arch() in arch/x86/kernel/setup.c (6.1).

``boot`` runs, in the kernel's order, every step that decides where boot memory goes:
early reservations, the e820 map into memblock, the real-mode trampoline, the direct
map, the ACPI tables, NUMA set-up and NODE_DATA, zones and the sysfs memory blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.firmware.types import E820_USABLE, Machine
from memhp.kernel import memblock as mbk
from memhp.kernel import x86_mm_init
from memhp.kernel.e820 import (
    ISA_END_ADDRESS,
    e820__memblock_setup,
    e820__range_remove,
    e820_end_pfn,
    e820_print,
    trim_bios_range,
)
from memhp.kernel.memory_blocks import MemoryBlock, memory_dev_init, probe_memory_block_size
from memhp.kernel.mm_init import ZoneLayout, free_area_init, zone_sizes_init
from memhp.kernel.numa import NumaResult, x86_numa_init
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import SparseMap, memblocks_present

BIOS_START_MIN = 0x20000
BIOS_START_MAX = 0x9F000
ROOT_TABLES = ("RSDP", "RSDT", "XSDT")


@dataclass
class Boot:
    """Everything the modelled boot decided, with the kernel's messages in order."""

    machine: Machine
    profile: KernelProfile
    memblock: mbk.Memblock
    e820: tuple[object, ...] = ()
    max_pfn: int = 0
    max_low_pfn: int = 0
    dumps: list[list[list[list[int | None]]]] = field(default_factory=list)
    dump_lines: list[list[str]] = field(default_factory=list)
    numa: NumaResult | None = None
    sparse: SparseMap | None = None
    zones: ZoneLayout | None = None
    block_size: int = 0
    blocks: list[MemoryBlock] = field(default_factory=list)
    reservations: list[tuple[int, int, str]] = field(default_factory=list)  # what each is
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # model limits and kernel fallbacks


def _dump(boot: Boot) -> None:
    mb = boot.memblock
    boot.dumps.append([mbk.snapshot(mb.memory), mbk.snapshot(mb.reserved)])
    lines = mbk.memblock_dump_all(mb)
    boot.dump_lines.append(lines)
    if boot.machine.cmdline.memblock_debug:
        boot.log.extend(lines)


def _reserve(boot: Boot, base: int, size: int, what: str, caller: str = "") -> None:
    mbk.memblock_reserve(boot.memblock, base, size, caller)
    boot.reservations.append((base, base + size, what))


def reserve_bios_regions(boot: Boot) -> None:
    """reserve_bios_regions() (arch/x86/kernel/ebda.c): EBDA and BIOS area up to 1M.

    The BIOS data area is not in the firmware lines; its "low memory size" is the end
    of the first usable e820 entry, as SeaBIOS and most BIOSes report it.
    """
    low = next((e.end for e in boot.machine.e820 if e.type == E820_USABLE and e.start == 0), 0)
    bios_start = low if BIOS_START_MIN <= low <= BIOS_START_MAX else BIOS_START_MAX
    bios_start -= bios_start % boot.profile.page_size
    _reserve(boot, bios_start, 0x100000 - bios_start, "BIOS regions (EBDA to 1M)")


def early_reserve_memory(boot: Boot) -> None:
    """early_reserve_memory(): kernel image, first 64K, initrd, BIOS regions (not logged)."""
    prof, m = boot.profile, boot.machine
    _reserve(boot, prof.kernel_text, prof.kernel_reserve_end - prof.kernel_text, "kernel image")
    _reserve(boot, 0, prof.low_reserve, "low memory (first 64K)")
    if m.initrd:
        start, end = m.initrd
        end = -(-end // prof.page_size) * prof.page_size
        _reserve(boot, start, end - start, "initrd")
    reserve_bios_regions(boot)


def reserve_real_mode(boot: Boot) -> None:
    """reserve_real_mode() (arch/x86/realmode/init.c): trampoline below 1M, then all of 1M."""
    mb, prof = boot.memblock, boot.profile
    addr = mbk.memblock_phys_alloc_range(mb, prof.real_mode_size, prof.page_size, 0, 1 << 20,
                                         "reserve_real_mode")
    if addr:
        boot.reservations.append((addr, addr + prof.real_mode_size, "real-mode trampoline"))
    else:
        boot.log.append("No sub-1M memory is available for the trampoline")
    _reserve(boot, 0, 1 << 20, "first 1M", "setup_arch")


def acpi_reserve_initial_tables(boot: Boot) -> None:
    """acpi_reserve_initial_tables() (drivers/acpi/tables.c): every table but the roots."""
    for t in boot.machine.acpi_tables:
        if t.signature in ROOT_TABLES or not t.address or not t.length:
            continue
        boot.log.append(f"ACPI: Reserving {t.signature:>4} table memory at "
                        f"[mem {t.address:#x}-{t.address + t.length - 1:#x}]")
        _reserve(boot, t.address, t.length, f"ACPI {t.signature} table",
                 "acpi_reserve_initial_tables")


def model_limits(machine: Machine) -> list[str]:
    """What this machine asks for that the model does not cover, in one line each."""
    cmd, notes = machine.cmdline, []
    if not cmd.nokaslr:
        notes.append("KASLR is on (no nokaslr): the kernel image lands at random; memhp uses "
                     "the profile's nokaslr placement")
    for p in cmd.unknown:
        if p.startswith("numa=fake"):
            notes.append(f"{p}: NUMA emulation is not modelled; predicted without it")
        elif p.split("=", 1)[0] in ("memmap", "efi_fake_mem", "crashkernel", "memhp_default_state",
                                    "movable_node_for_cxl", "hugepages", "hugetlb_cma", "cma"):
            notes.append(f"{p}: not modelled; predicted as if it were absent")
    return notes


def boot(machine: Machine, prof: KernelProfile) -> Boot:
    """setup_arch() up to the memory blocks: the whole modelled boot of one machine."""
    cmd = machine.cmdline
    mb = mbk.Memblock(movable_node=cmd.movable_node)
    b = Boot(machine, prof, mb)
    b.notes.extend(cmd.notes)
    b.notes.extend(model_limits(machine))
    log = b.log
    log.append(f"Command line: {cmd.raw}")
    log.append("BIOS-provided physical RAM map:")
    log.extend(e820_print(machine.e820, "BIOS-e820"))
    early_reserve_memory(b)
    e820 = machine.e820
    if cmd.mem is not None:
        e820, _ = e820__range_remove(e820, cmd.mem, (1 << 64) - 1 - cmd.mem, E820_USABLE)
        log.append("e820: user-defined physical RAM map:")
        log.extend(e820_print(e820, "user"))
    if cmd.movable_node:
        mb.bottom_up = True
    e820, lines = trim_bios_range(e820)
    log.extend(lines)
    b.e820 = e820
    max_arch_pfn = 1 << (prof.max_physmem_bits - prof.page_shift)
    b.max_pfn = e820_end_pfn(e820, max_arch_pfn, E820_USABLE, prof.page_shift)
    log.append(f"last_pfn = {b.max_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    b.max_low_pfn = b.max_pfn
    if b.max_pfn > 1 << (32 - prof.page_shift):
        b.max_low_pfn = e820_end_pfn(e820, 1 << (32 - prof.page_shift), E820_USABLE,
                                     prof.page_shift)
        log.append(f"last_pfn = {b.max_low_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    if prof.brk_used:
        _reserve(b, prof.brk_start, prof.brk_used, "kernel brk", "setup_arch")
    mb.current_limit = ISA_END_ADDRESS
    e820__memblock_setup(e820, mb, prof.page_size)
    _dump(b)
    reserve_real_mode(b)
    dm = x86_mm_init.init_mem_mapping(mb, prof, b.max_pfn)
    for pa in dm.memblock_pages:
        b.reservations.append((pa, pa + prof.page_size, "direct-map page table"))
    mb.current_limit = dm.max_pfn_mapped << prof.page_shift
    b.max_low_pfn = b.max_pfn  # init_mem_mapping(): 64-bit keeps no highmem
    if machine.initrd:
        log.append(f"RAMDISK: [mem {machine.initrd[0]:#010x}-{machine.initrd[1] - 1:#010x}]")
    acpi_reserve_initial_tables(b)
    b.numa = x86_numa_init(mb, machine.srat, cmd.numa_off, b.max_pfn, prof)
    log.extend(b.numa.log)
    for nid, pa in b.numa.node_data.items():
        b.reservations.append((pa, pa + prof.node_data_size, f"NODE_DATA({nid})"))
    _dump(b)
    b.sparse = memblocks_present(mb, prof)
    b.zones = free_area_init(mb, zone_sizes_init(b.max_low_pfn), b.numa.online, cmd,
                             b.sparse, prof)
    log.extend(b.zones.log)
    b.notes.extend(b.zones.notes)
    b.block_size = probe_memory_block_size(b.max_pfn, machine.hypervisor, prof)
    b.blocks = memory_dev_init(mb, b.zones, b.sparse, b.block_size, b.numa.online, prof)
    return b
