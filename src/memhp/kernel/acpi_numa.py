# SPDX-License-Identifier: GPL-2.0-or-later
"""SRAT parsing at boot, modelled on drivers/acpi/numa/srat.c and arch/x86/mm/srat.c (6.1).

``acpi_numa_init`` walks the SRAT the way the kernel does: processor entries first
(local APIC and x2APIC, in table order), then memory entries.  Proximity domains get
node numbers in order of first appearance.  Hot-pluggable ranges are marked in memblock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memhp.firmware.types import Srat, SratCpu, SratMemory
from memhp.kernel import memblock as mbk
from memhp.kernel.pfn import div_round_up
from memhp.kernel.profile import KernelProfile

__all__ = ["MAX_LOCAL_APIC", "NumaMemblk", "SratState", "acpi_map_pxm_to_node", "acpi_numa_init",
           "acpi_numa_memory_affinity_init", "acpi_numa_processor_affinity_init", "bad_srat",
           "numa_add_memblk"]

MAX_LOCAL_APIC = 32768


@dataclass(frozen=True)
class NumaMemblk:
    """struct numa_memblk: ``[start, end)`` on node ``nid``."""

    start: int
    end: int
    nid: int


@dataclass
class SratState:
    """What SRAT parsing leaves behind: node map, memblks, parsed nodes, messages."""

    pxm_to_node: dict[int, int] = field(default_factory=dict)
    blks: list[NumaMemblk] = field(default_factory=list)
    nodes_parsed: set[int] = field(default_factory=set)
    apicid_to_node: dict[int, int] = field(default_factory=dict)
    disabled: bool = False  # bad_srat() was called
    parsed_memblks: int = 0
    max_possible_pfn: int = 0
    log: list[str] = field(default_factory=list)


def acpi_map_pxm_to_node(st: SratState, pxm: int, prof: KernelProfile) -> int:
    """acpi_map_pxm_to_node(): the node of ``pxm``, handing out the next free node number."""
    if pxm < 0 or pxm >= prof.max_pxm_domains:
        return -1
    if pxm in st.pxm_to_node:
        return st.pxm_to_node[pxm]
    # first_unset_node(nodes_found_map): nodes are handed out from 0 up and never taken
    # back, so the first free one is the number handed out
    node = len(st.pxm_to_node)
    if node >= prof.max_numnodes:
        return -1
    st.pxm_to_node[pxm] = node
    return node


def bad_srat(st: SratState) -> None:
    """bad_srat(): stop using the SRAT."""
    st.log.append("ACPI: SRAT: SRAT not used.")
    st.disabled = True


def acpi_numa_processor_affinity_init(st: SratState, cpu: SratCpu, revision: int,
                                      prof: KernelProfile) -> None:
    """acpi_numa_processor_affinity_init() and acpi_numa_x2apic_affinity_init()."""
    if st.disabled or not cpu.enabled:
        return
    pxm = cpu.pxm if cpu.x2apic or revision >= 2 else cpu.pxm & 0xFF
    node = acpi_map_pxm_to_node(st, pxm, prof)
    if node < 0:
        st.log.append(f"SRAT: Too many proximity domains {pxm:x}")
        bad_srat(st)
        return
    width = 4 if cpu.x2apic else 2
    if cpu.apic_id >= MAX_LOCAL_APIC:
        st.log.append(f"SRAT: PXM {pxm} -> APIC {cpu.apic_id:#0{width + 2}x} -> Node {node} "
                      "skipped apicid that is too big")
        return
    st.apicid_to_node[cpu.apic_id] = node
    st.nodes_parsed.add(node)
    st.log.append(f"SRAT: PXM {pxm} -> APIC {cpu.apic_id:#0{width + 2}x} -> Node {node}")


def numa_add_memblk(st: SratState, nid: int, start: int, end: int,
                    prof: KernelProfile) -> bool:
    """numa_add_memblk_to(): False only when the table of memblks is full."""
    if start == end:
        return True
    if start > end or nid < 0 or nid >= prof.max_numnodes:
        st.log.append(f"Warning: invalid memblk node {nid} [mem {start:#010x}-{end - 1:#010x}]")
        return True
    if len(st.blks) >= prof.nr_node_memblks:
        st.log.append("too many memblk ranges")
        return False
    st.blks.append(NumaMemblk(start, end, nid))
    return True


def acpi_numa_memory_affinity_init(st: SratState, mem: SratMemory, revision: int,
                                   mb: mbk.Memblock, prof: KernelProfile) -> bool:
    """acpi_numa_memory_affinity_init(): add the range to its node, mark hotplug ranges."""
    if st.disabled or not mem.enabled:
        return False
    start, end = mem.base, (mem.base + mem.length) & ((1 << 64) - 1)  # u64, as in the kernel
    pxm = mem.pxm & 0xFF if revision <= 1 else mem.pxm
    node = acpi_map_pxm_to_node(st, pxm, prof)
    if node < 0:
        st.log.append("ACPI: SRAT: Too many proximity domains.")
        bad_srat(st)
        return False
    if not numa_add_memblk(st, node, start, end, prof):
        st.log.append(f"ACPI: SRAT: Failed to add memblk to node {node} "
                      f"[mem {start:#010x}-{end - 1:#010x}]")
        bad_srat(st)
        return False
    st.nodes_parsed.add(node)
    st.log.append(
        f"ACPI: SRAT: Node {node} PXM {pxm} [mem {start:#010x}-{end - 1:#010x}]"
        + (" hotplug" if mem.hotpluggable else "")
        + (" non-volatile" if mem.non_volatile else "")
    )
    if mem.hotpluggable:
        mbk.memblock_mark_hotplug(mb, start, mem.length)
    st.max_possible_pfn = max(st.max_possible_pfn, div_round_up(end - 1, prof.page_size))
    return True


def acpi_numa_init(srat: Srat, mb: mbk.Memblock, prof: KernelProfile) -> SratState:
    """acpi_numa_init(): processor entries, then memory entries, of one SRAT.

    The caller (x86_acpi_numa_init) treats ``disabled`` or no parsed memory as failure.
    """
    st = SratState()
    for e in srat.entries:
        if isinstance(e, SratCpu):
            acpi_numa_processor_affinity_init(st, e, srat.revision, prof)
    for e in srat.entries:
        if isinstance(e, SratMemory) and acpi_numa_memory_affinity_init(
            st, e, srat.revision, mb, prof
        ):
            st.parsed_memblks += 1
    return st
