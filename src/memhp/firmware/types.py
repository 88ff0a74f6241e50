# SPDX-License-Identifier: GPL-2.0-or-later
"""Plain dataclasses for what firmware and the boot loader tell the kernel.

All addresses are physical byte addresses; every range is half-open ``[start, end)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.firmware.hotplug import Event, MemSpec

__all__ = ["AcpiTable", "CommandLine", "CoreSize", "E820Entry", "E820_ACPI", "E820_NVS",
           "E820_PMEM", "E820_PRAM", "E820_RESERVED", "E820_SOFT_RESERVED", "E820_TYPES",
           "E820_UNUSABLE", "E820_USABLE", "EFI_ACPI_MEMORY_NVS", "EFI_ACPI_RECLAIM_MEMORY",
           "EFI_BOOT_SERVICES_CODE", "EFI_BOOT_SERVICES_DATA", "EFI_CONVENTIONAL_MEMORY",
           "EFI_LOADER_CODE", "EFI_LOADER_DATA", "EFI_MEMORY_MAPPED_IO",
           "EFI_MEMORY_MAPPED_IO_PORT_SPACE", "EFI_MEMORY_MORE_RELIABLE", "EFI_MEMORY_RUNTIME",
           "EFI_PAL_CODE", "EFI_PERSISTENT_MEMORY", "EFI_RESERVED_TYPE",
           "EFI_RUNTIME_SERVICES_CODE", "EFI_RUNTIME_SERVICES_DATA", "EFI_UNUSABLE_MEMORY",
           "EfiMemoryDescriptor", "Machine", "SRAT_MEM_ENABLED", "SRAT_MEM_HOT_PLUGGABLE",
           "SRAT_MEM_NON_VOLATILE", "Srat", "SratCpu", "SratEntry", "SratMemory", "SratUnknown",
           "UNKNOWN_EFI_BGRT", "UNKNOWN_EFI_MAP", "UNKNOWN_EFI_MEMATTR", "UNKNOWN_EFI_MEMMAP_AT",
           "UNKNOWN_KERNEL_LOAD", "UNKNOWN_SETUP_DATA"]

# e820 types, spelled the way the kernel prints them in ``BIOS-e820:`` lines
# (``e820_print_type`` in arch/x86/kernel/e820.c).
E820_USABLE = "usable"
E820_RESERVED = "reserved"
E820_ACPI = "ACPI data"
E820_NVS = "ACPI NVS"
E820_UNUSABLE = "unusable"
E820_PMEM = "persistent (type 7)"
E820_PRAM = "persistent (type 12)"
E820_SOFT_RESERVED = "soft reserved"
E820_TYPES = (
    E820_USABLE,
    E820_RESERVED,
    E820_ACPI,
    E820_NVS,
    E820_UNUSABLE,
    E820_PMEM,
    E820_PRAM,
    E820_SOFT_RESERVED,
)


@dataclass(frozen=True)
class E820Entry:
    """One firmware memory-map entry, ``[start, end)`` of ``type`` (one of ``E820_TYPES``)."""

    start: int
    end: int
    type: str


@dataclass(frozen=True)
class AcpiTable:
    """One line of the kernel's ACPI table list (``ACPI: SRAT 0x... 0000C8 (v03 ...)``)."""

    signature: str
    address: int
    length: int
    revision: int | None = None
    oem_id: str = ""
    oem_table_id: str = ""


# SRAT Memory Affinity flags (ACPI 6.5, 5.2.16.2)
SRAT_MEM_ENABLED = 1 << 0
SRAT_MEM_HOT_PLUGGABLE = 1 << 1
SRAT_MEM_NON_VOLATILE = 1 << 2


@dataclass(frozen=True)
class SratCpu:
    """Processor Local APIC (type 0) or x2APIC (type 2) Affinity."""

    pxm: int
    apic_id: int
    enabled: bool = True
    x2apic: bool = False
    sapic_eid: int = 0
    clock_domain: int = 0


@dataclass(frozen=True)
class SratMemory:
    """Memory Affinity (type 1): ``[base, base + length)`` in proximity domain ``pxm``."""

    pxm: int
    base: int
    length: int
    flags: int = SRAT_MEM_ENABLED

    @property
    def enabled(self) -> bool:
        return bool(self.flags & SRAT_MEM_ENABLED)

    @property
    def hotpluggable(self) -> bool:
        return bool(self.flags & SRAT_MEM_HOT_PLUGGABLE)

    @property
    def non_volatile(self) -> bool:
        return bool(self.flags & SRAT_MEM_NON_VOLATILE)

    @property
    def end(self) -> int:
        return self.base + self.length


@dataclass(frozen=True)
class SratUnknown:
    """A subtable memhp does not decode, kept by type and raw bytes (length = len(raw))."""

    type: int
    raw: bytes


SratEntry = SratCpu | SratMemory | SratUnknown


@dataclass(frozen=True)
class Srat:
    """System Resource Affinity Table (ACPI 6.5, 5.2.16)."""

    entries: tuple[SratEntry, ...]
    revision: int = 3
    oem_id: str = "MEMHP "
    oem_table_id: str = "MEMHP   "
    oem_revision: int = 1
    creator_id: str = "MEMH"
    creator_revision: int = 1
    table_revision: int = 1  # the reserved u32 after the header, "must be 1"

    @property
    def memory(self) -> tuple[SratMemory, ...]:
        return tuple(e for e in self.entries if isinstance(e, SratMemory))

    @property
    def cpus(self) -> tuple[SratCpu, ...]:
        return tuple(e for e in self.entries if isinstance(e, SratCpu))


@dataclass(frozen=True)
class CoreSize:
    """A ``kernelcore=``/``movablecore=`` value: bytes, or a percentage of memory."""

    bytes: int | None = None
    percent: int | None = None
    mirror: bool = False  # kernelcore=mirror
    written: str = field(default="", compare=False)  # the value as the command line has it

    def __str__(self) -> str:
        if self.mirror:
            return "mirror"
        return self.written or (f"{self.percent}%" if self.percent else str(self.bytes or 0))


@dataclass(frozen=True)
class CommandLine:
    """The kernel command line, with the parameters memhp models decoded.

    ``unknown`` keeps every other parameter (the kernel ignores or passes them on).
    ``notes`` records the kernel's fallbacks for values it rejects, in its own words.
    """

    raw: str = ""
    movable_node: bool = False
    kernelcore: CoreSize | None = None
    movablecore: CoreSize | None = None
    mem: int | None = None  # mem=nn[KMG]: highest physical address + 1 of usable RAM
    memmap: tuple[str, ...] = ()  # every memmap= value, in command-line order
    numa_off: bool = False  # numa=off
    memblock_debug: bool = False
    nokaslr: bool = False
    efi_debug: bool = False  # efi=debug: EFI boot services memory is kept (and the map printed)
    unknown: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


# EFI memory types (UEFI 2.10, 7.2.1, EFI_MEMORY_TYPE), in the order of the kernel's
# memory_type_name[] (drivers/firmware/efi/efi.c), which names them in ``efi: memNN:`` lines.
EFI_RESERVED_TYPE = 0
EFI_LOADER_CODE = 1
EFI_LOADER_DATA = 2
EFI_BOOT_SERVICES_CODE = 3
EFI_BOOT_SERVICES_DATA = 4
EFI_RUNTIME_SERVICES_CODE = 5
EFI_RUNTIME_SERVICES_DATA = 6
EFI_CONVENTIONAL_MEMORY = 7
EFI_UNUSABLE_MEMORY = 8
EFI_ACPI_RECLAIM_MEMORY = 9
EFI_ACPI_MEMORY_NVS = 10
EFI_MEMORY_MAPPED_IO = 11
EFI_MEMORY_MAPPED_IO_PORT_SPACE = 12
EFI_PAL_CODE = 13
EFI_PERSISTENT_MEMORY = 14
# EFI memory attributes (UEFI 2.10, 7.2.3)
EFI_MEMORY_MORE_RELIABLE = 1 << 16
EFI_MEMORY_RUNTIME = 1 << 63


# Hand-over inputs a log may not tell (Machine.unknown_inputs names them by these)
UNKNOWN_EFI_MAP = "EFI memory map"
UNKNOWN_KERNEL_LOAD = "kernel image placement"
UNKNOWN_EFI_MEMMAP_AT = "where the EFI memory map lies"
UNKNOWN_SETUP_DATA = "setup_data (PCI option ROM copies)"
UNKNOWN_EFI_MEMATTR = "EFI memory attributes table"
UNKNOWN_EFI_BGRT = "EFI boot logo (BGRT image) kept by efi_mem_reserve"


@dataclass(frozen=True)
class EfiMemoryDescriptor:
    """One EFI memory map entry: ``[start, end)`` of EFI memory ``type`` with ``attribute``."""

    type: int
    start: int
    end: int
    attribute: int = 0

    @property
    def boot_services(self) -> bool:
        """Boot services code or data: free after ExitBootServices(), unless runtime."""
        return self.type in (EFI_BOOT_SERVICES_CODE, EFI_BOOT_SERVICES_DATA)

    @property
    def runtime(self) -> bool:
        return bool(self.attribute & EFI_MEMORY_RUNTIME)


@dataclass(frozen=True)
class Machine:
    """Everything the kernel learns from firmware and boot loader, in one place."""

    e820: tuple[E820Entry, ...]
    cmdline: CommandLine = field(default_factory=CommandLine)
    acpi_tables: tuple[AcpiTable, ...] = ()
    srat: Srat | None = None
    initrd: tuple[int, int] | None = None  # [start, end) as the ``RAMDISK:`` line says
    name: str = ""
    description: str = ""
    qemu_machine: str | None = None  # "pc" or "q35" where the machine is a QEMU VM
    hypervisor: bool = True  # X86_FEATURE_HYPERVISOR (decides memory block size)
    cpus: int | None = None  # possible CPUs (MADT); None: from the SRAT or the MADT length
    la57: bool | None = None  # CPU has 5-level paging; None: as the kernel profile assumes
    hotplug: tuple[Event, ...] = ()  # events after boot ([[hotplug]] of a machine file)
    qemu_mem: MemSpec | None = None  # QEMU's -m SIZE,slots=N,maxmem=SIZE, where known
    kernel: str | None = None  # release of the kernel the input was logged by; picks the profile
    # UEFI boots: the EFI memory map as handed over (``efi: memNN:`` lines, ``efi=debug``),
    # empty when the input has none; whether the machine booted through UEFI at all.
    efi_memmap: tuple[EfiMemoryDescriptor, ...] = ()
    efi_boot: bool = False
    # What the boot loader hands over besides the maps (boot_params): where it loaded the
    # kernel image (None: where a BIOS loader does, the profile's placement), its setup_data
    # blobs [start, end), where the EFI memory map lies and its descriptor size, and the
    # EFI memory attributes table [start, end) (a configuration table).
    kernel_load: int | None = None
    setup_data: tuple[tuple[int, int], ...] = ()
    efi_memmap_at: int | None = None
    # where the stub's copy of the EFI map would lie when that depends on how many bytes the
    # kernel's stub asks the firmware for (a platform model's placement rule, as data):
    # (largest request, where the request's first byte lands), smallest request first
    efi_memmap_pool: tuple[tuple[int, int], ...] = ()
    efi_memdesc_size: int = 48
    efi_memattr: tuple[int, int] | None = None
    # ranges of boot services data the kernel's EFI drivers keep with efi_mem_reserve()
    # (the BGRT boot logo), [start, end), as far as the input shows them
    efi_mem_reserve: tuple[tuple[int, int], ...] = ()
    # Inputs the kernel uses that the given firmware input cannot tell: (what, why)
    unknown_inputs: tuple[tuple[str, str], ...] = ()
    # what reading the input inferred, or could not tell; not part of the machine itself
    notes: tuple[str, ...] = field(default=(), compare=False)
