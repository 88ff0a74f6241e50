# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel build profiles: the constants of one kernel build, kept as data.

A profile is a TOML file in ``memhp/profiles/``; the default is the corpus kernel
(Debian 6.1 amd64, booted with ``nokaslr``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from importlib import resources

from memhp.errors import InputError

DEFAULT_PROFILE = "debian-6.1-amd64"


@dataclass(frozen=True)
class KernelProfile:
    """Build constants; see the profile file for what each one is and where it comes from."""

    name: str
    kernel_version: str
    arch: str
    page_shift: int
    section_size_bits: int
    max_order: int
    pageblock_order: int
    nodes_shift: int
    max_pxm_domains: int
    smp_cache_bytes: int
    kernel_text: int
    kernel_reserve_end: int
    brk_start: int
    brk_used: int
    kernel_end: int
    pgt_buf_pages: int
    low_reserve: int
    real_mode_size: int
    node_data_size: int
    pgtable_levels: int
    gbpages: bool
    min_memory_block_size: int
    max_memory_block_size: int
    large_block_threshold: int
    max_physmem_bits: int
    struct_page_size: int
    mem_section_size: int
    mem_section_usage_size: int
    pcpu_static_size: int
    pcpu_reserved_size: int
    pcpu_dyn_size: int
    pcpu_dynamic_early_size: int
    pcpu_atom_size: int
    pcpu_first_chunk_allocs: tuple[int, ...]
    hpet_resource_size: int
    ioapic_resource_size: int
    resource_size: int
    firmware_map_entry_size: int
    nosave_region_size: int
    cpumask_boot_allocs: int
    spp_getpage_pages: int
    swiotlb_size: int
    swiotlb_slot_bytes: int
    swiotlb_area_bytes: int
    late_free_kernel: int
    runtime_pages_per_cpu: int
    runtime_margin: int
    memhp_default_online_type: str
    memhp_default_online_config: str

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def pages_per_section(self) -> int:
        return 1 << (self.section_size_bits - self.page_shift)

    @property
    def max_order_nr_pages(self) -> int:
        """MAX_ORDER_NR_PAGES of this kernel version."""
        return 1 << (self.max_order - 1)

    @property
    def pageblock_nr_pages(self) -> int:
        return 1 << self.pageblock_order

    @property
    def max_numnodes(self) -> int:
        return 1 << self.nodes_shift

    @property
    def nr_node_memblks(self) -> int:
        """NR_NODE_MEMBLKS (arch/x86/include/asm/numa.h)."""
        return 2 * self.max_numnodes


def available_profiles() -> list[str]:
    """Names of the bundled profiles."""
    root = resources.files("memhp") / "profiles"
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def load_profile(name: str = DEFAULT_PROFILE) -> KernelProfile:
    """Read a bundled profile by name, checking every field is there with the right type."""
    source = f"profiles/{name}.toml"
    path = resources.files("memhp") / "profiles" / f"{name}.toml"
    if not path.is_file():
        raise InputError("--profile", "name", name, f"no such profile; have {available_profiles()}")
    data = tomllib.loads(path.read_text())
    values: dict[str, object] = {}
    for f in fields(KernelProfile):
        if f.name not in data:
            raise InputError(source, f.name, None, "missing")
        value = data[f.name]
        if str(f.type) == "tuple[int, ...]":
            if not isinstance(value, list) or any(type(v) is not int for v in value):
                raise InputError(source, f.name, value, "must be a list of integers")
            value = tuple(value)
        else:
            want = {"str": str, "int": int, "bool": bool}[str(f.type)]
            if type(value) is not want:
                raise InputError(source, f.name, value, f"must be {want.__name__}")
        values[f.name] = value
    unknown = set(data) - set(values)
    if unknown:
        raise InputError(source, sorted(unknown)[0], data[sorted(unknown)[0]], "unknown field")
    return KernelProfile(**values)  # type: ignore[arg-type]
