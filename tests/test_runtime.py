# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory after boot: hot-add, onlining, offlining and eject, against the real kernel.

The corpus' runtime boots (tests/fixtures/corpus/hotplug, copied from the shared
kernel-boots) are predicted from their firmware lines, SRAT and steps, and compare.py
judges every group, boot and runtime.  Small tables check the rules one by one.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from memhp.cli import main
from memhp.errors import InputError
from memhp.firmware import hotplug
from memhp.firmware.cmdline import parse_cmdline
from memhp.kernel import memory_hotplug as mh
from memhp.kernel.mm_init import ZONE_MOVABLE, ZONE_NORMAL
from memhp.kernel.profile import load_profile
from memhp.platform import qemu

HERE = Path(__file__).parent
CORPUS = HERE / "fixtures" / "corpus"
TOOLS = HERE / "corpus_tools"
# the 6.1 and 6.12 runtime boots of the shared corpus, and memhp's own 7.2 boots of the same
# scenarios (memhp verify --scenario ... --kernel 7.2; own-7.2-hotplug/README.md)
SETS = ("hotplug", "linux-6.12-hotplug", "own-7.2-hotplug")
HOTPLUG = sorted(p.name for p in (CORPUS / "hotplug").iterdir() if p.is_dir())
RUNTIME_BOOTS = [(s, p.name) for s in SETS for p in sorted((CORPUS / s).iterdir()) if p.is_dir()]
PROF = load_profile()

sys.path.insert(0, str(TOOLS))
import compare  # noqa: E402
import facts  # noqa: E402


def run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    return out.getvalue()


def firmware_log(d: Path, tmp_path: Path) -> Path:
    fw = tmp_path / "fw.log"
    fw.write_text(subprocess.run(
        [sys.executable, str(TOOLS / "firmware_lines.py"), str(d / "serial.log")],
        check=True, capture_output=True, text=True).stdout)
    return fw


def predict(d: Path, tmp_path: Path, fmt: str = "json") -> str:
    fw = firmware_log(d, tmp_path)
    return run(["predict", "--boot-log", str(fw), "--srat", str(d / "srat.bin"),
                "--steps", str(d / "scenario.json"), "--format", fmt])


def test_hotplug_corpus_is_complete() -> None:
    assert len(HOTPLUG) == 7 and len(RUNTIME_BOOTS) == 21


@pytest.mark.parametrize("kset,scenario", RUNTIME_BOOTS)
def test_runtime_matches_real_kernel(kset: str, scenario: str, tmp_path: Path) -> None:
    """Boot and runtime groups; the 6.12 and 7.2 boots pick their profile from their log."""
    d = CORPUS / kset / scenario
    real = facts.facts((d / "serial.log").read_text(errors="replace"))
    pred = json.loads(predict(d, tmp_path))
    results = compare.compare(real, pred)
    assert [g for g in compare.RUNTIME_GROUPS if g in results] == compare.RUNTIME_GROUPS
    assert {k: v for k, v in results.items() if v} == {}
    assert compare.UNKNOWN == []


def test_r05_text_golden(tmp_path: Path) -> None:
    """What people read: which zone each DIMM got under auto-movable, and why."""
    d = CORPUS / "hotplug" / "r05_auto_movable_policy_ratio"
    text = predict(d, tmp_path, "text")
    got = text[text.index("After boot:"):]
    golden = HERE / "fixtures" / "runtime" / "r05.txt"
    assert got == golden.read_text()


# --- QEMU 7.2 pc-dimm placement ----------------------------------------------------------

REGION = qemu.DeviceMemory(5 << 30, 20 << 30, 12 << 30, 4)
G = 1 << 30


@pytest.mark.parametrize("used,size,hint,want", [
    # empty region: the DIMM goes to its base
    ([], G, None, 5 * G),
    # first fit after the DIMMs in place, packed (2 MiB alignment, no 1 GiB rounding)
    ([(5 * G, G), (6 * G, 128 << 20)], G, None, 6 * G + (128 << 20)),
    # a gap left by a removed DIMM is reused when the new one fits
    ([(5 * G, G), (7 * G, G)], G, None, 6 * G),
    # ...and skipped when it does not
    ([(5 * G, G), (6 * G + (512 << 20), G)], G, None, 7 * G + (512 << 20)),
    # an address given is taken as is
    ([], G, 9 * G, 9 * G),
])
def test_free_addr(used: list[tuple[int, int]], size: int, hint: int | None,
                   want: int) -> None:
    assert qemu.free_addr(REGION, used, size, hint) == want


@pytest.mark.parametrize("used,size,hint,msg", [
    ([(5 * G, 12 * G)], G, None, "not enough space"),
    ([], G + 4096, None, "multiple of"),
    ([(5 * G, G)], G, 5 * G, "conflicts"),
    ([], G, 30 * G, "usable range"),
])
def test_free_addr_refused(used: list[tuple[int, int]], size: int, hint: int | None,
                           msg: str) -> None:
    with pytest.raises(qemu.PlacementError, match=msg):
        qemu.free_addr(REGION, used, size, hint)


def test_slots_run_out() -> None:
    plugged = {f"d{i}": ((5 + i) * G, G) for i in range(4)}
    with pytest.raises(qemu.PlacementError, match="no free slots"):
        qemu.plug(REGION, plugged, hotplug.DimmAdd("d9", G, 0))


# --- the kernel's rules, on a tiny two-node state --------------------------------------

def small_state() -> mh.MemState:
    """Node 0: DMA32 [0, 2G) early; node 1: Normal [4G, 5G) early; 128 MiB blocks."""
    zones = {
        (0, 1): mh.ZoneState(0, 1, 0, 524288, 524288, 524288, 500000),
        (1, 2): mh.ZoneState(1, 2, 1048576, 262144, 262144, 262144, 250000),
    }
    blocks = {}
    for bid, nid, zidx in [(i, 0, 1) for i in range(16)] + [(i, 1, 2) for i in range(32, 40)]:
        s = bid * 32768
        blocks[bid] = mh.HotBlock(bid, s, 32768, nid, (nid,), "online", zidx, True,
                                  pieces=((s, s + 32768, nid, zidx),))
    return mh.MemState(zones, blocks, {}, {0, 1}, 32768, 12, 32768, 512)


def cfg(cmdline: str = "", prof: mh.KernelProfile = PROF) -> mh.HotplugConfig:
    return mh.hotplug_config(parse_cmdline(cmdline), prof)


@pytest.mark.parametrize("cmdline,online_type,nid,zone,rule", [
    # a DIMM right above node 1's Normal: touches no zone -> kernel zone by default
    ("", "online", 1, ZONE_NORMAL, "kernel_default"),
    # ... unless movable_node makes Movable the default
    ("movable_node", "online", 1, ZONE_MOVABLE, "movable_node"),
    # explicit types win
    ("", "online_movable", 1, ZONE_MOVABLE, "online_movable"),
    ("movable_node", "online_kernel", 1, ZONE_NORMAL, "online_kernel"),
    # auto-movable: 1 GiB against 1 GiB of early kernel memory on node 1 fits 301%
    ("memory_hotplug.online_policy=auto-movable", "online", 1, ZONE_MOVABLE, "ratio_fits"),
    # ratio 50%: 1 GiB > 512 MiB
    ("memory_hotplug.online_policy=auto-movable memory_hotplug.auto_movable_ratio=50",
     "online", 1, ZONE_NORMAL, "ratio_exceeded"),
    # a memoryless node has no early kernel memory: never movable when numa-aware ...
    ("memory_hotplug.online_policy=auto-movable", "online", 2, ZONE_NORMAL,
     "ratio_exceeded"),
    # ... but fine system-wide when it is not
    ("memory_hotplug.online_policy=auto-movable memory_hotplug.auto_movable_numa_aware=0",
     "online", 2, ZONE_MOVABLE, "ratio_fits"),
])
def test_zone_for_new_dimm(cmdline: str, online_type: str, nid: int, zone: int,
                           rule: str) -> None:
    st = small_state()
    c = cfg(cmdline)
    res = mh.add_memory_resource(st, c, PROF, "d1", nid, 5 * G, G)
    assert res.blocks == tuple(range(40, 48)) and res.node_onlined == (nid == 2)
    ch = mh.memory_block_online(st, c, st.blocks[40], online_type)
    assert (ch.zone, ch.rule) == (zone, rule)


def test_group_follows_its_first_block() -> None:
    """auto-movable decides once per DIMM: blocks after a kernel one stay kernel."""
    st = small_state()
    c = cfg("memory_hotplug.online_policy=auto-movable memory_hotplug.auto_movable_ratio=50")
    mh.add_memory_resource(st, c, PROF, "d1", 1, 5 * G, G)
    rules = [mh.memory_block_online(st, c, st.blocks[i], "online").rule for i in range(40, 48)]
    assert rules == ["ratio_exceeded"] + ["group_has_kernel"] * 7


def test_zone_span_shrinks_only_at_its_edges() -> None:
    """Offlining the middle block leaves a hole; the last one shrinks to the next
    online block below (find_biggest_section_pfn)."""
    st = small_state()
    c = cfg()
    mh.add_memory_resource(st, c, PROF, "d1", 1, 5 * G, G)
    for i in range(40, 48):
        mh.memory_block_online(st, c, st.blocks[i], "online_movable")
    z = st.zones[(1, ZONE_MOVABLE)]
    assert (z.start_pfn, z.spanned, z.present) == (1310720, 262144, 262144)
    mh.memory_block_offline(st, st.blocks[43])
    assert (z.start_pfn, z.spanned, z.present) == (1310720, 262144, 229376)
    mh.memory_block_offline(st, st.blocks[47])
    assert (z.start_pfn, z.spanned) == (1310720, 7 * 32768)
    mh.memory_block_offline(st, st.blocks[40])
    assert (z.start_pfn, z.spanned) == (1310720 + 32768, 6 * 32768)


@pytest.mark.parametrize("size,carries", [
    (128 << 20, True),   # one block: 2 MiB of memmap, one PMD
    (G, False),          # 6.1: only single-block adds carry their memmap
])
def test_memmap_on_memory_61(size: int, carries: bool) -> None:
    st = small_state()
    c = cfg("memory_hotplug.memmap_on_memory=1")
    res = mh.add_memory_resource(st, c, PROF, "d1", 1, 5 * G, size)
    assert res.vmemmap_pages == (512 if carries else 0)
    mh.memory_block_online(st, c, st.blocks[40], "online_movable")
    z = st.zones[(1, ZONE_MOVABLE)]
    assert (z.present, z.managed) == (32768, 32768 - res.vmemmap_pages)


def test_memmap_on_memory_per_block_from_68() -> None:
    prof = replace(PROF, kernel_version="6.12")
    st = small_state()
    c = cfg("memory_hotplug.memmap_on_memory=1", prof)
    assert mh.add_memory_resource(st, c, prof, "d1", 1, 5 * G, G).vmemmap_pages == 512


@pytest.mark.parametrize("cmdline,field,value", [
    ("", "default_online_type", "offline"),
    ("memhp_default_state=online_movable", "default_online_type", "online_movable"),
    ("memhp_default_state=bogus", "default_online_type", "offline"),
    ("memory_hotplug.auto_movable_ratio=0x20", "auto_movable_ratio", 32),
    ("memory_hotplug.auto_movable_numa_aware=off", "auto_movable_numa_aware", False),
    ("memory_hotplug.online_policy=contig", "online_policy", "contig-zones"),
])
def test_hotplug_config(cmdline: str, field: str, value: object) -> None:
    assert getattr(cfg(cmdline), field) == value


def test_eject_with_a_pinned_block_reonlines_the_rest() -> None:
    """acpi_scan_try_to_offline(): a block that stays online keeps the DIMM, and the blocks
    offlined on the way come back with plain online."""
    from memhp.kernel import acpi_memhotplug as acpi

    st = small_state()
    c = cfg("memhp_default_state=online_kernel")
    add = acpi.acpi_memory_enable_device(st, c, PROF, "d1", 1, 5 * G, 256 << 20)
    assert [x.result.choice.zone for x in add.onlined if x.result.choice] == [ZONE_NORMAL] * 2
    st.blocks[41].zone = None  # as if it spanned zones: offline refuses it
    ej = acpi.acpi_scan_hot_remove(st, c, "d1", 5 * G, 256 << 20)
    assert ej.failed is not None and ej.failed.block == 41 and not ej.removed
    assert [x.block for x in ej.reonlined] == [40] and st.blocks[40].state == "online"


@pytest.mark.parametrize("line", ["dump", "setstate up 1 2", "wait_blocks x 3", 42])
def test_bad_guest_command(line: object) -> None:
    with pytest.raises(InputError, match=r"steps\[0\]\.guest"):
        hotplug.parse_steps([{"guest": line}], "s.json")


def test_cli_options_play_like_steps(tmp_path: Path) -> None:
    """--add/--online-movable/--remove on r01's firmware give r01's states."""
    d = CORPUS / "hotplug" / "r01_dimm_offline_then_online_movable_then_remove"
    fw = firmware_log(d, tmp_path)
    out = json.loads(run(["predict", "--boot-log", str(fw), "--srat", str(d / "srat.bin"),
                          "--add", "1G@1", "--online-movable", "40-47", "--format", "json"]))
    last = out["runtime"][-1]["state"]
    assert last["zoneinfo"]["1"]["Movable"]["start_pfn"] == 1310720
    assert {b["valid_zones"][0] for k, b in last["memory_blocks"].items() if int(k) >= 40} \
        == {"Movable"}


def test_machine_file_hotplug_tables_play_r05() -> None:
    """examples/hotplug-auto-movable.toml is r05 as [[hotplug]] tables: same AFTER_ADD state
    as the real kernel's, then both ejects succeed and the zones are back to boot."""
    real = facts.facts((CORPUS / "hotplug" / "r05_auto_movable_policy_ratio" / "serial.log")
                       .read_text(errors="replace"))
    out = json.loads(run(["predict", str(HERE.parent / "examples" / "hotplug-auto-movable.toml"),
                          "--format", "json"]))
    after_add = next(e for e in out["runtime"] if e["run"] == "dump AFTER_ADD")
    want = next(e for e in real["runtime"] if e["run"] == "dump AFTER_ADD")
    assert compare.zone_diff(want["state"]["zoneinfo"], after_add["state"]["zoneinfo"],
                             ("start_pfn", "spanned", "present", "managed")) == ""
    assert compare.block_diff(want["state"]["memory_blocks"],
                              after_add["state"]["memory_blocks"]) == ""
    end = out["runtime"][-1]
    assert end["run"] == "dump END"
    assert end["state"]["zoneinfo"]["1"]["Normal"]["spanned"] == 262144
    assert len(end["state"]["memory_blocks"]) == 32 + 48


@pytest.mark.parametrize("table,field,problem", [
    ('add = "1G"\nremove = "d1"', "hotplug[0]", "exactly one"),
    ('online = "9-3"', "hotplug[0].online", "below the first"),
    ('remove = "d1"\nnode = 1', "hotplug[0].node", "not with remove"),
    ('add = "1G"\nnode = "x"', "hotplug[0].node", "not a number"),
])
def test_bad_hotplug_table(tmp_path: Path, table: str, field: str, problem: str) -> None:
    from memhp.firmware.machine_file import load_machine

    p = tmp_path / "m.toml"
    p.write_text('[[e820]]\nstart = 0\nsize = "1G"\ntype = "usable"\n\n[[hotplug]]\n' + table)
    with pytest.raises(InputError, match=problem) as err:
        load_machine(str(p))
    assert err.value.field == field


def test_machine_file_round_trip_keeps_events(tmp_path: Path) -> None:
    from memhp.firmware.machine_file import dump_machine, load_machine

    m = load_machine(str(HERE.parent / "examples" / "hotplug-auto-movable.toml"))
    p = tmp_path / "again.toml"
    p.write_text(dump_machine(m))
    again = load_machine(str(p))
    assert again.hotplug == m.hotplug and again.qemu_mem == m.qemu_mem


@pytest.mark.parametrize("size,auto_movable_works", [("4G", True), ("8G", False)])
def test_advise_hot_add(size: str, auto_movable_works: bool) -> None:
    """8 GiB on node 1 (2 GiB of early kernel memory) is beyond 301% for auto-movable;
    4 GiB fits.  online_movable and movable_node always give ZONE_MOVABLE."""
    out = json.loads(run(["advise", str(HERE.parent / "examples" / "hotplug-auto-movable.toml"),
                          "--hot-add", f"{size}@1", "--format", "json"]))
    works = {o["added"]: o["works"] for o in out["options"]}
    assert works == {
        "(as is)": False,
        "memhp_default_state=online_movable": True,
        "memhp_default_state=online_movable memory_hotplug.memmap_on_memory=1": True,
        "memhp_default_state=online memory_hotplug.online_policy=auto-movable":
            auto_movable_works,
        "memhp_default_state=online movable_node": True,
        "memhp_default_state=online": False,
    }
    d1 = out["options"][1]["dimms"][0]
    assert d1["memmap_kernel"] == (int(size[0]) << 30) // 64


def test_advise_needs_a_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["advise", str(HERE.parent / "examples" / "hotplug-auto-movable.toml")]) == 2
    assert "--hot-add" in capsys.readouterr().err


# --- invariants over random event sequences ---------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as hst  # noqa: E402

OPS = hst.lists(hst.tuples(hst.sampled_from(["online", "online_movable", "online_kernel",
                                              "offline"]), hst.integers(40, 63)),
                max_size=40)


@settings(max_examples=60, deadline=None)
@given(sizes=hst.lists(hst.sampled_from([128 << 20, 256 << 20, 1 << 30]), min_size=1,
                       max_size=3),
       cmdline=hst.sampled_from(["", "movable_node", "memory_hotplug.memmap_on_memory=1",
                                 "memory_hotplug.online_policy=auto-movable"]),
       ops=OPS)
def test_zone_accounting_invariants(sizes: list[int], cmdline: str,
                                    ops: list[tuple[str, int]]) -> None:
    """Whatever is onlined and offlined: each zone's present pages are its online blocks'
    pages, managed is present less the memmap kept on the blocks, and the span covers every
    online block of the zone."""
    from memhp.kernel import memory_blocks as mblk

    st = small_state()
    c = cfg(cmdline)
    start = 5 * G
    for i, size in enumerate(sizes):
        mh.add_memory_resource(st, c, PROF, f"d{i}", 1, start, size)
        start += size
    for state, bid in ops:
        if bid in st.blocks:
            mblk.state_store(st, c, st.blocks[bid], state)
    for (nid, idx), z in st.zones.items():
        hot = [b for b in st.blocks.values() if not b.early and b.state == "online"
               and b.nid == nid and b.zone == idx]
        early = {(0, 1): 524288, (1, 2): 262144}.get((nid, idx), 0)
        assert z.present == early + sum(b.nr_pages for b in hot)
        base = {(0, 1): 500000, (1, 2): 250000}.get((nid, idx), 0)
        assert z.managed == base + sum(b.nr_pages - b.nr_vmemmap for b in hot)
        for b in hot:
            assert z.start_pfn <= b.start_pfn and b.start_pfn + b.nr_pages <= z.end_pfn
        assert bool(z.present) == bool(z.spanned)
    for g in st.groups.values():
        blocks = [b for b in st.blocks.values() if b.group == g.id and b.state == "online"]
        assert g.present_movable_pages == sum(b.nr_pages for b in blocks
                                              if b.zone == ZONE_MOVABLE)
        assert g.present_kernel_pages == sum(b.nr_pages for b in blocks
                                             if b.zone != ZONE_MOVABLE)


@pytest.mark.parametrize("pxm,start,want", [
    (1, 5 * G, 1),   # _PXM in the SRAT: its node
    (7, 5 * G, 1),   # unknown _PXM: the numa_meminfo range holding the start
    (7, 99 * G, 0),  # nothing holds it: the first range's node
])
def test_acpi_memory_node(pxm: int, start: int, want: int) -> None:
    from memhp.kernel.acpi_memhotplug import acpi_memory_node

    meminfo = [(0, 2 * G, 0), (2 * G, 3 * G, 1), (4 * G, 16 * G, 1)]
    nid, how = acpi_memory_node({0: 0, 1: 1}, meminfo, pxm, start)
    assert nid == want and bool(how) == (pxm == 7)


def test_unknown_offline_makes_the_rest_unknown() -> None:
    """p01's memory1 may hold the CPUs' first allocations (the boot model says unknown):
    offlining it is unknown, and so is every state after it, with the reason."""
    out = json.loads(run(["predict", str(HERE.parent / "examples" /
                                         "p01_movable_node_hotplug_node1.toml"),
                          "--offline", "0-2", "--format", "json"]))
    first, end = out["runtime"]
    assert first["results"]["0"]["result"] == "failed"
    assert first["results"]["1"] == "unknown" and "2" not in first["results"]
    assert end["run"] == "dump END" and "CPUs allocate" in end["unknown"]
    reason = out["runtime_steps"][0]["results"]["0"]["offline"]
    assert reason["cause"] == "boot" and reason["boot_cause"] == "spans_zones"
    assert "spans zones" in reason["detail"]
