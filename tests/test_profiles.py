# SPDX-License-Identifier: GPL-2.0-or-later
"""Kernel generations: which profile a run uses, and the behaviour chosen by version."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from memhp.analysis import NodeLayout, layout_differences
from memhp.cli import main
from memhp.errors import InputError
from memhp.firmware.bootlog import parse_linux_version
from memhp.kernel import memblock as mbk
from memhp.kernel.acpi_numa import NumaMemblk
from memhp.kernel.numa import NumaResult, numa_cleanup_meminfo, numa_register_memblks
from memhp.kernel.profile import (
    CHANGES,
    DEFAULT_PROFILE,
    all_profiles,
    available_profiles,
    choose_profile,
    load_profile,
    parse_version,
)
from memhp.replay import parse_memblock_log

FIRMWARE_LINES_612 = """\
Linux version 6.12.117+deb13-amd64 (debian-kernel@lists.debian.org) (gcc-14) #1 SMP \
PREEMPT_DYNAMIC Debian 6.12.117-1 (2026-11-12)
Command line: console=ttyS0 nokaslr
BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved
BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff] reserved
BIOS-e820: [mem 0x0000000000100000-0x000000007ffdffff] usable
BIOS-e820: [mem 0x000000007ffe0000-0x000000007fffffff] reserved
"""


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


@pytest.mark.parametrize(("kernel", "name", "how", "noted"), [
    # a log without a Linux version line, or a machine file without kernel =
    (None, DEFAULT_PROFILE, "default: the input names no kernel", False),
    # the very kernel a profile was measured on
    ("6.12.117+deb13-amd64", "debian-6.12-amd64", "measured on it", False),
    ("6.1.0-56-amd64", "debian-6.1-amd64", "measured on it", False),
    # another build of a generation memhp has
    ("6.12.5-amd64", "debian-6.12-amd64", "the 6.12 generation", False),
    ("6.1.0-13-cloud-amd64", "debian-6.1-amd64", "the 6.1 generation", False),
    # generations memhp has no profile for: the nearest, said in a note
    ("6.6.30", "debian-6.1-amd64", "nearest generation", True),
    ("5.10.0-30-amd64", "debian-6.1-amd64", "nearest generation", True),
])
def test_choose_profile_by_kernel(kernel: str | None, name: str, how: str, noted: bool) -> None:
    prof = choose_profile(None, kernel)
    assert prof.name == name
    assert how in prof.chosen
    assert bool(prof.chosen_note) == noted


def test_profile_option_wins_and_says_it_does_not_fit() -> None:
    prof = choose_profile("debian-6.1-amd64", "6.12.117+deb13-amd64")
    assert prof.name == "debian-6.1-amd64" and prof.chosen == "--profile"
    assert "was given for a log of Linux 6.12.117+deb13-amd64" in prof.chosen_note
    assert choose_profile("debian-6.1-amd64", "6.1.0-56-amd64").chosen_note == ""
    with pytest.raises(InputError, match="no such profile"):
        choose_profile("debian-9.9-amd64", None)


def test_kernel_without_a_version_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no version"):
        choose_profile(None, "mykernel")


def test_every_profile_is_complete_and_says_where_it_was_measured() -> None:
    profiles = all_profiles()
    assert [p.name for p in profiles] == sorted(available_profiles(), key=lambda n: [
        int(x) for x in n.split("-")[1].split(".")])
    for p in profiles:
        assert parse_version(p.kernel_release) == p.version
        assert parse_version(p.debian_version) == p.version
        assert p.measured and p.debian_package.startswith("linux-image-") and p.debian_suite


def test_every_change_cites_a_commit_and_a_generation_has_it() -> None:
    versions = [p.version for p in all_profiles()]
    for name, c in CHANGES.items():
        first = c.commit.split()[0]
        # a commit id; or, where it could not be looked up offline, the source function
        # that behaves so ("source: ...") or the boot that shows it ("measured: ...")
        assert (first.isalnum() and len(first) >= 12) or (
            first in ("source:", "measured:") and len(c.commit) > 40), name
        assert any(v >= c.since for v in versions), name
        # else it is no change; one older than every generation acts on the logs of older
        # kernels (the input's Linux version decides, see KernelProfile.has)
        assert any(v < c.since for v in versions) or c.since < min(versions), name


def test_parse_linux_version() -> None:
    line = ("[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) "
            "(gcc-12) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\n")
    assert parse_linux_version(line) == ("6.1.0-56-amd64", "6.1.192-2")
    assert parse_linux_version("Command line: x\n") == (None, None)


def test_predict_names_the_profile_from_the_log(tmp_path: Path) -> None:
    fw = tmp_path / "fw.log"
    fw.write_text(FIRMWARE_LINES_612)
    rc, out = run(["predict", "--boot-log", str(fw), "--no-color"])
    assert rc == 0
    assert "kernel profile debian-6.12-amd64 (Linux 6.12, x86_64)" in out
    assert ("profile chosen by the log's Linux version 6.12.117+deb13-amd64: measured on it"
            in out)
    rc, out = run(["predict", "--boot-log", str(fw), "--format", "json"])
    doc = json.loads(out)
    assert doc["kernel_profile"] == "debian-6.12-amd64"
    assert "measured on it" in doc["kernel_profile_chosen"]
    fw.write_text(FIRMWARE_LINES_612.replace("6.12.117+deb13", "6.6.9"))
    rc, out = run(["predict", "--boot-log", str(fw), "--format", "json"])
    doc = json.loads(out)
    assert doc["kernel_profile"] == "debian-6.1-amd64"
    assert any(n.startswith("no profile for Linux 6.6") for n in doc["notes"])


def test_machine_file_kernel_picks_the_profile(tmp_path: Path) -> None:
    fw = tmp_path / "fw.log"
    fw.write_text(FIRMWARE_LINES_612)
    machine = tmp_path / "m.toml"
    rc, _ = run(["import-log", str(fw), "-o", str(machine)])
    assert rc == 0 and 'kernel = "6.12.117+deb13-amd64"' in machine.read_text()
    rc, out = run(["predict", str(machine), "--format", "json"])
    assert json.loads(out)["kernel_profile"] == "debian-6.12-amd64"


def test_profiles_command_lists_where_each_was_measured() -> None:
    rc, out = run(["profiles"])
    assert rc == 0
    for p in all_profiles():
        assert f"{p.name}" in out and p.measured in out
    assert "numa_meminfo_dram_limits: since 6.12, f7feea289f9a" in out
    rc, out = run(["profiles", "--format", "json"])
    doc = json.loads(out)
    assert doc["default"] == DEFAULT_PROFILE
    assert {p["name"] for p in doc["profiles"]} == set(available_profiles())


# --- behaviour chosen by version --------------------------------------------------------

def _memory(*ranges: tuple[int, int]) -> mbk.Memblock:
    mb = mbk.Memblock()
    for start, end in ranges:
        mbk.memblock_add(mb, start, end - start)
    return mb


@pytest.mark.parametrize(("profile", "start", "first"), [
    # RAM from 0x1000 (the kernel made the first page reserved), the SRAT's node 0 from 0:
    # 6.1 keeps the node's start at 0, 6.12 trims it to the first byte of RAM
    ("debian-6.1-amd64", 0, "NUMA: Node 0 [mem 0x00000000-0x0009ffff] + [mem 0x00100000-"
                            "0x3fffffff] -> [mem 0x00000000-0x3fffffff]"),
    ("debian-6.12-amd64", 0x1000, "NUMA: Node 0 [mem 0x00001000-0x0009ffff] + [mem 0x00100000-"
                                  "0x3fffffff] -> [mem 0x00001000-0x3fffffff]"),
])
def test_numa_cleanup_meminfo_trims_to_dram_since_6_12(profile: str, start: int,
                                                        first: str) -> None:
    prof = load_profile(profile)
    mb = _memory((0x1000, 0x9F000), (0x100000, 0x40000000))
    log: list[str] = []
    blks, err = numa_cleanup_meminfo(
        [NumaMemblk(0, 0xA0000, 0), NumaMemblk(0x100000, 0x40000000, 0)], mb,
        0x40000000 >> 12, prof, log)
    assert err == "" and log == [first]
    assert [(b.start, b.end) for b in blks] == [(start, 0x40000000)]


@pytest.mark.parametrize(("profile", "message"), [
    ("debian-6.1-amd64", "NUMA: nodes only cover 1021MB of your 1023MB e820 RAM. Not used."),
    ("debian-6.12-amd64", "NUMA: no nodes coverage for 2MB of 1023MB RAM"),
])
def test_numa_coverage_check_by_version(profile: str, message: str) -> None:
    """2 MiB of RAM at the top belongs to no node: both reject the SRAT, in their words."""
    prof = load_profile(profile)
    mb = _memory((0x1000, 0x9F000), (0x100000, 0x40000000))
    mbk.memblock_set_node(mb.memory, 0, 0x3FE00000, 0)
    res = NumaResult()
    mi = [NumaMemblk(0x1000, 0x9F000, 0), NumaMemblk(0x100000, 0x3FE00000, 0)]
    assert not numa_register_memblks(mb, mi, {0}, 0x40000000 >> 12, prof, res)
    assert res.failure == message


def test_replay_reads_a_dump_with_a_console_line_inside() -> None:
    """The serial console may print a kernel message into user space's copy of the log."""
    log = "".join(f"[{t:>12}] {text}\n" for t, text in (
        ("0.030425", "MEMBLOCK configuration:"),
        ("0.030432", " memory size = 0x00000000fff7ec00 reserved size = 0x0000000002d7e000"),
        ("0.030457", " memory.cnt  = 0x2"),
        ("0.030496", " memory[0x0]\t[0x0000000000001000-0x000000000009efff], "
                     "0x000000000009e000 bytes flags: 0x0"),
        ("2.424375", "tsc: Refined TSC clocksource calibration: 2596.115 MHz"),
        ("0.030532", " memory[0x1]\t[0x0000000000100000-0x00000000bffdffff], "
                     "0x00000000bfee0000 bytes flags: 0x0"),
        ("0.030567", " reserved.cnt  = 0x1"),
        ("0.030572", " reserved[0x0]\t[0x0000000000000000-0x000000000000ffff], "
                     "0x0000000000010000 bytes flags: 0x0"),
        ("0.030580", "Zone ranges:"),
        ("0.030581", "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]")))
    (dump,) = [e for e in parse_memblock_log(log) if e.kind == "dump"]
    assert dump.dump == (((0x1000, 0x9E000, None, 0), (0x100000, 0xBFEE0000, None, 0)),
                         ((0, 0x10000, None, 0),))


def test_nearest_profile_behaves_as_the_inputs_version() -> None:
    """A 6.10 log gets the nearest profile's constants (6.12) but not 6.12's behaviour; a
    6.19 log gets both."""
    older = choose_profile(None, "6.10.3-arch1-1")
    assert older.name == "debian-6.12-amd64" and older.behaviour_version == (6, 10)
    assert not older.has("numa_meminfo_dram_limits")
    assert "follows Linux 6.10" in older.chosen_note
    newer = choose_profile(None, "6.19.4-gentoo")
    assert newer.has("numa_meminfo_dram_limits")
    exact = choose_profile(None, "6.12.117+deb13-amd64")
    assert exact.behaviour_version is None and exact.has("numa_meminfo_dram_limits")


def test_compare_kernels_shows_what_an_upgrade_changes() -> None:
    """p04 on 6.1 and 6.12: the same zones and verdicts; 6.12's smaller kernel image and
    NODE_DATA leave more memory to the buddy allocator on node 0."""
    ex = str(Path(__file__).parent.parent / "examples" / "p04_hotplug_range_holds_acpi_tables.toml")
    rc, out = run(["compare", ex, "--kernel", "6.1", "--kernel", "6.12", "--format", "json"])
    assert rc == 0
    doc = json.loads(out)
    a, b = doc["outcomes"]
    assert (a["profile"], b["profile"]) == ("debian-6.1-amd64", "debian-6.12-amd64")
    assert [n["zones"] for n in a["layouts"]] == [n["zones"] for n in b["layouts"]]
    assert [n["memmap"] for n in a["layouts"]] == [32 << 20, 32 << 20]
    assert [n["memmap_on"] for n in b["layouts"]] == [[0], [1]]
    assert b["layouts"][0]["managed"] - a["layouts"][0]["managed"] > 6 << 20
    assert doc["changes"][0][0].startswith("node 0: managed after boot ")
    rc, out = run(["compare", ex, "--kernel", "6.1", "--kernel", "6.6", "--no-color"])
    assert rc == 0
    assert "[1] Linux 6.1 (debian-6.1-amd64): " in out
    assert "note [2]: no profile for Linux 6.6 (--kernel 6.6); using the nearest" in out
    assert "memory map" in out and "32 MiB on 0" in out
    rc, _ = run(["compare", ex, "--kernel", "6.1", "--cmdline", "a", "--cmdline", "b"])
    assert rc == 2


def test_layout_differences_name_zones_and_memory_map() -> None:
    a = NodeLayout(1, (("Normal", 4 << 30, 6 << 30, 2 << 30),), 32 << 20, (1,), 2 << 30)
    b = NodeLayout(1, (("Movable", 4 << 30, 6 << 30, 2 << 30),), 32 << 20, (0,), 2 << 30)
    assert layout_differences(a, b) == [
        "node 1: zone Normal [mem 0x100000000-0x17fffffff] 2 GiB -> none",
        "node 1: zone Movable none -> [mem 0x100000000-0x17fffffff] 2 GiB",
        "node 1: memory map 32 MiB on node(s) 1 -> 32 MiB on node(s) 0"]
