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
        want = {"str": str, "int": int, "bool": bool}[str(f.type)]
        if type(data[f.name]) is not want:
            raise InputError(source, f.name, data[f.name], f"must be {want.__name__}")
        values[f.name] = data[f.name]
    unknown = set(data) - set(values)
    if unknown:
        raise InputError(source, sorted(unknown)[0], data[sorted(unknown)[0]], "unknown field")
    return KernelProfile(**values)  # type: ignore[arg-type]
