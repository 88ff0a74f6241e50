# SPDX-License-Identifier: GPL-2.0-or-later
"""The real-mode trampoline, modelled on arch/x86/realmode/init.c (Linux 6.1)."""

from __future__ import annotations

from memhp.kernel import memblock as mbk
from memhp.kernel.e820 import ISA_END_ADDRESS
from memhp.kernel.state import Boot

__all__ = ["real_mode_reserved", "reserve_real_mode"]


def reserve_real_mode(boot: Boot) -> None:
    """reserve_real_mode(): the trampoline below 1M, then all of the first 1M."""
    mb, prof = boot.memblock, boot.profile
    addr = mbk.memblock_phys_alloc_range(mb, prof.real_mode_size, prof.page_size, 0, 1 << 20,
                                         "reserve_real_mode")
    if not addr:
        boot.log.append("No sub-1M memory is available for the trampoline")
    boot.reserve(0, 1 << 20, "first 1M", "setup_arch")
    real_mode_reserved(boot)


def real_mode_reserved(boot: Boot) -> None:
    """The end of reserve_real_mode(): memory below 1M stops being KHO scratch."""
    if boot.profile.has("kho_scratch_below_1m"):
        mbk.memblock_clear_kho_scratch(boot.memblock, 0, ISA_END_ADDRESS)
