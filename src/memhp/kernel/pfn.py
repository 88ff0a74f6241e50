# SPDX-License-Identifier: GPL-2.0-or-later
"""Rounding and page-frame arithmetic, after include/linux/math.h and include/linux/pfn.h.

Every rounding the model does goes through these, so that the direction of each one
(up for a start that must not lose a byte, down for an end) reads as in the kernel.
"""

from __future__ import annotations

__all__ = ["div_round_up", "pfn_down", "pfn_up", "round_down", "round_up"]


def div_round_up(n: int, d: int) -> int:
    """DIV_ROUND_UP(n, d)."""
    return -(-n // d)


def round_up(x: int, a: int) -> int:
    """roundup(x, a): the next multiple of ``a`` at or above ``x``."""
    return -(-x // a) * a


def round_down(x: int, a: int) -> int:
    """rounddown(x, a): the multiple of ``a`` at or below ``x``."""
    return (x // a) * a


def pfn_up(addr: int, page_shift: int = 12) -> int:
    """PFN_UP(): the first page frame wholly at or above ``addr``."""
    return -(-addr >> page_shift)


def pfn_down(addr: int, page_shift: int = 12) -> int:
    """PFN_DOWN(): the page frame holding ``addr``."""
    return addr >> page_shift
