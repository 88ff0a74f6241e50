# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU 7.2's device-memory region and where it puts a ``pc-dimm`` without ``addr=``.

``pc_memory_init()`` (hw/i386/pc.c) puts the region right above RAM: its base is the end
of the RAM above 4 GiB (or 4 GiB) rounded up to 1 GiB, its size ``maxmem - ram`` plus 1 GiB
per slot (``enforce_aligned_dimm``).  QEMU's own SRAT (``-numa``) describes exactly that
range as hot-pluggable memory of the last node (``build_srat()``, hw/i386/acpi-build.c).

``memory_device_get_free_addr()`` (hw/mem/memory-device.c) then takes the first gap, in
address order, that fits the DIMM at the backend's alignment (2 MiB for anonymous RAM on
an x86_64 host, ``QEMU_VMALLOC_ALIGN``); ``memory_device_check_addable()`` refuses a DIMM
that would take more than ``maxmem - ram`` in all, and ``pc_dimm_get_free_slot()`` one
without a free slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from memhp.firmware.hotplug import DimmAdd, MemSpec
from memhp.firmware.types import E820_USABLE, Machine
from memhp.kernel.pfn import round_up

__all__ = ["DIMM_ALIGN", "DeviceMemory", "GiB", "PlacementError", "device_memory", "free_addr",
           "plug"]

GiB = 1 << 30
DIMM_ALIGN = 2 << 20  # QEMU_VMALLOC_ALIGN: alignment of a memory-backend-ram region


class PlacementError(Exception):
    """QEMU refuses the device_add; the message is QEMU's."""


@dataclass(frozen=True)
class DeviceMemory:
    """The machine's device-memory region and the limits QEMU checks."""

    base: int
    size: int | None  # None: not known (no maxmem and no SRAT range): unbounded
    plug_limit: int | None = None  # maxmem - ram: bytes of all DIMMs together
    slots: int | None = None
    source: str = ""

    @property
    def end(self) -> int | None:
        return None if self.size is None else self.base + self.size


def device_memory(machine: Machine, mem: MemSpec | None = None) -> DeviceMemory:
    """The region of a machine: from ``-m ...,slots,maxmem`` when known, else the SRAT's
    hot-pluggable range that starts there, else unbounded above RAM."""
    top = max([e.end for e in machine.e820 if e.type == E820_USABLE and e.end > 4 * GiB],
              default=4 * GiB)
    base = round_up(top, GiB)
    if mem is not None and mem.maxmem > mem.ram:
        size = mem.maxmem - mem.ram + GiB * mem.slots
        return DeviceMemory(base, size, mem.maxmem - mem.ram, mem.slots or None,
                            f"QEMU -m {mem.ram >> 20}M,slots={mem.slots},maxmem="
                            f"{mem.maxmem >> 20}M")
    if machine.srat is not None:
        for m in machine.srat.memory:
            if m.hotpluggable and m.enabled and m.base == base:
                return DeviceMemory(base, m.length, source="the SRAT's hot-pluggable range "
                                    f"[mem {m.base:#x}-{m.base + m.length - 1:#x}]")
    return DeviceMemory(base, None, source="above RAM (no maxmem, no SRAT range: unbounded)")


def free_addr(region: DeviceMemory, used: list[tuple[int, int]], size: int,
              hint: int | None = None, align: int = DIMM_ALIGN) -> int:
    """memory_device_get_free_addr(): the address QEMU gives a new DIMM."""
    if region.plug_limit is not None and sum(s for _, s in used) + size > region.plug_limit:
        raise PlacementError(f"not enough space, currently {sum(s for _, s in used):#x} in "
                             f"use of total space for memory devices {region.plug_limit:#x}")
    if size % align:
        raise PlacementError(f"backend memory size must be multiple of {align:#x}")
    if hint is not None:
        if hint % align:
            raise PlacementError(f"address must be aligned to {align:#x} bytes")
        new = hint
    else:
        new = round_up(region.base, align)
    for start, length in sorted(used):
        if start < new + size and new < start + length:
            if hint is not None:
                raise PlacementError(f"address range conflicts with memory device at "
                                     f"{start:#x}")
            new = round_up(start + length, align)
        elif start >= new + size:
            break
    if new < region.base or (region.end is not None and new + size > region.end):
        raise PlacementError(
            "can't add memory device" if hint is None else
            f"can't add memory device [{new:#x}:{size:#x}], usable range for memory devices "
            f"[{region.base:#x}:{(region.end or 0) - 1:#x}]")
    return new


def plug(region: DeviceMemory, plugged: dict[str, tuple[int, int]], dimm: DimmAdd) -> int:
    """pc_dimm_pre_plug(): the address of a new DIMM among the ``plugged`` ones
    ({id: (addr, size)}), or PlacementError with QEMU's words."""
    if dimm.id in plugged:
        raise PlacementError(f"Duplicate device ID '{dimm.id}'")
    if region.slots is not None and len(plugged) >= region.slots:
        raise PlacementError("no free slots available")
    return free_addr(region, list(plugged.values()), dimm.size, dimm.addr)
