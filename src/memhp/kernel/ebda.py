# SPDX-License-Identifier: GPL-2.0-or-later
"""The BIOS areas below 1M, modelled on arch/x86/kernel/ebda.c (Linux 6.1)."""

from __future__ import annotations

from memhp.firmware.types import E820_USABLE
from memhp.kernel.pfn import round_down
from memhp.kernel.state import Boot

__all__ = ["BIOS_START_MAX", "BIOS_START_MIN", "reserve_bios_regions"]

BIOS_START_MIN = 0x20000
BIOS_START_MAX = 0x9F000


def reserve_bios_regions(boot: Boot) -> None:
    """reserve_bios_regions(): EBDA and BIOS area up to 1M.

    The BIOS data area is not in the firmware lines; its "low memory size" is the end
    of the first usable e820 entry, as SeaBIOS and most BIOSes report it.
    """
    low = next((e.end for e in boot.machine.e820 if e.type == E820_USABLE and e.start == 0), 0)
    bios_start = low if BIOS_START_MIN <= low <= BIOS_START_MAX else BIOS_START_MAX
    bios_start = round_down(bios_start, boot.profile.page_size)
    boot.reserve(bios_start, 0x100000 - bios_start, "BIOS regions (EBDA to 1M)")
