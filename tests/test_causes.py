# SPDX-License-Identifier: GPL-2.0-or-later
"""Causes recorded where the kernel decides, in the style of tools/testing/memblock: tables
of small layouts, each with a sketch and the expected result in words; and the regression
tests of the three defects the review found (issue 9)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from memhp.cli import main
from memhp.firmware.cmdline import parse_cmdline
from memhp.kernel import memblock as mbk
from memhp.kernel.acpi_numa import NumaMemblk
from memhp.kernel.mm_init import (
    MAX_NR_ZONES,
    ZONE_MOVABLE,
    MovableCause,
    find_zone_movable_pfns_for_nodes,
)
from memhp.kernel.numa import numa_clear_kernel_node_hotplug
from memhp.kernel.profile import load_profile

EXAMPLES = Path(__file__).parent.parent / "examples"
PROFILE = load_profile()
G = 1 << 30
M = 1 << 20
PAGE = 4096


def _memblock(nodes: list[tuple[int, int, int, bool]]) -> mbk.Memblock:
    """memblock.memory from (start, end, nid, hotpluggable) ranges, in bytes."""
    mb = mbk.Memblock()
    for start, end, nid, hot in nodes:
        mbk.memblock_add(mb, start, end - start)
        mbk.memblock_set_node(mb.memory, start, end - start, nid)
        if hot:
            mbk.memblock_mark_hotplug(mb, start, end - start)
    return mb


def _zones(end: int) -> tuple[list[int], list[int]]:
    """x86_64 zone bounds (pfns) for RAM from 1M up to ``end``."""
    low = [0x100, 0x1000, 0x100000, 0, 0][:MAX_NR_ZONES]
    high = [0x1000, 0x100000, end // PAGE, 0, 0][:MAX_NR_ZONES]
    low[2] = 0x100000 if end > 4 * G else end // PAGE
    return low, high


@dataclass(frozen=True)
class MovableCase:
    sketch: str
    nodes: list[tuple[int, int, int, bool]]
    cmdline: str
    starts: dict[int, int]  # nid -> ZONE_MOVABLE start (bytes)
    cause: MovableCause | None
    ignored: tuple[str, ...] = ()
    no_room: bool = False


MOVABLE_CASES = {
    "movable_node: each node's lowest hotpluggable address": MovableCase(
        """
        0      1M          4G          8G           12G
        |      [ node 0 .......... ][ node 1 hot ....]
        movable_node -> node 1 all ZONE_MOVABLE, node 0 none
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, True)],
        "movable_node", {1: 8 * G}, MovableCause.MOVABLE_NODE),
    "movable_node ignores kernelcore= and movablecore= (and says so once)": MovableCase(
        """
        [ node 0 ........ 8G ][ node 1 hot ... 12G ]
        movable_node kernelcore=1G movablecore=2G -> as movable_node alone
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, True)],
        "movable_node kernelcore=1G movablecore=2G", {1: 8 * G}, MovableCause.MOVABLE_NODE,
        ("kernelcore", "movablecore")),
    "kernelcore= spreads the kernel evenly over the nodes": MovableCase(
        """
        1M      4G         8G            12G
        [ node 0 | ......... ][ node 1 ........ ]
        kernelcore=8G -> 4G of kernel per node.  Node 0's memory below 4G (DMA, DMA32) is
        kernel anyway and counts against its share: 1M is left, so its ZONE_MOVABLE starts
        at 4G + 1M, rounded up to MAX_ORDER_NR_PAGES (4M).  Node 1 takes its whole 4G
        share: the start lands on its end, so it gets no ZONE_MOVABLE.
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, False)],
        "kernelcore=8G", {0: 4 * G + 4 * M}, MovableCause.KERNELCORE),
    "movablecore= decides when total - movablecore is more than kernelcore=": MovableCase(
        """
        1M      4G         8G            12G
        [ node 0 | ......... ][ node 1 ........ ]   total 12G - 1M
        kernelcore=1G movablecore=2G -> required kernelcore = max(1G, total - 2G) = 10G - 1M:
        movablecore decided.  5G - 0.5M per node: node 0 stops at 5G + 0.5M; node 1 has only
        4G, all kernel.  1G - 0.5M is still owed, so the loop restarts over one node fewer:
        node 0 gives it from 5G + 0.5M on, and its ZONE_MOVABLE starts at 6G.
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, False)],
        "kernelcore=1G movablecore=2G", {0: 6 * G}, MovableCause.MOVABLECORE),
    "kernelcore= decides when it asks for more than movablecore= leaves": MovableCase(
        """
        1M      4G         8G            12G
        [ node 0 | ......... ][ node 1 ........ ]
        kernelcore=11G movablecore=8G -> max(11G, total - 8G) = 11G: kernelcore decides.
        5.5G per node; node 1 is short by 1.5G, which the restart puts on node 0: its
        ZONE_MOVABLE starts at 7G + 1M, rounded up to 7G + 4M.
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, False)],
        "kernelcore=11G movablecore=8G", {0: 7 * G + 4 * M}, MovableCause.KERNELCORE),
    "kernelcore= as big as memory leaves no room for ZONE_MOVABLE": MovableCase(
        """
        [ node 0 ........ 8G ]
        kernelcore=16G -> no ZONE_MOVABLE anywhere, and a note
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False)],
        "kernelcore=16G", {}, MovableCause.KERNELCORE, no_room=True),
    "nothing asked: no ZONE_MOVABLE, no cause": MovableCase(
        """
        [ node 0 ........ 8G ][ node 1 hot .... 12G ]
        (no movable_node: the hotplug flag alone makes nothing movable)
        """,
        [(M, 4 * G, 0, False), (4 * G, 8 * G, 0, False), (8 * G, 12 * G, 1, True)],
        "", {}, None),
}


@pytest.mark.parametrize("name", list(MOVABLE_CASES))
def test_find_zone_movable_pfns_for_nodes(name: str) -> None:
    case = MOVABLE_CASES[name]
    mb = _memblock(case.nodes)
    low, high = _zones(max(e for _, e, _, _ in case.nodes))
    decision, movable_zone = find_zone_movable_pfns_for_nodes(
        mb, parse_cmdline(case.cmdline), low, high, PROFILE)
    assert movable_zone != ZONE_MOVABLE
    assert {n: pfn * PAGE for n, pfn in decision.start.items()} == case.starts, case.sketch
    assert decision.cause == case.cause
    assert decision.ignored == case.ignored
    assert decision.no_room == case.no_room
    for nid in decision.start:
        assert decision.cause_of(nid) == case.cause
    assert decision.cause_of(99) is None


@dataclass(frozen=True)
class HotplugCase:
    sketch: str
    nodes: list[tuple[int, int, int, bool]]
    reserved: list[tuple[int, int]]
    cleared: dict[int, tuple[tuple[int, int], ...]]  # kernel node -> its reserved ranges
    hotplug_left: list[int]  # nodes whose memory keeps the flag


HOTPLUG_CASES = {
    "a hotpluggable node without kernel memory keeps its flag": HotplugCase(
        """
        [ node 0: kernel image ][ node 1 hot, nothing reserved ]
        -> node 0 is a kernel node; node 1 keeps the flag
        """,
        [(0, 4 * G, 0, False), (4 * G, 8 * G, 1, True)],
        [(16 * M, 32 * M)], {0: ((16 * M, 32 * M),)}, [1]),
    "one reserved page anywhere clears the flag of the whole node": HotplugCase(
        """
        [ node 0 ][ node 1 hot ..... x ..... ]   x = a page table at the top of node 1
        -> node 1's flag is cleared for all its memory (the kernel cannot tell which part
           a hot-remove would take)
        """,
        [(0, 4 * G, 0, False), (4 * G, 8 * G, 1, True)],
        [(16 * M, 32 * M), (8 * G - PAGE, 8 * G)],
        {0: ((16 * M, 32 * M),), 1: ((8 * G - PAGE, 8 * G),)}, []),
    "a node split in two ranges loses the flag on both": HotplugCase(
        """
        [ node 1 hot A ][ node 0 ][ node 1 hot B  x ]
        -> x in B clears A as well
        """,
        [(0, 2 * G, 1, True), (2 * G, 4 * G, 0, False), (4 * G, 6 * G, 1, True)],
        [(5 * G, 5 * G + PAGE)], {1: ((5 * G, 5 * G + PAGE),)}, []),
}


@pytest.mark.parametrize("name", list(HOTPLUG_CASES))
def test_numa_clear_kernel_node_hotplug(name: str) -> None:
    case = HOTPLUG_CASES[name]
    mb = _memblock(case.nodes)
    for s, e in case.reserved:
        mbk.memblock_reserve(mb, s, e - s)
    mi = [NumaMemblk(s, e, n) for s, e, n, _ in case.nodes]
    got = numa_clear_kernel_node_hotplug(mb, mi)
    assert {n: c.reserved for n, c in got.items()} == case.cleared, case.sketch
    left = sorted({r.nid for r in mb.memory.regions
                   if r.flags & mbk.MEMBLOCK_HOTPLUG and r.nid is not None})
    assert left == case.hotplug_left


# --- the three defects of issue 9 ------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_explain_names_movablecore_when_it_decides(capsys: pytest.CaptureFixture[str]) -> None:
    """movablecore=1G kernelcore=1G on two nodes: required kernelcore is
    max(1G, total - 1G), so movablecore decided, not kernelcore."""
    out = _run(capsys, "explain", str(EXAMPLES / "p06_movablecore_two_nodes.toml"),
               "--cmdline", "console=ttyS0 nokaslr movablecore=1G kernelcore=1G",
               "--node", "1", "--no-color")
    assert "node 1: not hot-removable (movablecore)" in out
    assert "ZONE_MOVABLE starts at 0x180000000 (movablecore)" in out
    assert "required kernelcore = total - movablecore" in out
    assert "kernelcore=" not in out.replace("required kernelcore", "")


def test_predict_prints_core_sizes_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "predict", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"),
               "--cmdline", "console=ttyS0 nokaslr movablecore=2G kernelcore=25%", "--no-color")
    assert "kernelcore=25%, movablecore=2G" in out
    assert "CoreSize" not in out


def test_movable_node_with_movablecore_notes_once(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "predict", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"),
               "--cmdline", "console=ttyS0 nokaslr movable_node movablecore=2G", "--no-color")
    notes = [ln for ln in out.splitlines() if "ignores" in ln or "ignored" in ln]
    assert notes == ["note: movable_node is set: find_zone_movable_pfns_for_nodes ignores "
                     "movablecore="]


# --- explain --node for a node the SRAT named but the kernel dropped -------------------------


@pytest.mark.parametrize(("machine", "cmdline", "node", "cause"), [
    ("p08_q35_four_nodes_two_hotplug", "nokaslr numa=off", 3, "numa_off"),
    ("p07_srat_misses_memory_numa_off", None, 1, "numa_rejected"),  # SRAT misses 1G of RAM
    # mem=4G leaves node 1 no memory; its CPU keeps it online: a memoryless node
    ("p10_mem_limit_truncates_hotplug_node", "nokaslr mem=4G", 1, "memoryless"),
])
def test_explain_node_the_kernel_dropped(machine: str, cmdline: str | None, node: int,
                                         cause: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["explain", str(EXAMPLES / f"{machine}.toml"), "--node", str(node), "--no-color"]
    out = _run(capsys, *argv, *(["--cmdline", cmdline] if cmdline is not None else []))
    assert out.startswith(f"node {node}: ") and f"({cause})\n" in out.splitlines(True)[0]
    assert f"the SRAT names node {node}" in out


def test_explain_node_nobody_named_is_an_input_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(EXAMPLES / "p01_movable_node_hotplug_node1.toml"),
                 "--node", "7"]) == 2
    assert "the SRAT names none" in capsys.readouterr().err


# --- the model gaps, proved on own boots of the real kernel (tests/fixtures/corpus/own) -------

OWN = Path(__file__).parent / "fixtures" / "corpus" / "own"


@pytest.mark.parametrize("boot", sorted(p.name for p in OWN.iterdir() if p.is_dir()))
def test_own_boot_matches_all_groups(boot: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """m01 (6.1), m06 (6.12), m05 (7.2): a CPU-only PXM is a memoryless node (its pg_data_t
    from memblock in free_area_init, online once init_cpu_to_node puts its CPU there, which
    7.x does before free_area_init); m02: node 1 inside node 0's span (managed pages per
    zone of a node).  From firmware lines + SRAT, all 14 groups, no block unknown."""
    import json
    import subprocess
    import sys

    from corpus_check import mismatches

    d = OWN / boot
    fw = tmp_path / "fw.log"
    fw.write_text(subprocess.run(
        [sys.executable, str(Path(__file__).parent / "corpus_tools" / "firmware_lines.py"),
         str(d / "serial.log")], check=True, capture_output=True, text=True).stdout)
    pred = json.loads(_run(capsys, "predict", "--boot-log", str(fw), "--srat",
                           str(d / "srat.bin"), "--format", "json"))
    assert mismatches(d / "serial.log", pred, set()) == {}


def test_memoryless_node_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(capsys, "predict", str(Path(__file__).parent / "fixtures" / "machines"
                                      / "m01_memoryless_node1.toml"), "--format", "dmesg")
    assert "Initializing node 1 as memoryless\nInitmem setup node 1 as memoryless\n" in out
    assert "Fallback order for Node 1: 1 0 " in out


@pytest.mark.parametrize("profile", ["debian-6.1-amd64", "debian-6.12-amd64",
                                     "debian-7.2-amd64"])
def test_explain_memoryless_node(profile: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same on every generation, though 7.x keeps the node's empty zones (it is online
    before free_area_init, m05): no verdict on hot-removal and no section in the prediction
    for a node without memory."""
    machine = str(Path(__file__).parent / "fixtures" / "machines" / "m01_memoryless_node1.toml")
    out = _run(capsys, "explain", machine, "--node", "1", "--profile", profile)
    assert out.startswith("node 1: online without memory (memoryless)\n")
    assert "its CPUs allocate from node(s) 0 (fallback order)" in out
    out = _run(capsys, "predict", machine, "--profile", profile)
    assert "\nNode 0: " in out and "\nNode 1" not in out
