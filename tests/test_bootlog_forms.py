# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot logs in the forms people paste them, and the SRAT read from the kernel's lines.

Each case is one small log; the expected machine is said in words next to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from memhp.errors import InputError
from memhp.firmware.bootlog import machine_from_boot_log, srat_from_log
from memhp.firmware.e820 import parse_e820_lines
from memhp.firmware.efi import parse_efi_memmap
from memhp.firmware.logline import kernel_messages
from memhp.firmware.machine_file import dump_machine, load_machine
from memhp.firmware.types import (
    SRAT_MEM_ENABLED,
    SRAT_MEM_HOT_PLUGGABLE,
    SRAT_MEM_NON_VOLATILE,
    AcpiTable,
    E820Entry,
    EfiMemoryDescriptor,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
)

# A two-node machine as a 6.1 kernel prints it: node 1 (4G-8G) hot-pluggable.
MESSAGES = [
    "Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP",
    "Command line: BOOT_IMAGE=/vmlinuz root=/dev/sda1 movable_node",
    "BIOS-provided physical RAM map:",
    "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable",
    "BIOS-e820: [mem 0x0000000000100000-0x00000000bffdffff] usable",
    "BIOS-e820: [mem 0x0000000100000000-0x00000001ffffffff] usable",
    "ACPI: SRAT 0x00000000BFFE1B33 0000C8 (v03 ORACLE HOTPLUG  00000001 ORCL 00000001)",
    "SRAT: PXM 0 -> APIC 0x00 -> Node 0",
    "SRAT: PXM 1 -> APIC 0x01 -> Node 1",
    "ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0xbfffffff]",
    "ACPI: SRAT: Node 1 PXM 1 [mem 0x100000000-0x1ffffffff] hotplug",
    "Zone ranges:",
    "  DMA      [mem 0x0000000000001000-0x0000000000ffffff]",
]
E820 = (E820Entry(0, 0x9FC00, "usable"), E820Entry(0x100000, 0xBFFE0000, "usable"),
        E820Entry(0x100000000, 0x200000000, "usable"))
SRAT_ENTRIES = (SratCpu(0, 0), SratCpu(1, 1), SratMemory(0, 0, 0xC0000000),
                SratMemory(1, 0x100000000, 0x100000000,
                           SRAT_MEM_ENABLED | SRAT_MEM_HOT_PLUGGABLE))

# what each tool puts before a message
FORMS = {
    "bare": "",
    "dmesg": "[    0.000000] ",
    "dmesg -r": "<6>[    0.000000] ",
    "dmesg -T": "[Sun Nov 29 12:00:00 2026] ",
    "dmesg -x": "kern  :info  : [    0.000000] ",
    "caller id": "[    0.000000][    T0] ",
    "dmesg iso": "2026-11-29T12:00:00,123456+00:00 ",
    "journalctl short": "Nov 29 12:00:00 host kernel: ",
    "journalctl short-iso": "2026-11-29T12:00:00+0000 host kernel: ",
    "journalctl short-precise": "Nov 29 12:00:00.123456 host kernel: ",
    "journalctl short-monotonic": "[    0.000000] host kernel: ",
    "syslog kern.log": "Nov  9 12:00:00 host kernel: [    0.000000] ",
    "rsyslog iso": "2026-11-29T12:00:00.123456+00:00 host kernel: [    0.000000] ",
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_every_pasted_form_reads_the_same(form: str, eol: str) -> None:
    text = eol.join(FORMS[form] + m for m in MESSAGES) + eol
    m = machine_from_boot_log(text, "dmesg.txt")
    assert m.e820 == E820
    assert m.cmdline.movable_node
    assert [t.signature for t in m.acpi_tables] == ["SRAT"]
    assert m.srat is not None and m.srat.entries == SRAT_ENTRIES
    assert m.srat.revision == 3 and m.srat.oem_id == "ORACLE"
    assert kernel_messages(text).text.splitlines()[-1] == MESSAGES[-1]  # indentation kept


def test_syslog_keeps_only_kernel_lines() -> None:
    """A user-space line that looks like an e820 line is not the kernel's."""
    text = "\n".join(FORMS["journalctl short"] + m for m in MESSAGES)
    text += "\nNov 29 12:00:01 host logger[77]: BIOS-e820: [mem 0x0-0xfff] reserved\n"
    assert machine_from_boot_log(text, "messages").e820 == E820


def test_several_boots_read_the_last_with_a_map() -> None:
    """Two boots in one file: the second one (4G more RAM) is read, and the note says so;
    a third boot cut before its memory map does not count."""
    second = [m.replace("0x00000001ffffffff", "0x00000002ffffffff") for m in MESSAGES]
    text = "\n".join(MESSAGES + second + MESSAGES[:2]) + "\n"
    m = machine_from_boot_log(text, "kern.log")
    assert m.e820[-1] == E820Entry(0x100000000, 0x300000000, "usable")
    assert any("3 boots" in n and f"line {len(MESSAGES) + 1}" in n for n in m.notes)


def test_log_that_starts_late_says_why() -> None:
    with pytest.raises(InputError) as err:
        machine_from_boot_log("[   12.5] usb 1-1: new device\n", "dmesg.txt")
    assert "starts after" in str(err.value) and "journalctl -k -b" in str(err.value)


def test_e820_forms() -> None:
    """The pre-3.x form (exclusive end), a Xen PV map, and the lines that are not the
    firmware map (memmap= user map, e820 updates) are ignored."""
    old = (" BIOS-e820: 0000000000000000 - 000000000009c400 (usable)\n"
           " BIOS-e820: 00000000000e0000 - 0000000000100000 (reserved)\n"
           " BIOS-e820: 0000000000100000 - 00000000bf7a0000 (usable)\n"
           " BIOS-e820: 00000000bf7a0000 - 00000000bf7bc000 (ACPI data)\n")
    assert parse_e820_lines(old, "t") == (
        E820Entry(0, 0x9C400, "usable"), E820Entry(0xE0000, 0x100000, "reserved"),
        E820Entry(0x100000, 0xBF7A0000, "usable"), E820Entry(0xBF7A0000, 0xBF7BC000,
                                                              "ACPI data"))
    noise = ("user-defined physical RAM map:\n"
             "user: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
             "e820: update [mem 0x00000000-0x00000fff] usable ==> reserved\n"
             "e820: remove [mem 0x000a0000-0x000fffff] usable\n"
             "reserve setup_data: [mem 0x0000000000000000-0x000000000009fbff] usable\n")
    assert machine_from_boot_log(noise + "\n".join(MESSAGES), "t").e820 == E820
    xen = ("Linux version 4.19.0-6-amd64\n"
           "Xen: [mem 0x0000000000000000-0x000000000009ffff] usable\n"
           "Xen: [mem 0x0000000000100000-0x000000003fffffff] usable\n")
    m = machine_from_boot_log(xen, "dom0.log")
    assert m.e820 == (E820Entry(0, 0xA0000, "usable"), E820Entry(0x100000, 0x40000000, "usable"))
    assert any("Xen PV" in n for n in m.notes)


def test_acpi_table_line_forms() -> None:
    """3.x's address without 0x, an OEM id with a byte beyond ASCII (an HP ProLiant; a
    Supermicro's, as util-linux dmesg escapes it), and
    an SSDT that AML loaded at run time (a kernel virtual address, no firmware table)."""
    text = "\n".join([
        "ACPI: RSDP 00000000000f0450 00024 (v02 DELL  )",
        "ACPI: XSDT 00000000bf7a0080 0008C (v01 DELL   PE_SC3   00000001 DELL 00000001)",
        "ACPI: SSDT 0x00000000BDDA0000 0009A6 (v02 HP     Pcc \u00d2   00000001 INTL 20090730)",
        # util-linux dmesg escapes the bytes 0xFF 0xCA of a Supermicro WSMT's OEM id
        "ACPI: WSMT 0x00000000C9E48C58 000028 (v01 \\xff\\xca              03242016 AMI  00010013)",
        "ACPI: Dynamic OEM Table Load:",
        "ACPI: SSDT 0xFFFF9A4E41A3C000 000394 (v02 PmRef  Cpu0Ist  00003000 INTL 20160527)",
    ])
    m = machine_from_boot_log("BIOS-e820: [mem 0x0-0xfff] usable\n" + text, "t")
    assert m.acpi_tables == (
        AcpiTable("RSDP", 0xF0450, 0x24, 2, "DELL  "),
        AcpiTable("XSDT", 0xBF7A0080, 0x8C, 1, "DELL  ", "PE_SC3  "),
        AcpiTable("SSDT", 0xBDDA0000, 0x9A6, 2, "HP    ", ""),
        AcpiTable("WSMT", 0xC9E48C58, 0x28, 1, "\xff\xca    ", "        "),
    )


def _srat(*lines: str) -> tuple[Srat | None, tuple[str, ...]]:
    return srat_from_log("\n".join(lines) + "\nZone ranges:\n", "t", ())


def test_srat_lines_of_older_kernels() -> None:
    """Before 4.19 the memory line had no "ACPI: " prefix; non-volatile is kept."""
    srat, notes = _srat("SRAT: Node 0 PXM 0 [mem 0x00000000-0x7fffffff]",
                        "SRAT: Node 1 PXM 1 [mem 0x80000000-0xffffffff] non-volatile")
    assert srat is not None
    assert srat.entries == (SratMemory(0, 0, 0x80000000),
                            SratMemory(1, 0x80000000, 0x80000000,
                                       SRAT_MEM_ENABLED | SRAT_MEM_NON_VOLATILE))
    assert any("no processor affinity lines" in n for n in notes)
    assert any("disabled ones" in n for n in notes)


def test_srat_node_numbers_kept_without_cpu_lines() -> None:
    """A 6.12 log (no CPU lines) where node 1 has CPUs only: memory lines name nodes 0 and
    2, so an assumed CPU entry per node keeps the kernel's numbering."""
    srat, notes = _srat("ACPI: SRAT: Node 2 PXM 7 [mem 0x80000000-0xffffffff]",
                        "ACPI: SRAT: Node 0 PXM 3 [mem 0x00000000-0x7fffffff]")
    assert srat is not None
    cpus = [e for e in srat.entries if isinstance(e, SratCpu)]
    assert [c.pxm for c in cpus] == [3, 0, 7]  # PXM 0 is free: taken for CPU-only node 1
    assert any("node(s) 1" in n for n in notes)
    # the assumed entries are x2APIC ones (their ids do not fit an xAPIC entry's one byte),
    # so a machine file written from them loads again (a bench/fuzz.py find)
    assert all(c.x2apic and c.apic_id > 0xFF for c in cpus)


def test_assumed_cpu_entries_survive_a_machine_file(tmp_path: Path) -> None:
    srat, _ = _srat("ACPI: SRAT: Node 2 PXM 7 [mem 0x80000000-0xffffffff]",
                    "ACPI: SRAT: Node 0 PXM 3 [mem 0x00000000-0x7fffffff]")
    machine = Machine(e820=(E820Entry(0, 0x100000000, "usable"),), srat=srat)
    path = tmp_path / "m.toml"
    path.write_text(dump_machine(machine))
    assert load_machine(str(path)).srat == srat


def test_srat_conflict_and_cut_log() -> None:
    with pytest.raises(InputError, match="was node 0"):
        _srat("ACPI: SRAT: Node 0 PXM 0 [mem 0x00000000-0x7fffffff]",
              "ACPI: SRAT: Node 1 PXM 0 [mem 0x80000000-0xffffffff]")
    table = (AcpiTable("SRAT", 0x1000, 0xC8, 3, "X", "Y"),)
    srat, notes = srat_from_log("BIOS-e820: [mem 0x0-0xfff] usable\n", "t", table)
    assert srat is None and "ends before" in notes[0]
    srat, notes = srat_from_log("Zone ranges:\n", "t", table)
    assert srat is None and "printed no SRAT entries" in notes[0]


def test_efi_memmap_3x_form() -> None:
    """3.x kernels printed efi=debug lines as type/attr numbers with an exclusive end."""
    text = ("efi: mem00: type=3, attr=0xf, range=[0x0000000000000000-0x0000000000001000) (0MB)\n"
            "efi: mem01: type=7, attr=0xf, range=[0x0000000000001000-0x00000000000a0000) (0MB)\n")
    assert parse_efi_memmap(text, "t") == (EfiMemoryDescriptor(3, 0, 0x1000, 0xF),
                                            EfiMemoryDescriptor(7, 0x1000, 0xA0000, 0xF))


def test_cut_log_says_what_is_missing() -> None:
    """A paste that stops right after the memory map: no ACPI table list, no command line
    before it; both are said, and the SRAT is not guessed."""
    m = machine_from_boot_log("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n",
                              "cut.log")
    assert m.srat is None
    assert any("log ends before the kernel listed them" in n for n in m.notes)
    assert any("no 'Command line:' line" in n for n in m.notes)
    full = machine_from_boot_log("\n".join(MESSAGES) + "\n", "full.log")
    assert not any("ACPI table lines" in n or "Command line" in n for n in full.notes)
