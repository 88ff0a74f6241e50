# SPDX-License-Identifier: GPL-2.0-or-later
"""The boot bounce buffer, modelled on kernel/dma/swiotlb.c and arch/x86/kernel/
pci-dma.c (Linux 6.1)."""

from __future__ import annotations

from memhp.kernel.state import Boot, alloc

__all__ = ["swiotlb_init"]


def swiotlb_init(b: Boot) -> None:
    """pci_swiotlb_detect() + swiotlb_init_remap(): a bounce buffer below 4G when memory
    may reach above it, with its slot and area arrays."""
    prof = b.profile
    srat_pfn = b.numa.srat.max_possible_pfn if b.numa and b.numa.srat else 0
    if max(b.max_pfn, srat_pfn) <= 1 << (32 - prof.page_shift):
        return
    nareas = 1 << max(len(b.cpu_node) - 1, 0).bit_length()
    b.log.append(f"software IO TLB: area num {nareas}.")
    alloc(b, prof.swiotlb_size, "swiotlb_init_remap", prof.page_size, 0, 0xFFFFFFFF)
    alloc(b, prof.swiotlb_size // 2048 * prof.swiotlb_slot_bytes, "swiotlb_init_remap",
          prof.page_size)
    alloc(b, nareas * prof.swiotlb_area_bytes, "swiotlb_init_remap")
