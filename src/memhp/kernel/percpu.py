# SPDX-License-Identifier: GPL-2.0-or-later
"""The first per-CPU chunk at boot, modelled on mm/percpu.c (Linux 6.1) as x86 calls it
from setup_per_cpu_areas() (arch/x86/kernel/setup_percpu.c): ``pcpu_embed_first_chunk``.

CPUs of one node share a group; each group gets one allocation on its node, of
``units * unit_size`` bytes aligned to 2M, and the unused tail of each unit is freed.
"""

from __future__ import annotations

from dataclasses import dataclass

from memhp.kernel import memblock as mbk
from memhp.kernel.pfn import div_round_up, round_up
from memhp.kernel.profile import KernelProfile

__all__ = ["MAX_DMA_ADDRESS", "PCPU_MIN_UNIT_SIZE", "PCPU_SLOT_BASE_SHIFT", "PercpuLayout",
           "pcpu_build_alloc_info", "setup_per_cpu_areas"]

MAX_DMA_ADDRESS = 16 << 20
PCPU_SLOT_BASE_SHIFT = 5
PCPU_MIN_UNIT_SIZE = 32 << 10


@dataclass(frozen=True)
class PercpuLayout:
    """pcpu_build_alloc_info(): unit size and the CPU groups (one per node with CPUs)."""

    unit_size: int
    alloc_size: int
    size_sum: int
    groups: tuple[tuple[int, ...], ...]  # CPUs of each group, in CPU order
    upa: int

    @property
    def nr_units(self) -> int:
        return sum(round_up(len(g), self.upa) for g in self.groups)


def pcpu_build_alloc_info(cpu_node: list[int], prof: KernelProfile) -> PercpuLayout:
    """pcpu_build_alloc_info(): group CPUs by node and pick units per allocation."""
    ps = prof.page_size
    size_sum = round_up(prof.pcpu_static_size + prof.pcpu_reserved_size
                        + max(prof.pcpu_dyn_size, prof.pcpu_dynamic_early_size), ps)
    min_unit = max(size_sum, PCPU_MIN_UNIT_SIZE)
    atom = prof.pcpu_atom_size
    alloc_size = round_up(min_unit, atom)
    upa = alloc_size // min_unit
    while alloc_size % upa or (alloc_size // upa) % ps:
        upa -= 1
    max_upa = upa
    groups: list[list[int]] = []
    by_node: dict[int, int] = {}
    for cpu, node in enumerate(cpu_node):  # LOCAL_DISTANCE only within a node
        if node not in by_node:
            by_node[node] = len(groups)
            groups.append([])
        groups[by_node[node]].append(cpu)
    ncpus = len(cpu_node)
    last_allocs, best = 1 << 62, 0
    for upa in range(max_upa, 0, -1):
        if alloc_size % upa or (alloc_size // upa) % ps:
            continue
        allocs = sum(div_round_up(len(g), upa) for g in groups)
        wasted = sum(round_up(len(g), upa) - len(g) for g in groups)
        if wasted > ncpus // 3:
            continue
        if allocs > last_allocs:
            break
        last_allocs, best = allocs, upa
    return PercpuLayout(alloc_size // best, alloc_size, size_sum,
                        tuple(tuple(g) for g in groups), best)


def _pcpu_nr_slots(unit_size: int) -> int:
    """__pcpu_size_to_slot(unit_size) + 4 (the slot lists of pcpu_setup_first_chunk)."""
    return max(unit_size.bit_length() - PCPU_SLOT_BASE_SHIFT + 2, 1) + 4


def setup_per_cpu_areas(mb: mbk.Memblock, cpu_node: list[int], online: list[int],
                        prof: KernelProfile) -> tuple[PercpuLayout, list[tuple[int, int]]]:
    """setup_per_cpu_areas() -> pcpu_embed_first_chunk(): returns the layout and the
    (address, size) of each group's kept first-chunk memory."""
    ps = prof.page_size

    def alloc(size: int, align: int, lo: int = 0, nid: int = mbk.NUMA_NO_NODE,
              caller: str = "") -> int:
        return mbk.memblock_alloc_internal(mb, size, align, lo, mbk.MEMBLOCK_ALLOC_ACCESSIBLE,
                                           nid, False, caller)

    lay = pcpu_build_alloc_info(cpu_node, prof)
    ngroups = len(lay.groups)
    base_size = 64 + 24 * ngroups  # struct pcpu_alloc_info + its group array
    ai_size = round_up(base_size + lay.nr_units * 4, ps)
    ai = alloc(ai_size, ps, caller="pcpu_build_alloc_info")
    areas_size = round_up(ngroups * 8, ps)
    areas = alloc(areas_size, prof.smp_cache_bytes, caller="pcpu_embed_first_chunk")
    kept: list[tuple[int, int]] = []
    bases: list[int] = []
    for g in lay.groups:
        node = cpu_node[g[0]]
        nunits = round_up(len(g), lay.upa)
        nid = node if node in online else mbk.NUMA_NO_NODE
        bases.append(alloc(nunits * lay.unit_size, prof.pcpu_atom_size, MAX_DMA_ADDRESS, nid,
                           "pcpu_fc_alloc"))
    for g, base in zip(lay.groups, bases, strict=True):
        nunits = round_up(len(g), lay.upa)
        for i in range(nunits):
            ptr = base + i * lay.unit_size
            if i >= len(g):
                mbk.memblock_phys_free(mb, ptr, lay.unit_size, "pcpu_embed_first_chunk")
                continue
            mbk.memblock_phys_free(mb, ptr + lay.size_sum, lay.unit_size - lay.size_sum,
                                   "pcpu_embed_first_chunk")
            kept.append((ptr, lay.size_sum))
    # pcpu_setup_first_chunk(): group offsets and sizes, unit map and offsets, slot lists
    nr_cpu_ids = len(cpu_node)
    for size in (ngroups * 8, ngroups * 8, nr_cpu_ids * 4, nr_cpu_ids * 8,
                 _pcpu_nr_slots(lay.unit_size) * 16):
        alloc(size, prof.smp_cache_bytes, caller="pcpu_setup_first_chunk")
    for size in prof.pcpu_first_chunk_allocs:  # the reserved and the dynamic region
        alloc(size, prof.smp_cache_bytes, caller="pcpu_alloc_first_chunk")
    mbk.memblock_phys_free(mb, ai, ai_size, "pcpu_embed_first_chunk")
    mbk.memblock_phys_free(mb, areas, areas_size, "pcpu_embed_first_chunk")
    return lay, kept
