# SPDX-License-Identifier: GPL-2.0-or-later
"""The x86_64 boot sequence, modelled on setup_arch() in arch/x86/kernel/setup.c and on
start_kernel() up to mem_init() (Linux 6.1).

``boot`` runs, in the kernel's order, every step that decides where boot memory goes:
early reservations, the e820 map into memblock, the real-mode trampoline, the direct
map, the ACPI tables, NUMA set-up and NODE_DATA, the sparse memory map, zones, the
remaining boot allocations (per-CPU areas, swiotlb, ...), the hand-over to the buddy
allocator and the sysfs memory blocks.  Each step is a function of its own, so that
``memhp.replay`` can run the same steps between the requests of a real log.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from memhp.errors import InputError
from memhp.firmware.e820 import sanitize_e820
from memhp.firmware.types import E820_USABLE, E820Entry, Machine, SratUnknown
from memhp.intervals import Ranges
from memhp.kernel import efi, x86_mm_init
from memhp.kernel import memblock as mbk
from memhp.kernel.e820 import (
    ISA_END_ADDRESS,
    e820__memblock_setup,
    e820__range_remove,
    e820_end_pfn,
    e820_entries_with_setup_data,
    e820_print,
    parse_memmap_opt,
    trim_bios_range,
)
from memhp.kernel.efi import EfiBoot, Unknown
from memhp.kernel.memory_blocks import (
    Blocks,
    cedt_note,
    memory_dev_init,
    probe_memory_block_size,
)
from memhp.kernel.memory_hotplug import Verdicts, predict_offline
from memhp.kernel.mm_init import (
    ZoneLayout,
    free_area_init,
    memblock_find_dma_reserve,
    zone_sizes_init,
)
from memhp.kernel.numa import NumaResult, node_data_line, x86_numa_init
from memhp.kernel.page_alloc import build_all_zonelists, managed_pages, memblock_free_all
from memhp.kernel.percpu import PercpuLayout, setup_per_cpu_areas
from memhp.kernel.profile import KernelProfile
from memhp.kernel.sparse import SparseAllocs, SparseMap, memblocks_present, sparse_init

NR_CPUS = 8192  # CONFIG_NR_CPUS of the Debian build: more possible CPUs are cut off
BIOS_START_MIN = 0x20000
BIOS_START_MAX = 0x9F000
ROOT_TABLES = ("RSDP", "RSDT", "XSDT")


@dataclass
class Boot:
    """Everything the modelled boot decided, with the kernel's messages in order."""

    machine: Machine
    profile: KernelProfile
    memblock: mbk.Memblock
    e820: tuple[E820Entry, ...] = ()
    max_pfn: int = 0
    max_low_pfn: int = 0
    dumps: list[list[list[list[int | None]]]] = field(default_factory=list)
    numa: NumaResult | None = None
    sparse: SparseMap | None = None
    zones: ZoneLayout | None = None
    block_size: int = 0
    blocks: Blocks = field(default_factory=Blocks)
    reservations: list[tuple[int, int, str]] = field(default_factory=list)  # what each is
    cpu_node: list[int] = field(default_factory=list)  # node of each possible CPU
    dma_reserve: int = 0
    hotplug: list[tuple[int, int, int | None]] = field(default_factory=list)  # after NUMA
    kernel_at_numa: list[tuple[int, int, int | None]] = field(default_factory=list)
    events_at_numa: int = 0
    sparse_allocs: SparseAllocs | None = None
    percpu: PercpuLayout | None = None
    zonelists: dict[int, list[int]] = field(default_factory=dict)
    managed: dict[tuple[int, int], int] = field(default_factory=dict)  # (nid, zone) -> pages
    offline: Verdicts = field(default_factory=Verdicts)
    efi: EfiBoot | None = None  # UEFI boots: boot services memory kept or freed
    unknown: list[Unknown] = field(default_factory=list)  # facts the input cannot decide
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # model limits and kernel fallbacks

    def unknown_fact(self, fact: str) -> bool:
        """Whether the input cannot decide ``fact`` (one of kernel.efi's fact names)."""
        return any(fact in u.affects for u in self.unknown)

    def reserve(self, base: int, size: int, what: str, caller: str = "",
                kern: bool = False) -> None:
        """memblock_reserve(), or memblock_reserve_kern() for the kernel's own memory,
        remembering what the reservation holds."""
        if kern:
            mbk.memblock_reserve_kern(self.memblock, base, size, caller)
        else:
            mbk.memblock_reserve(self.memblock, base, size, caller)
        self.reservations.append((base, base + size, what))


def _dump(boot: Boot) -> None:
    mb = boot.memblock
    boot.dumps.append([mbk.snapshot(mb.memory), mbk.snapshot(mb.reserved)])
    if boot.machine.cmdline.memblock_debug:
        boot.log.extend(mbk.memblock_dump_all(mb))


def _reserve(boot: Boot, base: int, size: int, what: str, caller: str = "",
             kern: bool = False) -> None:
    boot.reserve(base, size, what, caller, kern)


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
    _reserve(boot, prof.kernel_text, prof.kernel_reserve_end - prof.kernel_text, "kernel image",
             kern=True)
    _reserve(boot, 0, prof.low_reserve, "low memory (first 64K)")
    if m.initrd:
        start, end = m.initrd
        end = -(-end // prof.page_size) * prof.page_size
        _reserve(boot, start, end - start, "initrd (given back when user space starts)",
                 kern=True)
    for start, end in m.setup_data:  # memblock_x86_reserve_range_setup_data()
        _reserve(boot, start, end - start, "setup_data from the boot loader", kern=True)
    reserve_bios_regions(boot)


def reserve_real_mode(boot: Boot) -> None:
    """reserve_real_mode() (arch/x86/realmode/init.c): trampoline below 1M, then all of 1M."""
    mb, prof = boot.memblock, boot.profile
    addr = mbk.memblock_phys_alloc_range(mb, prof.real_mode_size, prof.page_size, 0, 1 << 20,
                                         "reserve_real_mode")
    if not addr:
        boot.log.append("No sub-1M memory is available for the trampoline")
    _reserve(boot, 0, 1 << 20, "first 1M", "setup_arch")
    real_mode_reserved(boot)


def real_mode_reserved(boot: Boot) -> None:
    """The end of reserve_real_mode(): memory below 1M stops being KHO scratch."""
    if boot.profile.has("kho_scratch_below_1m"):
        mbk.memblock_clear_kho_scratch(boot.memblock, 0, ISA_END_ADDRESS)


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
        elif p.split("=", 1)[0] in ("efi_fake_mem", "crashkernel", "memhp_default_state",
                                    "movable_node_for_cxl", "hugepages", "hugetlb_cma", "cma"):
            notes.append(f"{p}: not modelled; predicted as if it were absent")
    modelled = (E820_USABLE, "reserved", "ACPI data", "ACPI NVS", "unusable", "soft reserved")
    for t in sorted({e.type for e in machine.e820} - set(modelled)):
        notes.append(f"e820 type '{t}' is not modelled beyond the kernel's rule that it is not "
                     "RAM (persistent memory and device memory come later, as ZONE_DEVICE)")
    srat = machine.srat
    if srat is not None:
        kinds = {e.type for e in srat.entries if isinstance(e, SratUnknown)}
        if 3 in kinds:
            notes.append("the SRAT has GICC (arm64) entries: memhp models x86_64 only")
        if kinds - {3}:
            notes.append(f"SRAT subtable type(s) {', '.join(map(str, sorted(kinds - {3})))} "
                         "(generic initiators, ITS, ...) are not modelled; they add no memory")
        if any(m.non_volatile for m in srat.memory):
            notes.append("non-volatile SRAT memory ranges are treated like any other RAM")
    if machine.la57 is None and not machine.hypervisor:
        notes.append("whether the CPU has 5-level paging (LA57) is not in the input; the "
                     "profile's paging is assumed (set la57 in a machine file)")
    cpus, _ = possible_cpus(machine)
    if len(cpus) == NR_CPUS:
        notes.append(f"at most NR_CPUS={NR_CPUS} CPUs are possible; more are ignored")
    if len(cpus) > 33:
        notes.append(f"{len(cpus)} CPUs: setup_log_buf() then allocates a larger log buffer "
                     "from memblock, which memhp does not model")
    return notes


def possible_cpus(machine: Machine) -> tuple[list[int], str]:
    """APIC ids of the possible CPUs, in CPU-number order, and where the count came from.

    The MADT itself is not among the firmware lines; the count comes from the machine file,
    else the enabled SRAT processor entries, else the length of a QEMU (BOCHS) MADT.
    """
    if machine.cpus is not None:
        # the boot CPU is always there
        return list(range(min(max(machine.cpus, 1), NR_CPUS))), "the machine file"
    srat_cpus = [c.apic_id for c in (machine.srat.cpus if machine.srat else ()) if c.enabled]
    if srat_cpus:
        return sorted(srat_cpus)[:NR_CPUS], "the SRAT's enabled processor entries"
    madt = next((t for t in machine.acpi_tables if t.signature == "APIC"), None)
    if madt is not None and madt.oem_id.strip() == "BOCHS" and madt.length >= 120:
        # QEMU's MADT: 44-byte header, an IOAPIC, 5 interrupt overrides, one LAPIC NMI
        return list(range(min((madt.length - 112) // 8, NR_CPUS))), "the length of QEMU's MADT"
    return [0], "nothing (assumed 1)"


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


def check_ram(b: Boot) -> None:
    """A machine without RAM is refused in one line (the kernel panics).  Any amount the
    kernel maps is modelled: the model's cost follows the regions, not the bytes."""
    if not b.memblock.memory.regions:
        raise InputError(b.machine.name or "machine", "e820", "no usable RAM",
                         "the kernel cannot boot without RAM (it panics)")


KERNEL_ALIGN = 0x200000  # CONFIG_PHYSICAL_ALIGN of the Debian build


def machine_profile(machine: Machine, prof: KernelProfile) -> KernelProfile:
    """The profile as this CPU runs it: without LA57 a 5-level kernel falls back to 4-level
    paging, which also narrows the physical address space to 46 bits.  A kernel the boot
    loader placed itself (the EFI stub runs in place) decompresses where it was loaded,
    aligned up to CONFIG_PHYSICAL_ALIGN and at least at LOAD_PHYSICAL_ADDR
    (arch/x86/boot/compressed/head_64.S), instead of at the profile's address."""
    if machine.la57 is False and prof.pgtable_levels == 5:
        prof = dataclasses.replace(prof, pgtable_levels=4, max_physmem_bits=46)
    if machine.kernel_load is not None:
        load = max(-(-machine.kernel_load // KERNEL_ALIGN) * KERNEL_ALIGN, prof.kernel_text)
        shift = load - prof.kernel_text
        prof = dataclasses.replace(
            prof, kernel_text=load, kernel_reserve_end=prof.kernel_reserve_end + shift,
            brk_start=prof.brk_start + shift, kernel_end=prof.kernel_end + shift)
    return prof


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
    if machine.efi_boot and prof.version != (6, 1):
        b.notes.append(f"UEFI: memhp's EFI model follows Linux 6.1 (measured on the efi/ "
                       f"corpus); Linux {prof.kernel_version} is not checked against a UEFI "
                       "boot")
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
    if cmd.mem is not None:
        e820, _ = e820__range_remove(e820, cmd.mem, (1 << 64) - 1 - cmd.mem, E820_USABLE)
    if cmd.mem is not None or cmd.memmap:  # e820__finish_early_params()
        log.append("e820: user-defined physical RAM map:")
        log.extend(e820_print(e820, "user", prof))
    if cmd.movable_node:
        mb.bottom_up = True
    e820, lines = trim_bios_range(e820)
    log.extend(lines)
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
    b.e820 = e820
    log.append(f"last_pfn = {b.max_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    b.max_low_pfn = b.max_pfn
    if b.max_pfn > 1 << (32 - prof.page_shift):
        b.max_low_pfn = e820_end_pfn(e820, 1 << (32 - prof.page_shift), E820_USABLE,
                                     prof.page_shift)
        log.append(f"last_pfn = {b.max_low_pfn:#x} max_arch_pfn = {max_arch_pfn:#x}")
    return b


def memblock_setup(b: Boot) -> None:
    """reserve_brk(), then e820__memblock_setup() under the ISA limit, and the first dump."""
    prof = b.profile
    if prof.brk_used:
        _reserve(b, prof.brk_start, prof.brk_used, "kernel brk", "setup_arch", kern=True)
    b.memblock.current_limit = ISA_END_ADDRESS
    e820__memblock_setup(b.e820, b.memblock, prof)
    check_ram(b)
    _dump(b)
    if b.machine.efi_boot:
        efi.efi_find_mirror(b)
        b.efi = efi.efi_reserve_boot_services(b)


def init_mem_mapping(b: Boot) -> None:
    """The direct map (arch/x86/mm/init.c); then memblock may allocate up to max_pfn."""
    prof, mb = b.profile, b.memblock
    dm = x86_mm_init.init_mem_mapping(mb, prof, b.max_pfn)
    mb.current_limit = dm.max_pfn_mapped << prof.page_shift
    b.max_low_pfn = b.max_pfn  # 64-bit keeps no highmem


def mapped_limit(b: Boot) -> None:
    """memblock_set_current_limit(get_max_mapped()) after init_mem_mapping()."""
    b.memblock.current_limit = b.max_pfn << b.profile.page_shift
    b.max_low_pfn = b.max_pfn


def initmem_init(b: Boot) -> None:
    """initmem_init() -> x86_numa_init(), and the CPU-to-node map that follows it."""
    prof, m = b.profile, b.machine
    b.numa = x86_numa_init(b.memblock, m.srat, m.cmdline.numa_off, b.max_pfn, prof)
    placed = set()
    if b.unknown_fact(efi.NODE_DATA):  # where NODE_DATA lands is not known: not printed
        placed = {node_data_line(nid, pa, prof.node_data_size)
                  for nid, pa in b.numa.node_data.items()}
    b.log.extend(line for line in b.numa.log if line not in placed)
    b.hotplug = [(r.base, r.end, r.nid) for r in b.memblock.memory.regions
                 if r.flags & mbk.MEMBLOCK_HOTPLUG]
    b.kernel_at_numa = [(r.base, r.end, r.nid) for r in b.memblock.reserved.regions]
    b.events_at_numa = len(b.memblock.events)
    _dump(b)
    b.dma_reserve = memblock_find_dma_reserve(b.memblock, prof.page_shift)
    apics, how = possible_cpus(m)
    if how.startswith("nothing"):
        b.notes.append("the number of CPUs is unknown (give cpus = N in the machine file); "
                       "assumed 1")
    st = b.numa.srat if b.numa.from_srat else None
    online = b.numa.online or [0]
    b.cpu_node = []
    for apic in apics:
        node = st.apicid_to_node.get(apic, -1) if st else -1
        b.cpu_node.append(node if node in online else min(online))


def paging_init(b: Boot) -> None:
    """paging_init(): sparse_init() and then the zones (zone_sizes_init/free_area_init)."""
    assert b.numa is not None
    prof, mb = b.profile, b.memblock
    b.sparse = memblocks_present(mb, prof)
    b.sparse_allocs = sparse_init(mb, b.sparse, b.numa.node_data, b.numa.online, prof)
    zones_init(b)


def zones_init(b: Boot) -> None:
    """zone_sizes_init() -> free_area_init(): zone ranges, movable zone, each node."""
    assert b.numa is not None
    if b.sparse is None:
        b.sparse = memblocks_present(b.memblock, b.profile)
    b.zones = free_area_init(b.memblock, zone_sizes_init(b.max_low_pfn), b.numa.online,
                             b.machine.cmdline, b.sparse, b.profile, b.dma_reserve)
    b.log.extend(b.zones.log)
    b.notes.extend(b.zones.notes)


def _alloc(b: Boot, size: int, caller: str, align: int = 64, lo: int = 0,
           hi: int = mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid: int = mbk.NUMA_NO_NODE) -> int:
    return mbk.memblock_alloc_internal(b.memblock, size, align, lo, hi, nid, False, caller)


def nosave_regions(e820: tuple[E820Entry, ...], limit_pfn: int,
                   page_shift: int = 12) -> list[tuple[int, int]]:
    """e820__register_nosave_regions(): holes and non-RAM below max_pfn, merged as
    register_nosave_region() merges a region that continues the previous one."""
    page = 1 << page_shift
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
        up = -(-entry.start // page)
        if pfn < up:
            register(pfn, up)
        pfn = entry.end // page
        if entry.type != E820_USABLE:
            register(up, pfn)
        if pfn >= limit_pfn:
            break
    return out


def setup_arch_tail(b: Boot) -> None:
    """The boot allocations of setup_arch() after the zones: ACPI HPET and IOAPIC resources,
    the e820 resources and firmware map, the hibernation nosave regions."""
    prof, m = b.profile, b.machine
    signatures = {t.signature for t in m.acpi_tables}
    if "HPET" in signatures:
        _alloc(b, prof.hpet_resource_size, "acpi_parse_hpet")
    if "BGRT" in signatures and b.efi is not None:  # acpi_parse_bgrt() -> efi_bgrt_init()
        for start, end in m.efi_mem_reserve:
            efi.efi_arch_mem_reserve(b, b.efi, start, end - start)
    if "APIC" in signatures:
        _alloc(b, prof.ioapic_resource_size, "io_apic_init_mappings")
    entries = e820_entries_with_setup_data(b.e820, m.setup_data)
    _alloc(b, prof.resource_size * entries, "e820__reserve_resources")
    for _ in m.e820:
        _alloc(b, prof.firmware_map_entry_size, "firmware_map_add_early")
    for s, e in nosave_regions(b.e820, b.max_pfn, prof.page_shift):
        _alloc(b, prof.nosave_region_size, "register_nosave_region")
        b.log.append(f"PM: hibernation: Registered nosave memory: "
                     f"[mem {s << prof.page_shift:#010x}-{(e << prof.page_shift) - 1:#010x}]")


def start_kernel_allocs(b: Boot) -> None:
    """start_kernel() up to mm_init(): command-line copies, per-CPU areas, cpumasks,
    zonelists, fixmap page tables."""
    assert b.numa is not None and b.zones is not None
    prof, mb = b.profile, b.memblock
    for _ in range(2):  # saved_command_line, static_command_line
        _alloc(b, len(b.machine.cmdline.raw) + 1, "start_kernel")
    b.percpu, _ = setup_per_cpu_areas(mb, b.cpu_node, b.numa.online, prof)
    nr_node_ids = max([*b.numa.online, *b.cpu_node], default=0) + 1
    mask = 8 * -(-len(b.cpu_node) // 64)
    for _ in range(nr_node_ids + prof.cpumask_boot_allocs):
        _alloc(b, mask, "alloc_bootmem_cpumask_var")
    memory_nodes = [n for n, z in sorted(b.zones.nodes.items()) if z.present]
    b.zonelists, lines = build_all_zonelists(b.numa.online, memory_nodes, b.cpu_node,
                                             prof.max_numnodes)
    b.log.extend(lines)
    unknown = unknown_bootoptions(b.machine.cmdline.raw)
    if unknown:  # print_unknown_bootoptions(): allocated, printed, freed
        b.log.append("Unknown kernel command line parameters \"" + " ".join(unknown)
                     + "\", will be passed to user space.")
        pa = _alloc(b, 1 + sum(len(p) + 1 for p in unknown), "start_kernel")
        mbk.memblock_phys_free(mb, pa, 1 + sum(len(p) + 1 for p in unknown), "start_kernel")
    if len(memory_nodes) == 1:  # page_alloc_init() turns hashdist off
        vfs_caches_init_early(b)
    for _ in range(prof.spp_getpage_pages):
        _alloc(b, prof.page_size, "spp_getpage", prof.page_size)


# Parameters the 6.1 kernel itself takes (as __setup/early_param); the rest without a dot
# go to init.  Only the ones users put on memory-hotplug command lines are listed.
KERNEL_PARAMS = frozenset("""
    console loglevel root ro rw quiet init rdinit earlyprintk earlycon ignore_loglevel panic
    nosmp maxcpus nr_cpus possible_cpus log_buf_len memblock movable_node kernelcore
    movablecore mem memmap numa crashkernel hugepages hugepagesz default_hugepagesz
    hugetlb_cma cma swiotlb iommu intel_iommu amd_iommu noapic nolapic acpi pci apic
    memhp_default_state hashdist dhash_entries ihash_entries transparent_hugepage
    page_alloc.shuffle init_on_alloc init_on_free mitigations nokaslr_is_not_here
    efi noefi nopat nox2apic splash resume noresume selinux apparmor security debug
    initrd initcall_debug rootwait rootfstype rootdelay nomodeset vga video
    """.split())


def unknown_bootoptions(raw: str) -> list[str]:
    """The parameters 6.1 hands to init and reports as unknown (print_unknown_bootoptions):
    ones it does not take itself, outside quotes, before ``--``, without a module dot."""
    out: list[str] = []
    for word in raw.split():
        if word == "--":
            break
        name = word.split("=", 1)[0].replace("-", "_")
        if name in KERNEL_PARAMS or "." in name or name.startswith("memhp"):
            continue
        out.append(word)
    return out


def alloc_large_system_hash(b: Boot, scale: int, bucketsize: int = 8) -> int:
    """alloc_large_system_hash() for an early (HASH_EARLY|HASH_ZERO) table: one bucket
    per 2^scale bytes of kernel memory, a power of two, at most 1/16 of memory."""
    assert b.zones is not None
    ps = b.profile.page_shift
    n = b.zones.nr_kernel_pages
    n = -(-n // ((1 << 20) >> ps)) * ((1 << 20) >> ps)
    adapt = (64 << 30) >> ps
    while adapt < n:
        scale += 1
        adapt <<= 2
    n = n >> (scale - ps) if scale > ps else n << (ps - scale)
    if n * bucketsize < 1 << ps:
        n = (1 << ps) // bucketsize
    n = 1 << max(n - 1, 0).bit_length()
    limit = min(((b.zones.nr_kernel_pages << ps) >> 4) // bucketsize, 0x80000000)
    n = min(n, limit)
    size = bucketsize << (n.bit_length() - 1)
    _alloc(b, size, "alloc_large_system_hash")
    return size


def vfs_caches_init_early(b: Boot) -> None:
    """dcache_init_early() and inode_init_early(): hash tables from memblock when
    hashdist is off (one node with memory)."""
    for name, scale in (("Dentry cache", 13), ("Inode-cache", 14)):
        size = alloc_large_system_hash(b, scale)
        order = max(size - 1, 0).bit_length() - b.profile.page_shift
        b.log.append(f"{name} hash table entries: {size // 8} (order: {order}, {size} bytes, "
                     "linear)")


def swiotlb_init(b: Boot) -> None:
    """pci_swiotlb_detect() + swiotlb_init_remap() (kernel/dma/swiotlb.c): a bounce buffer
    below 4G when memory may reach above it, with its slot and area arrays."""
    prof = b.profile
    srat_pfn = b.numa.srat.max_possible_pfn if b.numa and b.numa.srat else 0
    if max(b.max_pfn, srat_pfn) <= 1 << (32 - prof.page_shift):
        return
    nareas = 1 << max(len(b.cpu_node) - 1, 0).bit_length()
    b.log.append(f"software IO TLB: area num {nareas}.")
    _alloc(b, prof.swiotlb_size, "swiotlb_init_remap", prof.page_size, 0, 0xFFFFFFFF)
    _alloc(b, prof.swiotlb_size // 2048 * prof.swiotlb_slot_bytes, "swiotlb_init_remap",
           prof.page_size)
    _alloc(b, nareas * prof.swiotlb_area_bytes, "swiotlb_init_remap")


def mem_init(b: Boot) -> None:
    """mem_init(): swiotlb, then memblock_free_all(); ``managed`` adds what boot frees
    later: the initrd and the kernel's init and alignment-gap memory."""
    assert b.zones is not None
    prof = b.profile
    swiotlb_init(b)
    freed = memblock_free_all(b.memblock, b.max_low_pfn, prof.page_shift)
    ps = prof.page_size
    late: list[tuple[int, int]] = []
    if b.machine.initrd:
        s, e = b.machine.initrd
        late.append((-(-s // ps), e // ps))
    late.append((prof.kernel_text // ps, (prof.kernel_text + prof.late_free_kernel) // ps))
    late.extend((s // ps, e // ps) for s, e in efi_freed_late(b))
    b.managed = managed_pages(b.zones, freed + late)


def efi_freed_late(b: Boot) -> list[tuple[int, int]]:
    """EFI boot services memory efi_free_boot_services() gives back after boot."""
    return efi.efi_freed_late(b, b.efi) if b.efi else []


def sysfs_memory(b: Boot) -> None:
    """memory_dev_init(): the memory blocks; then which of them can be offlined."""
    assert b.numa is not None and b.zones is not None and b.sparse is not None
    prof = b.profile
    b.block_size = probe_memory_block_size(b.max_pfn, b.machine.hypervisor, prof)
    note = cedt_note((t.signature for t in b.machine.acpi_tables), prof)
    if note:
        b.notes.append(note)
    b.blocks = memory_dev_init(b.memblock, b.zones, b.sparse, b.block_size, b.numa.online,
                               prof)
    if b.managed:
        b.offline = predict_offline(b.blocks, b.zones, b.memblock, b.e820, reservation_owners(b),
                                    b.machine.initrd, b.zonelists, b.cpu_node, prof,
                                    efi_freed_late(b))


CALLER_WHAT = {
    "reserve_real_mode": "real-mode trampoline",
    "alloc_low_pages": "direct-map page tables",
    "sparse_init": "mem_section root array",
    "sparse_index_alloc": "mem_section root page",
    "sparse_init_nid": "struct pages (memory map) and usemaps",
    "vmemmap_alloc_block_zero": "vmemmap page tables",
    "vmemmap_populate": "struct pages of a node that cannot hold its own",
    "pcpu_fc_alloc": "per-CPU areas",
    "swiotlb_init_remap": "swiotlb bounce buffer",
    "alloc_large_system_hash": "dentry and inode hash tables",
    "acpi_parse_hpet": "small boot allocations",
    "io_apic_init_mappings": "small boot allocations",
    "e820__reserve_resources": "small boot allocations",
    "firmware_map_add_early": "small boot allocations",
    "register_nosave_region": "small boot allocations",
    "start_kernel": "small boot allocations",
    "alloc_bootmem_cpumask_var": "small boot allocations",
    "spp_getpage": "fixmap page tables",
    "pcpu_build_alloc_info": "per-CPU allocator metadata",
    "efi_memmap_alloc": "EFI memory map (the kernel's copy)",
    "pcpu_embed_first_chunk": "per-CPU allocator metadata",
    "pcpu_setup_first_chunk": "per-CPU allocator metadata",
    "pcpu_alloc_first_chunk": "per-CPU allocator metadata",
}


def reservation_owners(b: Boot, upto: int | None = None) -> list[tuple[int, int, str]]:
    """Every named boot reservation, [start, end) and what it holds (of the first ``upto``
    memblock events only, when given)."""
    out = list(b.reservations)
    events = b.memblock.events[:upto]
    frees = [(i, e.base, e.base + e.size) for i, e in enumerate(events) if e.kind == "free"]
    freed = Ranges([(s, t) for _, s, t in frees])
    for i, e in enumerate(events):
        lo, hi = e.span
        if e.kind == "alloc" and not (
                freed.overlap(lo, hi)
                and any(j > i and s <= lo and hi <= t for j, s, t in frees)):
            what = CALLER_WHAT.get(e.caller, e.caller)
            if e.caller == "alloc_node_data":
                what = f"NODE_DATA({e.nid})"
            elif e.caller == "swiotlb_init_remap" and e.size != b.profile.swiotlb_size:
                what = "swiotlb metadata"
            out.append((lo, hi, what))
    return out


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
    if prof.has("free_area_init_after_setup_arch"):
        setup_arch_tail(b)
        paging_init(b)  # mm_core_init_early() -> free_area_init()
    else:
        paging_init(b)
        setup_arch_tail(b)
    start_kernel_allocs(b)
    mem_init(b)
    sysfs_memory(b)
    return b

