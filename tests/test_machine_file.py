# SPDX-License-Identifier: GPL-2.0-or-later
"""The TOML machine file: loading, every kind of wrong field, and dump -> load round trips."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memhp.errors import InputError
from memhp.firmware.acpi import load_srat
from memhp.firmware.bootlog import machine_from_boot_log
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.e820 import e820_type_name
from memhp.firmware.hotplug import MemSpec
from memhp.firmware.machine_file import dump_machine, load_machine
from memhp.firmware.types import (
    E820_TYPES,
    AcpiTable,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
    SratUnknown,
)

FIXTURES = Path(__file__).parent / "fixtures"
MACHINES = FIXTURES / "machines"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"  # the 6.1 boots, as in ../shared
G = 1 << 30
MINIMAL = '[[e820]]\nstart = 0\nend = "640K"\ntype = "usable"\n'


def _write(tmp_path: Path, text: str, name: str = "m.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_p01_fixture() -> None:
    m = load_machine(str(MACHINES / "p01.toml"))
    fw = machine_from_boot_log(
        (FIXTURES / "firmware" / "p01_movable_node_hotplug_node1.fw.log").read_text(), "p01")
    assert m.e820 == fw.e820 and m.cmdline == fw.cmdline and m.initrd == fw.initrd
    assert m.acpi_tables == (fw.acpi_tables[-1],)
    assert m.srat == load_srat(str(MACHINES / "p01.srat.bin"))
    assert m.srat is not None and m.srat.memory[2] == SratMemory(1, 4 * G, 4 * G, 0b11)
    assert (m.name, m.qemu_machine, m.hypervisor) == ("p01", "pc", True)


def test_srat_file_is_relative_to_the_toml() -> None:
    m = load_machine(str(MACHINES / "p01_srat_file.toml"))
    assert m.srat == load_machine(str(MACHINES / "p01.toml")).srat
    assert m.description == "" and m.hypervisor and m.initrd is None and m.acpi_tables == ()


def test_minimal(tmp_path: Path) -> None:
    assert load_machine(_write(tmp_path, MINIMAL)) == Machine(
        e820=(E820Entry(0, 0xA0000, "usable"),))


def test_numbers_and_forms(tmp_path: Path) -> None:
    text = MINIMAL + """
[[e820]]
start = 0x100000
size = "0x10M"
type = "type 1"

[[e820]]
start = "4G"
end = 8589934592
type = "type 9"
"""
    assert load_machine(_write(tmp_path, text)).e820[1:] == (
        E820Entry(0x100000, 0x1100000, "usable"), E820Entry(4 * G, 8 * G, "type 9"))


def test_entry_form_keeps_order(tmp_path: Path) -> None:
    text = MINIMAL + """
[[srat.entry]]
kind = "memory"
pxm = 0
base = 0
length = "1G"
flags = 5

[[srat.entry]]
kind = "unknown"
data = "0508000000000000"

[[srat.entry]]
kind = "cpu"
pxm = 7
apic_id = 300
x2apic = true
enabled = false
"""
    srat = load_machine(_write(tmp_path, text)).srat
    assert srat == Srat((SratMemory(0, 0, G, 5), SratUnknown(5, bytes.fromhex("0508") + bytes(6)),
                         SratCpu(7, 300, False, True)))


ERRORS = [
    # (snippet, field, value)
    ("colour = 1\n" + MINIMAL, "colour", 1),
    ('name = 3\n' + MINIMAL, "name", 3),
    ("hypervisor = 'yes'\n" + MINIMAL, "hypervisor", "yes"),
    ('qemu_machine = "isapc"\n' + MINIMAL, "qemu_machine", "isapc"),
    ('cmdline = ["a"]\n' + MINIMAL, "cmdline", ["a"]),
    ("name = 'x'\n", "e820", None),
    ('e820 = { start = 0 }\n', "e820", {"start": 0}),
    ("e820 = []\n", "e820", []),
    ('[[e820]]\nstart = 0\ntype = "usable"\n', "e820[0].end", None),
    ('[[e820]]\nstart = 0\nend = 1\nsize = 1\ntype = "usable"\n', "e820[0].end", 1),
    ('[[e820]]\nstart = 0\nend = 1\n', "e820[0].type", None),
    ('[[e820]]\nstart = 0\nend = 1\ntype = "usable"\ncolor = 2\n', "e820[0].color", 2),
    (MINIMAL + '[[e820]]\nstart = "1M"\nend = "1M"\ntype = "usable"\n', "e820[1].end", "1M"),
    (MINIMAL + '[[e820]]\nstart = "2M"\nend = "1M"\ntype = "usable"\n', "e820[1].end", "1M"),
    (MINIMAL + '[[e820]]\nstart = 0\nsize = 0\ntype = "usable"\n', "e820[1].size", 0),
    (MINIMAL + '[[e820]]\nstart = 0\nend = 1\ntype = "RAM"\n', "e820[1].type", "RAM"),
    (MINIMAL + '[[e820]]\nstart = "12Q"\nend = 1\ntype = "usable"\n', "e820[1].start", "12Q"),
    (MINIMAL + '[[e820]]\nstart = "010"\nend = 1\ntype = "usable"\n', "e820[1].start", "010"),
    (MINIMAL + '[[e820]]\nstart = -1\nend = 1\ntype = "usable"\n', "e820[1].start", -1),
    (MINIMAL + '[[e820]]\nstart = 1.5\nend = 2\ntype = "usable"\n', "e820[1].start", 1.5),
    (MINIMAL + '[[e820]]\nstart = true\nend = 2\ntype = "usable"\n', "e820[1].start", True),
    (MINIMAL + '[[e820]]\nstart = 0\nend = "17E"\ntype = "usable"\n', "e820[1].end", "17E"),
    (MINIMAL + '[[e820]]\nstart = "16E"\nsize = 1\ntype = "usable"\n', "e820[1].start", "16E"),
    (MINIMAL + '[[acpi_table]]\nsignature = "SRA"\naddress = 0\nlength = 1\n',
     "acpi_table[0].signature", "SRA"),
    (MINIMAL + '[[acpi_table]]\nsignature = "SRAT"\naddress = 0\n', "acpi_table[0].length",
     None),
    (MINIMAL + '[[acpi_table]]\nsignature = "SRAT"\naddress = 0\nlength = 1\n'
     'oem_id = "TOOLONG"\n', "acpi_table[0].oem_id", "TOOLONG"),
    ("initrd = 5\n" + MINIMAL, "initrd", 5),
    (MINIMAL + "initrd = 5\n", "e820[0].initrd", 5),  # TOML: belongs to the table above
    ("initrd = { start = 4096, end = 4096 }\n" + MINIMAL, "initrd.end", 4096),
    ("initrd = { start = 4096, stop = 8192 }\n" + MINIMAL, "initrd.stop", 8192),
    ('srat_file = "x.bin"\n' + MINIMAL + "[srat]\n", "srat_file", "x.bin"),
    (MINIMAL + "[srat]\nrevision = 256\n", "srat.revision", 256),
    (MINIMAL + '[srat]\noem_id = "1234567"\n', "srat.oem_id", "1234567"),
    (MINIMAL + "[srat]\nnodes = 2\n", "srat.nodes", 2),
    (MINIMAL + "[[srat.memory]]\npxm = 4294967296\nbase = 0\nlength = 1\n",
     "srat.memory[0].pxm", 1 << 32),
    (MINIMAL + "[[srat.memory]]\npxm = -1\nbase = 0\nlength = 1\n", "srat.memory[0].pxm", -1),
    (MINIMAL + "[[srat.memory]]\npxm = 0\nbase = 0\n", "srat.memory[0].end", None),
    (MINIMAL + "[[srat.memory]]\npxm = 0\nbase = 0\nlength = 1\nflags = 1\nenabled = true\n",
     "srat.memory[0].enabled", True),
    (MINIMAL + "[[srat.memory]]\npxm = 0\nbase = 0\nlength = 1\nhotpluggable = 1\n",
     "srat.memory[0].hotpluggable", 1),
    (MINIMAL + "[[srat.cpu]]\npxm = 0\napic_id = 256\n", "srat.cpu[0].apic_id", 256),
    (MINIMAL + "[[srat.cpu]]\npxm = 0\n", "srat.cpu[0].apic_id", None),
    (MINIMAL + "[[srat.cpu]]\npxm = 0\napic_id = 1\nx2apic = true\nsapic_eid = 1\n",
     "srat.cpu[0].sapic_eid", 1),
    (MINIMAL + '[[srat.unknown]]\ndata = "zz"\n', "srat.unknown[0].data", "zz"),
    (MINIMAL + '[[srat.unknown]]\ndata = "0103"\n', "srat.unknown[0].data", "0103"),
    (MINIMAL + '[[srat.unknown]]\ndata = "0509"\n', "srat.unknown[0].data", "0509"),
    (MINIMAL + '[[srat.entry]]\nkind = "gicc"\n', "srat.entry[0].kind", "gicc"),
    (MINIMAL + '[[srat.entry]]\npxm = 0\n', "srat.entry[0].kind", None),
    (MINIMAL + '[[srat.entry]]\nkind = "cpu"\npxm = 0\napic_id = 0\n[[srat.cpu]]\npxm = 0\n'
     "apic_id = 0\n", "srat.cpu", [{"pxm": 0, "apic_id": 0}]),
    (MINIMAL + '[[srat.entry]]\nkind = "cpu"\npxm = 0\napic_id = 0\nbase = 0\n',
     "srat.entry[0].base", 0),
]


@pytest.mark.parametrize(("text", "field", "value"), ERRORS, ids=[e[1] for e in ERRORS])
def test_wrong_fields(tmp_path: Path, text: str, field: str, value: object) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        load_machine(path)
    assert (err.value.source, err.value.field, err.value.value) == (path, field, value)
    assert path in str(err.value) and field in str(err.value) and repr(value) in str(err.value)


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'name = "x"\ncmdline = = 3\n' + MINIMAL)
    with pytest.raises(InputError) as err:
        load_machine(path)
    assert err.value.field == "line 2" and err.value.value == "cmdline = = 3"
    assert "TOML syntax" in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_machine(str(tmp_path / "missing.toml"))
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'name = "\xe9"\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_machine(str(bad))
    path = _write(tmp_path, 'srat_file = "nope.bin"\n' + MINIMAL)
    with pytest.raises(InputError) as err:
        load_machine(path)
    assert err.value.source == str(tmp_path / "nope.bin")


def _roundtrip(m: Machine) -> Machine:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.toml")
        with open(path, "w", encoding="utf-8") as file:
            file.write(dump_machine(m))
        return load_machine(path)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("p*_*")) or ["none"])
def test_corpus_roundtrip(name: str) -> None:
    if name == "none":
        pytest.skip("no corpus")
    d = CORPUS / name
    m = machine_from_boot_log((d / "serial.log").read_text(errors="replace"), name)
    if (d / "srat.bin").exists():
        m = dataclasses.replace(m, srat=load_srat(str(d / "srat.bin")))
    m = dataclasses.replace(m, name=name, description="from serial.log\nand srat.bin")
    assert _roundtrip(m) == m


def test_dump_is_readable() -> None:
    m = load_machine(str(MACHINES / "p01.toml"))
    text = dump_machine(m)
    assert text.startswith("# memhp machine file: p01 - node 1 all hotpluggable")
    assert 'start = "0x100000000"\nend = "0x1c0000000"\ntype = "usable"' in text
    assert "[[srat.memory]]\npxm = 1\nbase = \"0x100000000\"\nlength = \"0x100000000\"\n" \
        "hotpluggable = true" in text


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_U32 = st.integers(0, (1 << 32) - 1)
_U64 = st.integers(0, (1 << 64) - 1)
_ID = st.text(st.characters(max_codepoint=0xFF), max_size=4)
_E820 = st.builds(
    lambda s, n, t: E820Entry(s, s + n, t), st.integers(0, 1 << 63), st.integers(1, 1 << 62),
    st.one_of(st.sampled_from(E820_TYPES), st.integers(0, (1 << 32) - 1).map(e820_type_name)))
_CPU = st.one_of(
    st.builds(SratCpu, _U32, st.integers(0, 255), st.booleans(), st.just(False),
              st.integers(0, 255), _U32),
    st.builds(SratCpu, _U32, _U32, st.booleans(), st.just(True), st.just(0), _U32))
_MEM = st.builds(SratMemory, _U32, st.integers(0, 1 << 63), st.integers(0, 1 << 62), _U32)
_UNKNOWN = st.builds(lambda t, body: SratUnknown(t, bytes([t, len(body) + 2]) + body),
                     st.integers(3, 255), st.binary(max_size=20))
_SRAT = st.builds(Srat, st.lists(st.one_of(_CPU, _MEM, _UNKNOWN), max_size=6).map(tuple),
                  st.integers(0, 255), _ID, _ID, _U32, _ID, _U32, _U32)
_TABLE = st.builds(AcpiTable, st.text(st.characters(max_codepoint=0xFF), min_size=4,
                                      max_size=4), _U64, _U32,
                   st.one_of(st.none(), st.integers(0, 255)), _ID, _ID)
_MACHINE = st.builds(
    Machine,
    e820=st.lists(_E820, min_size=1, max_size=5).map(tuple),
    cmdline=_TEXT.map(parse_cmdline),
    acpi_tables=st.lists(_TABLE, max_size=3).map(tuple),
    srat=st.one_of(st.none(), _SRAT),
    initrd=st.one_of(st.none(), st.builds(lambda s, n: (s, s + n), st.integers(0, 1 << 40),
                                          st.integers(1, 1 << 30))),
    name=_TEXT,
    description=_TEXT,
    qemu_machine=st.sampled_from([None, "pc", "q35"]),
    hypervisor=st.booleans(),
    # QEMU -m: sizes of 64 bits, whole MiB or not (written back in bytes then)
    qemu_mem=st.one_of(st.none(), st.builds(
        MemSpec, st.one_of(_U64, _U64.map(lambda n: n >> 20 << 20)), st.integers(0, 9999),
        st.one_of(_U64, _U64.map(lambda n: n >> 20 << 20)))),
)


@settings(max_examples=150, deadline=None)
@given(_MACHINE)
def test_dump_load_roundtrip(m: Machine) -> None:
    assert _roundtrip(m) == m


_P01_TEXT = (MACHINES / "p01.toml").read_text()


@settings(deadline=None)
@given(st.integers(0, len(_P01_TEXT) - 1), st.integers(0, 4),
       st.text(alphabet='0123456789xXGM"=[]{}.,-_ \nabcdefstrupmyk', max_size=6))
def test_mutated_files_give_machine_or_input_error(pos: int, cut: int, insert: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.toml")
        with open(path, "w", encoding="utf-8") as file:
            file.write(_P01_TEXT[:pos] + insert + _P01_TEXT[pos + cut :])
        try:
            m = load_machine(path)
        except InputError as err:
            assert err.source == path
        else:
            assert m.e820
