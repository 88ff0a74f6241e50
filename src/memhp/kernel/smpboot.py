# SPDX-License-Identifier: GPL-2.0-or-later
"""The possible CPUs, after prefill_possible_map() in arch/x86/kernel/smpboot.c (6.1)."""

from __future__ import annotations

from memhp.firmware.types import Machine

__all__ = ["NR_CPUS", "possible_cpus"]

NR_CPUS = 8192  # CONFIG_NR_CPUS of the Debian build: more possible CPUs are cut off


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
