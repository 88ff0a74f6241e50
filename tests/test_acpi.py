# SPDX-License-Identifier: GPL-2.0-or-later
"""SRAT readers and encoder against the real-kernel corpus and generated tables.

Fixtures in tests/fixtures/acpi/: ``<scenario>.srat.bin`` and ``<scenario>.scenario.json`` are
copied from the corpus; ``*.srat.dsl`` were written by ``iasl -d`` (acpica-tools 20200925)
and ``*.acpidump.txt`` by ``acpidump -f <file>`` from the same binaries.
``mixed_subtables.srat.bin`` is made by encode_srat and holds APIC, x2APIC, GICC, GIC ITS,
Generic Initiator and an unknown type 0x7F subtable followed by one more memory range.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memhp.errors import InputError
from memhp.firmware.acpi import (
    encode_srat,
    format_acpidump,
    load_srat,
    parse_acpidump,
    parse_iasl_srat,
    parse_srat,
    parse_table_header,
)
from memhp.firmware.types import Srat, SratCpu, SratMemory, SratUnknown

FIXTURES = Path(__file__).parent / "fixtures" / "acpi"
CORPUS = sorted(FIXTURES.glob("p*.srat.bin"))
TEXT_NAMES = [
    "p01_movable_node_hotplug_node1",
    "p04_hotplug_range_holds_acpi_tables",
    "p08_q35_four_nodes_two_hotplug",
    "mixed_subtables",
]
P08 = FIXTURES / "p08_q35_four_nodes_two_hotplug.srat.bin"
MIXED = FIXTURES / "mixed_subtables.srat.bin"


def ids(paths: list[Path]) -> list[str]:
    return [p.name.split(".")[0] for p in paths]


def size(value: int | str) -> int:
    """A scenario.json size: an int, "0xA0000", or a number with a K/M/G/T suffix."""
    if isinstance(value, int):
        return value
    if value.lower().startswith("0x"):
        return int(value, 16)
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if value[-1:].upper() in units:
        return int(value[:-1]) * units[value[-1].upper()]
    return int(value)


def fixed(table: bytes | bytearray) -> bytes:
    """``table`` with its checksum byte recomputed, to reach the checks behind it."""
    out = bytearray(table)
    out[9] = 0
    out[9] = -sum(out) & 0xFF
    return bytes(out)


def with_length(table: bytes, length: int) -> bytes:
    return fixed(table[:4] + length.to_bytes(4, "little") + table[8:])


def error(call: object, *args: object) -> InputError:
    assert callable(call)
    with pytest.raises(InputError) as info:
        call(*args)
    return info.value


# --- the corpus -------------------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(CORPUS) == 9  # p01..p10 except p09, which has no SRAT


@pytest.mark.parametrize("path", CORPUS, ids=ids(CORPUS))
def test_round_trip_is_exact(path: Path) -> None:
    data = path.read_bytes()
    assert encode_srat(parse_srat(data, str(path))) == data


@pytest.mark.parametrize("path", CORPUS, ids=ids(CORPUS))
def test_entries_match_scenario(path: Path) -> None:
    scenario_path = path.with_name(path.name.replace(".srat.bin", ".scenario.json"))
    scenario = json.loads(scenario_path.read_text())
    srat = parse_srat(path.read_bytes(), str(path))
    assert [[c.pxm, c.apic_id] for c in srat.cpus] == scenario["srat"]["cpus"]
    assert all(c.enabled and not c.x2apic for c in srat.cpus)
    mems = scenario["srat"]["mems"]
    assert [[m.pxm, m.base, m.length, m.flags] for m in srat.memory] == [
        [pxm, size(base), size(length), flags] for pxm, base, length, flags in mems
    ]
    assert len(srat.entries) == len(srat.cpus) + len(srat.memory)
    assert (srat.oem_id, srat.oem_table_id, srat.creator_id) == ("ORACLE", "HOTPLUG ", "ORCL")
    assert (srat.revision, srat.table_revision) == (3, 1)


def test_size_helper() -> None:
    assert [size(v) for v in (0, "0xA0000", "1M", "4G", "2g", "17")] == [
        0, 0xA0000, 1 << 20, 4 << 30, 2 << 30, 17,
    ]


def test_parse_table_header() -> None:
    table = parse_table_header(P08.read_bytes(), "p08", address=0xBFFE1A2D)
    assert (table.signature, table.address, table.length, table.revision) == (
        "SRAT", 0xBFFE1A2D, 312, 3,
    )
    assert (table.oem_id, table.oem_table_id) == ("ORACLE", "HOTPLUG ")
    padded = b"APIC" + bytes(6) + b"AB\0\0\0\0" + b"T" + bytes(7) + bytes(12)
    table = parse_table_header(padded, "x")
    assert (table.signature, table.oem_id, table.oem_table_id) == ("APIC", "AB", "T")
    assert error(parse_table_header, b"APIC", "x").field == "header.length"


def test_mixed_subtables() -> None:
    srat = parse_srat(MIXED.read_bytes(), "mixed")
    assert srat.cpus == (
        SratCpu(0x345612, 7, True, False, 5, 9),
        SratCpu(1, 0x55667788, True, True, 0, 3),
        SratCpu(2, 0x100, False, True),
    )
    assert [(m.pxm, m.base, m.length, m.flags) for m in srat.memory] == [
        (0, 0, 0xA0000, 1), (0xDEADBEEF, 1 << 40, 1 << 30, 7), (2, 1 << 32, 1 << 30, 3),
    ]
    unknown = [e for e in srat.entries if isinstance(e, SratUnknown)]
    assert [(e.type, len(e.raw)) for e in unknown] == [(3, 18), (4, 12), (5, 32), (0x7F, 6)]
    assert all(e.raw[:2] == bytes([e.type, len(e.raw)]) for e in unknown)
    assert encode_srat(srat) == MIXED.read_bytes()


# --- text formats -----------------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_iasl_and_acpidump_match_binary(name: str) -> None:
    binary = FIXTURES / f"{name}.srat.bin"
    dsl = FIXTURES / f"{name}.srat.dsl"
    dump = FIXTURES / f"{name}.acpidump.txt"
    srat = parse_srat(binary.read_bytes(), str(binary))
    assert parse_iasl_srat(dsl.read_text(), str(dsl)) == srat
    assert parse_acpidump(dump.read_text(), str(dump)) == {"SRAT": [binary.read_bytes()]}
    assert load_srat(str(binary)) == load_srat(str(dsl)) == load_srat(str(dump)) == srat


@pytest.mark.parametrize("name", TEXT_NAMES)
def test_acpidump_formatter_matches_real_acpidump(name: str) -> None:
    data = (FIXTURES / f"{name}.srat.bin").read_bytes()
    assert format_acpidump([("SRAT", data)]) == (FIXTURES / f"{name}.acpidump.txt").read_text()


def test_acpidump_several_tables() -> None:
    two = parse_acpidump((FIXTURES / "two_srats.acpidump.txt").read_text(), "two")
    assert two == {
        "SRAT": [
            (FIXTURES / "p01_movable_node_hotplug_node1.srat.bin").read_bytes(),
            P08.read_bytes(),
        ]
    }
    assert error(load_srat, str(FIXTURES / "two_srats.acpidump.txt")).field == "SRAT"
    ssdt1, ssdt2, rsdp = b"SSDT" + bytes(40), b"SSDT" + bytes(range(100)), b"RSD PTR " + bytes(12)
    text = format_acpidump([("SSDT", ssdt1), ("SRAT", P08.read_bytes()), ("SSDT", ssdt2)])
    text = text.replace("\n\n", "\n\n\n") + "RSD PTR @ 0xf6cd0\n  0000: " + " ".join(
        f"{b:02x}" for b in rsdp[:16]
    ) + "\n  0010: " + " ".join(f"{b:02x}" for b in rsdp[16:]) + "\n"
    assert parse_acpidump(text, "t") == {
        "SSDT": [ssdt1, ssdt2], "SRAT": [P08.read_bytes()], "RSDP": [rsdp],
    }


def newer_iasl(text: str) -> str:
    """Rewrite "[030h 0048   1]" as "[030h 0048 001h]", the way iasl 2022 and later print it."""
    return re.sub(
        r"^\[(\w+h \d+) +(\d+)\]", lambda m: f"[{m[1]} {int(m[2]):03X}h]", text, flags=re.M
    )


def test_iasl_newer_length_column() -> None:
    text = (FIXTURES / "mixed_subtables.srat.dsl").read_text()
    assert "[030h 0048 001h]" in newer_iasl(text)
    assert parse_iasl_srat(newer_iasl(text), "new") == parse_srat(MIXED.read_bytes(), "mixed")


def test_iasl_unknown_subtable_needs_raw_dump() -> None:
    text = (FIXTURES / "mixed_subtables.srat.dsl").read_text()
    assert "**** Unknown SRAT subtable type 0x7F" in text
    without_raw = text.split("Raw Table Data")[0]
    assert error(parse_iasl_srat, without_raw, "m").field == "Raw Table Data"
    # the corpus tables are fully described by fields and need no raw dump
    p08 = (FIXTURES / "p08_q35_four_nodes_two_hotplug.srat.dsl").read_text()
    assert parse_iasl_srat(p08.split("Raw Table Data")[0], "p08") == parse_srat(
        P08.read_bytes(), "p08"
    )


def test_iasl_edited_field_wins_over_raw_dump_and_checksum_is_recomputed() -> None:
    text = (FIXTURES / "p08_q35_four_nodes_two_hotplug.srat.dsl").read_text()
    edited = text.replace("Address Length : 00000000000A0000", "Address Length : 00000000000B0000")
    assert edited != text
    assert parse_iasl_srat(edited, "e").memory[0].length == 0xB0000


def test_iasl_nul_padded_ids() -> None:
    srat = Srat((SratMemory(0, 0, 1 << 20),), oem_id="AB", oem_table_id="T", creator_id="")
    binary = encode_srat(srat)
    assert parse_srat(binary, "b").oem_id == "AB\0\0\0\0"
    text = (FIXTURES / "p08_q35_four_nodes_two_hotplug.srat.dsl").read_text()
    text = text.replace('Oem ID : "ORACLE"', 'Oem ID : "AB"')
    assert parse_iasl_srat(text, "t").oem_id == "AB\0\0\0\0"


# --- load_srat --------------------------------------------------------------------------


def test_load_srat_directory_and_errors(tmp_path: Path) -> None:
    (tmp_path / "SRAT").write_bytes(P08.read_bytes())
    assert load_srat(str(tmp_path)) == parse_srat(P08.read_bytes(), "p08")
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = error(load_srat, str(empty))
    assert missing.source == str(empty / "SRAT") and missing.field == "file"
    assert error(load_srat, str(tmp_path / "nope.bin")).source == str(tmp_path / "nope.bin")
    other = tmp_path / "apic.bin"
    other.write_bytes(b"APIC" + bytes(40))
    assert error(load_srat, str(other)).field == "format"
    truncated = tmp_path / "short.bin"
    truncated.write_bytes(P08.read_bytes()[:100])
    assert error(load_srat, str(truncated)).field == "header.length"


# --- bad binaries -----------------------------------------------------------------------


@pytest.mark.parametrize("path", [*CORPUS, MIXED], ids=ids([*CORPUS, MIXED]))
def test_every_truncation_is_an_input_error(path: Path) -> None:
    data = path.read_bytes()
    for cut in range(len(data)):
        error(parse_srat, data[:cut], "cut")


def test_bad_binaries() -> None:
    data = P08.read_bytes()
    bad_sum = bytearray(data)
    bad_sum[9] ^= 1
    assert error(parse_srat, bytes(bad_sum), "p08").field == "header.checksum"
    wrong = error(parse_srat, fixed(b"SRAX" + data[4:]), "p08")
    assert (wrong.field, wrong.value) == ("header.signature", b"SRAX")
    assert error(parse_srat, with_length(data, len(data) + 8), "p08").field == "header.length"
    assert error(parse_srat, with_length(data, len(data) - 8), "p08").field == "header.length"
    assert error(parse_srat, fixed(data + bytes(4)), "p08").field == "header.length"
    short = with_length(data[:40], 40)
    assert error(parse_srat, short, "short").field == "header.length"


def set_entry(data: bytes, offset: int, patch: bytes) -> bytes:
    return fixed(data[:offset] + patch + data[offset + len(patch) :])


def test_bad_subtables() -> None:
    data = P08.read_bytes()  # entries at 0x30, 0x40, 0x50, 0x60 (16 bytes), 0x70.. (40 bytes)
    zero = error(parse_srat, set_entry(data, 0x40, b"\x00\x00"), "p08")
    assert (zero.field, zero.value) == ("entry[1].length", 0)
    assert error(parse_srat, set_entry(data, 0x40, b"\x00\x01"), "p08").field == "entry[1].length"
    overrun = error(parse_srat, set_entry(data, 0x110, b"\x01\x30"), "p08")
    assert (overrun.field, overrun.value) == ("entry[8].length", 0x30)
    wrong_size = error(parse_srat, set_entry(data, 0x30, b"\x00\x18"), "p08")
    assert (wrong_size.field, wrong_size.value) == ("entry[0].length", 0x18)
    assert error(parse_srat, set_entry(data, 0x70, b"\x01\x10"), "p08").field == "entry[4].length"
    assert error(parse_srat, set_entry(data, 0x30, b"\x02\x10"), "p08").field == "entry[0].length"
    odd = fixed(with_length(data + b"\x00", len(data) + 1))
    assert error(parse_srat, odd, "p08").field == "entry[9]"
    # an unknown type of any length >= 2 is fine
    assert parse_srat(set_entry(data, 0x30, b"\x09\x10"), "p08").entries[0] == SratUnknown(
        9, b"\x09\x10" + data[0x32:0x40]
    )


# --- bad text ---------------------------------------------------------------------------


def dump_text() -> str:
    return (FIXTURES / "p08_q35_four_nodes_two_hotplug.acpidump.txt").read_text()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("0000: 53 52 41 54", "0000: 53 52 4G 54"),  # garbage hex
        ("0000: 53 52 41 54", "0000: 53 52 41  54"),  # split byte columns lose bytes
        ("0010: 48 4F", "0011: 48 4F"),  # offset gap
        ("0010: 48 4F", "0000: 48 4F"),  # repeated offset
        ("0130: 00 00", "0130: 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"),
        ("SRAT @ 0x0000000000000000\n", "SRAT @ 0x0000000000000000\nhello\n"),
        ("SRAT @ 0x0000000000000000\n", ""),  # hex lines before any table header
        ("    0000: 53", "SSDT @ 0x0\nXSDT @ 0x1\n    0000: 53"),  # header without data
    ],
)
def test_bad_acpidump(old: str, new: str) -> None:
    text = dump_text()
    assert old in text
    broken = text.replace(old, new, 1)
    try:
        tables = parse_acpidump(broken, "dump")
    except InputError as err:
        assert err.source == "dump" and err.field.startswith("line ")
    else:  # a line that lost bytes but kept the offsets right: caught by the SRAT checks
        error(parse_srat, tables["SRAT"][0], "dump")


def test_acpidump_tolerates_blank_lines_and_no_ascii_column() -> None:
    text = dump_text()
    plain = "\n".join(line[:57].rstrip() for line in text.splitlines())
    spaced = "\n\n" + plain.replace("\n", "\n\n") + "\n\n"
    assert parse_acpidump(spaced, "dump") == {"SRAT": [P08.read_bytes()]}
    assert parse_acpidump(text.replace("\n", "\r\n"), "dump") == {"SRAT": [P08.read_bytes()]}


def dsl_text() -> str:
    return (FIXTURES / "p08_q35_four_nodes_two_hotplug.srat.dsl").read_text()


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("Base Address : 0000000100000000", "Base Address : 00000001000000ZZ", "Base Address"),
        ("Base Address : 0000000100000000", "Base Address : 1G", "Base Address"),
        ("Base Address : 0000000100000000", "Base Address :", "Base Address"),
        ("Apic ID : 01", "Apic ID : 100", "Apic ID"),
        ('Oem ID : "ORACLE"', 'Oem ID : "ORACLE!"', "Oem ID"),
        ('Oem ID : "ORACLE"', 'Oem ID : "ORACLE', "Oem ID"),
        ("[0C8h 0200   8]", "[0C8h 0201   8]", "Base Address"),
        ("[0C8h 0200   8]", "[0C8h 0200   x]", "line"),
        ("[0C8h 0200   8]", "[0C8h 0200 999]", "Base Address"),
        ("[004h 0004   4]                 Table Length : 00000138", "", "Table Length"),
        ("Table Length : 00000138", "Table Length : FFFFFFFF", "Table Length"),
        ("Table Length : 00000138", "Table Length : 00000130", "Reserved3"),
        ("[130h 0304   8]", "[140h 0320   8]", "Reserved3"),
    ],
)
def test_bad_iasl(old: str, new: str, field: str) -> None:
    text = dsl_text()
    assert old in text
    err = error(parse_iasl_srat, text.replace(old, new, 1), "dsl")
    assert err.source == "dsl" and field in err.field


def test_iasl_bad_table_inside_is_reported_by_srat_checks() -> None:
    old = "[0C1h 0193   1]                       Length : 28"
    assert old in dsl_text()
    text = dsl_text().replace(old, "[0C1h 0193   1]  Length : 00")
    assert error(parse_iasl_srat, text, "dsl").field == "entry[6].length"


# --- encoder validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("srat", "field"),
    [
        (Srat((SratCpu(1 << 32, 0),)), "entry[0].pxm"),
        (Srat((SratCpu(0, 256),)), "entry[0].apic_id"),
        (Srat((SratCpu(0, 1 << 32, x2apic=True),)), "entry[0].apic_id"),
        (Srat((SratCpu(0, 1, x2apic=True, sapic_eid=1),)), "entry[0].sapic_eid"),
        (Srat((SratCpu(0, 1, sapic_eid=256),)), "entry[0].sapic_eid"),
        (Srat((SratCpu(0, 1, clock_domain=-1),)), "entry[0].clock_domain"),
        (Srat((SratMemory(0, -1, 1),)), "entry[0].base"),
        (Srat((SratMemory(0, 0, 1 << 64),)), "entry[0].length"),
        (Srat((SratMemory(0, 0, 1, 1 << 32),)), "entry[0].flags"),
        (Srat((SratMemory(0, 0, 1), SratUnknown(1, b"\x01\x02"))), "entry[1].type"),
        (Srat((SratUnknown(9, b"\x09\x03"),)), "entry[0].raw"),
        (Srat((SratUnknown(9, b"\x08\x02"),)), "entry[0].raw"),
        (Srat((SratUnknown(9, b"\x09"),)), "entry[0].raw"),
        (Srat((SratUnknown(256, b"\x00\x02"),)), "entry[0].type"),
        (Srat((), oem_id="TOOLONG"), "oem_id"),
        (Srat((), oem_table_id="\u20ac"), "oem_table_id"),
        (Srat((), creator_id="12345"), "creator_id"),
        (Srat((), revision=256), "revision"),
        (Srat((), oem_revision=1 << 32), "oem_revision"),
        (Srat((), creator_revision=-1), "creator_revision"),
        (Srat((), table_revision=1 << 32), "table_revision"),
    ],
)
def test_encode_rejects_values_that_do_not_fit(srat: Srat, field: str) -> None:
    assert error(encode_srat, srat).field == field


def test_encode_defaults() -> None:
    data = encode_srat(Srat(()))
    assert len(data) == 48 and data[:4] == b"SRAT" and sum(data) % 256 == 0
    assert parse_srat(data, "empty") == Srat(())


# --- properties -------------------------------------------------------------------------

U8, U32, U64 = (st.integers(0, (1 << bits) - 1) for bits in (8, 32, 64))
xapic = st.builds(
    SratCpu, pxm=U32, apic_id=U8, enabled=st.booleans(), x2apic=st.just(False),
    sapic_eid=U8, clock_domain=U32,
)
x2apic = st.builds(
    SratCpu, pxm=U32, apic_id=U32, enabled=st.booleans(), x2apic=st.just(True),
    clock_domain=U32,
)
memory = st.builds(SratMemory, pxm=U32, base=U64, length=U64, flags=U32)
unknown = st.tuples(st.integers(3, 255), st.binary(max_size=253)).map(
    lambda t: SratUnknown(t[0], bytes([t[0], len(t[1]) + 2]) + t[1])
)


def ident(width: int) -> st.SearchStrategy[str]:
    return st.text(st.characters(max_codepoint=255), min_size=width, max_size=width)


srats = st.builds(
    Srat, entries=st.lists(st.one_of(xapic, x2apic, memory, unknown), max_size=12).map(tuple),
    revision=U8, oem_id=ident(6), oem_table_id=ident(8), oem_revision=U32,
    creator_id=ident(4), creator_revision=U32, table_revision=U32,
)


@given(srats)
def test_encode_then_parse_is_identity(srat: Srat) -> None:
    data = encode_srat(srat)
    assert parse_srat(data, "gen") == srat
    assert parse_acpidump(format_acpidump([("SRAT", data)]), "gen") == {"SRAT": [data]}


CORPUS_DATA = [p.read_bytes() for p in [*CORPUS, MIXED]]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS_DATA)))
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            bit = draw(st.integers(0, len(data) * 8 - 1))
            data[bit // 8] ^= 1 << (bit % 8)
        else:
            data[draw(st.integers(0, len(data) - 1))] = draw(U8)
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.booleans()) and len(data) >= 8:  # make length and checksum agree again
        data[4:8] = len(data).to_bytes(4, "little")
    if draw(st.booleans()) and len(data) >= 10:
        data = bytearray(fixed(data))
    return bytes(data)


@settings(max_examples=500)
@given(mutated())
def test_mutated_binary_parses_or_raises_input_error(data: bytes) -> None:
    try:
        srat = parse_srat(data, "mutant")
    except InputError:
        return
    assert parse_srat(encode_srat(srat), "again") == srat


@given(st.sampled_from(TEXT_NAMES), st.integers(0, 10**6), st.text(max_size=8))
def test_edited_text_parses_or_raises_input_error(name: str, where: int, insert: str) -> None:
    for path, parse in (
        (FIXTURES / f"{name}.srat.dsl", parse_iasl_srat),
        (FIXTURES / f"{name}.acpidump.txt", parse_acpidump),
    ):
        text = path.read_text()
        at = where % (len(text) + 1)
        try:
            parse(text[:at] + insert + text[at + len(insert) :], "edited")
        except InputError:
            pass
