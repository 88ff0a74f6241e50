# SPDX-License-Identifier: GPL-2.0-or-later
"""The early dentry and inode hash tables, modelled on fs/dcache.c and fs/inode.c (6.1)."""

from __future__ import annotations

from memhp.kernel.page_alloc import alloc_large_system_hash
from memhp.kernel.state import Boot

__all__ = ["vfs_caches_init_early"]


def vfs_caches_init_early(b: Boot) -> None:
    """dcache_init_early() and inode_init_early(): hash tables from memblock when
    hashdist is off (one node with memory)."""
    for name, scale in (("Dentry cache", 13), ("Inode-cache", 14)):
        size = alloc_large_system_hash(b, scale)
        order = max(size - 1, 0).bit_length() - b.profile.page_shift
        b.log.append(f"{name} hash table entries: {size // 8} (order: {order}, {size} bytes, "
                     "linear)")
