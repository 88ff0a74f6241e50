# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp map``: the SVG and HTML pictures of physical memory, the subcommand, and the
pictures as a person sees them (headless Chromium screenshots, and a hover)."""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from memhp.cli import add_map_subcommand
from memhp.errors import InputError
from memhp.firmware.machine_file import load_machine
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import Boot, boot
from memhp.output import memmap_html, memmap_layout, memmap_svg

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
CORPUS = HERE / "fixtures" / "corpus"
FIRMWARE = HERE / "fixtures" / "firmware"
SHOTS = HERE / "fixtures" / "map"
NS = "{http://www.w3.org/2000/svg}"
EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("p*.toml"))


@functools.cache
def booted(name: str) -> Boot:
    """The modelled boot of an example machine, by name or prefix (p01, p04, ...)."""
    path = next(p for p in sorted(EXAMPLES.glob("*.toml")) if p.stem.startswith(name))
    return boot(load_machine(str(path)), load_profile())


@functools.cache
def svg_of(name: str) -> str:
    return memmap_svg.render_svg(booted(name))


def lanes(root: ET.Element) -> dict[int, ET.Element]:
    return {int(g.get("data-node", "-1")): g for g in root.iter(f"{NS}g")
            if g.get("class") == "lane"}


def shown(t: ET.Element) -> str:
    """The text an element shows (not its <title> tooltip)."""
    return (t.text or "") + "".join(c.tail or "" for c in t)


def fills(lane: ET.Element) -> set[str]:
    return {r.get("fill", "") for r in lane.iter(f"{NS}rect")}


# --- the SVG --------------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_svg_parses_with_a_lane_per_node_a_legend_and_every_block(name: str) -> None:
    b = booted(name)
    assert b.zones is not None
    root = ET.fromstring(svg_of(name))
    assert root.tag == f"{NS}svg"
    assert int(root.get("width", "0")) > 0 and int(root.get("height", "0")) > 0
    by_node = lanes(root)
    assert sorted(by_node) == sorted(b.zones.nodes)
    legend = [e for e in root.iter() if e.get("id") == "legend"]
    assert len(legend) == 1
    legend_text = " ".join(shown(t) for t in legend[0].iter(f"{NS}text"))
    for word in ("ZONE_DMA", "ZONE_DMA32", "ZONE_NORMAL", "ZONE_MOVABLE", "kernel image",
                 "can go offline", "cannot go offline"):
        assert word in legend_text
    # a tick for every block, in the lane of each of its nodes
    seen: set[int] = set()
    for nid, lane in by_node.items():
        ids = {int(r.get("data-block", "-1")) for r in lane.iter(f"{NS}rect")
               if r.get("class") == "block"}
        assert ids == {blk.id for blk in b.blocks if nid in blk.nodes}
        seen |= ids
    assert seen == {blk.id for blk in b.blocks}
    verdicts = {v.block: v.result for v in b.offline}
    for r in root.iter(f"{NS}rect"):
        if r.get("class") == "block":
            assert r.get("data-verdict") == verdicts.get(int(r.get("data-block", "-1")), "none")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_zones_are_coloured_with_distinct_colours(name: str) -> None:
    b = booted(name)
    assert b.zones is not None
    by_node = lanes(ET.fromstring(svg_of(name)))
    for nid, nz in b.zones.nodes.items():
        drawn = {r.get("data-zone", ""): r.get("fill") for r in by_node[nid].iter(f"{NS}rect")
                 if r.get("class") == "zone"}
        assert set(drawn) == {z.name for z in nz.zones if z.present}
        assert all(drawn[z] == memmap_svg.ZONE_COLOURS[z] for z in drawn)
    assert len(set(memmap_svg.ZONE_COLOURS.values())) == len(memmap_svg.ZONE_COLOURS)


def test_p01_node1_is_hatched_and_node_data_1_sits_on_node0() -> None:
    root = ET.fromstring(svg_of("p01"))
    assert any(p.get("id") == "hatch-hotplug" for p in root.iter(f"{NS}pattern"))
    by_node = lanes(root)
    assert "url(#hatch-hotplug)" in fills(by_node[1])
    assert "url(#hatch-hotplug)" not in fills(by_node[0])
    labels = [shown(t) for t in by_node[0].iter(f"{NS}text")
              if t.get("class") == "reservation-label"]
    assert any(s.startswith("NODE_DATA(1)") for s in labels)
    assert any(s.startswith("kernel image") for s in labels)
    node1 = [e for e in by_node[1].iter() if e.get("class") == "reservation"]
    assert node1 == []  # nothing of the kernel's on the hot-pluggable node


def test_p04_acpi_tables_on_node1_clear_its_hotplug_flag() -> None:
    by_node = lanes(ET.fromstring(svg_of("p04")))
    assert all("url(#hatch-hotplug)" not in fills(g) for g in by_node.values())
    assert "url(#hatch-cleared)" in fills(by_node[1])
    kinds = {r.get("data-kind") for r in by_node[1].iter(f"{NS}rect")
             if r.get("class") == "reservation"}
    assert {"acpi", "node_data", "initrd"} <= kinds
    caption = " ".join(shown(t) for t in by_node[1].iter(f"{NS}text"))
    assert "hotplug flag cleared" in caption


def test_holes_are_squeezed_with_their_size_written() -> None:
    ax = memmap_layout.MapLayout(booted("p01")).axis
    squeezed = [s for s in ax.segments if s.squeezed]
    assert len(squeezed) == 1  # the PCI hole below 4G
    hole = squeezed[0]
    assert hole.x1 - hole.x0 <= memmap_layout.BREAK_W + 0.01
    ram = [s for s in ax.segments if s.ram]
    assert all(s.x1 - s.x0 >= memmap_layout.MIN_RAM_W - 0.01 for s in ram)
    big = sorted(ram, key=lambda s: s.end - s.start)[-2:]  # widths proportional to sizes
    r0, r1 = ((s.x1 - s.x0) / (s.end - s.start) for s in big)
    assert r0 == pytest.approx(r1)
    assert ax.segments[-1].x1 == pytest.approx(memmap_layout.LEFT + memmap_layout.PLOT_W)
    texts = [shown(t) for t in ET.fromstring(svg_of("p01")).iter(f"{NS}text")]
    assert "1.0 GiB" in texts  # the hole's size
    assert "0x100000000" in texts and "4 GiB" in texts  # hex and human axis labels


def _boxes(root: ET.Element) -> list[tuple[float, float, float, float, str]]:
    out = []
    for t in root.iter(f"{NS}text"):
        s = shown(t).strip()
        if not s:
            continue
        size = float(t.get("font-size", "12"))
        mono = "Mono" in t.get("font-family", "")
        w = memmap_layout.text_width(s, size, mono, t.get("font-weight") == "bold")
        x, y = float(t.get("x", "0")), float(t.get("y", "0"))
        x0 = {"middle": x - w / 2, "end": x - w}.get(t.get("text-anchor", ""), x)
        out.append((x0, y - 0.78 * size, x0 + w, y + 0.22 * size, s))
    return out


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_text_is_readable_and_never_overlaps(name: str) -> None:
    root = ET.fromstring(svg_of(name))
    width = float(root.get("width", "0"))
    assert all(float(t.get("font-size", "0")) >= 11 for t in root.iter(f"{NS}text"))
    boxes = _boxes(root)
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(boxes):
        assert ax0 >= 0 and ax1 <= width, a
        for bx0, by0, bx1, by1, b in boxes[i + 1:]:
            assert not (ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1), (a, b)


def big_machine_toml() -> str:
    """Eight nodes of 64 GiB (the upper four hot-pluggable), 2 GiB memory blocks."""
    g = 1 << 30
    out = ['name = "eight_nodes"', "hypervisor = false", "cpus = 16",
           'cmdline = "console=ttyS0 nokaslr movable_node"',
           'initrd = { start = "0x7f000000", end = "0x7fe00000" }']
    for s, e, t in ((0, 0x9FC00, "usable"), (0x9FC00, 0xA0000, "reserved"),
                    (0xF0000, 0x100000, "reserved"), (0x100000, 0x7FF00000, "usable"),
                    (0x7FF00000, 0x80000000, "ACPI data"), (0xFEC00000, 4 * g, "reserved"),
                    (4 * g, 60 * g, "usable"), (61 * g, 512 * g, "usable")):
        out += ["[[e820]]", f'start = "{s:#x}"', f'end = "{e:#x}"', f'type = "{t}"']
    for sig, addr, n in (("SRAT", 0x7FF00000, 0x400), ("DSDT", 0x7FF01000, 0x4000)):
        out += ["[[acpi_table]]", f'signature = "{sig}"', f'address = "{addr:#x}"',
                f'length = "{n:#x}"']
    out.append("[srat]")
    for c in range(16):
        out += ["[[srat.cpu]]", f"pxm = {c % 8}", f"apic_id = {c}"]
    for n in range(8):
        out += ["[[srat.memory]]", f"pxm = {n}", f'base = "{n * 64 * g:#x}"',
                f'length = "{64 * g:#x}"'] + (["hotpluggable = true"] if n >= 4 else [])
    return "\n".join(out) + "\n"


def test_a_big_machine_still_lays_out(tmp_path: Path) -> None:
    """Eight nodes and hundreds of blocks: a lane each, every block, no text overlaps."""
    path = tmp_path / "eight.toml"
    path.write_text(big_machine_toml())
    b = boot(load_machine(str(path)), load_profile())
    root = ET.fromstring(memmap_svg.render_svg(b))
    by_node = lanes(root)
    assert sorted(by_node) == list(range(8))
    assert len(b.blocks) > 200
    assert len([r for r in root.iter(f"{NS}rect") if r.get("class") == "block"]) == len(b.blocks)
    for nid in range(4, 8):
        assert "url(#hatch-hotplug)" in fills(by_node[nid])
    boxes = _boxes(root)
    for i, (ax0, ay0, ax1, ay1, a) in enumerate(boxes):
        for bx0, by0, bx1, by1, t in boxes[i + 1:]:
            assert not (ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1), (a, t)


# --- the HTML -------------------------------------------------------------------------


class _Tips(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tips: dict[tuple[str, str], str] = {}  # (class, id-ish) -> tip
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        tip = a.get("data-tip")
        if tip is None:
            return
        cls = a.get("class") or ""
        key = a.get("data-block") or a.get("data-zone") or a.get("data-kind") or ""
        self.tips.setdefault((cls, key), tip)
        self.tips[(cls, f"{key}#{len(self.tips)}")] = tip

    def all(self, cls: str) -> list[str]:
        return [t for (c, _), t in self.tips.items() if c == cls]


@pytest.mark.parametrize("name", ["p01", "p04", "p06", "p08"])
def test_html_has_hover_details_for_every_block_zone_and_reservation(name: str) -> None:
    b = booted(name)
    page = memmap_html.render_html(b)
    assert page.startswith("<!DOCTYPE html>")
    p = _Tips()
    p.feed(page)
    assert "svg" in p.tags and "script" in p.tags and "style" in p.tags
    ps = b.profile.page_size
    verdicts = {v.block: v for v in b.offline}
    for blk in b.blocks:
        tip = p.tips[("block", str(blk.id))]
        s = blk.start_pfn * ps
        assert tip.startswith(f"memory{blk.id}: [mem {s:#x}-{s + blk.nr_pages * ps - 1:#x}]")
        assert f"zone {blk.zone or 'none'}" in tip
        assert f"node {blk.nodes[0]}" in tip or f"nodes {blk.nodes[0]}" in tip
        v = verdicts[blk.id]
        assert f"offline right after boot: {v.result} — {v.reason}" in tip
        assert "\n" in tip  # one fact a line
    zones = p.all("zone")
    assert zones and all("pfn 0x" in t and "present" in t and "pages" in t for t in zones)
    res = p.all("reservation")
    assert res and all("[mem 0x" in t for t in res)
    assert any(t.startswith("kernel image: 52") for t in res)
    assert any(t.startswith("NODE_DATA(0): 172 KiB") for t in res)
    # self-contained: no scripts, styles, fonts or images from anywhere
    assert not re.search(r"<(script|link|img|iframe)[^>]*(src|href)=", page)
    assert "url(http" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


# --- the subcommand -------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="memhp")
    add_map_subcommand(p.add_subparsers(dest="command", required=True))
    return p


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    rc: int = args.func(args)
    return rc


def test_subcommand_writes_svg_and_html(tmp_path: Path) -> None:
    machine = str(EXAMPLES / "p06_movablecore_two_nodes.toml")
    assert _run(["map", machine, "-o", str(tmp_path / "m.svg")]) == 0
    ET.parse(tmp_path / "m.svg")
    assert _run(["map", machine, "--cmdline", "console=ttyS0 nokaslr movablecore=1G",
                 "--output", str(tmp_path / "m.html")]) == 0
    page = (tmp_path / "m.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "movablecore=1G" in page
    assert "p06_movablecore_two_nodes" in page


def test_subcommand_from_a_boot_log_takes_its_name(tmp_path: Path) -> None:
    scenario = "p04_hotplug_range_holds_acpi_tables"
    out = tmp_path / "m.svg"
    assert _run(["map", "--boot-log", str(FIRMWARE / f"{scenario}.fw.log"),
                 "--srat", str(CORPUS / scenario / "srat.bin"), "-o", str(out)]) == 0
    assert f"{scenario}.fw" in out.read_text()


@pytest.mark.parametrize("output", ["map.png", "map", "map.svg.txt"])
def test_subcommand_wants_svg_or_html(tmp_path: Path, output: str) -> None:
    with pytest.raises(InputError, match=r"-o=.*\.svg or \.html"):
        _run(["map", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"), "-o",
              str(tmp_path / output)])
    assert not (tmp_path / output).exists()


def test_subcommand_needs_an_output() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["map", "x.toml"])


def test_cli_exits_2_on_a_bad_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from memhp import cli

    rc = cli.main(["map", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"), "-o",
                   str(tmp_path / "m.pdf")])
    assert rc == 2
    assert ".svg or .html" in capsys.readouterr().err
    assert cli.main(["map", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"), "-o",
                     str(tmp_path / "m.svg")]) == 0


# --- as a person sees it: headless Chromium -------------------------------------------

CHROMIUM = next((c for c in (shutil.which(n) for n in ("chromium", "chromium-browser"))
                 if c), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
WINDOW_W = 1400


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False)


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, ctype = 8, b"", 0, 0, 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and interlace == 0
        elif kind == b"IDAT":
            idat += body
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(h):
        i = y * (stride + 1)
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        if f == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif f == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + (left + prev[x]) // 2) & 255
        elif f == 4:
            for x in range(stride):
                a = line[x - bpp] if x >= bpp else 0
                b, c = prev[x], prev[x - bpp] if x >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line) if bpp == 3 else bytes(v for k, v in enumerate(line) if k % 4 != 3))
        prev = line
    return w, h, rows


def count_colour(rows: list[bytes], colour: str, tol: int = 8) -> int:
    want = bytes.fromhex(colour.lstrip("#"))
    n = 0
    for row in rows:
        for x in range(0, len(row), 3):
            if all(abs(row[x + k] - want[k]) <= tol for k in range(3)):
                n += 1
    return n


SCREENSHOT_SCENARIOS = {
    "p01": ("p01_movable_node_hotplug_node1", ["DMA32", "Movable"]),
    "p04": ("p04_hotplug_range_holds_acpi_tables", ["DMA32", "Normal"]),
}


@needs_chromium
@pytest.mark.parametrize("short", sorted(SCREENSHOT_SCENARIOS))
def test_screenshot_in_chromium(short: str, tmp_path: Path) -> None:
    scenario, zones = SCREENSHOT_SCENARIOS[short]
    html = tmp_path / f"{short}.html"
    # the corpus scenario's own firmware lines and SRAT, as a user would pass them
    log = tmp_path / f"{scenario}.log"
    shutil.copyfile(FIRMWARE / f"{scenario}.fw.log", log)
    assert _run(["map", "--boot-log", str(log), "--srat", str(CORPUS / scenario / "srat.bin"),
                 "-o", str(html)]) == 0
    svg_h = int(re.search(r'<svg[^>]* height="(\d+)"', html.read_text()).group(1))  # type: ignore[union-attr]
    height = svg_h + 120  # body margins and the details box
    png = tmp_path / f"{short}.png"
    r = chromium(tmp_path, f"--screenshot={png}", f"--window-size={WINDOW_W},{height}",
                 html.as_uri())
    assert png.exists(), r.stderr[-2000:]
    w, h, rows = decode_png(png.read_bytes())
    assert (w, h) == (WINDOW_W, height)
    # not blank: plenty of ink, in many colours
    ink = sum(1 for row in rows for x in range(0, len(row), 3) if row[x:x + 3] != b"\xff\xff\xff")
    assert ink > 0.06 * w * h
    assert len({row[x:x + 3] for row in rows[::7] for x in range(0, len(row), 21)}) > 30
    # the lanes are painted in the zone colours, failed blocks in red
    for z in zones:
        assert count_colour(rows, memmap_svg.ZONE_COLOURS[z]) > 4000, z
    assert count_colour(rows, memmap_svg.VERDICTS["failed"][0]) > 300
    assert count_colour(rows, memmap_svg.VERDICTS["offlined"][0]) > 3000
    # everything fits the window: the bottom margin and the right edge stay white
    assert all(set(row) == {255} for row in rows[-12:])
    assert all(set(row[-3 * 12:]) == {255} for row in rows)
    if os.environ.get("MEMHP_SAVE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, SHOTS / f"{short}.png")


@needs_chromium
def test_hovering_a_block_shows_its_details(tmp_path: Path) -> None:
    b = booted("p04")
    failed = next(v for v in b.offline if v.result == "failed" and v.block > 0)
    probe = (
        "<script>\n"
        f"var el = document.querySelector('rect[data-block=\"{failed.block}\"]');\n"
        "var r = el.getBoundingClientRect();\n"
        "el.dispatchEvent(new MouseEvent('mouseenter', {clientX: r.x + 2, clientY: r.y + 2}));\n"
        "document.body.setAttribute('data-tip-display', document.getElementById('tip')"
        ".style.display);\n</script>\n</body>")
    page = tmp_path / "hover.html"
    page.write_text(memmap_html.render_html(b).replace("</body>", probe))
    r = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert 'data-tip-display="block"' in r.stdout, r.stderr[-2000:]
    details = re.search(r'<div id="details">(.*?)</div>', r.stdout, re.S)
    assert details is not None
    text = re.sub(r"<[^>]+>", "", details.group(1))
    assert text.startswith(f"memory{failed.block}: [mem ")
    assert failed.reason.replace("&", "&amp;") in text
