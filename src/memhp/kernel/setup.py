# SPDX-License-Identifier: GPL-2.0-or-later
"""The x86_64 boot sequence, modelled on setup_arch() in arch/x86/kernel/setup.c and on
start_kernel() up to mm_init() in init/main.c (Linux 6.1).

``boot`` runs, in the kernel's order, every step that decides where boot memory goes.
Each step lives in the module named after the kernel file that has it; this module keeps
the order, and the few steps that are setup.c's own (early_reserve_memory, reserve_brk,
the memblock limit).  ``memhp.replay`` runs the same steps between the requests of a
real log.
"""

from __future__ import annotations

from memhp.firmware.types import E820_USABLE, Machine
from memhp.kernel import efi, x86_mm_init
from memhp.kernel import memblock as mbk
from memhp.kernel.acpi_tables import acpi_reserve_initial_tables
from memhp.kernel.dcache import vfs_caches_init_early
from memhp.kernel.e820 import (
    ISA_END_ADDRESS,
    e820__end_of_ram_pfn,
    e820__memblock_setup,
    e820__memory_setup,
    e820__range_remove,
    e820__register_nosave_regions,
    e820__reserve_resources,
    e820_print,
    parse_memmap_opt,
    trim_bios_range,
)
from memhp.kernel.ebda import reserve_bios_regions
from memhp.kernel.init_main import print_unknown_bootoptions, setup_command_line
from memhp.kernel.memory_blocks import sysfs_memory
from memhp.kernel.memory_hotplug import offline_after_boot
from memhp.kernel.mm_init import memblock_find_dma_reserve
from memhp.kernel.numa import init_cpu_to_node, initmem_init
from memhp.kernel.page_alloc import build_all_zonelists
from memhp.kernel.percpu import setup_per_cpu_areas
from memhp.kernel.pfn import div_round_up, round_up
from memhp.kernel.profile import KernelProfile, machine_profile
from memhp.kernel.realmode import reserve_real_mode
from memhp.kernel.state import Boot, alloc, dump
from memhp.model_limits import check_kernel_pages, check_ram, model_limits

__all__ = ["Boot", "boot", "early_reserve_memory", "mapped_limit", "memblock_setup",
           "setup_arch_tail", "setup_start", "start_kernel_allocs"]


def early_reserve_memory(boot: Boot) -> None:
    """early_reserve_memory(): kernel image, first 64K, initrd, BIOS regions (not logged)."""
    prof, m = boot.profile, boot.machine
    boot.reserve(prof.kernel_text, prof.kernel_reserve_end - prof.kernel_text, "kernel image",
                 kern=True)
    boot.reserve(0, prof.low_reserve, "low memory (first 64K)")
    if m.initrd:
        start, end = m.initrd
        end = round_up(end, prof.page_size)
        boot.reserve(start, end - start, "initrd (given back when user space starts)",
                     kern=True)
    for start, end in m.setup_data:  # memblock_x86_reserve_range_setup_data()
        boot.reserve(start, end - start, "setup_data from the boot loader", kern=True)
    reserve_bios_regions(boot)


def setup_start(machine: Machine, prof: KernelProfile) -> Boot:
    """setup_arch() up to memblock: early reservations and the kernel's e820 table."""
    prof = machine_profile(machine, prof)
    cmd = machine.cmdline
    mb = mbk.Memblock(movable_node=cmd.movable_node, rsrv_kern=prof.has("memblock_rsrv_kern"))
    b = Boot(machine, prof, mb)
    b.notes.extend([prof.chosen_note] if prof.chosen_note else [])
    b.notes.extend(machine.notes)
    b.notes.extend(cmd.notes)
    b.notes.extend(model_limits(machine))
    b.unknown = efi.unknown_facts(b)
    if machine.efi_boot and not prof.measured_uefi:
        b.notes.append(f"UEFI: memhp's EFI model is not checked against a UEFI boot of "
                       f"Linux {prof.kernel_version} (profile {prof.name})")
    b.notes.extend(f"unknown {', '.join(u.affects)}: {u.input}: {u.why}" for u in b.unknown)
    log = b.log
    log.append(f"Command line: {cmd.raw}")
    e820 = e820__memory_setup(b)
    log.append("BIOS-provided physical RAM map:")
    log.extend(e820_print(e820, "BIOS-e820", prof))
    early_reserve_memory(b)
    efi.efi_memblock_x86_reserve_range(b)
    efi.efi_memattr_init(b)
    for value in cmd.memmap:
        e820 = parse_memmap_opt(e820, value)
    if cmd.mem is not None:  # parse_memopt()
        if any(e.type == E820_USABLE and e.end > cmd.mem for e in e820):
            b.mem_limit = cmd.mem
        e820, _ = e820__range_remove(e820, cmd.mem, (1 << 64) - 1 - cmd.mem, E820_USABLE)
    if cmd.mem is not None or cmd.memmap:  # e820__finish_early_params()
        log.append("e820: user-defined physical RAM map:")
        log.extend(e820_print(e820, "user", prof))
    if cmd.movable_node:
        mb.bottom_up = True
    e820, lines = trim_bios_range(e820, prof)
    log.extend(lines)
    b.e820 = e820__end_of_ram_pfn(b, e820)
    return b


def memblock_setup(b: Boot) -> None:
    """reserve_brk(), then e820__memblock_setup() under the ISA limit, and the first dump."""
    prof = b.profile
    if prof.brk_used:
        b.reserve(prof.brk_start, prof.brk_used, "kernel brk", "setup_arch", kern=True)
    b.memblock.current_limit = ISA_END_ADDRESS
    e820__memblock_setup(b.e820, b.memblock, prof)
    check_ram(b)
    dump(b)
    if b.machine.efi_boot:
        efi.efi_find_mirror(b)
        b.efi = efi.efi_reserve_boot_services(b)


def init_mem_mapping(b: Boot) -> None:
    """init_mem_mapping() (arch/x86/mm/init.c); then memblock may allocate up to what the
    direct map covers."""
    prof, mb = b.profile, b.memblock
    dm = x86_mm_init.init_mem_mapping(mb, prof, b.max_pfn)
    mb.current_limit = dm.max_pfn_mapped << prof.page_shift
    b.max_low_pfn = b.max_pfn  # 64-bit keeps no highmem


def mapped_limit(b: Boot) -> None:
    """memblock_set_current_limit(get_max_mapped()) after init_mem_mapping()."""
    b.memblock.current_limit = b.max_pfn << b.profile.page_shift
    b.max_low_pfn = b.max_pfn


def setup_arch_tail(b: Boot) -> None:
    """The boot allocations of setup_arch() after the zones: ACPI HPET and IOAPIC resources,
    the e820 resources and firmware map, the hibernation nosave regions."""
    prof, m = b.profile, b.machine
    signatures = {t.signature for t in m.acpi_tables}
    if "HPET" in signatures:
        alloc(b, prof.hpet_resource_size, "acpi_parse_hpet")
    if "BGRT" in signatures and b.efi is not None:  # acpi_parse_bgrt() -> efi_bgrt_init()
        for start, end in m.efi_mem_reserve:
            efi.efi_arch_mem_reserve(b, b.efi, start, end - start)
    if "APIC" in signatures:
        alloc(b, prof.ioapic_resource_size, "io_apic_init_mappings")
    e820__reserve_resources(b)
    e820__register_nosave_regions(b)


def start_kernel_allocs(b: Boot) -> None:
    """start_kernel() up to mm_init(): command-line copies, per-CPU areas, cpumasks,
    zonelists, unknown parameters, early hash tables, fixmap page tables."""
    assert b.numa is not None and b.zones is not None
    prof, mb = b.profile, b.memblock
    setup_command_line(b)
    b.percpu, _ = setup_per_cpu_areas(mb, b.cpu_node, b.numa.online, prof)
    nr_node_ids = max([*b.numa.online, *b.cpu_node], default=0) + 1
    mask = 8 * div_round_up(len(b.cpu_node), 64)
    for _ in range(nr_node_ids + prof.cpumask_boot_allocs):
        alloc(b, mask, "alloc_bootmem_cpumask_var")
    memory_nodes = [n for n, z in sorted(b.zones.nodes.items()) if z.present]
    b.zonelists, lines = build_all_zonelists(b.numa.online, memory_nodes, b.cpu_node,
                                             prof.max_numnodes)
    b.log.extend(lines)
    print_unknown_bootoptions(b)
    if len(memory_nodes) == 1:  # page_alloc_init() turns hashdist off
        vfs_caches_init_early(b)
    for _ in range(prof.spp_getpage_pages):
        alloc(b, prof.page_size, "spp_getpage", prof.page_size)


def boot(machine: Machine, prof: KernelProfile) -> Boot:
    """The whole modelled boot of one machine, in the kernel's order."""
    b = setup_start(machine, prof)
    memblock_setup(b)
    reserve_real_mode(b)
    init_mem_mapping(b)
    if machine.initrd:
        b.log.append(f"RAMDISK: [mem {machine.initrd[0]:#010x}-{machine.initrd[1] - 1:#010x}]")
    acpi_reserve_initial_tables(b)
    initmem_init(b)
    b.dma_reserve = memblock_find_dma_reserve(b.memblock, prof.page_shift)
    if prof.has("free_area_init_after_setup_arch"):
        init_cpu_to_node(b)
        setup_arch_tail(b)
        x86_mm_init.paging_init(b)  # mm_core_init_early() -> free_area_init()
    else:
        x86_mm_init.paging_init(b)  # free_area_init(): memoryless nodes get a pg_data_t
        init_cpu_to_node(b)  # then their CPUs bring them online
        setup_arch_tail(b)
    check_kernel_pages(b)
    start_kernel_allocs(b)
    x86_mm_init.mem_init(b)  # mm_init()
    sysfs_memory(b)  # driver_init()
    offline_after_boot(b)
    return b
