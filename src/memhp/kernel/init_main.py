# SPDX-License-Identifier: GPL-2.0-or-later
"""What start_kernel() does with the command line, modelled on init/main.c (Linux 6.1)."""

from __future__ import annotations

from memhp.kernel import memblock as mbk
from memhp.kernel.state import Boot, alloc

__all__ = ["KERNEL_PARAMS", "print_unknown_bootoptions", "setup_command_line",
           "unknown_bootoptions"]

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


def setup_command_line(b: Boot) -> None:
    """setup_command_line(): saved_command_line and static_command_line."""
    for _ in range(2):
        alloc(b, len(b.machine.cmdline.raw) + 1, "start_kernel")


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


def print_unknown_bootoptions(b: Boot) -> None:
    """print_unknown_bootoptions(): the list is allocated, printed and freed again."""
    unknown = unknown_bootoptions(b.machine.cmdline.raw)
    if not unknown:
        return
    b.log.append("Unknown kernel command line parameters \"" + " ".join(unknown)
                 + "\", will be passed to user space.")
    size = 1 + sum(len(p) + 1 for p in unknown)
    pa = alloc(b, size, "start_kernel")
    mbk.memblock_phys_free(b.memblock, pa, size, "start_kernel")
