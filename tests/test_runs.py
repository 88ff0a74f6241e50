# SPDX-License-Identifier: GPL-2.0-or-later
"""The model on runs against the same model element by element, on random small machines.

Sections, memory blocks and offline verdicts are kept as runs of alike elements, worked
out once per run; here every section and block is worked out on its own instead and the
two must agree, element for element.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhp.intervals import IdRuns, IntSet, Ranges, Spans, segments
from memhp.kernel import memblock as mbk
from memhp.kernel import memory_hotplug, sparse
from memhp.kernel.efi import boot_services_freed
from memhp.kernel.memblock import each_call, snapshot
from memhp.kernel.memory_blocks import memory_dev_init
from memhp.kernel.memory_hotplug import predict_offline
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import boot
from memhp.kernel.state import Boot, Rounds, collapse_owners, reservation_owners

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from make_server import server  # noqa: E402

PROFILES = ("debian-6.1-amd64", "debian-7.2-amd64")


def random_boot(seed: int) -> Boot:
    """A small server: 1-8 nodes, 4-512 GiB, some nodes or risers hot-pluggable, one of the
    usual command lines, bare metal or not."""
    rnd = random.Random(seed)
    nodes = rnd.choice([1, 2, 3, 4, 8])
    gib = rnd.choice([4, 6, 64, 96, 256, 512])
    m = server(nodes, gib / 1024, rnd.choice([1, 2, 8]),
               rnd.choice(["movable_node", "", "kernelcore=30%", "movablecore=20%",
                           "movable_node mem=" + str(gib // 2) + "G"]),
               hotplug=set(rnd.sample(range(nodes), rnd.randint(0, nodes))),
               riser_gib=rnd.choice([0, 0, 2, 16]))
    m = dataclasses.replace(m, hypervisor=rnd.random() < 0.4)
    return boot(m, load_profile(rnd.choice(PROFILES)))


@pytest.mark.parametrize("seed", range(12))
def test_runs_match_element_by_element(seed: int) -> None:
    b = random_boot(seed)
    assert b.numa is not None and b.zones is not None and b.sparse is not None
    # sections: present where RAM touches them, the node of the first region that does
    pps = b.sparse.pages_per_section
    shift = b.profile.section_size_bits
    nids: dict[int, int | None] = {}
    for r in b.memblock.memory.regions:
        s, e = -(-r.base // b.profile.page_size), r.end // b.profile.page_size
        if s < e:
            for nr in range(s * b.profile.page_size >> shift,
                            ((e * b.profile.page_size - 1) >> shift) + 1):
                nids.setdefault(nr, r.nid)
    assert b.sparse.present == tuple(sorted(nids))
    assert b.sparse.section_nid == tuple(nids[n] for n in sorted(nids))
    for z in (z for nz in b.zones.nodes.values() for z in nz.zones if z.spanned):
        brute = sum(min(z.end_pfn, (n + 1) * pps) - max(z.start_pfn, n * pps) for n in nids
                    if n * pps < z.end_pfn and z.start_pfn < (n + 1) * pps)
        assert b.sparse.present_pages_in(z.start_pfn, z.end_pfn) == brute
    # memory blocks and their verdicts
    one = memory_dev_init(b.memblock, b.zones, b.sparse, b.block_size, b.numa.online,
                          b.profile, per_block=True)
    assert list(one) == list(b.blocks)
    if b.managed:
        verdicts = predict_offline(one, b.zones, b.memblock, b.e820, reservation_owners(b),
                                   b.machine.initrd, b.zonelists, b.cpu_node, b.profile,
                                   boot_services_freed(b), per_block=True)
        assert list(verdicts) == list(b.offline)


def test_segments_isolate_the_cuts() -> None:
    assert list(segments(0, 10, [3, 4, 8])) == [(0, 3), (3, 4), (4, 5), (5, 8), (8, 9),
                                                 (9, 10)]
    assert list(segments(5, 7, [1, 20])) == [(5, 7)]
    # a start splits without a segment of its own; a cut inside a start's piece still counts
    assert list(segments(0, 10, [3, 8], [5, 9])) == [(0, 3), (3, 4), (4, 5), (5, 8), (8, 9),
                                                     (9, 10)]
    assert list(segments(2, 6, [], [0, 2, 4, 9])) == [(2, 4), (4, 6)]


def test_id_runs_and_int_set() -> None:
    runs = IdRuns([(0, 3, "a"), (3, 2, "a"), (7, 2, "b")], lambda v, i: v)
    assert len(runs) == 7 and runs.runs == [(0, 5, "a"), (7, 2, "b")]
    assert runs[5] == "b" and runs[-1] == "b" and runs.by_id(6) is None
    assert runs.spans(lambda v: v == "b") == [(7, 9)] and runs.run_end(1) == 5
    s = IntSet()
    s.add_range(10, 20)
    s.add_range(30, 40)
    s.add_range(20, 25)
    assert s.missing(0, 50) == 50 - 25 and 24 in s and 25 not in s
    s.discard(15)
    assert 15 not in s and s.first_from(15) == 16 and s.first_from(41) is None


@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=6),
       st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4))
def test_ranges_minus_every_cut(ranges: list[tuple[int, int]],
                                cuts: list[tuple[int, int]]) -> None:
    """Ranges less several cuts at once: the addresses in a range and in no cut."""
    left = Ranges(ranges).minus(*cuts)
    want = {x for s, e in ranges for x in range(s, e)
            if not any(lo <= x < hi for lo, hi in cuts)}
    assert {x for s, e in zip(left.starts, left.ends, strict=True) for x in range(s, e)} == want
    assert all(e < s for e, s in zip(left.ends, left.starts[1:], strict=False))  # apart
    assert [left.overlap(0, x) for x in range(62)] == [len({y for y in want if y < x})
                                                       for x in range(62)]


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), max_size=8),
       st.integers(0, 40), st.integers(0, 40))
def test_spans_covering(spans: list[tuple[int, int]], lo: int, hi: int) -> None:
    """The spans holding a whole window: those that start at or below it and end at or
    above its end, whatever the others (overlapping, nested, empty) around them."""
    index = Spans((s, e, k) for k, (s, e) in enumerate(spans))
    assert sorted(k for _, _, k in index.covering(lo, hi)) == [
        k for k, (s, e) in enumerate(spans) if s <= lo and hi <= e]


def test_id_runs_replaced() -> None:
    """Three runs; ids 1, 5 and 9 replaced: each its own run, the rest of the run it split
    made at its own first id (here: the element and its id)."""
    runs = IdRuns([(0, 4, "a"), (4, 3, "b"), (9, 1, "c")], lambda v, i: v[0] + str(i))
    assert runs.replaced({1: "x1", 5: "y5", 9: "z9"}) == [
        (0, 1, "a"), (1, 1, "x1"), (2, 2, "a2"), (4, 1, "b"), (5, 1, "y5"), (6, 1, "b6"),
        (9, 1, "z9")]
    assert runs.replaced({}) == runs.runs
    assert [r[0] for r in runs.runs_from(5)] == [4, 9]
    assert [r[0] for r in runs.runs_from(8)] == [9] and not list(runs.runs_from(10))
    assert [r[0] for r in runs.runs_from(-1)] == [0, 4, 9]


@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from("ab")), min_size=1, max_size=8),
       st.dictionaries(st.integers(0, 30), st.sampled_from("abx"), max_size=6))
def test_id_runs_replaced_come_joined(pieces: list[tuple[int, str]], new: dict[int, str],
                                      ) -> None:
    """Runs of "a" and "b" (neighbours alike join), some ids replaced by "a", "b" or "x":
    the replaced runs are joined as the constructor would join them, and hold, id by id,
    the elements with the replacements made."""
    runs, at = [], 0
    for count, value in pieces:
        runs.append((at, count, value))
        at += count
    old = IdRuns(runs, lambda v, i: v)
    out = old.replaced({i: v for i, v in new.items() if i < at})
    assert IdRuns(out, lambda v, i: v).runs == out
    assert list(IdRuns(out, lambda v, i: v, joined=True)) == [
        new.get(i, v) for i, v in enumerate(old)]


def boot_facts(b: Boot) -> tuple[object, ...]:
    """What a boot decided, for comparing two ways of modelling it."""
    return (list(each_call(b.memblock.events)), snapshot(b.memblock.reserved),
            snapshot(b.memblock.memory), b.dumps, b.sparse_allocs, b.reservations,
            reservation_owners(b), b.managed, b.blocks.runs, b.offline.runs, b.unknown, b.log,
            b.notes)


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("tib,nodes", [(1024, 4), (2048, 2), (600, 3)])
def test_vmemmap_cycles_in_closed_form(monkeypatch: pytest.MonkeyPatch, profile: str,
                                       tib: int, nodes: int) -> None:
    """Hot-pluggable nodes under movable_node get their struct pages from another node:
    page-table pages and struct-page blocks alternate, a new cycle every ~32 TiB.  The cycles
    placed k at a time with arithmetic (sparse._repeat_cycles, one memblock.Repeat entry)
    against the request-by-request model: every event (the Repeat written out), reservation
    and its owner, memmap and verdict the same."""
    m = dataclasses.replace(server(nodes, tib), la57=tib > 64)
    prof = load_profile(profile)
    closed_form = sparse._repeat_cycles
    skipped: list[int] = []

    def spy(*args: Any) -> int:
        nr: int = closed_form(*args)
        skipped.append(nr - args[3][-1].nr)
        return nr

    monkeypatch.setattr(sparse, "_repeat_cycles", spy)
    batched = boot(m, prof)
    assert any(skipped)  # some cycles were placed in closed form
    monkeypatch.setattr(sparse, "_repeat_cycles", lambda *a: a[3][-1].nr)
    assert boot_facts(batched) == boot_facts(boot(m, prof))


def _ask_memblock(*args: Any) -> None:
    raise mbk.WindowExhausted("the test asks memblock")


@pytest.mark.parametrize("seed", range(12))
def test_vmemmap_requests_answered_ahead(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """A node's vmemmap requests answered ahead of memblock (memblock.RunsAhead), reserved
    in one go, against the same requests made on memblock one by one (6.1: the nodes
    without a sparse buffer; 7.2: every node)."""
    ahead = random_boot(seed)
    monkeypatch.setattr(mbk.RunsAhead, "__init__", _ask_memblock)
    assert boot_facts(ahead) == boot_facts(random_boot(seed))


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("nodes,tib,hot", [
    (4, 1024, None),  # two hot nodes of 256 TiB: their struct pages on node 1, in cycles
    (128, 1, set(range(1, 128))),  # 127 hot nodes' struct pages overflow node 0
])
def test_vmemmap_ahead_of_memblock_on_servers(monkeypatch: pytest.MonkeyPatch, profile: str,
                                               nodes: int, tib: int,
                                               hot: set[int] | None) -> None:
    """Large machines, answered ahead and on memblock: the same, also where node 0 runs
    out of room for the struct pages of the hot nodes (the requests that no longer fit
    are left to memblock, which fails them: alloc_failed events)."""
    m = dataclasses.replace(server(nodes, tib, hotplug=hot), la57=tib > 64)
    prof = load_profile(profile)
    ahead = boot(m, prof)
    monkeypatch.setattr(mbk.RunsAhead, "__init__", _ask_memblock)
    assert boot_facts(ahead) == boot_facts(boot(m, prof))


@pytest.mark.parametrize("tib,nodes", [(1024, 4), (4096, 4), (600, 3)])
def test_joined_owners_collapse_alike(tib: int, nodes: int) -> None:
    """The owners of a repeated vmemmap cycle joined round by round (what offline_after_boot
    reads) come out of collapse_owners as the owners one per call do, in fewer pieces."""
    b = boot(dataclasses.replace(server(nodes, tib), la57=tib > 64), load_profile())
    assert any(isinstance(e, mbk.Repeat) for e in b.memblock.events)
    joined, each = reservation_owners(b, joined=True), reservation_owners(b)
    assert collapse_owners(joined) == collapse_owners(each) and len(joined) < len(each)


@pytest.mark.parametrize("profile,nodes,tib,hot,riser,hidden", [
    ("debian-6.1-amd64", 4, 4096, None, 0, True),  # 30 rounds a node: holes
    ("debian-6.1-amd64", 2, 2048, None, 0, True),
    ("debian-7.2-amd64", 2, 1024, {0}, 2, True),  # 7.2: no sparse buffer, every node cycles
    ("debian-7.2-amd64", 5, 3000, None, 0, True),  # some nodes' edges slip, others' not
    ("debian-7.2-amd64", 5, 1000, {1}, 0, False),  # every node's edges slip
    ("debian-6.1-amd64", 8, 4096, None, 0, True),  # 14 rounds a node
    ("debian-6.1-amd64", 16, 4096, None, 0, False),  # 6 rounds a node: too few to hide
])
def test_offline_holes_match_every_round(profile: str, nodes: int, tib: int,
                                         hot: set[int] | None, riser: int, hidden: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The verdicts made with most rounds of each repeated vmemmap cycle left out (their
    blocks' verdicts repeated from the blocks below: memory_hotplug._hide_rounds) are those
    made with every round's owners, run for run; and the holes are there where they should
    be."""
    m = dataclasses.replace(server(nodes, tib, hotplug=hot, riser_gib=riser), la57=tib > 64)
    holes: list[object] = []
    hide = memory_hotplug._hide_rounds

    def spy(*args: Any) -> Any:
        out = hide(*args)
        holes.extend(out[1])
        return out

    monkeypatch.setattr(memory_hotplug, "_hide_rounds", spy)
    b = boot(m, load_profile(profile))
    every = predict_offline(b.blocks, b.zones, b.memblock, b.e820,
                            reservation_owners(b, joined=True), b.machine.initrd, b.zonelists,
                            b.cpu_node, b.profile, boot_services_freed(b))
    assert every.runs == b.offline.runs
    assert bool(holes) == hidden


def test_round_periods_and_slipping_edges() -> None:
    """Rounds of 511 GiB + 2 MiB against 2 GiB blocks: two rounds make 511 blocks and
    4 MiB (one leaves 1 GiB + 2 MiB over); 3 GiB rounds: two make 3 blocks exactly.  An
    owner whose start comes within 4 MiB of a block's end in some round slips: of 30
    rounds, one starting 40 MiB into its block gets there (round 22, once it wraps round),
    one 1 GiB in at once (round 1: 2 MiB below the end), one 1.5 GiB in never."""
    g, mib = 1 << 30, 1 << 20
    assert memory_hotplug._period(511 * g + 2 * mib, 2 * g, 1000) == (2, 511, 4 * mib)
    assert memory_hotplug._period(3 * g, 2 * g, 10) == (2, 3, 0)
    assert memory_hotplug._period(511 * g, 2 * g, 100) == (0, 0, 2 * g)  # no room: none
    top = 1 << 50

    def rounds(offset: int) -> Rounds:  # a round's owner starting ``offset`` into a block
        return Rounds(((top + offset, top + offset + 511 * g, "struct pages"),), 30,
                      511 * g + 2 * mib)

    assert memory_hotplug._edge_slips(rounds(40 * mib), 2, 4 * mib, 2 * g)
    assert memory_hotplug._edge_slips(rounds(g), 2, 4 * mib, 2 * g)
    assert not memory_hotplug._edge_slips(rounds(3 * g // 2), 2, 4 * mib, 2 * g)


@given(st.lists(st.integers(0, 2), min_size=1, max_size=40), st.integers(1, 40),
       st.integers(0, 60), st.lists(st.integers(0, 2), max_size=5))
def test_holes_filled_block_by_block(below: list[int], n: int, size: int,
                                     above: list[int]) -> None:
    """Blocks 0..: those ``below`` looked at, a hole of ``size`` blocks, then ``above``
    (verdicts drawn from three, as runs of one block each): every hole block has the
    verdict of the block below the hole that is a multiple of ``n`` away, and the runs come
    joined (no two neighbours with the same verdict)."""
    verdicts = [memory_hotplug.OfflineVerdict(0, "failed", f"reason {k}") for k in range(3)]
    n = min(n, len(below))
    h0, h1 = len(below), len(below) + size
    looked = [(b, verdicts[k]) for b, k in enumerate(below)] + [
        (h1 + i, verdicts[k]) for i, k in enumerate(above)]
    runs = memory_hotplug._fill_holes([(b, 1, v) for b, v in looked], [(h0, h1, n)]
                                      if size else [])
    each = [v for f, c, v in runs for _ in range(c)]
    assert [f for f, _, _ in runs] == list(itertools.accumulate(
        [0, *(c for _, c, _ in runs[:-1])]))  # from block 0, no gaps
    assert each == [verdicts[k] for k in below] + [
        verdicts[below[h0 - n + (b - h0) % n]] for b in range(h0, h1)] + [
        verdicts[k] for k in above]
    assert all(a[2] is not b[2] for a, b in itertools.pairwise(runs))


def _placed(b: Boot) -> tuple[object, ...]:
    """Where a boot's memory went, whatever the grouping of its requests: reservations,
    struct pages, page-table pages, owners, verdicts."""
    allocs = b.sparse_allocs
    assert allocs is not None
    pages = sorted(a + k * s for a, n, s in allocs.tables for k in range(n))
    return (snapshot(b.memblock.reserved), allocs.memmaps, pages,
            collapse_owners(reservation_owners(b)), b.offline.runs, b.managed)


@pytest.mark.parametrize("layout", [
    *(("random", seed) for seed in range(12)),
    (4, 256, None, 0), (4, 256, None, 16), (8, 64, set(range(2, 8)), 0),
    (16, 1024, None, 0),
])
def test_vmemmap_batches_place_as_the_kernel_orders(monkeypatch: pytest.MonkeyPatch,
                                                    layout: tuple[Any, ...]) -> None:
    """Without a sparse buffer the kernel asks for a chunk's page-table pages, then its
    struct-page blocks, chunk after chunk (1 GiB of vmemmap each).  sparse._batch_end
    groups many chunks' table pages, then their struct pages, where the two kinds of
    request cannot meet; against one chunk at a time (the kernel's order, no closed-form
    cycles) every reservation, struct page, table page, owner and verdict is the same."""
    def make() -> Boot:
        if layout[0] == "random":
            return random_boot(layout[1])
        nodes, tib, hot, riser = layout
        m = server(nodes, tib, hotplug=hot, riser_gib=riser)
        return boot(dataclasses.replace(m, la57=tib > 64), load_profile())

    batched = make()
    monkeypatch.setattr(sparse, "_batch_end", lambda *a: a[4])
    monkeypatch.setattr(sparse, "_repeat_cycles", lambda *a: a[3][-1].nr)
    assert _placed(batched) == _placed(make())
