# SPDX-License-Identifier: GPL-2.0-or-later
"""e820 from dmesg lines and /sys/firmware/memmap, and the e820__update_table model."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhp.errors import InputError
from memhp.firmware.e820 import (
    canonical_e820_type,
    e820_print_name,
    e820_type_name,
    e820_type_number,
    parse_e820_lines,
    read_sys_firmware_memmap,
    sanitize_e820,
)
from memhp.firmware.types import E820_TYPES, E820Entry
from memhp.kernel.e820 import parse_memmap_opt

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"  # the 6.1 boots, as in ../shared
FW_LOGS = sorted((FIXTURES / "firmware").glob("*.fw.log"))

P01 = (
    E820Entry(0x0, 0x9FC00, "usable"),
    E820Entry(0x9FC00, 0xA0000, "reserved"),
    E820Entry(0xF0000, 0x100000, "reserved"),
    E820Entry(0x100000, 0xBFFE0000, "usable"),
    E820Entry(0xBFFE0000, 0xC0000000, "reserved"),
    E820Entry(0xFFFC0000, 0x100000000, "reserved"),
    E820Entry(0x100000000, 0x1C0000000, "usable"),
    E820Entry(0xFD00000000, 0x10000000000, "reserved"),
)
P08 = (
    E820Entry(0x0, 0x9FC00, "usable"),
    E820Entry(0x9FC00, 0xA0000, "reserved"),
    E820Entry(0xF0000, 0x100000, "reserved"),
    E820Entry(0x100000, 0x7FFDF000, "usable"),
    E820Entry(0x7FFDF000, 0x80000000, "reserved"),
    E820Entry(0xB0000000, 0xC0000000, "reserved"),
    E820Entry(0xFED1C000, 0xFED20000, "reserved"),
    E820Entry(0xFFFC0000, 0x100000000, "reserved"),
    E820Entry(0x100000000, 0x280000000, "usable"),
    E820Entry(0xFD00000000, 0x10000000000, "reserved"),
)


def test_fixtures_exist() -> None:
    assert len(FW_LOGS) == 10


@pytest.mark.parametrize("log", FW_LOGS, ids=lambda p: p.name.split("_")[0])
def test_corpus_e820(log: Path) -> None:
    entries = parse_e820_lines(log.read_text(), str(log))
    name = log.name.removesuffix(".fw.log")
    if name.startswith("p08"):
        assert entries == P08
    elif name.startswith("p04"):
        assert entries[:6] == P01[:6] and entries[7] == P01[7]
        assert entries[6] == E820Entry(0x100000000, 0x140000000, "usable")
    else:
        assert entries == P01
    # the kernel prints the table after e820__update_table: sanitizing changes nothing
    assert sanitize_e820(entries) == entries
    serial = CORPUS / name / "serial.log"
    if serial.exists():  # console copy and dmesg copy: each entry once
        assert parse_e820_lines(serial.read_text(errors="replace"), str(serial)) == entries


def test_timestamps_and_other_lines() -> None:
    text = (
        "[    0.000000] BIOS-provided physical RAM map:\n"
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
        "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved\r\n"
        "<6>[   12.5] BIOS-e820: [mem 0x00000000000a0000-0x00000000000affff] ACPI data\n"
        "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
        "user: [mem 0x0000000000000000-0x0000000000000fff] reserved\n"
    )
    assert parse_e820_lines(text, "t") == (
        E820Entry(0, 0x9FC00, "usable"),
        E820Entry(0x9FC00, 0xA0000, "reserved"),
        E820Entry(0xA0000, 0xB0000, "ACPI data"),
    )
    assert parse_e820_lines("nothing here\n", "t") == ()


def test_linux_7_spelling_and_gaps() -> None:
    """7.x prints "System RAM" / "device reserved" after two blanks, and the holes as
    [gap ...] lines (7.2's e820__print_table): it reads as the 6.x table."""
    text = (
        "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff]  System RAM\n"
        "[    0.000000] BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff]  device reserved\n"
        "[    0.000000] BIOS-e820: [gap 0x00000000000a0000-0x00000000000effff]\n"
        "BIOS-e820: [mem 0x00000000000f0000-0x00000000000fffff]  ACPI data\n"
        "BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff]  ACPI NVS\n"
        "BIOS-e820: [mem 0x0000000000200000-0x00000000002fffff]  unusable\n"
        "BIOS-e820: [mem 0x0000000000300000-0x00000000003fffff]  persistent RAM (type 7)\n"
        "BIOS-e820: [mem 0x0000000000400000-0x00000000004fffff]  persistent RAM (type 12)\n"
        "BIOS-e820: [mem 0x0000000000500000-0x00000000005fffff]  soft reserved\n"
        "BIOS-e820: [gap 0x0000000000600000-0x00000000006fffff]\n"
        "BIOS-e820: [mem 0x0000000000700000-0x00000000007fffff]  type 9\n"
        "e820: update [mem 0x00000000-0x00000fff] System RAM ==> device reserved\n"
    )
    assert [e.type for e in parse_e820_lines(text, "t")] == [
        "usable", "reserved", "ACPI data", "ACPI NVS", "unusable", "persistent (type 7)",
        "persistent (type 12)", "soft reserved", "type 9"]
    assert canonical_e820_type("persistent RAM (type 9)") is None
    assert [e820_print_name(t, 7) for t in E820_TYPES] == [
        "System RAM", "device reserved", "ACPI data", "ACPI NVS", "unusable",
        "persistent RAM (type 7)", "persistent RAM (type 12)", "soft reserved"]
    assert e820_print_name("type 9", 7) == "type 9" == e820_print_name("type 9", 6)
    assert e820_print_name("usable", 6) == "usable"


def test_linux_7_2_corpus_e820_is_the_6_1_table() -> None:
    """The 7.2 boots had the same firmware as the 6.1 ones; only the spelling differs."""
    for log in FW_LOGS:
        name = log.name.removesuffix(".fw.log")
        serial = FIXTURES / "corpus" / "linux-7.2" / name / "serial.log"
        if serial.exists():
            text = serial.read_text(errors="replace")
            assert parse_e820_lines(text, str(serial)) == parse_e820_lines(log.read_text(), "")


@pytest.mark.parametrize("printed", [*E820_TYPES, "type 6", "type 20", "type 4294967295"])
def test_every_printed_type_reads_back(printed: str) -> None:
    line = f"BIOS-e820: [mem 0x0000000000001000-0x0000000000001fff] {printed}"
    assert parse_e820_lines(line, "t") == (E820Entry(0x1000, 0x2000, printed),)


def test_type_numbers() -> None:
    assert [e820_type_number(t) for t in E820_TYPES] == [1, 2, 3, 4, 5, 7, 12, 0xEFFFFFFF]
    assert e820_type_name(128) == "usable"  # E820_TYPE_RESERVED_KERN prints as usable
    assert e820_type_name(6) == "type 6"
    assert canonical_e820_type("type 1") == "usable"
    assert canonical_e820_type("type 12") == "persistent (type 12)"
    assert canonical_e820_type("persistent (type 9)") is None
    assert canonical_e820_type("type 4294967296") is None
    assert canonical_e820_type("RAM") is None


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("BIOS-e820: [mem 0x00000000000g0000-0x00000000000fffff] reserved", "malformed"),
        ("BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable", "end below start"),
        ("BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff]", "malformed"),
        ("BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff] RAM", "unknown e820 type"),
        ("BIOS-e820: [mem 0x10000000000000000-0x10000000000000001] usable", "malformed"),
        ("BIOS-e820: mem 0x0-0x1 usable", "malformed"),
        ("BIOS-e820: [gap 0x0000000000200000-0x00000000001fffff]", "end below start"),
        ("BIOS-e820: [gap 0x0000000000200000-0x00000000002fffff] device reserved", "malformed"),
        ("BIOS-e820: [gap 0x0000000000200000]", "malformed"),
        ("BIOS-e820: [mem 0x0000000000100000-0x00000000001fffff]  RAM", "unknown e820 type"),
    ],
)
def test_malformed_lines(line: str, problem: str) -> None:
    text = "Command line: x\n" + line + "\n"
    with pytest.raises(InputError) as err:
        parse_e820_lines(text, "dmesg.txt")
    assert err.value.source == "dmesg.txt"
    assert err.value.field == "line 2"
    assert err.value.value == line
    assert problem in str(err.value) and line in str(err.value)


@pytest.mark.parametrize("cut", [
    # a mail client's wrap after the range (a 7.0 log posted inline), and after "[mem"
    ("[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff]  ", "System RAM"),
    ("BIOS-e820: [mem", "0x0000000000000000-0x000000000009ffff]  System RAM"),
])
def test_wrapped_line_says_so(cut: tuple[str, str]) -> None:
    """A line cut before its type whose next line carries on: the reason names the wrap."""
    with pytest.raises(InputError) as err:
        parse_e820_lines("Command line: x\n" + "\n".join(cut) + "\n", "mail.txt")
    assert err.value.field == "line 2" and "wrapped" in str(err.value)
    assert "\n" not in str(err.value)


def test_sysfs_memmap_fixture() -> None:
    assert read_sys_firmware_memmap(str(FIXTURES / "memmap")) == P01


def _memmap(root: Path, entries: dict[str, tuple[str, str, str]]) -> str:
    for name, (start, end, kind) in entries.items():
        (root / name).mkdir()
        (root / name / "start").write_text(start + "\n")
        (root / name / "end").write_text(end + "\n")
        (root / name / "type").write_text(kind + "\n")
    return str(root)


def test_sysfs_sorted_and_types(tmp_path: Path) -> None:
    path = _memmap(tmp_path, {
        "10": ("0x100000000", "0x13fffffff", "Persistent Memory"),
        "2": ("0x0", "0xfff", "Unknown E820 type"),
        "1": ("0x2000", "0x2fff", "Soft Reserved"),
        "0": ("0x1000", "0x1fff", "ACPI Non-volatile Storage"),
    })
    (tmp_path / "README").write_text("not an entry")
    assert read_sys_firmware_memmap(path) == (
        E820Entry(0, 0x1000, "reserved"),
        E820Entry(0x1000, 0x2000, "ACPI NVS"),
        E820Entry(0x2000, 0x3000, "soft reserved"),
        E820Entry(0x100000000, 0x140000000, "persistent (type 7)"),
    )


@pytest.mark.parametrize(
    ("entry", "bad_file", "field", "value"),
    [
        (("0x1000", "0xfff", "System RAM"), "end", "end", "0xfff"),
        (("1000", "0x1fff", "System RAM"), "start", "start", "1000"),
        (("0x1000", "0x1fff", "RAM"), "type", "type", "RAM"),
        (("0x1000", "0x1fffzz", "System RAM"), "end", "end", "0x1fffzz"),
    ],
)
def test_sysfs_errors(tmp_path: Path, entry: tuple[str, str, str], bad_file: str, field: str,
                      value: str) -> None:
    path = _memmap(tmp_path, {"0": entry})
    with pytest.raises(InputError) as err:
        read_sys_firmware_memmap(path)
    assert err.value.source == os.path.join(path, "0", bad_file)
    assert err.value.field == field and err.value.value == value
    assert repr(value) in str(err.value)


def test_sysfs_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot list"):
        read_sys_firmware_memmap(str(tmp_path / "nope"))
    with pytest.raises(InputError, match="no numbered entry"):
        read_sys_firmware_memmap(str(tmp_path))
    shutil.copytree(FIXTURES / "memmap", tmp_path / "m")
    os.remove(tmp_path / "m" / "3" / "type")
    with pytest.raises(InputError) as err:
        read_sys_firmware_memmap(str(tmp_path / "m"))
    assert err.value.source.endswith(os.path.join("3", "type"))


def E(start: int, end: int, kind: str) -> E820Entry:  # short, so the cases read as tables
    return E820Entry(start, end, kind)


@pytest.mark.parametrize(
    ("given_", "expected"),
    [
        # overlap: the higher type number wins, the rest stays
        ([E(0, 100, "usable"), E(50, 150, "reserved")],
         [E(0, 50, "usable"), E(50, 150, "reserved")]),
        ([E(0, 300, "usable"), E(100, 200, "ACPI NVS")],
         [E(0, 100, "usable"), E(100, 200, "ACPI NVS"), E(200, 300, "usable")]),
        # unsorted input, adjacent and overlapping same type merge; empty entries vanish
        ([E(200, 300, "usable"), E(0, 100, "usable"), E(100, 250, "usable"), E(5, 5, "reserved")],
         [E(0, 300, "usable")]),
        # PRAM and soft reserved are never merged with their neighbours
        ([E(0, 10, "persistent (type 12)"), E(10, 20, "persistent (type 12)")],
         [E(0, 10, "persistent (type 12)"), E(10, 20, "persistent (type 12)")]),
        ([E(0, 10, "soft reserved"), E(10, 20, "soft reserved"), E(20, 30, "reserved"),
          E(30, 40, "reserved")],
         [E(0, 10, "soft reserved"), E(10, 20, "soft reserved"), E(20, 40, "reserved")]),
        ([E(0, 10, "persistent (type 7)"), E(10, 20, "persistent (type 7)")],
         [E(0, 20, "persistent (type 7)")]),
        # unknown types compete by number, type 0 is a hole
        ([E(0, 100, "unusable"), E(50, 60, "type 6"), E(70, 80, "type 0")],
         [E(0, 50, "unusable"), E(50, 60, "type 6"), E(60, 100, "unusable")]),
        ([E(0, 100, "type 0"), E(100, 200, "usable")], [E(100, 200, "usable")]),
        # fewer than two entries, or one wrapping past 2^64: left alone (returns -1)
        ([E(5, 5, "usable")], [E(5, 5, "usable")]),
        ([E(0, 1 << 64, "reserved"), E(0, 10, "usable")],
         [E(0, 1 << 64, "reserved"), E(0, 10, "usable")]),
    ],
)
def test_sanitize(given_: list[E820Entry], expected: list[E820Entry]) -> None:
    assert sanitize_e820(given_) == tuple(expected)


def test_sanitize_rejects_unknown_type_name() -> None:
    with pytest.raises(InputError, match="entries\\[1\\].type"):
        sanitize_e820([E(0, 1, "usable"), E(1, 2, "RAM")])


def _brute_force(entries: list[E820Entry]) -> list[E820Entry]:
    """Per address: the highest type covering it; split where it changes, or at any change
    point inside a no-merge type."""
    numbers = [e820_type_number(e.type) or 0 for e in entries]
    points = {p for e in entries if e.end > e.start for p in (e.start, e.end)}
    top = max((e.end for e in entries), default=0)
    out: list[E820Entry] = []
    for addr in range(top):
        number = max((n for e, n in zip(entries, numbers, strict=True)
                      if e.start <= addr < e.end), default=0)
        if not number:
            continue
        kind = e820_type_name(number)
        last = out[-1] if out else None
        if (last and last.end == addr and last.type == kind
                and not (number in (12, 0xEFFFFFFF) and addr in points)):
            out[-1] = E820Entry(last.start, addr + 1, kind)
        else:
            out.append(E820Entry(addr, addr + 1, kind))
    return out


_KINDS = st.sampled_from(["usable", "reserved", "ACPI data", "unusable", "type 6", "type 0",
                          "persistent (type 12)", "soft reserved"])
_ENTRY = st.builds(lambda s, n, k: E820Entry(s, s + n, k), st.integers(0, 40),
                   st.integers(0, 12), _KINDS)


@given(st.lists(_ENTRY, min_size=2, max_size=8))
def test_sanitize_matches_brute_force(entries: list[E820Entry]) -> None:
    result = sanitize_e820(entries)
    assert list(result) == _brute_force(entries)
    assert sanitize_e820(result) == result or len(result) < 2


_LINES = (FIXTURES / "firmware" / "p08_q35_four_nodes_two_hotplug.fw.log").read_text()


@given(st.integers(0, len(_LINES) - 1), st.integers(0, 3), st.text(max_size=4))
def test_mutated_lines_parse_or_raise_input_error(pos: int, cut: int, insert: str) -> None:
    text = _LINES[:pos] + insert + _LINES[pos + cut :]
    try:
        entries = parse_e820_lines(text, "fuzz")
    except InputError as err:
        assert err.source == "fuzz" and err.field.startswith("line ")
    else:
        assert all(e.end > e.start for e in entries)


_MAP = (E820Entry(0, 0x9FC00, "usable"), E820Entry(0x100000, 0xBFFF0000, "usable"),
        E820Entry(0x100000000, 0x440000000, "usable"))


@pytest.mark.parametrize(("value", "want"), [
    # 8 GiB of RAM at 8 GiB becomes persistent memory (type 12)
    ("8G!8G", [(0x100000000, 0x200000000, "usable"),
               (0x200000000, 0x400000000, "persistent (type 12)"),
               (0x400000000, 0x440000000, "usable")]),
    # a bare size removes RAM above it, like mem=
    ("4G", []),
    # reserved and ACPI data carved out of RAM
    ("1G$5G", [(0x100000000, 0x140000000, "usable"), (0x140000000, 0x180000000, "reserved"),
               (0x180000000, 0x440000000, "usable")]),
    ("1G#5G", [(0x100000000, 0x140000000, "usable"), (0x140000000, 0x180000000, "ACPI data"),
               (0x180000000, 0x440000000, "usable")]),
    # % retypes by number, or removes a type
    ("1G%4G-1+2", [(0x100000000, 0x140000000, "reserved"),
                   (0x140000000, 0x440000000, "usable")]),
    ("1G%4G-1", [(0x140000000, 0x440000000, "usable")]),
    # garbage is ignored, as parse_memmap_one's -EINVAL is
    ("junk", [(0x100000000, 0x440000000, "usable")]),
])
def test_memmap(value: str, want: list[tuple[int, int, str]]) -> None:
    """memmap= on a machine with RAM below 3 GiB and 4-17 GiB: the entries above 4 GiB."""
    got = parse_memmap_opt(_MAP, value)
    assert got[:2] == _MAP[:2]
    assert [(e.start, e.end, e.type) for e in got[2:]] == want


def test_memmap_exactmap() -> None:
    got = parse_memmap_opt(_MAP, "exactmap,640K@0,1G@1M")
    assert got == (E820Entry(0, 0xA0000, "usable"), E820Entry(0x100000, 0x40100000, "usable"))
