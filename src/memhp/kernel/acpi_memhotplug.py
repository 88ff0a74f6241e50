# SPDX-License-Identifier: GPL-2.0-or-later
"""ACPI memory devices (DIMMs) appearing and being ejected, modelled on
drivers/acpi/acpi_memhotplug.c and the eject path of drivers/acpi/scan.c (6.1).

A DIMM is one ACPI memory device: ``acpi_memory_enable_device()`` registers a static
memory group of the DIMM's size on its ``_PXM`` node and adds its range with
``__add_memory()``, which creates the memory blocks and onlines them by
``mhp_default_online_type``.  An eject request (``acpi_scan_hot_remove()``) first offlines
every block of the device (``acpi_scan_try_to_offline()``, two passes); if any block stays
online the blocks it did offline are onlined again (``acpi_bus_online()`` ->
``device_online()``, which is plain ``online``) and the DIMM stays.  Otherwise the memory
is removed (``acpi_memory_remove_memory()`` -> ``__remove_memory()``) and the firmware
ejects the device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.kernel import memory_blocks as mblk
from memhp.kernel import memory_hotplug as mh
from memhp.kernel.profile import KernelProfile

__all__ = ["BlockChange", "DeviceAdd", "DeviceEject", "acpi_memory_enable_device",
           "acpi_scan_hot_remove"]


@dataclass(frozen=True)
class BlockChange:
    """One block's state change during a device event."""

    block: int
    result: mblk.StoreResult


@dataclass
class DeviceAdd:
    """acpi_memory_enable_device(): what adding one DIMM did."""

    dimm: str
    nid: int
    start: int
    size: int
    add: mh.AddResult
    onlined: list[BlockChange] = field(default_factory=list)


@dataclass
class DeviceEject:
    """acpi_scan_hot_remove(): the offline attempts, then removal or the re-online."""

    dimm: str
    offlined: list[BlockChange] = field(default_factory=list)
    failed: BlockChange | None = None  # the block that stayed online (the DIMM stays)
    reonlined: list[BlockChange] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    unknown: str = ""  # the outcome depends on runtime allocations


def acpi_memory_enable_device(st: mh.MemState, cfg: mh.HotplugConfig, prof: KernelProfile,
                              dimm: str, nid: int, start: int, size: int) -> DeviceAdd:
    """Add the DIMM's range on node ``nid`` as one static memory group, then online its
    blocks by mhp_default_online_type (add_memory_resource -> online_memory_block)."""
    res = mh.add_memory_resource(st, cfg, prof, dimm, nid, start, size)
    out = DeviceAdd(dimm, nid, start, size, res)
    if res.error or cfg.default_online_type == mh.MMOP_OFFLINE:
        return out
    for bid in res.blocks:
        blk = st.blocks[bid]
        out.onlined.append(BlockChange(bid, mblk.device_online(st, cfg, blk,
                                                               cfg.default_online_type)))
    return out


def acpi_scan_hot_remove(st: mh.MemState, cfg: mh.HotplugConfig, dimm: str, start: int,
                         size: int) -> DeviceEject:
    """Offline every block of the DIMM in address order; all offline: remove them."""
    out = DeviceEject(dimm)
    ids = [i for i in mh.range_block_ids(st, start, size) if i in st.blocks]
    put_online: list[int] = []
    for bid in ids:
        blk = st.blocks[bid]
        if blk.state == "offline":
            continue
        res = mblk.device_offline(st, blk)
        if res.ok is None:
            out.unknown = (f"offlining memory{bid} of {dimm}: "
                           f"{res.offline.detail if res.offline else 'unknown'}")
            return out
        if res.ok:
            put_online.append(bid)
            out.offlined.append(BlockChange(bid, res))
        elif out.failed is None:
            out.failed = BlockChange(bid, res)
    if out.failed is not None:  # the second pass meets the same pages: acpi_bus_online()
        for bid in put_online:
            blk = st.blocks[bid]
            out.reonlined.append(BlockChange(bid, mblk.device_online(st, cfg, blk,
                                                                     mh.MMOP_ONLINE)))
        return out
    out.removed = mh.try_remove_memory(st, start, size)
    st.groups.pop(dimm, None)
    return out


def acpi_memory_node(pxm_to_node: dict[int, int], meminfo: list[tuple[int, int, int]],
                     pxm: int, start: int) -> tuple[int, str]:
    """The node of a DIMM: acpi_get_node() (its _PXM through the SRAT's map), else
    memory_add_physaddr_to_nid() (arch/x86/mm/numa.c): the numa_meminfo range holding its
    start, else the first range's node.  Returns the node and how it was found."""
    if pxm in pxm_to_node:
        return pxm_to_node[pxm], ""
    for s, e, nid in meminfo:
        if s <= start < e:
            return nid, (f"_PXM {pxm} is not in the SRAT: node {nid} from numa_meminfo "
                         "(memory_add_physaddr_to_nid)")
    nid = meminfo[0][2] if meminfo else 0
    return nid, (f"_PXM {pxm} is not in the SRAT and no numa_meminfo range holds "
                 f"{start:#x}: node {nid} (memory_add_physaddr_to_nid)")
