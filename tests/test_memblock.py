# SPDX-License-Identifier: GPL-2.0-or-later
"""memblock: unit tests and properties against a page-by-page reference model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memhp.kernel import memblock as mbk

U = 0x1000  # one unit of the reference model
N = 48  # units in the modelled address space


def expand(type_: mbk.MemblockType) -> dict[int, tuple[int | None, int]]:
    """Region array -> {unit: (nid, flags)}."""
    out: dict[int, tuple[int | None, int]] = {}
    for r in type_.regions:
        for u in range(r.base // U, r.end // U):
            out[u] = (r.nid, r.flags)
    return out


def check_invariants(type_: mbk.MemblockType) -> None:
    regs = type_.regions
    for r in regs:
        assert r.size > 0
    for a, b in zip(regs, regs[1:], strict=False):
        assert a.end <= b.base, "sorted and non-overlapping"
        # merged exactly when the kernel merges: touching neighbours differ in nid or flags
        assert a.end != b.base or (a.nid, a.flags) != (b.nid, b.flags)
    assert type_.total_size == sum(r.size for r in regs)


ranges = st.tuples(st.integers(0, N - 1), st.integers(1, 12)).map(
    lambda t: (t[0] * U, min(t[1], N - t[0]) * U)
)
nids = st.sampled_from([None, 0, 1, 2])
flags = st.sampled_from([0, mbk.MEMBLOCK_HOTPLUG, mbk.MEMBLOCK_MIRROR])
ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), ranges, nids, flags),
        st.tuples(st.just("remove"), ranges, nids, flags),
        st.tuples(st.just("set_node"), ranges, nids, flags),
        st.tuples(st.just("mark"), ranges, nids, flags),
        st.tuples(st.just("clear"), ranges, nids, flags),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_random_ops_match_reference(
    seq: list[tuple[str, tuple[int, int], int | None, int]],
) -> None:
    mb = mbk.Memblock()
    ref: dict[int, tuple[int | None, int]] = {}
    for op, (base, size), nid, flag in seq:
        units = range(base // U, (base + size) // U)
        if op == "add":
            mbk.memblock_add_range(mb.memory, base, size, nid, flag)
            for u in units:
                ref.setdefault(u, (nid, flag))
        elif op == "remove":
            mbk.memblock_remove_range(mb.memory, base, size)
            for u in units:
                ref.pop(u, None)
        elif op == "set_node":
            mbk.memblock_set_node(mb.memory, base, size, nid)
            for u in units:
                if u in ref:
                    ref[u] = (nid, ref[u][1])
        else:
            set_ = op == "mark"
            mbk.memblock_setclr_flag(mb, base, size, set_, mbk.MEMBLOCK_HOTPLUG)
            for u in units:
                if u in ref:
                    n, f = ref[u]
                    ref[u] = (n, f | mbk.MEMBLOCK_HOTPLUG if set_ else f & ~mbk.MEMBLOCK_HOTPLUG)
        check_invariants(mb.memory)
        assert expand(mb.memory) == ref


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ranges, min_size=1, max_size=4),
    st.lists(ranges, max_size=6),
    st.integers(1, 6),
    st.sampled_from([1, 2, 4]),
    st.booleans(),
    st.tuples(st.integers(0, N), st.integers(1, N)),  # end 0 means "current limit"
)
def test_alloc_is_first_fit(mem: list[tuple[int, int]], res: list[tuple[int, int]], units: int,
                            align_units: int, bottom_up: bool, window: tuple[int, int]) -> None:
    mb = mbk.Memblock(bottom_up=bottom_up)
    for base, size in mem:
        mbk.memblock_add(mb, base, size)
    for base, size in res:
        mbk.memblock_reserve(mb, base, size)
    free_before = {u for u in expand(mb.memory)} - set(expand(mb.reserved))
    lo, hi = min(window), max(window)
    start, end = lo * U, hi * U
    got = mbk.memblock_phys_alloc_range(mb, units * U, align_units * U, start, end)
    # brute force: every aligned start inside [max(start, 1 page), end) whose units are free
    first = max(start, U) // U
    cands = [
        s for s in range(first, hi - units + 1)
        if s % align_units == 0 and all(u in free_before for u in range(s, s + units))
    ]
    if not cands:
        assert got == 0
        return
    assert got // U == (min(cands) if bottom_up else max(cands))
    assert set(range(got // U, got // U + units)) <= set(expand(mb.reserved))
    check_invariants(mb.reserved)


@settings(max_examples=200, deadline=None)
@given(st.lists(ranges, min_size=1, max_size=4), st.lists(ranges, max_size=8), st.booleans(),
       st.tuples(st.integers(0, N), st.integers(0, N)))
def test_free_ranges_from_a_start_are_the_full_walk_s(
        mem: list[tuple[int, int]], res: list[tuple[int, int]], reverse: bool,
        window: tuple[int, int]) -> None:
    """A walk that begins at ``start`` (``end`` top-down) yields, whole and in the same order,
    every free range of the full walk that reaches past it; it may skip only ranges that lie
    wholly on the far side."""
    mb = mbk.Memblock()
    for base, size in mem:
        mbk.memblock_add(mb, base, size)
    for base, size in res:
        mbk.memblock_reserve(mb, base, size)
    start, end = min(window) * U, max(window) * U
    full = list(mbk.free_mem_ranges(mb, reverse=reverse))
    lazy = list(mbk.free_mem_ranges(mb, reverse=reverse, start=start, end=end))
    assert all(r in full for r in lazy)
    assert [r for r in full if r in lazy] == lazy  # same order
    wanted = [r for r in full if (r[0] < end if reverse else r[1] > start)]
    assert [r for r in lazy if r in wanted] == wanted


def test_repeat_stands_for_its_rounds() -> None:
    """A ``Repeat`` of two calls three more times: each_call writes out the rounds, each
    moved down by the shift, and each_event also the runs inside them."""
    calls = (mbk.Event("alloc", 0x10000, U, "vmemmap_alloc_block_zero", 2),
             mbk.Event("alloc", 0xE000, U, "vmemmap_populate", 2, n=2))
    events: list[mbk.Event | mbk.Repeat] = [*calls, mbk.Repeat(calls, 3, 0x4000)]
    bases = [(e.base, e.n) for e in mbk.each_call(events)]
    assert bases == [(0x10000, 1), (0xE000, 2), (0xC000, 1), (0xA000, 2), (0x8000, 1),
                     (0x6000, 2), (0x4000, 1), (0x2000, 2)]
    assert [e.base for e in mbk.each_event(events)][:5] == [0x10000, 0xE000, 0xD000, 0xC000,
                                                           0xA000]
    assert len(list(mbk.each_event(events))) == 12


def test_hotplug_regions_are_skipped_under_movable_node() -> None:
    mb = mbk.Memblock(movable_node=True)
    mbk.memblock_add(mb, 0x100000, 0x400000)
    mbk.memblock_set_node(mb.memory, 0x100000, 0x200000, 0)
    mbk.memblock_set_node(mb.memory, 0x300000, 0x200000, 1)
    mbk.memblock_mark_hotplug(mb, 0x300000, 0x200000)
    # node 1 is all hotpluggable: exact-nid fails, try_nid falls back to node 0
    assert mbk.memblock_alloc_range_nid(mb, 0x1000, 0x1000, 0, mbk.PHYS_ADDR_MAX, 1, True) == 0
    got = mbk.memblock_phys_alloc_try_nid(mb, 0x1000, 0x1000, 1)
    assert got == 0x2FF000
    assert mb.events[-1].fallback
    mb.movable_node = False
    assert mbk.memblock_phys_alloc_try_nid(mb, 0x1000, 0x1000, 1) == 0x4FF000


def test_dump_format_matches_kernel() -> None:
    mb = mbk.Memblock()
    mbk.memblock_add(mb, 0x1000, 0x9E000)
    mbk.memblock_reserve(mb, 0, 0x10000)
    mbk.memblock_set_node(mb.reserved, 0, 0x100000, 0)
    lines = mbk.memblock_dump_all(mb)
    assert lines == [
        "MEMBLOCK configuration:",
        " memory size = 0x000000000009e000 reserved size = 0x0000000000010000",
        " memory.cnt  = 0x1",
        " memory[0x0]\t[0x0000000000001000-0x000000000009efff], 0x000000000009e000 bytes"
        " flags: 0x0",
        " reserved.cnt  = 0x1",
        " reserved[0x0]\t[0x0000000000000000-0x000000000000ffff], 0x0000000000010000 bytes"
        " on node 0 flags: 0x0",
    ]


def test_trim_memory_drops_partial_pages() -> None:
    mb = mbk.Memblock()
    mbk.memblock_add(mb, 0x1000, 0x9EC00)  # ends at 0x9fc00, as the BIOS-e820 line says
    mbk.memblock_add(mb, 0x100800, 0x400)  # less than a page after alignment
    mbk.memblock_trim_memory(mb, 0x1000)
    assert mbk.snapshot(mb.memory) == [[0x1000, 0x9E000, None, 0]]


def test_mirror_is_preferred_and_nomap_is_skipped() -> None:
    mb = mbk.Memblock()
    mbk.memblock_add(mb, 0x100000, 0x300000)
    mbk.memblock_mark_mirror(mb, 0x100000, 0x100000)
    mbk.memblock_mark_nomap(mb, 0x300000, 0x100000)
    # top-down, but mirrored memory first (choose_memblock_flags), never the nomap range
    assert mbk.memblock_phys_alloc_range(mb, 0x1000, 0x1000, 0, mbk.PHYS_ADDR_MAX) == 0x1FF000
    mbk.memblock_reserve(mb, 0x100000, 0x100000)
    assert mbk.memblock_phys_alloc_range(mb, 0x1000, 0x1000, 0, mbk.PHYS_ADDR_MAX) == 0x2FF000


def test_repeated_requests_match_one_by_one() -> None:
    """memblock_alloc_repeat() returns what a loop of single requests returns."""
    def fresh() -> mbk.Memblock:
        mb = mbk.Memblock()
        mbk.memblock_add(mb, 0x100000, 0x7F00000)
        mbk.memblock_set_node(mb.memory, 0, 1 << 40, 0)
        for base in (0x7E00000, 0x5000000, 0x1234000):
            mbk.memblock_reserve(mb, base, 0x10000)
        return mb
    a, b = fresh(), fresh()
    one = [mbk.memblock_alloc_internal(a, 0x200000, 0x200000, 0x1000000,
                                       mbk.MEMBLOCK_ALLOC_ACCESSIBLE, 1) for _ in range(40)]
    many = mbk.memblock_alloc_repeat(b, 40, 0x200000, 0x200000, 0x1000000,
                                     mbk.MEMBLOCK_ALLOC_ACCESSIBLE, 1)
    assert one == many
    assert mbk.snapshot(a.reserved) == mbk.snapshot(b.reserved)


@pytest.mark.parametrize("bottom_up", [False, True])
def test_runs_of_requests_match_one_by_one(bottom_up: bool) -> None:
    """memblock_alloc_runs(), top-down and bottom-up, through both entry points: the same
    places, reservations and (expanded) events as a loop of single requests."""
    def fresh() -> mbk.Memblock:
        mb = mbk.Memblock(bottom_up=bottom_up)
        mbk.memblock_add(mb, 0x100000, 0x7F00000)
        mbk.memblock_set_node(mb.memory, 0, 1 << 40, 0)
        for base in (0x7E00000, 0x5000000, 0x1234000):
            mbk.memblock_reserve(mb, base, 0x10000)
        return mb
    for phys in (False, True):
        a, b = fresh(), fresh()
        one = [mbk.memblock_alloc_range_nid(a, 0x1000, 0x1000, 0x1000000, 0x6000000, 1, False)
               if phys else mbk.memblock_alloc_internal(a, 0x1000, 0x1000, 0x1000000,
                                                        mbk.MEMBLOCK_ALLOC_ACCESSIBLE, 1)
               for _ in range(9000)]
        runs = mbk.memblock_alloc_runs(b, 9000, 0x1000, 0x1000, 0x1000000,
                                       0x6000000 if phys else mbk.MEMBLOCK_ALLOC_ACCESSIBLE, 1,
                                       phys=phys)
        assert one == [x + k * step if x else 0 for x, n, step in runs for k in range(n)]
        assert mbk.snapshot(a.reserved) == mbk.snapshot(b.reserved)
        assert [(e.kind, e.base, e.size) for e in a.events] == [
            (e.kind, e.base, e.size) for e in mbk.each_event(b.events)]


@pytest.mark.parametrize(("rsrv_kern", "want"), [
    # 6.1: every reservation plain and without a node; the allocation merges with the 64K
    (False, [[0, 0x11000, None, 0]]),
    # 6.16+: the allocation on node 0 keeps the node and MEMBLOCK_RSRV_KERN, so it stays
    # apart from the plain 64K below it; the any-node retry for node 1 reserves without one
    (True, [[0, 0x10000, None, 0], [0x10000, 0x1000, 0, mbk.MEMBLOCK_RSRV_KERN],
            [0x3FF000, 0x1000, None, mbk.MEMBLOCK_RSRV_KERN]]),
])
def test_allocations_reserve_with_their_node_and_rsrv_kern(
        rsrv_kern: bool, want: list[list[int | None]]) -> None:
    """Memory 0-4M on node 0, the first 64K reserved; bottom-up: one request for node 0
    lands at 64K, one for node 1 (no memory there) falls back to any node at the top."""
    mb = mbk.Memblock(rsrv_kern=rsrv_kern)
    mbk.memblock_add(mb, 0, 0x400000)
    mbk.memblock_set_node(mb.memory, 0, 0x400000, 0)
    mbk.memblock_reserve(mb, 0, 0x10000)
    mb.bottom_up = True
    assert mbk.memblock_alloc_internal(mb, 0x1000, 0x1000, 0, mbk.PHYS_ADDR_MAX, 0) == 0x10000
    mb.bottom_up = False
    assert mbk.memblock_alloc_internal(mb, 0x1000, 0x1000, 0, mbk.PHYS_ADDR_MAX, 1) == 0x3FF000
    if not rsrv_kern:
        want = [*want, [0x3FF000, 0x1000, None, 0]]
    assert mbk.snapshot(mb.reserved) == want
    mbk.memblock_reserve_kern(mb, 0x200000, 0x1000)
    assert [0x200000, 0x1000, None, mbk.MEMBLOCK_RSRV_KERN if rsrv_kern else 0] in (
        mbk.snapshot(mb.reserved))


def test_kho_scratch_below_1m_comes_and_goes() -> None:
    """e820__memblock_setup() marks memory below 1M KHO scratch (splitting a region that
    crosses 1M); reserve_real_mode() clears it and the halves merge again."""
    mb = mbk.Memblock()
    mbk.memblock_add(mb, 0x1000, 0x9E000)
    mbk.memblock_add(mb, 0x90000 + 0x70000, 0x200000)  # 0x100000-0x2fffff
    mbk.memblock_add(mb, 0xF0000, 0x10000)  # joins it: 0xf0000-0x2fffff
    mbk.memblock_mark_kho_scratch(mb, 0, 0x100000)
    assert mbk.snapshot(mb.memory) == [
        [0x1000, 0x9E000, None, mbk.MEMBLOCK_KHO_SCRATCH],
        [0xF0000, 0x10000, None, mbk.MEMBLOCK_KHO_SCRATCH],
        [0x100000, 0x200000, None, 0]]
    mbk.memblock_clear_kho_scratch(mb, 0, 0x100000)
    assert mbk.snapshot(mb.memory) == [[0x1000, 0x9E000, None, 0], [0xF0000, 0x210000, None, 0]]
