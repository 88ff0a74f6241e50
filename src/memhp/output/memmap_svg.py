# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp map`` as SVG: the zones of each lane in colour, the SRAT hot-pluggable ranges
hatched, the boot reservations as labelled markers and the memory blocks coloured by
whether they can go offline right after boot.  Tooltips are ``<title>`` elements (and
``data-tip`` attributes for the HTML page).  Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.sax.saxutils import escape

from memhp.analysis import movable_reason
from memhp.kernel.memory_blocks import MemoryBlock
from memhp.kernel.state import Boot
from memhp.output.memmap_layout import (
    BLOCK_H,
    CATEGORIES,
    LABEL_ROW,
    LANE_GAP,
    LANE_H,
    LEFT,
    MARK_ROW,
    PLOT_W,
    WIDTH,
    Lane,
    MapLayout,
    Segment,
    free_x,
    mem_range,
    place_greedy,
    text_width,
    wrap_text,
)
from memhp.units import human
from memhp.units import id_ranges as _ranges

__all__ = ["NO_VERDICT", "VERDICTS", "ZONE_COLOURS", "SvgMap", "render_svg"]

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


def _attr(s: str) -> str:
    return escape(s, {'"': "&quot;", "\n": "&#10;"})


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")



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



class SvgMap(MapLayout):
    """Draws one boot's map from its layout."""

    # -- text --

    def block_tip(self, blk: MemoryBlock) -> str:
        s = blk.start_pfn * self.ps
        e = s + blk.nr_pages * self.ps
        nodes = ", ".join(map(str, blk.nodes)) or "none"
        lines = [f"memory{blk.id}: {mem_range(s, e)}, {human(e - s)}",
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
                 f"{mem_range(z.start_pfn * ps, z.end_pfn * ps)}",
                 f"spanned {z.spanned} pages, present {z.present} pages ({human(z.present * ps)})"]
        if z.name == "Movable" and nid in self.zones.zone_movable_pfn:
            mv = self.zones.zone_movable_pfn[nid]
            lines.append(f"ZONE_MOVABLE starts at {mv * ps:#x} "
                         f"({movable_reason(self.zones, nid)})")
        lines.append(f"this RAM range: {mem_range(s, e)}, {human(e - s)}")
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
        if nid in self.numa.kernel_memory:
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
                       f"{mem_range(nz.start_pfn * self.ps, nz.end_pfn * self.ps)}")
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
            for line in wrap_text(m.description, 13, WIDTH - 40):
                y += 18
                svg.text(20, y, line, 13, extra=' fill="#444"')
        y += 4
        cmd_lines = wrap_text(m.cmdline.raw or "(empty)", 12, WIDTH - 150, mono=True)
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
            for i, line in enumerate(wrap_text(note, 11, WIDTH - 60)):
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
            inside = [f"  {en.type} {mem_range(max(en.start, seg.start), min(en.end, seg.end))}"
                      for en in e820 if en.start < seg.end and seg.start < en.end]
            tip = "\n".join([f"not drawn to scale: {mem_range(seg.start, seg.end)}, "
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
                cx = free_x(lx + 4, lx + w - 4, ax, lower) or cx
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
        for x0, x1, placed in place_greedy(cands, 5):
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
        for x0, x1, p in place_greedy(cands, 10):
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
    return SvgMap(boot).render()

