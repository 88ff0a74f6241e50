# SPDX-License-Identifier: GPL-2.0-or-later
"""Where memhp's model ends: what a machine asks for that it does not cover (said as
``note:`` lines), and the machines it refuses because the kernel cannot boot on them (no
RAM, or no page left for the page allocator)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memhp.errors import InputError
from memhp.firmware.types import E820_USABLE, Machine, SratUnknown
from memhp.kernel.smpboot import NR_CPUS, possible_cpus

if TYPE_CHECKING:
    from memhp.kernel.state import Boot

__all__ = ["check_kernel_pages", "check_ram", "model_limits"]

def model_limits(machine: Machine) -> list[str]:
    """What this machine asks for that the model does not cover, in one line each."""
    cmd, notes = machine.cmdline, []
    if not cmd.nokaslr:
        notes.append("KASLR is on (no nokaslr): the kernel image lands at random; memhp uses "
                     "the profile's nokaslr placement")
    for p in cmd.unknown:
        if p.startswith("numa=fake"):
            notes.append(f"{p}: NUMA emulation is not modelled; predicted without it")
        elif p.split("=", 1)[0] in ("efi_fake_mem", "crashkernel",
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


def check_ram(b: Boot) -> None:
    """A machine without RAM is refused in one line (the kernel panics).  Any amount the
    kernel maps is modelled: the model's cost follows the regions, not the bytes."""
    if not b.memblock.memory.regions:
        raise InputError(b.machine.name or "machine", "e820", "no usable RAM",
                         "the kernel cannot boot without RAM (it panics)")


def check_kernel_pages(b: Boot) -> None:
    """After free_area_init(): a machine whose zones leave the page allocator no page at all
    (every present page is memmap or reserved, or all RAM lies outside the nodes) is refused
    in one line.  The kernel cannot boot there: alloc_large_system_hash() would size its
    tables from zero pages, and the first page allocation fails."""
    assert b.zones is not None
    if b.zones.nr_kernel_pages == 0:
        raise InputError(b.machine.name or "machine", "e820", "no free page after boot set-up",
                         "the zones leave the page allocator nothing; the kernel cannot boot")
