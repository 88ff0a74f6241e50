# SPDX-License-Identifier: GPL-2.0-or-later
"""Sparse memory sections and their memory map, modelled on mm/sparse.c (Linux 6.1, and
7.2 where the profile says so).

``memblocks_present`` marks every section holding RAM present (with the node of the first
range that touches it); only present sections get a memory map, so only their pfns are
valid.  ``sparse_init`` makes the boot allocations for them: the section root array, one
root page per 128 sections, each node's usemap (next to its NODE_DATA), a buffer for the
node's struct pages, and the vmemmap page tables (arch/x86/mm/init_64.c).  7.2 has no
buffer and puts the usemaps anywhere on the node (``sparse_usage_init``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from memhp.intervals import Ranges
from memhp.kernel import memblock as mbk
from memhp.kernel.pfn import div_round_up, round_up
from memhp.kernel.profile import KernelProfile

__all__ = ["LEVEL_SHIFTS", "MAX_DMA_ADDRESS", "MemmapRun", "PMD_SIZE", "SparseAllocs", "SparseMap",
           "memblocks_present", "new_tables", "populate_section_memmaps", "sparse_init"]

MAX_DMA_ADDRESS = 16 << 20  # __pa(MAX_DMA_ADDRESS) on x86_64
PMD_SIZE = 1 << 21


@dataclass(frozen=True)
class SparseMap:
    """Present sections as runs ``(first, end, nid)``: sections ``[first, end)`` are present
    and belong to ``nid``; sorted, a new run wherever a gap or another node starts."""

    runs: tuple[tuple[int, int, int | None], ...]
    pages_per_section: int
    _pages: Ranges = field(default_factory=lambda: Ranges([]), repr=False, compare=False)

    @property
    def present(self) -> tuple[int, ...]:
        """Every present section number (as many as there are: for small machines)."""
        return tuple(nr for a, b, _ in self.runs for nr in range(a, b))

    @property
    def section_nid(self) -> tuple[int | None, ...]:
        return tuple(nid for a, b, nid in self.runs for _ in range(a, b))

    def is_present(self, section_nr: int) -> bool:
        """present_section_nr()."""
        pps = self.pages_per_section
        return self._pages.overlap(section_nr * pps, (section_nr + 1) * pps) > 0

    def present_pages_in(self, start_pfn: int, end_pfn: int) -> int:
        """Pages of ``[start_pfn, end_pfn)`` whose section is present (pfn_valid)."""
        return self._pages.overlap(start_pfn, end_pfn)


def memblocks_present(mb: mbk.Memblock, prof: KernelProfile) -> SparseMap:
    """memblocks_present()/memory_present(): sections touched by RAM, first node wins."""
    shift = prof.section_size_bits - prof.page_shift
    runs: list[tuple[int, int, int | None]] = []
    for start_pfn, end_pfn, nid in mbk.mem_pfn_ranges(mb, None, prof.page_shift):
        first, end = start_pfn >> shift, ((end_pfn - 1) >> shift) + 1
        if runs:
            first = max(first, runs[-1][1])  # regions come in address order
            if first >= end:
                continue
            if runs[-1][1] == first and runs[-1][2] == nid:
                runs[-1] = (runs[-1][0], end, nid)
                continue
        runs.append((first, end, nid))
    pps = prof.pages_per_section
    return SparseMap(tuple(runs), pps, Ranges([(a * pps, b * pps) for a, b, _ in runs]))


@dataclass(slots=True)
class MemmapRun:
    """Where the struct pages (2M of vmemmap each) of a run of sections were put: section
    ``section + k`` at ``addr + k * step``."""

    section: int
    count: int
    nid: int
    addr: int
    step: int
    from_buffer: bool

    def sections_in(self, lo: int, hi: int) -> list[int]:
        """The sections of the run whose struct pages lie in ``[lo, hi)``."""
        if lo >= hi:
            return []
        if self.step > 0:  # addr + k * step in [lo, hi)
            k0 = div_round_up(lo - self.addr, self.step)
            k1 = div_round_up(hi - self.addr, self.step)
        else:
            k0, k1 = (self.addr - hi) // -self.step + 1, (self.addr - lo) // -self.step + 1
        return list(range(self.section + max(k0, 0), self.section + min(k1, self.count)))


@dataclass
class SparseAllocs:
    """What sparse_init() allocated, for explanations and pictures."""

    usemaps: dict[int, int] = field(default_factory=dict)  # nid -> address
    buffers: dict[int, int] = field(default_factory=dict)  # nid -> address (0: failed)
    memmaps: list[MemmapRun] = field(default_factory=list)
    tables: list[tuple[int, int, int]] = field(default_factory=list)  # vmemmap page-table
    # pages: (address, n, step), n pages from address on, step bytes apart

    def add_run(self, section: int, count: int, nid: int, addr: int, step: int,
                from_buffer: bool) -> None:
        """Sections ``section + k`` (k < count) at ``addr + k * step``; joins the last run
        when it continues it."""
        runs = self.memmaps
        if runs and count:
            r = runs[-1]
            gap = addr - (r.addr + (r.count - 1) * r.step)
            if (r.nid == nid and r.from_buffer == from_buffer and section == r.section + r.count
                    and abs(gap) == abs(step) and (r.count == 1 or gap == r.step)
                    and (count == 1 or step == gap)):
                r.step, r.count = gap, r.count + count
                return
        if count:
            runs.append(MemmapRun(section, count, nid, addr, step if count > 1 else abs(step),
                                  from_buffer))


def _alloc(mb: mbk.Memblock, size: int, align: int, lo: int, hi: int, nid: int,
           caller: str, exact: bool = False) -> int:
    return mbk.memblock_alloc_internal(mb, size, align, lo, hi, nid, exact, caller)


LEVEL_SHIFTS = (("p4d", 48), ("pud", 39), ("pmd", 30))  # what one table page of vmemmap maps


def _levels(prof: KernelProfile) -> tuple[tuple[str, int], ...]:
    return LEVEL_SHIFTS if prof.pgtable_levels == 5 else LEVEL_SHIFTS[1:]


def new_tables(prof: KernelProfile, tables: dict[str, int], first: int, end: int,
               make: bool = True) -> int:
    """vmemmap_{p4d,pud,pmd}_populate(): how many page-table pages the vmemmap of sections
    ``[first, end)`` needs beyond those already made (``tables``: the last index made per
    level; sections come in increasing order, so an index at or below it exists).  They
    are recorded as made unless ``make`` is false."""
    sps = prof.pages_per_section * prof.struct_page_size
    a, z = first * sps, end * sps - 1
    count = 0
    for kind, shift in _levels(prof):
        hi = z >> shift
        last = tables.get(kind, -1)
        if hi > last:
            lo = a >> shift
            count += hi - (lo if lo > last else last + 1) + 1
            if make:
                tables[kind] = hi
    return count


class _OnMemblock:
    """A node's vmemmap requests made on memblock one by one: what ``memblock.RunsAhead``
    answers ahead (the reference it is checked against), and what takes over where it
    cannot answer."""

    def __init__(self, mb: mbk.Memblock, nid: int) -> None:
        self.mb, self.nid, self.events = mb, nid, mb.events

    def alloc_runs(self, count: int, size: int, align: int,
                   caller: str) -> list[tuple[int, int, int]]:
        return mbk.memblock_alloc_runs(self.mb, count, size, align, MAX_DMA_ADDRESS,
                                       mbk.MEMBLOCK_ALLOC_ACCESSIBLE, self.nid, False, caller)

    def top_free(self, size: int) -> tuple[int, int] | None:
        if self.mb.bottom_up or self.mb.mirror:
            return None  # not a top-down search: no batches (_batch_end)
        return mbk.top_free_range(self.mb, size, MAX_DMA_ADDRESS,
                                  mbk.MEMBLOCK_ALLOC_ACCESSIBLE, self.nid)


_Requests = mbk.RunsAhead | _OnMemblock


def _table_alloc(req: _Requests, prof: KernelProfile, count: int, out: SparseAllocs) -> None:
    """``count`` vmemmap page-table pages in a row (vmemmap_alloc_block_zero, on the node)."""
    if count:
        out.tables += req.alloc_runs(count, prof.page_size, prof.page_size,
                                     "vmemmap_alloc_block_zero")


def populate_section_memmaps(mb: mbk.Memblock, prof: KernelProfile, tables: dict[str, int],
                             runs: list[tuple[int, int]], nid: int, take: list[int],
                             out: SparseAllocs) -> None:
    """vmemmap_populate() with 2M pages for each section, in order: page tables as needed,
    then the struct pages from the node's sparse buffer, else from memblock (any node).

    With the buffer in place the page tables are the only memblock requests, all alike:
    they are made as one run per run of sections.  Without it, sections that need no new
    page table are done as one run of identical requests; and all of the node's requests
    are answered ahead of memblock (``memblock.RunsAhead``) and reserved in one go, unless
    one of them cannot be answered so.
    """
    size = PMD_SIZE
    per_section = max(1, prof.pages_per_section * prof.struct_page_size // PMD_SIZE)
    if take and take[1] - take[0] >= sum(b - a for a, b in runs) * per_section * size:
        count = sum(new_tables(prof, tables, a, b) for a, b in runs)
        _table_alloc(_OnMemblock(mb, nid), prof, count, out)
        for a, b in runs:
            out.add_run(a, b - a, nid, take[0], size * per_section, True)
            take[0] += (b - a) * per_section * size
        return
    if not take and per_section == 1 and not (mb.bottom_up or mb.mirror):
        last = replace(out.memmaps[-1]) if out.memmaps else None
        before = len(out.tables), len(out.memmaps), dict(tables)
        try:
            req = mbk.RunsAhead(mb, nid, MAX_DMA_ADDRESS)
            _populate_requests(req, prof, tables, runs, nid, take, out)
            req.commit()
            return
        except mbk.WindowExhausted:  # undo what was written down, and ask memblock
            del out.tables[before[0]:], out.memmaps[before[1]:]
            if last is not None:
                out.memmaps[-1] = last
            tables.clear()
            tables.update(before[2])
    _populate_requests(_OnMemblock(mb, nid), prof, tables, runs, nid, take, out)


def _populate_requests(req: _Requests, prof: KernelProfile, tables: dict[str, int],
                       runs: list[tuple[int, int]], nid: int, take: list[int],
                       out: SparseAllocs) -> None:
    """populate_section_memmaps() where struct pages come from memblock (all or some)."""
    size, sps = PMD_SIZE, prof.pages_per_section * prof.struct_page_size
    per_section = max(1, sps // PMD_SIZE)
    chunk = max(1, (1 << 30) // sps)  # sections whose struct pages one PMD table maps
    for a, b in runs:
        nr = a
        tabled = False  # the last request of this node was a page-table page
        marks: list[_Mark] = []
        while nr < b:  # a PMD table's worth of sections at a time
            if isinstance(req, mbk.RunsAhead) and not take and per_section == 1:
                marks.append(_mark(req, nr, out))
                if tabled and len(marks) >= 2:  # a cycle of the last pass, else of two
                    nr = _repeat_cycles(req, prof, tables, (marks[-2], *marks[-1:] * 2), b, out)
                    if nr == marks[-1].nr and len(marks) >= 3:
                        nr = _repeat_cycles(req, prof, tables, (*marks[-3:],), b, out)
                    if nr != marks[-1].nr:
                        marks = [_mark(req, nr, out)]
            end = min(b, (nr // chunk + 1) * chunk)
            if not take and per_section == 1:
                end = _batch_end(req, prof, tables, nr, end, b, chunk)
            ntab = new_tables(prof, tables, nr, end)
            _table_alloc(req, prof, ntab, out)
            tabled = tabled or ntab > 0
            need = (end - nr) * per_section
            nbuf = min(need, (take[1] - take[0]) // size) if take else 0
            nsec_buf = nbuf // per_section
            if nsec_buf:
                out.add_run(nr, nsec_buf, nid, take[0], size * per_section, True)
                take[0] += nbuf * size
            if nbuf < need:
                got = req.alloc_runs(need - nbuf, size, size, "vmemmap_populate")
                first = nr + nsec_buf
                if per_section == 1:
                    for addr, n, step in got:
                        for k in range(n) if not addr else (0,):  # failed: one run each
                            out.add_run(first + k, 1 if not addr else n, nid, addr, step,
                                        False)
                        first += n
                else:
                    flat = [addr + k * step if addr else 0 for addr, n, step in got
                            for k in range(n)]
                    for k in range(end - first):
                        out.add_run(first + k, 1, nid, flat[k * per_section], size * per_section,
                                    False)
            nr = end


class _Mark(NamedTuple):
    """Where one pass of populate_section_memmaps' loop started: its first section; how
    many events, table runs and memmap runs there were, and the count of the last memmap
    run; the lowest address answered so far, and whether the state there was settled
    (``_mark``)."""

    nr: int
    events: int
    tables: int
    memmaps: int
    last_count: int
    low: int
    settled: bool


def _mark(req: mbk.RunsAhead, nr: int, out: SparseAllocs) -> _Mark:
    """The mark of a pass starting at section ``nr``.  The state is settled when what
    comes next depends on nothing above the lowest answer: no free page there that a
    request could take, and none right below the last page-table page (a gap that the
    next table pages would fill)."""
    settled = bool(out.tables) and req.nothing_free_above()
    if settled:  # and no free space right below the last page-table page
        addr, n, step = out.tables[-1]
        lowest = min(addr, addr + (n - 1) * step)
        settled = addr != 0 and req.floor(lowest) == lowest
    return _Mark(nr, len(req.events), len(out.tables), len(out.memmaps),
                 out.memmaps[-1].count if out.memmaps else 0, req.low, settled)


def _repeat_cycles(req: mbk.RunsAhead, prof: KernelProfile, tables: dict[str, int],
                   cycle: tuple[_Mark, ...], last: int, out: SparseAllocs) -> int:
    """Closed form of a repeating cycle of page-table pages and struct-page blocks.

    Without a sparse buffer (a hot-pluggable node's struct pages come from another node
    under movable_node) the kernel's table pages and struct pages alternate: each cycle
    fills the page-table gap the last one left and leaves a new one below its struct
    pages.  A cycle here is the last pass or two: ``cycle`` marks where it started, where
    its second pass started (its end, for one pass) and where it ended.  Where it started and
    where it ended the state was settled: nothing free above the lowest answer that a
    request could take (RunsAhead.nothing_free_above) and none right below the last
    table page, so the next requests only see the free range below, moved down by what
    the cycle took (``shift``).  When the cycles that follow need the same numbers of
    table pages (_alike_cycles) and that free range holds ``k`` of them, they come out as
    this one, moved down: their events (one ``memblock.Repeat`` of this cycle's), table
    and memmap runs and reservation are written here with arithmetic.  Returns the
    section the loop goes on from (``c.nr``: none done).
    """
    p, q, c = cycle
    nr, span, split = c.nr, c.nr - p.nr, q.nr - p.nr
    shift = p.low - c.low
    sps = prof.pages_per_section * prof.struct_page_size
    chunk = max(1, (1 << 30) // sps)
    if (not (p.settled and c.settled) or shift <= 0 or shift % PMD_SIZE or span % chunk
            or nr % chunk or c.memmaps == p.memmaps):
        return nr
    if p.memmaps and out.memmaps[p.memmaps - 1].count != p.last_count:
        return nr  # the cycle's struct pages joined the run before it
    # cycles that fit in the free space below and end a chunk or more before ``last``
    most = min((c.low - req.floor(c.low)) // shift - 1, (last - nr - chunk) // span)
    if most <= 0:
        return nr
    calls = tuple(e for e in req.events[p.events:c.events] if isinstance(e, mbk.Event))
    t2 = out.tables[p.tables:c.tables]
    m2 = [(r.section, r.count, r.nid, r.addr, r.step, r.from_buffer)
          for r in out.memmaps[p.memmaps:c.memmaps]]
    if (not calls or len(calls) != c.events - p.events
            or any(e.kind != "alloc" or e.up for e in calls)
            or any(not a for a, _, _ in t2) or any(not r[3] for r in m2)):
        return nr
    want = _cycle_tables(prof, p.nr, split, span)
    if (want[:2] != (sum(n for _, n, _ in out.tables[p.tables:q.tables]),
                     sum(n for _, n, _ in out.tables[q.tables:c.tables]))
            or tables != {kind: (nr * sps - 1) >> bits for kind, bits in _levels(prof)}):
        return nr
    k = min(most, _alike_cycles(prof, p.nr, split, span))  # and need the same tables
    if k <= 0:
        return nr
    req.events.append(mbk.Repeat(calls, k, shift))
    out.tables += [(a - j * shift, n, s) for j in range(1, k + 1) for a, n, s in t2]
    for sec, n, nid, addr, step, buf in m2:  # the first round, joined as its requests would
        out.add_run(sec + span, n, nid, addr - shift, step, buf)
    if len(out.memmaps) == c.memmaps + len(m2):  # its first run did not join the cycle's
        # last, nor will any later round's (the same places, moved): made as they are
        out.memmaps += [MemmapRun(sec + j * span, n, nid, addr - j * shift, step, buf)
                        for j in range(2, k + 1) for sec, n, nid, addr, step, buf in m2]
    else:
        for j in range(2, k + 1):
            for sec, n, nid, addr, step, buf in m2:
                out.add_run(sec + j * span, n, nid, addr - j * shift, step, buf)
    req.reserve(c.low - k * shift, k * shift)
    new_tables(prof, tables, nr, nr + k * span)
    return nr + k * span


def _cycle_tables(prof: KernelProfile, at: int, split: int, span: int) -> tuple[int, ...]:
    """The page-table pages (all levels) of a cycle's two passes from section ``at`` on
    (``split`` sections, then up to ``span``), and of one chunk more (what decided where the
    second pass ended), all the sections below having theirs: a level's new pages are the
    boundaries of its tables (1 << bits bytes of vmemmap each) the sections cross."""
    sps = prof.pages_per_section * prof.struct_page_size
    chunk = max(1, (1 << 30) // sps)
    marks = (at, at + split, at + span, at + span + chunk)
    below = [sum((x * sps - 1) >> bits for _, bits in _levels(prof)) for x in marks]
    return tuple(b - a for a, b in itertools.pairwise(below))


def _alike_cycles(prof: KernelProfile, at: int, split: int, span: int) -> int:
    """How many cycles after the one at section ``at`` need the same table pages
    (_cycle_tables), at least: the cycles move by ``span`` sections, so where a level's
    table boundaries fall in a cycle moves by ``span`` modulo that level's period; the
    count is of the cycles before one of them leaves the stretch where the cycle's three
    parts hold as many of them as at ``at`` (it may come back later: not counted)."""
    sps = prof.pages_per_section * prof.struct_page_size
    chunk = max(1, (1 << 30) // sps)
    if split % chunk or span % chunk or at % chunk:
        return 0
    a, s, x = split // chunk, span // chunk, at // chunk  # in chunks, one PMD table each
    most = 1 << 62
    for _, bits in _levels(prof):
        period = max(1, (1 << bits) // (sps * chunk))  # chunks between this level's tables
        if period == 1:
            continue  # a table every chunk: every cycle needs the same
        r = -x % period  # chunks from the cycle's start to the next table boundary
        # the boundary counts of the parts [0, a), [a, s), [s, s + 1) change where r
        # meets a part's edge, less a whole number of periods
        edges = sorted({0, a % period, s % period, (s + 1) % period})
        lo = max(e for e in edges if e <= r)
        hi = min((e for e in edges if e > r), default=period)
        step = -s % period  # how far r moves per cycle, up or (the shorter way) down
        if step > period // 2:
            step -= period
        if step > 0:
            most = min(most, (hi - 1 - r) // step)
        elif step < 0:
            most = min(most, (r - lo) // -step)
    return most


def _batch_end(req: _Requests, prof: KernelProfile, tables: dict[str, int], nr: int,
               end: int, last: int, chunk: int) -> int:
    """How far the requests from section ``nr`` on can be made as two runs, all the chunks'
    page-table pages and then all their struct-page blocks, with the outcome of the
    kernel's order (a chunk's table pages, then its blocks, chunk after chunk): while the
    tables fit in a gap that no struct-page block can use, the two kinds never meet.

    The table pages go to the top of the highest free range (``top``).  Where that range
    cannot hold a block (PMD_SIZE, aligned), the blocks go below it and the gap is all
    of it.  Where it can and the first chunk asks for a table page first, that page breaks
    the top block and the chunk's blocks go right below that block, so the gap is the rest
    of it; where the first chunk asks for none, its blocks come first, from the top block
    down, and the gap is what lies above that block.  Returns the end section of such a
    batch (``end``: one chunk, the kernel's order itself)."""
    page = prof.page_size
    top = req.top_free(page)
    if top is None:
        return end
    lo, hi = top
    gap = lo
    if round_up(lo, PMD_SIZE) + PMD_SIZE <= hi:  # a block fits in the range
        if new_tables(prof, tables, nr, end, False):  # a table page comes first
            gap = (hi - page) // PMD_SIZE * PMD_SIZE
            if gap - PMD_SIZE < lo:
                return end
        else:  # the first chunk's blocks come first, from the top block down
            gap = (hi - PMD_SIZE) // PMD_SIZE * PMD_SIZE + PMD_SIZE
    slots = (hi - gap) // page
    # chunks: at least one, at most to ``last``, and no more than the PMD pages (1 GiB of
    # vmemmap each) that fit in the gap, plus the one that may exist already, can span
    sps = prof.pages_per_section * prof.struct_page_size
    most = min((last - nr + chunk - 1) // chunk, ((slots + 1) << 30) // (chunk * sps))

    def over(k: int) -> int:  # table pages of ``k`` chunks beyond what the gap holds
        return new_tables(prof, tables, nr, min(last, (nr // chunk + k) * chunk), False) - slots

    # the most chunks whose tables fit in the gap (at least one): every chunk before
    # ``last`` past the first needs a PMD table page of its own, so ``over(k)`` pages too
    # many are at least as many chunks too far; then up while one more still fits
    k = max(most, 1)
    while k > 1 and (excess := over(k)) > 0:
        k = max(1, k - excess)
    while k < most and over(k + 1) <= 0:
        k += 1
    return max(end, min(last, (nr // chunk + k) * chunk))


def sparse_init(mb: mbk.Memblock, sparse: SparseMap, node_data: dict[int, int],
                online: list[int], prof: KernelProfile) -> SparseAllocs:
    """sparse_init(): the memory-map allocations of every present section, node by node."""
    out = SparseAllocs()
    # memblocks_present(): the mem_section root array (CONFIG_SPARSEMEM_EXTREME)
    sections_per_root = prof.page_size // prof.mem_section_size
    nr_roots = (1 << (prof.max_physmem_bits - prof.section_size_bits)) // sections_per_root
    _alloc(mb, nr_roots * 8, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, mbk.NUMA_NO_NODE,
           "sparse_init")
    # sparse_index_alloc(): a root page for each 128 sections, on the node of the first
    groups: list[tuple[int, list[tuple[int, int]]]] = []  # sections in a row on one node
    roots: list[list[int]] = []  # [nid, count]: root pages in a row for one node
    last_root = -1
    for a, b, nid in sparse.runs:
        n = nid if nid is not None else 0
        r0, r1 = max(a // sections_per_root, last_root + 1), (b - 1) // sections_per_root
        if r1 >= r0:
            if roots and roots[-1][0] == n:
                roots[-1][1] += r1 - r0 + 1
            else:
                roots.append([n, r1 - r0 + 1])
            last_root = r1
        if groups and groups[-1][0] == n:
            groups[-1][1].append((a, b))
        else:
            groups.append((n, [(a, b)]))
    for n, count in roots:
        mbk.memblock_alloc_runs(mb, count, prof.page_size, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE,
                                n, False, "sparse_index_alloc")
    tables: dict[str, int] = {}
    map_size = round_up(prof.pages_per_section * prof.struct_page_size, PMD_SIZE)
    for nid, runs in groups:
        size = prof.mem_section_usage_size * sum(b - a for a, b in runs)
        if prof.has("sparse_usage_on_node"):
            # sparse_usage_init(): the node's usemaps anywhere on the node; then the struct
            # pages of each section straight from memblock, no per-node buffer
            out.usemaps[nid] = _alloc(mb, size, 64, 0, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid,
                                      "sparse_init_nid")
            populate_section_memmaps(mb, prof, tables, runs, nid, [], out)
            continue
        # sparse_early_usemaps_alloc_pgdat_section(): in the section of NODE_DATA(nid)
        pgdat = node_data.get(nid, 0)
        sec_bytes = 1 << prof.section_size_bits
        goal = pgdat & ~(sec_bytes - 1)
        limit = goal + sec_bytes
        unid = mbk.memblock_search_pfn_nid(mb, goal >> prof.page_shift, prof.page_shift)
        unid = unid if unid is not None else min(online or [0])
        usage = _alloc(mb, size, 64, goal, limit, unid, "sparse_init_nid")
        if not usage:
            usage = _alloc(mb, size, 64, goal, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, unid,
                           "sparse_init_nid")
        out.usemaps[nid] = usage
        # sparse_buffer_init(): struct pages of all the node's sections, on the node only
        buf_size = map_size * sum(b - a for a, b in runs)
        buf = _alloc(mb, buf_size, map_size, MAX_DMA_ADDRESS, mbk.MEMBLOCK_ALLOC_ACCESSIBLE, nid,
                     "sparse_init_nid", exact=True)
        out.buffers[nid] = buf
        take = [buf, buf + buf_size] if buf else []
        populate_section_memmaps(mb, prof, tables, runs, nid, take, out)
        if take and take[0] < take[1]:  # sparse_buffer_fini()
            mbk.memblock_phys_free(mb, take[0], take[1] - take[0], "sparse_buffer_fini")
    return out
