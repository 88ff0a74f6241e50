# SPDX-License-Identifier: GPL-2.0-or-later
"""The layout of ``memhp map``: one lane per NUMA node on a shared, compressed address axis.

The horizontal axis is the physical address, shared by every lane, with long holes between
RAM ranges squeezed into a short break mark (the skipped size is written on it).  Each lane
holds a node's RAM, the boot reservations grouped into labelled markers above it and the
memory blocks below it.  ``MapLayout`` works out where everything goes; drawing it is
``memhp.output.memmap_svg``'s job.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from memhp.kernel.memory_blocks import MemoryBlock
from memhp.kernel.memory_hotplug import OfflineVerdict
from memhp.kernel.state import Boot, reservation_owners
from memhp.units import human

__all__ = ["Axis", "BLOCK_H", "BREAK_W", "Bar", "CATEGORIES", "Category", "LABEL_ROW", "LANE_GAP",
           "LANE_H", "LEFT", "Lane", "MARK_ROW", "MIN_RAM_W", "MapLayout", "Marker", "PLOT_W",
           "Segment", "WIDTH", "category", "free_x", "kept_reservations", "mem_range", "paint",
           "place_greedy", "text_width", "wrap_text"]

# Geometry (pixels).  The SVG is as wide as a 1400-pixel browser window minus its margins.
WIDTH = 1360
LEFT = 150  # lane captions
RIGHT = 28
PLOT_W = WIDTH - LEFT - RIGHT
BREAK_W = 64  # a squeezed hole
MIN_RAM_W = 16  # the narrowest a RAM range is drawn
LANE_H = 40  # the zone bar
LABEL_ROW = 16  # reservation labels
LEADER_H = 26  # between labels and markers
MARKER_JOIN = 60  # reservations of a kind closer than this share one label
MARK_ROW = 8  # one row of reservation markers
MAX_MARK_ROWS = 3
BLOCK_H = 13
LANE_GAP = 22



@dataclass(frozen=True)
class Category:
    """A kind of boot reservation as the map groups and colours it."""

    key: str
    label: str
    colour: str
    priority: int  # labels of lower priority give way first


CATEGORIES = {
    c.key: c
    for c in (
        Category("node_data", "NODE_DATA", "#882255", 0),
        Category("kernel", "kernel image", "#332288", 1),
        Category("acpi", "ACPI tables", "#999933", 2),
        Category("initrd", "initrd", "#AA4499", 3),
        Category("swiotlb", "swiotlb", "#0077BB", 4),
        Category("memmap", "struct pages", "#117733", 5),
        Category("percpu", "per-CPU", "#CC6677", 6),
        Category("low", "first 1M", "#DDAA33", 7),
        Category("other", "other boot memory", "#777777", 8),
    )
}


def category(what: str) -> Category:
    """The category of one ``reservation_owners`` description."""
    if what.startswith("NODE_DATA"):
        return CATEGORIES["node_data"]
    if what.startswith(("kernel image", "kernel brk")):
        return CATEGORIES["kernel"]
    if what.startswith("ACPI "):
        return CATEGORIES["acpi"]
    if what.startswith("initrd"):
        return CATEGORIES["initrd"]
    if what.startswith("swiotlb"):
        return CATEGORIES["swiotlb"]
    if what.startswith(("struct pages", "vmemmap", "mem_section")):
        return CATEGORIES["memmap"]
    if what.startswith("per-CPU"):
        return CATEGORIES["percpu"]
    if what.startswith(("first 1M", "low memory", "BIOS regions", "real-mode")):
        return CATEGORIES["low"]
    return CATEGORIES["other"]


# Advance widths of DejaVu Sans (units of 1/2048 em), to keep labels from colliding.
_WIDTHS: dict[str, int] = {}
for _chars, _w in (
    (" ", 651), ("0123456789", 1303), ("abdghnopqu", 1300), ("ce", 1200), ("fjilrt", 700),
    ("k", 1186), ("m", 1995), ("s", 1067), ("vxyz", 1212), ("w", 1675),
    ("ABCDEFGHKNOPQRSTUVXYZ", 1450), ("IJ", 604), ("LM", 1450), ("W", 2025),
    (".,:;!'|", 651), ("()[]{}-/", 800), ("_=+<>~%#&", 1716), ("·–—…×", 1100),
):
    for _c in _chars:
        _WIDTHS[_c] = _w


def text_width(s: str, size: float, mono: bool = False, bold: bool = False) -> float:
    """Estimated width in pixels of ``s`` at font size ``size`` (a little generous)."""
    if mono:
        return len(s) * size * 0.602
    return sum(_WIDTHS.get(c, 1300) for c in s) / 2048 * size * (1.14 if bold else 1.04)

def mem_range(start: int, end: int) -> str:
    """[mem 0x..-0x..] of the half-open range [start, end)."""
    return f"[mem {start:#x}-{end - 1:#x}]"


def wrap_text(s: str, size: float, width: float, mono: bool = False) -> list[str]:
    """Greedy word wrap of ``s`` to ``width`` pixels."""
    lines: list[str] = []
    cur = ""
    for word in s.split():
        cand = f"{cur} {word}" if cur else word
        if cur and text_width(cand, size, mono) > width:
            lines.append(cur)
            cur = word
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines or [""]


# --- the compressed address axis --------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A piece of the address axis: ``[start, end)`` drawn from x0 to x1."""

    start: int
    end: int
    x0: float
    x1: float
    ram: bool
    squeezed: bool = False  # a long hole drawn as a break mark


class Axis:
    """Maps physical addresses to x, piecewise linearly, with long holes squeezed."""

    def __init__(self, ram: list[tuple[int, int]], x0: float, width: float) -> None:
        pieces: list[tuple[int, int, bool]] = []
        pos = 0
        for s, e in ram:
            if s > pos:
                pieces.append((pos, s, False))
            pieces.append((s, e, True))
            pos = e
        if not pieces:
            pieces = [(0, 1 << 20, False)]
        n_ram = sum(1 for p in pieces if p[2])
        n_hole = len(pieces) - n_ram
        min_w = min(MIN_RAM_W, width / max(1, 3 * n_ram))
        brk_w = min(BREAK_W, width / max(1, 3 * n_hole))

        def widths(k: float) -> list[float]:
            return [max(min_w, k * (e - s)) if r else min(brk_w, k * (e - s))
                    for s, e, r in pieces]

        lo, hi = 0.0, width / min(e - s for s, e, _ in pieces)
        for _ in range(100):
            mid = (lo + hi) / 2
            if sum(widths(mid)) > width:
                hi = mid
            else:
                lo = mid
        ws = widths(lo)
        scale = width / sum(ws)  # absorb what bisection left over
        x = x0
        self.segments: list[Segment] = []
        for (s, e, r), w in zip(pieces, ws, strict=True):
            w *= scale
            squeezed = not r and lo * (e - s) > brk_w
            self.segments.append(Segment(s, e, x, x + w, r, squeezed))
            x += w
        self._starts = [seg.start for seg in self.segments]
        self.start = self.segments[0].start
        self.end = self.segments[-1].end

    def x(self, addr: int) -> float:
        """The x of a physical address (clamped to the axis)."""
        if addr <= self.start:
            return self.segments[0].x0
        if addr >= self.end:
            return self.segments[-1].x1
        seg = self.segments[bisect.bisect_right(self._starts, addr) - 1]
        return seg.x0 + (seg.x1 - seg.x0) * (addr - seg.start) / (seg.end - seg.start)


# --- what goes on the map ---------------------------------------------------------------


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(ranges):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def paint(owners: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Disjoint pieces of ``owners``, the latest owner of a byte winning (sorted)."""
    events: list[tuple[int, int, int]] = []  # (address, 0 end / 1 start, index)
    for i, (s, e, _) in enumerate(owners):
        if s < e:
            events.append((s, 1, i))
            events.append((e, 0, i))
    events.sort()
    active: list[int] = []  # max-heap of indexes, lazily cleaned
    ended: set[int] = set()
    out: list[tuple[int, int, str]] = []
    prev = None
    for addr, kind, i in events:
        while active and -active[0] in ended:
            heapq.heappop(active)
        if prev is not None and active and addr > prev:
            what = owners[-active[0]][2]
            if out and out[-1][1] == prev and out[-1][2] == what:
                out[-1] = (out[-1][0], addr, what)
            else:
                out.append((prev, addr, what))
        if kind:
            heapq.heappush(active, -i)
        else:
            ended.add(i)
        prev = addr
    return out


def kept_reservations(boot: Boot) -> list[tuple[int, int, str]]:
    """What the kernel still holds in memblock.reserved at hand-over, named, as disjoint
    pieces: ``reservation_owners`` painted in order, cut to the reserved regions."""
    kept = _merge((r.base, r.end) for r in boot.memblock.reserved.regions)
    painted = paint(reservation_owners(boot))
    out: list[tuple[int, int, str]] = []
    j = 0
    for ks, ke in kept:
        pos = ks
        while j < len(painted) and painted[j][1] <= ks:
            j += 1
        k = j
        while k < len(painted) and painted[k][0] < ke:
            s, e, what = painted[k]
            lo, hi = max(s, ks), min(e, ke)
            if lo > pos:
                out.append((pos, lo, "early reservations"))
            out.append((lo, hi, what))
            pos = hi
            k += 1
        if pos < ke:
            out.append((pos, ke, "early reservations"))
    return out


@dataclass
class Bar:
    """One drawn bar of a marker: pieces a few pixels apart, merged."""

    pieces: list[tuple[int, int, str]]
    x0: float = 0.0
    x1: float = 0.0
    row: int = 0

    @property
    def size(self) -> int:
        return sum(e - s for s, e, _ in self.pieces)


@dataclass
class Marker:
    """Reservations of one kind near each other on one lane: bars with one label."""

    cat: Category
    nid: int
    pieces: list[tuple[int, int, str]]
    bars: list[Bar] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.pieces[0][0]

    @property
    def end(self) -> int:
        return self.pieces[-1][1]

    @property
    def size(self) -> int:
        return sum(e - s for s, e, _ in self.pieces)

    @property
    def anchor(self) -> Bar:
        """The bar the label points at: the biggest."""
        return max(self.bars, key=lambda b: b.size)

    @property
    def name(self) -> str:
        return self.pieces[0][2] if self.cat.key == "node_data" else self.cat.label

    @property
    def label(self) -> str:
        if self.cat.key == "low":
            return self.name
        return f"{self.name} {human(self.size)}"

    @property
    def tip(self) -> str:
        lines = [f"{self.name}: {human(self.size)}", f"{mem_range(self.start, self.end)}, "
                 f"in node {self.nid}'s address range"]
        by_what: dict[str, list[tuple[int, int]]] = {}
        for s, e, what in self.pieces:
            by_what.setdefault(what, []).append((s, e))
        items = sorted(by_what.items(), key=lambda kv: -sum(e - s for s, e in kv[1]))
        if len(self.pieces) > 1 or items[0][0] != self.name:
            for what, rs in items[:10]:
                where = mem_range(rs[0][0], rs[-1][1]) if len(rs) == 1 else f"{len(rs)} pieces"
                lines.append(f"• {what}: {human(sum(e - s for s, e in rs))}, {where}")
            if len(items) > 10:
                lines.append(f"• … and {len(items) - 10} more kinds")
        return "\n".join(lines)


@dataclass
class Lane:
    """One node's lane and everything drawn on it."""

    nid: int
    ram: list[tuple[int, int]]
    markers: list[Marker] = field(default_factory=list)
    blocks: list[MemoryBlock] = field(default_factory=list)
    top: float = 0.0
    mark_rows: int = 0
    labels: list[tuple[Marker, float, float, int]] = field(default_factory=list)  # x, w, row
    label_rows: int = 1

    @property
    def bar_top(self) -> float:
        """Top of the zone bar."""
        if not self.markers:
            return self.top + 8
        return (self.top + LABEL_ROW * self.label_rows + LEADER_H + self.mark_rows * MARK_ROW
                + 2)

    @property
    def bottom(self) -> float:
        return self.bar_top + LANE_H + 4 + BLOCK_H + 17


def _lane_of(spans: list[tuple[int, int, int]], nids: list[int], s: int, e: int) -> int:
    """The node whose address range holds [s, e), else the nearest one."""
    best, dist = nids[0], None
    for lo, hi, nid in spans:
        if nid not in nids:
            continue
        if lo <= s < hi:
            return nid
        d = min(abs(s - hi), abs(lo - e))
        if dist is None or d < dist:
            best, dist = nid, d
    return best


def _layout_labels(items: list[tuple[float, float]], lo: float, hi: float,
                   gap: float = 10) -> list[float] | None:
    """Left edges for labels of widths ``w`` wanted centred at ``anchor`` (items sorted by
    anchor), in one row inside [lo, hi] without overlaps, order kept, moved as little as
    they can be; None when they do not fit."""
    if sum(w for _, w in items) + gap * (len(items) - 1) > hi - lo:
        return None
    clusters: list[list[int]] = []  # indexes
    starts: list[float] = []

    def best_start(idx: list[int]) -> float:
        off, want = 0.0, 0.0
        for i in idx:
            a, w = items[i]
            want += a - w / 2 - off
            off += w + gap
        width = off - gap
        return min(max(want / len(idx), lo), hi - width)

    for i in range(len(items)):
        clusters.append([i])
        starts.append(best_start([i]))
        while len(clusters) > 1:
            prev = clusters[-2]
            prev_end = starts[-2] + sum(items[j][1] + gap for j in prev)
            if prev_end <= starts[-1]:
                break
            merged = prev + clusters[-1]
            clusters[-2:] = [merged]
            starts[-2:] = [best_start(merged)]
    out: list[float] = []
    for idx, st in zip(clusters, starts, strict=True):
        for i in idx:
            out.append(st)
            st += items[i][1] + gap
    return out


def _displacement(labels: list[tuple[Marker, float, float, int]]) -> float:
    """How far the farthest label sits from its marker."""
    return max((abs(x + w / 2 - (m.anchor.x0 + m.anchor.x1) / 2) for m, x, w, _ in labels),
               default=0.0)


def _blocked_leaders(labels: list[tuple[Marker, float, float, int]]) -> int:
    """How many upper-row labels find no gap in the lower row for their leader."""
    lower = [(lx - 3, lx + w + 3) for _, lx, w, row in labels if row == 0]
    return sum(1 for m, lx, w, row in labels
               if row and free_x(lx + 4, lx + w - 4, m.anchor.x0, lower) is None)


def free_x(lo: float, hi: float, want: float, taken: list[tuple[float, float]]
            ) -> float | None:
    """The x in [lo, hi] nearest to ``want`` outside every ``taken`` interval, if any."""
    edges = sorted([lo, hi, *(a for a, _ in taken), *(b for _, b in taken)])
    best: float | None = None
    for x in [min(max(want, lo), hi), *edges]:
        if lo <= x <= hi and not any(a < x < b for a, b in taken):
            if best is None or abs(x - want) < abs(best - want):
                best = x
    return best


def place_greedy(cands: list[tuple[float, float, object]], gap: float = 6
                  ) -> list[tuple[float, float, object]]:
    """Keep the candidates (x0, x1, payload), in order of preference, that collide with
    none kept before them."""
    kept: list[tuple[float, float, object]] = []
    for x0, x1, p in cands:
        if all(x1 + gap <= k0 or x0 >= k1 + gap for k0, k1, _ in kept):
            kept.append((x0, x1, p))
    return kept



class MapLayout:
    """Works out the layout of one boot's map: the axis, the lanes, markers and blocks."""
    def __init__(self, boot: Boot) -> None:
        assert boot.numa is not None and boot.zones is not None
        self.b = boot
        self.numa = boot.numa
        self.zones = boot.zones
        self.ps = boot.profile.page_size
        self.nids = sorted(boot.zones.nodes) or [0]
        regions = boot.memblock.memory.regions
        self.axis = Axis(_merge((r.base, r.end) for r in regions), LEFT, PLOT_W)
        self.lanes = {n: Lane(n, [(r.base, r.end) for r in regions if r.nid == n])
                      for n in self.nids}
        if len(self.nids) == 1:  # one node: RAM without a node id is its
            self.lanes[self.nids[0]].ram = [(r.base, r.end) for r in regions]
        self.spans = [(m.start, m.end, m.nid) for m in self.numa.meminfo]
        self.spans += [(z.start_pfn * self.ps, z.end_pfn * self.ps, n)
                       for n, z in sorted(self.zones.nodes.items())]
        self.verdicts: dict[int, OfflineVerdict] = {v.block: v for v in boot.offline}
        self.srat_hot = self._srat_hotplug()
        self._markers()
        self._blocks()

    # -- data --

    def _srat_hotplug(self) -> list[tuple[int, int, int]]:
        """The SRAT's enabled hot-pluggable ranges, by node (when the SRAT is in use)."""
        m, st = self.b.machine, self.numa.srat
        if not (self.numa.from_srat and m.srat and st):
            return []
        out = []
        for e in m.srat.memory:
            nid = st.pxm_to_node.get(e.pxm)
            if e.enabled and e.hotpluggable and nid is not None:
                out.append((e.base, e.end, nid))
        return out

    def _markers(self) -> None:
        groups: dict[tuple[int, str], list[tuple[int, int, str]]] = {}
        for s, e, what in kept_reservations(self.b):
            nid = _lane_of(self.spans, self.nids, s, e)
            cat = category(what)
            key = what if cat.key == "node_data" else cat.key
            groups.setdefault((nid, key), []).append((s, e, what))
        x = self.axis.x
        for (nid, _), pieces in sorted(groups.items()):
            cat = category(pieces[0][2])
            cur: Marker | None = None
            for s, e, what in sorted(pieces):
                if cur is not None and x(s) - x(cur.end) < MARKER_JOIN:
                    cur.pieces.append((s, e, what))
                else:
                    cur = Marker(cat, nid, [(s, e, what)])
                    self.lanes[nid].markers.append(cur)
                if cur.bars and x(s) - x(cur.bars[-1].pieces[-1][1]) < 4:
                    cur.bars[-1].pieces.append((s, e, what))
                else:
                    cur.bars.append(Bar([(s, e, what)]))
        for lane in self.lanes.values():
            self._place_markers(lane)

    def _place_markers(self, lane: Lane) -> None:
        x = self.axis.x
        rows: list[list[tuple[float, float]]] = []
        bars = [bar for mk in lane.markers for bar in mk.bars]
        # big bars first so they take the bottom row, next to the lane
        for bar in sorted(bars, key=lambda b: (-b.size, b.pieces[0][0])):
            x0, x1 = x(bar.pieces[0][0]), x(bar.pieces[-1][1])
            if x1 - x0 < 5:
                mid = (x0 + x1) / 2
                x0, x1 = mid - 2.5, mid + 2.5
            bar.x0, bar.x1 = x0, x1
            for i, row in enumerate(rows):
                if all(x1 + 1 <= a or x0 >= b + 1 for a, b in row):
                    row.append((x0, x1))
                    bar.row = i
                    break
            else:
                if len(rows) < MAX_MARK_ROWS:
                    rows.append([])
                rows[-1].append((x0, x1))  # past MAX_MARK_ROWS: overlap in the top row
                bar.row = len(rows) - 1
        lane.mark_rows = max(1, len(rows))
        # labels: spread out in a row with leader lines, in two rows when one row would
        # move them far from their markers; the least important give way
        cands = sorted((m for m in lane.markers if m.cat.key != "other"),
                       key=lambda m: ((m.anchor.x0 + m.anchor.x1) / 2, m.cat.priority))
        while cands:
            layout = self._label_rows(cands, 1)
            if layout is None or _displacement(layout) > 150:
                twos = [t for t in (self._label_rows(cands, 2, 0), self._label_rows(cands, 2, 1))
                        if t is not None]
                two = min(twos, key=lambda t: (_blocked_leaders(t), _displacement(t)),
                          default=None)
                if two is not None and (layout is None
                                        or _displacement(two) < _displacement(layout) - 40):
                    layout, lane.label_rows = two, 2
            if layout is not None:
                lane.labels = layout
                break
            drop = max(cands, key=lambda m: (m.cat.priority, -m.size))
            cands.remove(drop)

    @staticmethod
    def _label_rows(cands: list[Marker], n: int, first: int = 0
                    ) -> list[tuple[Marker, float, float, int]] | None:
        """Labels of ``cands`` (sorted by anchor) dealt in turn to ``n`` rows, starting with
        row ``first``, each row spread out on its own; None if some row does not fit."""
        out: list[tuple[Marker, float, float, int]] = []
        for row in range(n):
            mks = cands[(row - first) % n::n]
            items = [((m.anchor.x0 + m.anchor.x1) / 2, text_width(m.label, 11, bold=True))
                     for m in mks]
            pos = _layout_labels(items, LEFT - 60, WIDTH - 8, 16)
            if pos is None:
                return None
            out += [(m, p, w, row) for m, p, (_, w) in zip(mks, pos, items, strict=True)]
        return out

    def _blocks(self) -> None:
        for blk in self.b.blocks:
            nids = [n for n in blk.nodes if n in self.lanes]
            if not nids:
                s = blk.start_pfn * self.ps
                nids = [_lane_of(self.spans, self.nids, s, s + blk.nr_pages * self.ps)]
            for n in nids:
                self.lanes[n].blocks.append(blk)

