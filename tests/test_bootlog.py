# SPDX-License-Identifier: GPL-2.0-or-later
"""Firmware input from real boot logs: ACPI table list, RAMDISK, command line, Machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhp.errors import InputError
from memhp.firmware import bootlog
from memhp.firmware.bootlog import (
    dmesg_section,
    machine_from_boot_log,
    parse_acpi_table_lines,
    parse_command_line,
    parse_ramdisk,
)
from memhp.firmware.types import AcpiTable, Machine

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).parent / "fixtures" / "corpus"  # the 6.1 boots, as in ../shared
FW_LOGS = sorted((FIXTURES / "firmware").glob("*.fw.log"))
NAMES = [p.name.removesuffix(".fw.log") for p in FW_LOGS]
BXPC = ("BOCHS ", "BXPC    ")

P01_TABLES = (
    AcpiTable("RSDP", 0xF59B0, 0x14, 0, "BOCHS "),
    AcpiTable("RSDT", 0xBFFE1BFB, 0x38, 1, *BXPC),
    AcpiTable("FACP", 0xBFFE19DF, 0x74, 1, *BXPC),
    AcpiTable("DSDT", 0xBFFE0040, 0x199F, 1, *BXPC),
    AcpiTable("FACS", 0xBFFE0000, 0x40),
    AcpiTable("APIC", 0xBFFE1A53, 0x80, 1, *BXPC),
    AcpiTable("HPET", 0xBFFE1AD3, 0x38, 1, *BXPC),
    AcpiTable("WAET", 0xBFFE1B0B, 0x28, 1, *BXPC),
    AcpiTable("SRAT", 0xBFFE1B33, 0xC8, 3, "ORACLE", "HOTPLUG "),
)


def _serial(name: str) -> str | None:
    path = CORPUS / name / "serial.log"
    return path.read_text(errors="replace") if path.exists() else None


def test_p01_acpi_tables() -> None:
    log = FIXTURES / "firmware" / "p01_movable_node_hotplug_node1.fw.log"
    assert parse_acpi_table_lines(log.read_text(), str(log)) == P01_TABLES


def test_p08_q35_tables() -> None:
    log = FIXTURES / "firmware" / "p08_q35_four_nodes_two_hotplug.fw.log"
    tables = parse_acpi_table_lines(log.read_text(), str(log))
    assert [t.signature for t in tables] == ["RSDP", "RSDT", "FACP", "DSDT", "FACS", "APIC",
                                              "HPET", "MCFG", "WAET", "SRAT"]
    assert tables[2] == AcpiTable("FACP", 0x7FFE21D8, 0xF4, 3, *BXPC)
    assert tables[-1] == AcpiTable("SRAT", 0x7FFE23F8, 0x138, 3, "ORACLE", "HOTPLUG ")


@pytest.mark.parametrize("name", NAMES, ids=lambda n: n[:3])
def test_corpus_logs(name: str) -> None:
    fw_text = (FIXTURES / "firmware" / f"{name}.fw.log").read_text()
    fw = machine_from_boot_log(fw_text, name)
    tables = {t.signature for t in fw.acpi_tables}
    assert ("SRAT" in tables) == (not name.startswith("p09"))
    assert fw.srat is None and fw.hypervisor  # BOCHS OEM ID
    assert fw.qemu_machine is None  # a firmware-lines file has no DMI line
    assert fw.initrd == ((0x7FED4000, 0x7FFD0000) if name.startswith("p08")
                         else (0xBFEE4000, 0xBFFE0000))
    serial = _serial(name)
    if serial is None:
        return
    full = machine_from_boot_log(serial, name)
    assert (full.e820, full.acpi_tables, full.initrd, full.cmdline) == (
        fw.e820, fw.acpi_tables, fw.initrd, fw.cmdline)
    scenario = json.loads((CORPUS / name / "scenario.json").read_text())
    assert full.qemu_machine == scenario["machine"] and full.hypervisor
    # /proc/cmdline as the initramfs printed it
    proc = serial.split("=====CMDLINE=====", 1)[1].split("=====", 1)[0].strip()
    assert full.cmdline.raw == proc


def test_other_acpi_lines_ignored() -> None:
    text = "\n".join([
        "[    0.010153] ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x0009ffff]",
        "[    0.010153] ACPI: Reserving SRAT table memory at [mem 0xbffe1b33-0xbffe1bfa]",
        "[    0.010153] ACPI: PM-Timer IO Port: 0x608",
        "[    0.010153] ACPI: LAPIC_NMI (acpi_id[0xff] dfl dfl lint[0x1])",
        "[    0.010153] ACPI: HPET id: 0x8086a201 base: 0xfed00000",
        "[    0.010153] ACPI: Core revision 20220331",
        "[    0.010153] pnp: PnP ACPI: found 6 devices",
        "[    0.010153] ACPI: SSDT 0x00000000BFFE1B33 0000C8 "
        "(v03 ORACLE HOTPLUG  00000001 ORCL 00000001)",
    ])
    assert parse_acpi_table_lines(text, "t") == (
        AcpiTable("SSDT", 0xBFFE1B33, 0xC8, 3, "ORACLE", "HOTPLUG "),)


@pytest.mark.parametrize("line", [
    "ACPI: SRAT 0x00000000BFFE1B33 0000C8 (v03 junk)",
    "ACPI: SRAT 0x00000000BFFE1B33 0000C8 trailing",
    "ACPI: APIC 0x00000000BFFE1A53 000080 (v01 BOCHS )",  # the RSDP form is for RSDP only
])
def test_malformed_acpi_line(line: str) -> None:
    with pytest.raises(InputError) as err:
        parse_acpi_table_lines("x\n" + line, "log")
    assert err.value.field == "line 2" and err.value.value == line
    assert line in str(err.value)


def test_ramdisk() -> None:
    assert parse_ramdisk("[    0.004] RAMDISK: [mem 0xbfee4000-0xbffdffff]\n", "t") == (
        0xBFEE4000, 0xBFFE0000)
    assert parse_ramdisk("Allocated new RAMDISK: [mem 0x1000-0x1fff]\nRAMDISK: gzip image\n",
                         "t") is None
    with pytest.raises(InputError, match="end below start"):
        parse_ramdisk("RAMDISK: [mem 0xbfee4000-0x1000]", "t")
    with pytest.raises(InputError) as err:
        parse_ramdisk("a\nRAMDISK: [mem 0xbfee4000-]", "t")
    assert err.value.field == "line 2"


def test_command_line() -> None:
    assert parse_command_line("[    0.000000] Command line: a b=c  \r\n", "t") == "a b=c"
    assert parse_command_line("Command line:\n", "t") == ""
    assert parse_command_line("Kernel command line: a\n", "t") is None


def test_dmesg_section_only() -> None:
    fw = (FIXTURES / "firmware" / "p01_movable_node_hotplug_node1.fw.log").read_text()
    text = ("BIOS-e820: [mem 0x0000000000000000-0x0000000000000fff] reserved\n"
            "=====CMDLINE=====\nfoo\n=====DMESG=====\n" + fw + "=====ZONEINFO=====\n"
            "Command line: ignored\n")
    assert dmesg_section(text) == fw
    m = machine_from_boot_log(text, "t")
    assert m.e820[0].type == "usable" and m.cmdline.movable_node
    assert dmesg_section("=====DMESG=====\nabc\n") == "abc\n"


def test_override_and_heuristics() -> None:
    e820 = "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
    bare = machine_from_boot_log(e820 + "Command line: movable_node\n", "t")
    assert bare == Machine(e820=bare.e820, cmdline=bare.cmdline, hypervisor=False)
    assert bare.cmdline.movable_node
    m = machine_from_boot_log(e820 + "Command line: movable_node\n", "t", "kernelcore=1G")
    assert not m.cmdline.movable_node and m.cmdline.kernelcore is not None
    assert machine_from_boot_log(e820 + "[ 0.0] Hypervisor detected: KVM\n", "t").hypervisor
    q35 = machine_from_boot_log(e820 + "DMI: QEMU Standard PC (Q35 + ICH9, 2009), BIOS\n", "t")
    assert q35.qemu_machine == "q35" and q35.hypervisor
    pc = machine_from_boot_log(e820 + "DMI: QEMU Standard PC (i440FX + PIIX, 1996)\n", "t")
    assert pc.qemu_machine == "pc"


def test_no_e820_is_an_error() -> None:
    with pytest.raises(InputError) as err:
        machine_from_boot_log("Command line: x\n", "boot.log")
    assert err.value.source == "boot.log" and "BIOS-e820" in str(err.value)


_P01 = (FIXTURES / "firmware" / "p01_movable_node_hotplug_node1.fw.log").read_text()


@given(st.integers(0, len(_P01) - 1), st.integers(0, 5),
       st.text(alphabet="0123456789abcdefxX[]()- \n:gv", max_size=5))
def test_mutated_logs_give_machine_or_input_error(pos: int, cut: int, insert: str) -> None:
    try:
        m = machine_from_boot_log(_P01[:pos] + insert + _P01[pos + cut :], "fuzz")
    except InputError as err:
        assert err.source == "fuzz"
    else:
        assert m.e820


# --- a guest dmesg whose head the printk ring buffer overwrote -----------------------------

_CONSOLE = ("\x1b[2JEFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path\n"
            "[    0.000000] Linux version 7.2.13+deb14-amd64 (gcc) #1 SMP Debian 7.2.13-1\r\n"
            "[    0.000000] Command line: console=ttyS0\r\n"
            "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff]  System RAM\n"
            "[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000007fffff]  System RAM\n"
            "[    2.600000] Run /init as init process\n")


@pytest.mark.parametrize(("dmesg", "head"), [
    # dmesg kept from the second e820 line on: the three lines before it come from the console
    ("[    0.000000] BIOS-e820: [mem 0x0000000000100000-0x00000000007fffff]  System RAM\n"
     "[    2.600000] Run /init as init process\n",
     ["[    0.000000] Linux version 7.2.13+deb14-amd64 (gcc) #1 SMP Debian 7.2.13-1",
      "[    0.000000] Command line: console=ttyS0",
      "[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009ffff]  System RAM"]),
    # a whole dmesg whose first record is a late one (7.x prints some out of order): as it is
    ("[    2.490011] tsc: Refined TSC clocksource calibration: 2596.119 MHz\n"
     "[    0.000000] Linux version 7.2.13+deb14-amd64 (gcc) #1 SMP Debian 7.2.13-1\n", []),
    # its first line is nowhere on the console: nothing to splice
    ("[    1.000000] not on the console\n", []),
])
def test_dmesg_lost_head(dmesg: str, head: list[str]) -> None:
    log = (_CONSOLE + "=====CMDLINE=====\nconsole=ttyS0\n=====DMESG=====\n" + dmesg
           + "=====END=====\n")
    assert bootlog.split_serial_log(log) == (_CONSOLE, dmesg)
    assert bootlog.dmesg_lost_head(_CONSOLE, dmesg) == head
    assert bootlog.dmesg_section(log) == "".join(line + "\n" for line in head) + dmesg
