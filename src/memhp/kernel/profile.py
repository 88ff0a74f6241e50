# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel build profiles: one per kernel generation, its constants kept as data, and the
behaviour that changed between generations chosen by version in one table.

A profile is a TOML file in ``memhp/profiles/``.  Which one a run uses
(:func:`choose_profile`): ``--profile NAME``; else the one measured on the input's kernel (the
``Linux version`` line of a log, ``kernel =`` of a machine file), matched by release, then by
``major.minor``, else the nearest generation, with a note saying so; else the default, the
corpus kernel (Debian 6.1 amd64, booted with ``nokaslr``).

Behaviour that changed between versions is not a profile constant but code: the model asks
``prof.has("name")``, and :data:`CHANGES` says for each name since which version the kernel
does it, citing the commit.  Each name is asked in one place only, beside the kernel
function it models.

Adding a generation:

1. Boot the ten corpus scenarios on the new kernel (``memblock=debug``) and copy
   ``profiles/<nearest>.toml`` to ``profiles/debian-X.Y-amd64.toml``: set ``kernel_version``,
   ``measured`` and the Debian fields, then measure every constant marked "measured" from
   the logs (image placement and brk from the first memblock dump, ``NODE_DATA`` size,
   per-CPU sizes from the ``percpu: Embedded`` line, ...).
2. For every behaviour that differs (``compare.py`` and ``memhp replay`` show where), find the
   kernel commit, add a :data:`CHANGES` entry ``since=(X, Y)`` citing it, and branch on
   ``prof.has(name)`` in the function that models it.  A behaviour that a later generation
   reverts gets a second entry (``since`` the revert).
3. Copy the boots to ``tests/fixtures/corpus/linux-X.Y/`` and check them in
   ``tests/test_corpus_linux_X_Y.py`` (the shared pipeline and judgement are in
   ``tests/corpus_check.py``); fetch the kernel in ``.ci/verify-deps``
   (``--fetch --profile debian-X.Y-amd64``), which ``memhp verify --kernel X.Y`` boots.

The nearest generation lends its constants to a kernel memhp has no profile for, while
``has()`` answers by that kernel's own version (``behaviour_version``).
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, fields
from importlib import resources
from typing import Literal

from memhp.errors import InputError
from memhp.firmware.types import Machine
from memhp.kernel.pfn import round_up

__all__ = ["CHANGES", "Change", "ChangeName", "DEFAULT_PROFILE", "KERNEL_ALIGN", "KernelProfile",
           "all_profiles", "available_profiles", "choose_profile", "load_profile",
           "machine_profile", "parse_version", "profile_for_kernel"]

DEFAULT_PROFILE = "debian-6.1-amd64"

ChangeName = Literal["numa_meminfo_dram_limits", "numa_coverage_from_memblock",
                     "memblock_rsrv_kern", "kho_scratch_below_1m", "e820_print_system_ram",
                     "free_area_init_after_setup_arch", "sparse_usage_on_node",
                     "runtime_dma32_page_per_node",
                     "memmap_on_memory_force", "memmap_on_memory_per_block",
                     "offline_node_data_silent", "memoryless_nodes_in_free_area_init",
                     "pgdat_for_nodes_without_node_data", "setup_data_stays_ram_in_e820"]


@dataclass(frozen=True)
class Change:
    """A behaviour of the kernel since version ``since``, introduced by ``commit``."""

    since: tuple[int, int]
    commit: str
    what: str


# name -> since when the kernel behaves so, and the commit that made it so
CHANGES: dict[ChangeName, Change] = {
    "numa_meminfo_dram_limits": Change(
        (6, 12), "f7feea289f9a (mm: numa_memblks: use memblock_{start,end}_of_DRAM() when "
        "sanitizing meminfo)",
        "numa_cleanup_meminfo() trims node ranges to the first and last memblock.memory "
        "address instead of [0, max_pfn): 'NUMA: Node 0 [mem 0x00001000-...' and the first "
        "page's reservation stays without a node"),
    "numa_coverage_from_memblock": Change(
        (6, 8), "ff6c3d81f2e8 (NUMA: optimize detection of memory with no node id assigned "
        "by firmware), with 9cdc6423acb4 (memblock: allow zero threshold in "
        "validate_numa_converage(), in 6.12.y)",
        "memblock_validate_numa_coverage() replaces numa_meminfo_cover_memory(): more than "
        "1M of RAM without a node rejects the SRAT, 'NUMA: no nodes coverage for NMB of "
        "MMB RAM'"),
    # 6.12 -> 7.2.  A "source:" citation names the 7.2 function that behaves so (seen in
    # the linux-7.2 corpus) where the mainline commit id could not be looked up offline;
    # `since` is then the first release that can have it.
    "memblock_rsrv_kern": Change(
        (6, 16), "source: 7.2 mm/memblock.c memblock_alloc_range_nid(), "
        "arch/x86/kernel/setup.c early_reserve_memory()/reserve_brk()/early_reserve_initrd() "
        "(the 6.16 kexec-handover series, 'memblock: add MEMBLOCK_RSRV_KERN flag')",
        "memblock allocations reserve with MEMBLOCK_RSRV_KERN (0x20) and the requested node "
        "(__memblock_reserve(found, size, nid, ...)); the kernel image, brk and initrd are "
        "reserved with memblock_reserve_kern(): dumps show 'flags: 0x20', regions with "
        "different flags no longer merge"),
    "kho_scratch_below_1m": Change(
        (6, 16), "source: 7.2 arch/x86/kernel/e820.c e820__memblock_setup(), "
        "arch/x86/realmode/init.c reserve_real_mode() (the 6.16 kexec-handover series)",
        "memory below 1M is MEMBLOCK_KHO_SCRATCH (0x40) from e820__memblock_setup() until "
        "reserve_real_mode() has allocated the trampoline (the first dump shows it)"),
    "e820_print_system_ram": Change(
        (7, 0), "source: 7.2 arch/x86/kernel/e820.c e820_print_type(), "
        "e820__print_table() (the x86/boot/e820 clean-up)",
        "the e820 table prints 'System RAM' / 'device reserved' after two blanks, and the "
        "holes between entries as '[gap ...]' lines"),
    "setup_data_stays_ram_in_e820": Change(
        (7, 0), "source: 7.2 arch/x86/kernel/e820.c, which no longer has "
        "e820__reserve_setup_data() nor E820_TYPE_RESERVED_KERN (6.12 has both); setup_data "
        "is only memblock-reserved (arch/x86/kernel/setup.c "
        "memblock_x86_reserve_range_setup_data()).  The commit was not looked up: `since` "
        "assumes the x86/boot/e820 clean-up of 7.0 (as e820_print_system_ram).  Seen on own "
        "boot tests/fixtures/corpus/own-efi/m04_ovmf_7_2_p01",
        "setup_data blobs in RAM do not split the e820 table (no 'reserve setup_data:' "
        "table): e820__reserve_resources() allocates one struct resource per firmware "
        "entry (20 on the 7.2 UEFI boot m04, 22 on the 6.12 one m03)"),
    "free_area_init_after_setup_arch": Change(
        (7, 0), "source: 7.2 mm/mm_init.c mm_core_init_early() -> free_area_init(), "
        "called by start_kernel() right after setup_arch(); x86 paging_init() no longer "
        "sets up zones (7.0)",
        "sparse_init() and the zones come after the rest of setup_arch(): the ACPI, e820 "
        "resource, firmware-map and nosave allocations land above the memory map"),
    "sparse_usage_on_node": Change(
        (7, 0), "source: 7.2 mm/sparse.c sparse_init_nid() -> sparse_usage_init(), which "
        "replaces sparse_early_usemaps_alloc_pgdat_section(); sparse_buffer_init() is gone",
        "a node's usemaps come from anywhere on the node, not from NODE_DATA's section, and "
        "each section's struct pages are allocated one 2M page at a time "
        "(vmemmap_populate_hugepages()) instead of carved from one node-wide buffer"),
    "runtime_dma32_page_per_node": Change(
        (7, 0), "measured: the allocation is not identified; in the linux-7.2 p04 boot an "
        "unmovable page at the bottom of node 1's DMA32 zone (pfn 0x80000, neither reserved "
        "nor slab) pins memory16, which 6.1 and 6.12 offline",
        "besides its GFP_KERNEL zone, each CPU's node has a page taken at runtime at the "
        "lowest free address of its DMA32 zone: that block fails to go offline"),
    "memmap_on_memory_force": Change(
        (6, 6), "2d1f649c7c08 (mm/memory_hotplug: support memmap_on_memory when memmap is "
        "not aligned to pageblocks)",
        "memory_hotplug.memmap_on_memory accepts 'force', which pads each block's memmap to "
        "whole pageblocks (memory_block_memmap_on_memory_pages)"),
    "memmap_on_memory_per_block": Change(
        (6, 8), "6b8f0798b85a (mm/memory_hotplug: split memmap_on_memory requests across "
        "memblocks)",
        "memory_hotplug.memmap_on_memory puts each memory block's memmap on that block for an "
        "add of any size (before: only an add of exactly one memory block)"),
    "memoryless_nodes_in_free_area_init": Change(
        (5, 18), "source: 6.1 arch/x86/mm/numa.c init_cpu_to_node(), which only sets the "
        "node online, and mm/page_alloc.c free_area_init() (for_each_node); the 5.18 series "
        "'mm: handle uninitialized numa nodes gracefully' (Michal Hocko) made it so",
        "a node with CPUs and no memory is set up by free_area_init() with the other possible "
        "nodes ('Initmem setup node N as memoryless'), no longer by init_cpu_to_node() -> "
        "init_memory_less_node() (NODE_DATA allocated, 'Initmem setup node N [mem 0-0]', in "
        "CPU order)"),
    "offline_node_data_silent": Change(
        (6, 12), "source: 6.12 mm/mm_init.c free_area_init() -> alloc_offline_node_data() "
        "(the numa_memblks series), where 6.1 mm/page_alloc.c free_area_init() printed "
        "'Initializing node N as memoryless' before arch_alloc_nodedata()",
        "a possible node without NODE_DATA (CPUs only) gets its pg_data_t without a message"),
    "pgdat_for_nodes_without_node_data": Change(
        (7, 0), "source: 7.2 mm/mm_init.c free_area_init(), which calls "
        "alloc_offline_node_data() for a node whose NODE_DATA is not set, where 6.12 tested "
        "!node_online(); it goes with the move of free_area_init() after setup_arch() "
        "(mm_core_init_early(), d49004c5f0c1 'arch, mm: consolidate initialization of nodes, "
        "zones and memory map'); the commit of the test itself was not looked up.  Seen on "
        "own boot tests/fixtures/corpus/own/m05_memoryless_node1_7_2",
        "a CPU-only node, already online from init_cpu_to_node(), still gets its pg_data_t "
        "from memblock (sizeof(pg_data_t), 176256 bytes on Debian 7.2, 'Initmem setup node N "
        "as memoryless') and, being online, has zones in /proc/zoneinfo (all empty)"),
}


@dataclass(frozen=True)
class KernelProfile:
    """Build constants; see the profile file for what each one is and where it comes from."""

    name: str
    kernel_version: str  # "major.minor": the generation, which decides CHANGES
    measured: str  # where the constants were measured
    measured_uefi: str  # the UEFI boots the EFI model was checked on (empty: none)
    kernel_release: str  # `uname -r` of the measured kernel
    debian_version: str  # its Debian package version
    debian_package: str  # the package that ships it
    debian_suite: str  # the Debian suite that ships it
    arch: str
    page_shift: int
    section_size_bits: int
    max_order: int
    pageblock_order: int
    nodes_shift: int
    max_pxm_domains: int
    smp_cache_bytes: int
    kernel_text: int
    kernel_reserve_end: int
    brk_start: int
    brk_used: int
    kernel_end: int
    pgt_buf_pages: int
    low_reserve: int
    real_mode_size: int
    node_data_size: int
    pg_data_size: int
    pgtable_levels: int
    gbpages: bool
    min_memory_block_size: int
    max_memory_block_size: int
    large_block_threshold: int
    max_physmem_bits: int
    struct_page_size: int
    mem_section_size: int
    mem_section_usage_size: int
    pcpu_static_size: int
    pcpu_reserved_size: int
    pcpu_dyn_size: int
    pcpu_dynamic_early_size: int
    pcpu_atom_size: int
    pcpu_first_chunk_allocs: tuple[int, ...]
    hpet_resource_size: int
    ioapic_resource_size: int
    resource_size: int
    firmware_map_entry_size: int
    nosave_region_size: int
    cpumask_boot_allocs: int
    spp_getpage_pages: int
    swiotlb_size: int
    swiotlb_slot_bytes: int
    swiotlb_area_bytes: int
    efi_mmap_nr_slack_slots: int
    late_free_kernel: int
    runtime_pages_per_cpu: int
    runtime_margin: int
    memhp_default_online_type: str
    memhp_default_online_config: str
    # not in the file: how this run came to use the profile, and a note when it is not
    # the input's own kernel (set by choose_profile)
    chosen: str = dataclasses.field(default="", compare=False)
    chosen_note: str = dataclasses.field(default="", compare=False)
    # the input's own (major, minor) when the profile is only the nearest generation: the
    # behaviour that changed between versions (CHANGES) follows the input's kernel
    behaviour_version: tuple[int, int] | None = dataclasses.field(default=None, compare=False)

    @property
    def version(self) -> tuple[int, int]:
        """(major, minor) of ``kernel_version``."""
        v = parse_version(self.kernel_version)
        assert v is not None
        return v

    def has(self, change: ChangeName) -> bool:
        """Whether the kernel behaves as :data:`CHANGES` ``[change]`` says: by the input's
        version where the profile is only the nearest generation, else by the profile's."""
        return (self.behaviour_version or self.version) >= CHANGES[change].since

    def changes(self) -> list[str]:
        """The names of the CHANGES this generation has."""
        return [str(n) for n, c in CHANGES.items()
                if (self.behaviour_version or self.version) >= c.since]

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def pages_per_section(self) -> int:
        return 1 << (self.section_size_bits - self.page_shift)

    @property
    def max_order_nr_pages(self) -> int:
        """MAX_ORDER_NR_PAGES of this kernel version."""
        return 1 << (self.max_order - 1)

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def max_numnodes(self) -> int:
        return 1 << self.nodes_shift

    @property
    def nr_node_memblks(self) -> int:
        """NR_NODE_MEMBLKS (arch/x86/include/asm/numa.h)."""
        return 2 * self.max_numnodes


_FILE_FIELDS = [f for f in fields(KernelProfile)
                if f.name not in ("chosen", "chosen_note", "behaviour_version")]
_VERSION = re.compile(r"(\d+)\.(\d+)")


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) at the start of a release (``6.12.117+deb13-amd64``), a Debian package
    version (``6.1.192-2``) or ``6.12``; None if it has none."""
    m = _VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def available_profiles() -> list[str]:
    """Names of the bundled profiles."""
    root = resources.files("memhp") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def load_profile(name: str = DEFAULT_PROFILE) -> KernelProfile:
    """Read a bundled profile by name, checking every field is there with the right type."""
    source = f"profiles/{name}.toml"
    path = resources.files("memhp") / "profiles" / f"{name}.toml"
    if not path.is_file():
        raise InputError("--profile", "name", name, f"no such profile; have {available_profiles()}")
    data = tomllib.loads(path.read_text())
    values: dict[str, object] = {}
    for f in _FILE_FIELDS:
        if f.name not in data:
            raise InputError(source, f.name, None, "missing")
        value = data[f.name]
        if str(f.type) == "tuple[int, ...]":
            if not isinstance(value, list) or any(type(v) is not int for v in value):
                raise InputError(source, f.name, value, "must be a list of integers")
            value = tuple(value)
        else:
            want = {"str": str, "int": int, "bool": bool}[str(f.type)]
            if type(value) is not want:
                raise InputError(source, f.name, value, f"must be {want.__name__}")
        values[f.name] = value
    unknown = set(data) - set(values)
    if unknown:
        raise InputError(source, sorted(unknown)[0], data[sorted(unknown)[0]], "unknown field")
    if parse_version(str(values["kernel_version"])) is None:
        raise InputError(source, "kernel_version", values["kernel_version"], "want 'major.minor'")
    return KernelProfile(**values)  # type: ignore[arg-type]


def all_profiles() -> list[KernelProfile]:
    """Every bundled profile, oldest generation first."""
    return sorted((load_profile(n) for n in available_profiles()), key=lambda p: p.version)


def _key(v: tuple[int, int]) -> int:
    return v[0] * 1000 + v[1]


def profile_for_kernel(kernel: str, where: str) -> KernelProfile:
    """The profile for a kernel named by release, Debian version or ``major.minor``, as
    :func:`choose_profile` picks it; ``where`` names the input in the choice's wording."""
    profiles = all_profiles()
    exact = [p for p in profiles if kernel in (p.kernel_release, p.debian_version)]
    if exact:
        return dataclasses.replace(exact[0], chosen=f"{where} {kernel}: measured on it")
    want = parse_version(kernel)
    if want is None:
        raise InputError(where, "kernel", kernel, "no version in it (want e.g. 6.12)")
    same = [p for p in profiles if p.version == want]
    if same:
        return dataclasses.replace(same[-1], chosen=f"{where} {kernel}: the "
                                   f"{want[0]}.{want[1]} generation")
    best = min(profiles, key=lambda p: (abs(_key(p.version) - _key(want)), _key(p.version)))
    note = (f"no profile for Linux {want[0]}.{want[1]} ({where} {kernel}); using the nearest, "
            f"{best.name} (Linux {best.kernel_version}): its build constants may differ from "
            f"that kernel's; behaviour that changed between versions follows Linux "
            f"{want[0]}.{want[1]}")
    return dataclasses.replace(best, chosen=f"{where} {kernel}: nearest generation",
                               chosen_note=note, behaviour_version=want)


def choose_profile(name: str | None, kernel: str | None, where: str = "the input's kernel"
                   ) -> KernelProfile:
    """The profile of a run: ``name`` (``--profile``) if given, else the one for ``kernel``
    (the input's kernel release), else the default."""
    if name is not None:
        prof = load_profile(name)
        note = ""
        want = parse_version(kernel) if kernel else None
        if want is not None and want != prof.version:
            note = (f"--profile {name} (Linux {prof.kernel_version}) was given for a log of "
                    f"Linux {kernel}")
        return dataclasses.replace(prof, chosen="--profile", chosen_note=note)
    if kernel:
        return profile_for_kernel(kernel, where)
    return dataclasses.replace(load_profile(DEFAULT_PROFILE),
                               chosen="default: the input names no kernel")


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
        load = max(round_up(machine.kernel_load, KERNEL_ALIGN), prof.kernel_text)
        shift = load - prof.kernel_text
        prof = dataclasses.replace(
            prof, kernel_text=load, kernel_reserve_end=prof.kernel_reserve_end + shift,
            brk_start=prof.brk_start + shift, kernel_end=prof.kernel_end + shift)
    return prof
