# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp map``: a picture of physical memory, one lane per NUMA node.

The horizontal axis is the physical address, shared by every lane, with long holes between
RAM ranges squeezed into a short break mark (the skipped size is written on it).  Each lane
shows a node's zones in colour, the SRAT hot-pluggable ranges hatched, the boot
reservations as labelled markers above it and the memory blocks as small squares below it,
coloured by whether they can go offline right after boot.

``render_svg`` gives a standalone SVG (tooltips as ``<title>``); ``render_html`` embeds the
same SVG in a page that shows the details of whatever is under the mouse, with inline CSS
and JavaScript only.  Both use the standard library alone.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from memhp.errors import InputError
from memhp.kernel.memory_blocks import MemoryBlock
from memhp.kernel.memory_hotplug import OfflineVerdict
from memhp.kernel.setup import Boot, reservation_owners
from memhp.units import human
from memhp.units import id_ranges as _ranges

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
FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# Paul Tol's colour-blind-safe palettes: "light" for zones, "muted"/"vibrant" for the rest.
ZONE_COLOURS = {
    "DMA": "#EEDD88",
    "DMA32": "#77AADD",
    "Normal": "#EE8866",
    "Movable": "#44BB99",
    "Device": "#DDDDDD",
}
VERDICTS = {  # result -> (fill, legend text)
    "offlined": ("#009988", "can go offline"),
    "failed": ("#CC3311", "cannot go offline"),
    "unknown": ("#BBBBBB", "unknown"),
}
NO_VERDICT = "#FFFFFF"


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


def _attr(s: str) -> str:
    return escape(s, {'"': "&quot;", "\n": "&#10;"})


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _mem(start: int, end: int) -> str:
    """[mem 0x..-0x..] of the half-open range [start, end)."""
    return f"[mem {start:#x}-{end - 1:#x}]"


def _wrap(s: str, size: float, width: float, mono: bool = False) -> list[str]:
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
        lines = [f"{self.name}: {human(self.size)}", f"{_mem(self.start, self.end)}, "
                 f"in node {self.nid}'s address range"]
        by_what: dict[str, list[tuple[int, int]]] = {}
        for s, e, what in self.pieces:
            by_what.setdefault(what, []).append((s, e))
        items = sorted(by_what.items(), key=lambda kv: -sum(e - s for s, e in kv[1]))
        if len(self.pieces) > 1 or items[0][0] != self.name:
            for what, rs in items[:10]:
                where = _mem(rs[0][0], rs[-1][1]) if len(rs) == 1 else f"{len(rs)} pieces"
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
               if row and _free_x(lx + 4, lx + w - 4, m.anchor.x0, lower) is None)


def _free_x(lo: float, hi: float, want: float, taken: list[tuple[float, float]]
            ) -> float | None:
    """The x in [lo, hi] nearest to ``want`` outside every ``taken`` interval, if any."""
    edges = sorted([lo, hi, *(a for a, _ in taken), *(b for _, b in taken)])
    best: float | None = None
    for x in [min(max(want, lo), hi), *edges]:
        if lo <= x <= hi and not any(a < x < b for a, b in taken):
            if best is None or abs(x - want) < abs(best - want):
                best = x
    return best


def _place_greedy(cands: list[tuple[float, float, object]], gap: float = 6
                  ) -> list[tuple[float, float, object]]:
    """Keep the candidates (x0, x1, payload), in order of preference, that collide with
    none kept before them."""
    kept: list[tuple[float, float, object]] = []
    for x0, x1, p in cands:
        if all(x1 + gap <= k0 or x0 >= k1 + gap for k0, k1, _ in kept):
            kept.append((x0, x1, p))
    return kept


# --- drawing ----------------------------------------------------------------------------


class _Svg:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, s: str) -> None:
        self.parts.append(s)

    def text(self, x: float, y: float, s: str, size: float = 12, anchor: str = "start",
             extra: str = "", tip: str = "") -> None:
        a = f' text-anchor="{anchor}"' if anchor != "start" else ""
        t = f' data-tip="{_attr(tip)}"' if tip else ""
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.add(f'<text x="{_fmt(x)}" y="{_fmt(y)}" font-size="{_fmt(size)}"{a}{extra}{t}>'
                 f"{title}{escape(s)}</text>")

    def rect(self, x: float, y: float, w: float, h: float, fill: str, extra: str = "",
             tip: str = "") -> None:
        t = f' data-tip="{_attr(tip)}"' if tip else ""
        body = f"><title>{escape(tip)}</title></rect>" if tip else "/>"
        self.add(f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(max(w, 0))}" '
                 f'height="{_fmt(h)}" fill="{fill}"{extra}{t}{body}')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#000",
             width: float = 1, extra: str = "") -> None:
        self.add(f'<line x1="{_fmt(x1)}" y1="{_fmt(y1)}" x2="{_fmt(x2)}" y2="{_fmt(y2)}" '
                 f'stroke="{stroke}" stroke-width="{_fmt(width)}"{extra}/>')


HALO = ' paint-order="stroke" stroke="#ffffff" stroke-opacity="0.85" stroke-width="3"'


class _Map:
    """Works out the layout of one boot's map and draws it."""

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

    # -- text --

    def block_tip(self, blk: MemoryBlock) -> str:
        s = blk.start_pfn * self.ps
        e = s + blk.nr_pages * self.ps
        nodes = ", ".join(map(str, blk.nodes)) or "none"
        lines = [f"memory{blk.id}: {_mem(s, e)}, {human(e - s)}",
                 f"node{'s' if len(blk.nodes) != 1 else ''} {nodes}, zone {blk.zone or 'none'} "
                 f"(valid_zones {','.join(blk.valid_zones)}), {blk.state}"]
        v = self.verdicts.get(blk.id)
        if v is not None:
            lines.append(f"offline right after boot: {v.result} — {v.reason}")
        else:
            lines.append("offline right after boot: not predicted")
        return "\n".join(lines)

    def zone_tip(self, nid: int, zi: int, s: int, e: int) -> str:
        z = self.zones.nodes[nid].zones[zi]
        ps = self.ps
        lines = [f"zone {z.name}, node {nid}",
                 f"pfn {z.start_pfn:#x}-{z.end_pfn - 1:#x} "
                 f"{_mem(z.start_pfn * ps, z.end_pfn * ps)}",
                 f"spanned {z.spanned} pages, present {z.present} pages ({human(z.present * ps)})"]
        if z.name == "Movable" and nid in self.zones.zone_movable_pfn:
            mv = self.zones.zone_movable_pfn[nid]
            why = ("movable_node" if self.b.machine.cmdline.movable_node
                   else "kernelcore=/movablecore=")
            lines.append(f"ZONE_MOVABLE starts at {mv * ps:#x} ({why})")
        lines.append(f"this RAM range: {_mem(s, e)}, {human(e - s)}")
        hot = self._hot_state(nid, s, e)
        if hot:
            lines.append(hot)
        return "\n".join(lines)

    def _hot_state(self, nid: int, s: int, e: int) -> str:
        if any(hs < e and s < he for hs, he, _ in self.b.hotplug):
            return "hot-pluggable: the SRAT flag is kept (no kernel memory on this node)"
        if any(hs < e and s < he and n == nid for hs, he, n in self.srat_hot):
            return "SRAT hot-pluggable, but " + self._why_cleared(nid)
        return ""

    def _why_cleared(self, nid: int) -> str:
        if not self.b.machine.cmdline.movable_node:
            return "without movable_node the kernel does not keep hotplug memory movable"
        if nid in self.numa.kernel_nodes:
            return "the node holds kernel memory, so the kernel clears the flag"
        return "the kernel does not keep the flag"

    def node_caption(self, nid: int) -> tuple[list[str], str]:
        lane = self.lanes[nid]
        ram = sum(e - s for s, e in lane.ram)
        lines = [f"{human(ram)} RAM"]
        hot = [(s, e) for s, e, n in self.b.hotplug if n == nid]
        srat_hot = any(n == nid for _, _, n in self.srat_hot)
        if hot:
            lines.append("hot-pluggable")
        elif srat_hot and not self.b.machine.cmdline.movable_node:
            lines += ["SRAT hot-pluggable,", "no movable_node"]
        elif srat_hot:
            lines += ["hotplug flag cleared:", "holds kernel memory"
                      if lane.nid in self.numa.kernel_nodes else "see tooltip"]
        home = self.numa.node_data_home.get(nid)
        if home is not None and home != nid:
            lines.append(f"NODE_DATA on node {home}")
        nz = self.zones.nodes.get(nid)
        tip = [f"node {nid}: {human(ram)} of RAM in {len(lane.ram)} range(s)"]
        if nz is not None:
            tip.append(f"pfn {nz.start_pfn:#x}-{nz.end_pfn - 1:#x} "
                       f"{_mem(nz.start_pfn * self.ps, nz.end_pfn * self.ps)}")
        if hot:
            tip.append(f"hot-pluggable: {human(sum(e - s for s, e in hot))} keeps the SRAT flag")
        elif srat_hot:
            tip.append("SRAT hot-pluggable, but " + self._why_cleared(nid))
        if nid in self.numa.node_data:
            tip.append(f"NODE_DATA({nid}) at {self.numa.node_data[nid]:#x}, on node {home}")
        ids = [b.id for b in lane.blocks]
        if ids:
            tip.append(f"memory blocks {_ranges(ids)}")
        return lines, "\n".join(tip)

    # -- layout and output --

    def render(self) -> str:
        svg = _Svg()
        b, m = self.b, self.b.machine
        name = m.name or "machine"
        y = 34.0
        svg.text(20, y, f"Physical memory of {name}", 20, extra=' font-weight="bold"')
        y += 8
        if m.description:
            for line in _wrap(m.description, 13, WIDTH - 40):
                y += 18
                svg.text(20, y, line, 13, extra=' fill="#444"')
        y += 4
        cmd_lines = _wrap(m.cmdline.raw or "(empty)", 12, WIDTH - 150, mono=True)
        for i, line in enumerate(cmd_lines):
            y += 17
            if i == 0:
                svg.text(20, y, "command line:", 12, extra=' fill="#444"')
            svg.text(118, y, line, 12, extra=f' font-family="{MONO}"')
        y += 19
        svg.text(20, y, self.summary(), 12, extra=' fill="#444"')
        y += 26
        lanes_top = y
        for nid in self.nids:
            lane = self.lanes[nid]
            lane.top = y
            y = lane.bottom + LANE_GAP
        lanes_bottom = y - LANE_GAP
        self.draw_breaks(svg, lanes_top, lanes_bottom)
        for nid in self.nids:
            self.draw_lane(svg, self.lanes[nid])
        y = self.draw_axis(svg, lanes_bottom + 6)
        y = self.draw_legend(svg, y + 22)
        for note in b.notes:
            for i, line in enumerate(_wrap(note, 11, WIDTH - 60)):
                y += 15
                svg.text(20 if i == 0 else 30, y, ("note: " if i == 0 else "") + line, 11,
                         extra=' fill="#555"')
        height = int(y + 20)
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
                f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" '
                f'class="memhp-map" role="img">\n'
                f"<title>{escape(f'memhp map of {name}')}</title>\n{self.defs()}\n"
                f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>\n')
        return head + "\n".join(svg.parts) + "\n</svg>\n"

    def summary(self) -> str:
        b = self.b
        ram = sum(r.size for r in b.memblock.memory.regions)
        n = len(self.nids)
        res = [v.result for v in b.offline]
        parts = [f"Linux {b.profile.kernel_version} ({b.profile.name})",
                 f"{n} node{'s' if n != 1 else ''}", f"{human(ram)} RAM",
                 f"{len(b.blocks)} memory blocks of {human(b.block_size)}"]
        if res:
            verdict = f"{res.count('offlined')} can go offline, {res.count('failed')} cannot"
            if res.count("unknown"):
                verdict += f", {res.count('unknown')} unknown"
            parts.append(verdict)
        return " · ".join(parts)

    def defs(self) -> str:
        return (
            "<defs>\n"
            '<pattern id="hatch-hotplug" patternUnits="userSpaceOnUse" width="8" height="8" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="8" stroke="#1a1a1a" '
            'stroke-width="2.4" stroke-opacity="0.55"/></pattern>\n'
            '<pattern id="hatch-cleared" patternUnits="userSpaceOnUse" width="10" height="10" '
            'patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="10" stroke="#ffffff" '
            'stroke-width="2.5" stroke-opacity="0.8"/></pattern>\n'
            "</defs>"
        )

    def draw_breaks(self, svg: _Svg, top: float, bottom: float) -> None:
        e820 = self.b.e820
        for seg in self.axis.segments:
            if not seg.squeezed:
                continue
            inside = [f"  {en.type} {_mem(max(en.start, seg.start), min(en.end, seg.end))}"
                      for en in e820 if en.start < seg.end and seg.start < en.end]
            tip = "\n".join([f"not drawn to scale: {_mem(seg.start, seg.end)}, "
                             f"{human(seg.end - seg.start)} without RAM",
                             *(["firmware map here:", *inside] if inside else [])])
            w = seg.x1 - seg.x0
            svg.rect(seg.x0, top - 6, w, bottom - top + 14, "#f3f3f3",
                     ' class="break" stroke="#d8d8d8" stroke-dasharray="4 3"', tip)
            # the gap's size, written inside the band just above the axis
            label = human(seg.end - seg.start)
            cx = (seg.x0 + seg.x1) / 2
            svg.text(cx, bottom - 6, label, 11, "middle", ' fill="#555" pointer-events="none"')

    def draw_lane(self, svg: _Svg, lane: Lane) -> None:
        x, ps = self.axis.x, self.ps
        top = lane.bar_top
        svg.add(f'<g class="lane" data-node="{lane.nid}">')
        # caption
        lines, tip = self.node_caption(lane.nid)
        svg.text(20, top + 15, f"Node {lane.nid}", 15, extra=' font-weight="bold"', tip=tip)
        for i, line in enumerate(lines):
            svg.text(20, top + 31 + 14 * i, line, 11.5, extra=' fill="#444"')
        # track
        svg.rect(LEFT, top, PLOT_W, LANE_H, "#fafafa", ' stroke="#e3e3e3"')
        for seg in self.axis.segments:
            if seg.squeezed:
                self._break_mark(svg, seg, top)
        # zones, cut to the node's RAM
        nz = self.zones.nodes.get(lane.nid)
        zone_label: dict[int, tuple[float, float, int, int]] = {}
        for zi, z in enumerate(nz.zones if nz else []):
            if not z.spanned:
                continue
            zs, ze = z.start_pfn * ps, z.end_pfn * ps
            for s, e in lane.ram:
                lo, hi = max(s, zs), min(e, ze)
                if lo >= hi:
                    continue
                x0, x1 = x(lo), x(hi)
                svg.rect(x0, top, max(x1 - x0, 1), LANE_H, ZONE_COLOURS.get(z.name, "#DDDDDD"),
                         f' class="zone" data-zone="{z.name}"', self.zone_tip(lane.nid, zi, lo, hi))
                if zi not in zone_label or x1 - x0 > zone_label[zi][1] - zone_label[zi][0]:
                    zone_label[zi] = (x0, x1, lo, hi)
        # hatching over hot-pluggable RAM
        for hs, he, hn in self.b.hotplug:
            for s, e in lane.ram:
                lo, hi = max(s, hs), min(e, he)
                if lo < hi and (hn == lane.nid or hn is None):
                    svg.rect(x(lo), top, x(hi) - x(lo), LANE_H, "url(#hatch-hotplug)",
                             ' class="hotplug" pointer-events="none"')
        for hs, he, hn in self.srat_hot:
            if hn != lane.nid:
                continue
            for s, e in lane.ram:
                lo, hi = max(s, hs), min(e, he)
                if lo < hi and not any(a < hi and lo < b for a, b, _ in self.b.hotplug):
                    svg.rect(x(lo), top, x(hi) - x(lo), LANE_H, "url(#hatch-cleared)",
                             ' class="hotplug-cleared" pointer-events="none"')
        # zone names where they fit
        for zi, (x0, x1, _, _) in zone_label.items():
            if nz is None:
                continue
            zone = nz.zones[zi]
            for label in (f"{zone.name} · {human(zone.present * ps)}", zone.name):
                if text_width(label, 12.5) + 10 <= x1 - x0:
                    svg.text((x0 + x1) / 2, top + LANE_H / 2 + 4.5, label, 12.5, "middle",
                             ' font-weight="bold" fill="#222" pointer-events="none"' + HALO)
                    break
        self.draw_markers(svg, lane)
        self.draw_blocks(svg, lane, top + LANE_H + 4)
        svg.add("</g>")

    def _break_mark(self, svg: _Svg, seg: Segment, top: float) -> None:
        """Cover the hole's part of the track and draw the "//" break symbol."""
        svg.rect(seg.x0, top - 1, seg.x1 - seg.x0, LANE_H + 2, "#f3f3f3",
                 ' pointer-events="none"')
        cx = (seg.x0 + seg.x1) / 2
        for dx in (-5, 5):
            svg.line(cx + dx - 6, top + LANE_H - 6, cx + dx + 6, top + 6, "#888", 2)

    def draw_markers(self, svg: _Svg, lane: Lane) -> None:
        if not lane.markers:
            return
        base = lane.bar_top - 2  # bottom of the lowest marker row
        for mk in lane.markers:
            for bar in sorted(mk.bars, key=lambda b: -b.row):
                y = base - (bar.row + 1) * MARK_ROW
                svg.rect(bar.x0, y + 1, bar.x1 - bar.x0, MARK_ROW - 1, mk.cat.colour,
                         f' class="reservation" data-kind="{mk.cat.key}"', mk.tip)
        leader_bottom = lane.top + LABEL_ROW * lane.label_rows
        lower = [(lx - 3, lx + w + 3) for _, lx, w, row in lane.labels if row == 0]
        for mk, lx, w, row in lane.labels:
            bar = mk.anchor
            ax = (bar.x0 + bar.x1) / 2
            ay = base - (bar.row + 1) * MARK_ROW + 1
            cx = lx + w / 2
            if row:  # an upper label's leader goes down through a gap of the lower row
                cx = _free_x(lx + 4, lx + w - 4, ax, lower) or cx
            ly = lane.top + LABEL_ROW * (lane.label_rows - 1 - row) + LABEL_ROW
            svg.add(f'<polyline points="{_fmt(cx)},{_fmt(ly)} {_fmt(cx)},{_fmt(leader_bottom + 5)} '
                    f'{_fmt(ax)},{_fmt(ay - 6)} {_fmt(ax)},{_fmt(ay)}" fill="none" '
                    f'stroke="{mk.cat.colour}" stroke-width="1.2" stroke-opacity="0.75"/>')
        for mk, lx, w, row in lane.labels:
            ly = lane.top + LABEL_ROW * (lane.label_rows - 1 - row) + 12
            svg.text(lx + w / 2, ly, mk.label, 11, "middle", f' fill="{mk.cat.colour}"'
                     ' font-weight="bold" class="reservation-label"' + HALO, mk.tip)

    def draw_blocks(self, svg: _Svg, lane: Lane, y: float) -> None:
        x, ps = self.axis.x, self.ps
        if not lane.blocks:
            return
        spans: dict[int, tuple[float, float]] = {}
        for blk in lane.blocks:
            s = blk.start_pfn * ps
            x0, x1 = x(s), x(s + blk.nr_pages * ps)
            spans[blk.id] = (x0, x1)
            inset = 1.0 if x1 - x0 >= 5 else 0.0
            v = self.verdicts.get(blk.id)
            fill = VERDICTS[v.result][0] if v and v.result in VERDICTS else NO_VERDICT
            verdict = v.result if v else "none"
            svg.rect(x0 + inset, y, max(x1 - x0 - 2 * inset, 0.8), BLOCK_H, fill,
                     f' class="block" data-block="{blk.id}" data-verdict="{verdict}"'
                     + (' stroke="#999"' if fill == NO_VERDICT else ""), self.block_tip(blk))
            w = x1 - x0 - 2 * inset
            if v and v.result == "failed" and w >= 8:
                cx, cy, r = (x0 + x1) / 2, y + BLOCK_H / 2, 3.2
                svg.add(f'<path d="M{_fmt(cx - r)},{_fmt(cy - r)}L{_fmt(cx + r)},{_fmt(cy + r)}'
                        f'M{_fmt(cx - r)},{_fmt(cy + r)}L{_fmt(cx + r)},{_fmt(cy - r)}" '
                        'stroke="#ffffff" stroke-width="1.6" pointer-events="none"/>')
            elif v and v.result == "unknown" and w >= 8:
                svg.text((x0 + x1) / 2, y + BLOCK_H - 2, "?", 11, "middle",
                         ' font-weight="bold" fill="#333" pointer-events="none"')
        # block numbers: the ones that cannot go offline, the ends, and a regular step
        ids = [blk.id for blk in lane.blocks]
        px = min((x1 - x0 for x0, x1 in spans.values()), default=1.0)
        step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10**9)
                    if s * px >= 34)
        bad = [i for i in ids if self.verdicts.get(i) and self.verdicts[i].result != "offlined"]
        order = bad + [ids[0], ids[-1]] + [i for i in ids if i % step == 0]
        cands: list[tuple[float, float, object]] = []
        seen: set[int] = set()
        for i in order:
            if i in seen:
                continue
            seen.add(i)
            x0, x1 = spans[i]
            w = text_width(str(i), 11)
            cands.append(((x0 + x1) / 2 - w / 2, (x0 + x1) / 2 + w / 2, i))
        for x0, x1, placed in _place_greedy(cands, 5):
            assert isinstance(placed, int)
            v = self.verdicts.get(placed)
            colour = VERDICTS["failed"][0] if v and v.result == "failed" else "#444"
            svg.text((x0 + x1) / 2, y + BLOCK_H + 13, str(placed), 11, "middle",
                     f' fill="{colour}" class="block-id"')

    def draw_axis(self, svg: _Svg, y: float) -> float:
        ax = self.axis
        svg.line(LEFT, y, LEFT + PLOT_W, y, "#555", 1)
        svg.text(20, y + 14, "physical", 11, extra=' fill="#666"')
        svg.text(20, y + 28, "address", 11, extra=' fill="#666"')
        # boundaries: RAM range starts and ends, node boundaries, squeezed holes first
        ticks: dict[int, tuple[str, int]] = {}  # addr -> (anchor, priority)
        for i, seg in enumerate(ax.segments):
            if not seg.ram:
                continue
            prev_sq = i > 0 and ax.segments[i - 1].squeezed
            next_sq = i + 1 < len(ax.segments) and ax.segments[i + 1].squeezed
            ticks.setdefault(seg.start, ("start", 1 if prev_sq or i <= 1 else 3))
            ticks[seg.end] = ("end", 1 if next_sq or i == len(ax.segments) - 1 else 3)
        for nid in self.nids:
            nz = self.zones.nodes.get(nid)
            for a in ((nz.start_pfn * self.ps, nz.end_pfn * self.ps) if nz else ()):
                ticks.setdefault(a, ("middle", 2))
        ticks.setdefault(0, ("start", 0))
        cands: list[tuple[float, float, object]] = []
        for a, (anchor, _prio) in sorted(ticks.items(), key=lambda kv: (kv[1][1], kv[0])):
            tx = ax.x(a)
            hexs, hum = f"{a:#x}", human(a) if a else "0"
            w = max(text_width(hexs, 11), text_width(hum, 11))
            if anchor == "start":
                x0 = tx
            elif anchor == "end":
                x0 = tx - w
            else:
                x0 = tx - w / 2
            x0 = min(max(x0, LEFT - 40), WIDTH - 4 - w)
            cands.append((x0, x0 + w, (a, tx, hexs, hum)))
        for x0, x1, p in _place_greedy(cands, 10):
            assert isinstance(p, tuple)
            a, tx, hexs, hum = p
            svg.line(tx, y, tx, y + 5, "#555", 1)
            mid = (x0 + x1) / 2
            svg.text(mid, y + 17, hexs, 11, "middle", f' font-family="{MONO}"')
            svg.text(mid, y + 31, hum, 11, "middle", ' fill="#555"')
        return y + 34

    def draw_legend(self, svg: _Svg, y: float) -> float:
        svg.add('<g id="legend" class="legend">')
        svg.line(20, y - 8, WIDTH - 20, y - 8, "#e0e0e0", 1)
        rows: list[tuple[str, list[tuple[Callable[[float, float], None], str]]]] = []

        def swatch(fill: str, extra: str = "") -> Callable[[float, float], None]:
            def draw(x0: float, y0: float) -> None:
                svg.rect(x0, y0 - 11, 22, 13, fill, extra)
            return draw

        def both(*fs: Callable[[float, float], None]) -> Callable[[float, float], None]:
            def draw(x0: float, y0: float) -> None:
                for f in fs:
                    f(x0, y0)
            return draw

        rows.append(("Zones", [(swatch(ZONE_COLOURS[n]), f"ZONE_{n.upper()}")
                               for n in ("DMA", "DMA32", "Normal", "Movable")]))
        kept = [(s, e) for s, e, _ in self.b.hotplug]
        hot_items: list[tuple[Callable[[float, float], None], str]] = []
        if kept:
            hot_items.append((both(swatch(ZONE_COLOURS["Movable"]), swatch("url(#hatch-hotplug)")),
                              "SRAT hot-pluggable, flag kept"))
        if any(not any(a < e and s < b for a, b in kept) for s, e, _ in self.srat_hot):
            hot_items.append((both(swatch(ZONE_COLOURS["Normal"]), swatch("url(#hatch-cleared)")),
                              "SRAT hot-pluggable, flag not kept (see the node)"))
        if not hot_items:
            hot_items.append((lambda x0, y0: None, "no hot-pluggable memory in use"))
        rows.append(("Hotplug", hot_items))
        used = {mk.cat.key for lane in self.lanes.values() for mk in lane.markers}
        rows.append(("Boot memory (above the lanes)",
                     [(swatch(c.colour), c.label) for c in CATEGORIES.values()
                      if c.key in used or c.key in ("kernel", "node_data")]))
        rows.append(("Memory blocks (below the lanes)",
                     [(swatch(VERDICTS[k][0]), VERDICTS[k][1]) for k in VERDICTS]
                     + [(swatch("#f3f3f3", ' stroke="#d8d8d8" stroke-dasharray="4 3"'),
                         "hole without RAM, not to scale")]))
        for title, items in rows:
            y += 4
            svg.text(20, y, title, 12, extra=' font-weight="bold" fill="#333"')
            x0 = 260.0
            for draw, label in items:
                w = 30 + text_width(label, 12) + 18
                if x0 + w > WIDTH - 10:
                    x0 = 260.0
                    y += 20
                draw(x0, y)
                svg.text(x0 + 30, y, label, 12)
                x0 += w
            y += 20
        svg.add("</g>")
        return y


def render_svg(boot: Boot) -> str:
    """The map of ``boot`` as a standalone SVG document."""
    return _Map(boot).render()


_CSS = """
body { margin: 20px; font-family: DejaVu Sans, Verdana, Arial, Helvetica, sans-serif;
       background: #ffffff; color: #222; }
svg.memhp-map { display: block; max-width: 100%; height: auto; }
svg [data-tip] { cursor: default; }
svg rect[data-tip]:hover { stroke: #000; stroke-width: 1.5; }
svg text[data-tip]:hover { text-decoration: underline; }
#tip { position: fixed; display: none; z-index: 10; max-width: 520px; padding: 7px 10px;
       background: #222; color: #fff; font-size: 12.5px; line-height: 1.45; border-radius: 5px;
       white-space: pre-line; pointer-events: none; box-shadow: 0 2px 8px rgba(0,0,0,.3); }
#details { margin-top: 8px; width: 1316px; max-width: 100%; min-height: 3.2em; padding: 8px 12px;
           border: 1px solid #ddd; border-radius: 5px; background: #fafafa; font-size: 13px;
           white-space: pre-line; color: #333; }
"""

_JS = """
(function () {
  var tip = document.getElementById('tip');
  var details = document.getElementById('details');
  var svg = document.querySelector('svg.memhp-map');
  svg.querySelectorAll('title').forEach(function (t) { t.remove(); });
  function move(ev) {
    var pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    var x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth - 4) { x = ev.clientX - pad - w; }
    if (y + h > window.innerHeight - 4) { y = ev.clientY - pad - h; }
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function fill(box, text) {  // first line in bold, the rest as it is
    var lines = text.split('\\n');
    var head = document.createElement('b');
    head.textContent = lines[0];
    box.textContent = '';
    box.appendChild(head);
    if (lines.length > 1) {
      box.appendChild(document.createTextNode('\\n' + lines.slice(1).join('\\n')));
    }
  }
  svg.querySelectorAll('[data-tip]').forEach(function (el) {
    el.addEventListener('mouseenter', function (ev) {
      fill(tip, el.getAttribute('data-tip'));
      fill(details, el.getAttribute('data-tip'));
      tip.style.display = 'block';
      move(ev);
    });
    el.addEventListener('mousemove', move);
    el.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
})();
"""


def render_html(boot: Boot) -> str:
    """The map of ``boot`` in a self-contained HTML page that shows details on hover."""
    svg = render_svg(boot)
    name = boot.machine.name or "machine"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{escape(f'memhp map of {name}')}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{svg}<div id=\"details\">Point at a zone, a reservation or a memory block "
        "to see its details.</div>\n<div id=\"tip\" role=\"tooltip\"></div>\n"
        f"<script>{_JS}</script>\n</body>\n</html>\n"
    )


# --- command line -----------------------------------------------------------------------

RENDERERS: dict[str, Callable[[Boot], str]] = {".svg": render_svg, ".html": render_html}


def cmd_map(args: argparse.Namespace) -> int:
    """``memhp map``: boot the machine in the model and write its map."""
    from memhp.cli import input_profile, load_input, write_output
    from memhp.kernel.setup import boot

    suffix = f".{args.format}" if args.format else Path(args.output).suffix.lower()
    if args.output == "-" and not args.format:
        suffix = ".svg"
    if suffix == ".htm":
        suffix = ".html"
    if suffix not in RENDERERS:
        raise InputError("command line", "-o", args.output,
                         "the map is written as .svg or .html; name the file so")
    machine = load_input(args)
    if not machine.name:
        source = args.machine or args.boot_log
        source = "" if source == "-" else source
        machine = dataclasses.replace(machine, name=Path(source).stem if source else "")
    write_output(args.output, RENDERERS[suffix](boot(machine, input_profile(args, machine))))
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``memhp map MACHINE -o map.svg|map.html``."""
    from memhp.cli import add_command, live_args, profile_arg

    mp = add_command(
        subparsers, "map", "draw physical memory: zones, hotplug ranges, boot memory, memory "
        "blocks", "  memhp map machine.toml -o map.svg\n"
        "  memhp map --boot-log dmesg.txt --srat srat.bin -o map.html\n"
        "  memhp map machine.toml -o - --format svg > map.svg\n"
        "  memhp map --live -o this-machine.html",
        description="Draw a map of physical memory, one lane per NUMA node, as SVG or as an "
        "HTML page that shows details on hover (chosen by the suffix of -o, or --format).")
    mp.add_argument("machine", nargs="?", help="machine file (TOML)")
    mp.add_argument("--boot-log", help="a dmesg or serial log: its firmware lines are the input")
    mp.add_argument("--srat", help="SRAT: raw table, acpidump text or iasl -d text")
    live_args(mp)
    mp.add_argument("--cmdline", help="kernel command line (replaces the input's)")
    mp.add_argument("-o", "--output", required=True, help="map.svg or map.html ('-': stdout)")
    mp.add_argument("--format", choices=("svg", "html"),
                    help="the picture's format (default: from the suffix of -o)")
    profile_arg(mp)
    mp.set_defaults(func=cmd_map)
