# SPDX-License-Identifier: GPL-2.0-or-later
"""Firmware input recovered from a kernel log: a dmesg, a corpus serial.log, or the output
of shared/tools/firmware_lines.py.

The lines read are the ones the kernel prints before it decides anything itself:
``Linux version`` (``start_kernel``: which kernel, so which profile), ``Command line:``
(``setup_arch``), ``BIOS-e820:`` (``e820__print_table``), ``RAMDISK:``
(``reserve_initrd``) and the ACPI table list (ACPICA ``acpi_tb_print_table_header``).
"""

from __future__ import annotations

import re

from memhp.errors import InputError
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.e820 import parse_e820_lines
from memhp.firmware.efi import efi_mem_reserved, parse_efi_memattr, parse_efi_memmap
from memhp.firmware.types import AcpiTable, Machine
from memhp.platform import ovmf

_PREFIX = r"^\s*(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s*)?"
_MARKER = re.compile(r"^=====([A-Z_]+)=====[ \t\r]*(?:\n|\Z)", re.MULTILINE)
# "ACPI: SIG 0x<address> <length>" starts every table line; the rest depends on the table.
_ACPI_LINE = re.compile(_PREFIX + r"ACPI: (\S{4}) 0x([0-9A-Fa-f]{1,16}) ([0-9A-Fa-f]{1,8})(.*)$")
# "(v03 ORACLE HOTPLUG  00000001 ORCL 00000001)": the IDs are fixed-width, space padded
_ACPI_FULL = re.compile(
    r" \(v([0-9]+) (.{6}) (.{8}) ([0-9A-Fa-f]{8}) (.{4}) ([0-9A-Fa-f]{8})\)")
_ACPI_RSDP = re.compile(r" \(v([0-9]+) (.{6})\)")  # RSDP has just revision and OEM ID
_RAMDISK_TAG = re.compile(_PREFIX + r"RAMDISK: \[mem")
_RAMDISK = re.compile(_PREFIX + r"RAMDISK: \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]\s*$")
_COMMAND_LINE = re.compile(_PREFIX + r"Command line:(?: (.*))?$")
# Searched in the whole text: blanks here must not span lines ("^\s*" under MULTILINE is
# quadratic in the number of blank lines).
_LINE_PREFIX = r"^[^\S\n]*(?:<\d+>)?(?:\[[^\S\n]*\d+\.\d+\][^\S\n]*)?"
_LINUX_VERSION = re.compile(_LINE_PREFIX + r"Linux version (\S+)(.*)$", re.MULTILINE)
# "... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)": the last "Debian" after "#"
_DEBIAN_VERSION = re.compile(r"#\S+ .*\bDebian (\d\S*)")
_DMI = re.compile(_LINE_PREFIX + r"DMI: QEMU .*\((Q35|i440FX)\b", re.MULTILINE)
_HYPERVISOR = re.compile(_LINE_PREFIX + r"(?:Hypervisor detected|DMI: QEMU)", re.MULTILINE)


def dmesg_section(text: str) -> str:
    """The ``=====DMESG=====`` section of a corpus serial log, or all of ``text`` if it has
    none (the console copy before the sections is the same log interleaved with other
    output)."""
    markers = list(_MARKER.finditer(text))
    for i, marker in enumerate(markers):
        if marker.group(1) == "DMESG":
            end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
            return text[marker.end() : end]
    return text


def _fix_id(text: str) -> str:
    """An OEM ID as printed: ACPICA's ``acpi_tb_fix_string`` prints a non-printable byte as
    ``?``, so a character beyond latin-1 (a mangled log) is read as one too."""
    return "".join(c if c <= "\xff" else "?" for c in text)


def parse_acpi_table_lines(text: str, source: str) -> tuple[AcpiTable, ...]:
    """The ACPI table list: ``ACPI: SRAT 0x00000000BFFE1B33 0000C8 (v03 ORACLE HOTPLUG
    00000001 ORCL 00000001)``, RSDP's ``(v00 BOCHS )`` and FACS's bare address and length.

    OEM ID and OEM table ID are kept as printed, padding included (``"BOCHS "``).  Other
    ``ACPI:`` messages do not match (their fifth character is no blank or the address is
    missing).  A table printed twice (two copies of one log) is kept once.
    """
    tables: dict[AcpiTable, None] = {}  # ordered, and no quadratic search for repeats
    for lineno, line in enumerate(text.splitlines(), 1):
        match = _ACPI_LINE.match(line.rstrip())
        if not match:
            continue
        signature, address, length, rest = match.groups()
        table = AcpiTable(signature, int(address, 16), int(length, 16))
        if rest:
            full = _ACPI_FULL.fullmatch(rest)
            header = full or (_ACPI_RSDP.fullmatch(rest) if signature == "RSDP" else None)
            if header is None:
                raise InputError(source, f"line {lineno}", line.strip(),
                                 "malformed ACPI table line, want '(vNN OEMID TABLEID ...)'")
            digits = header.group(1).lstrip("0") or "0"
            if len(digits) > 3 or int(digits) > 255:
                # the header's revision is one byte (the kernel prints it with %.2d)
                raise InputError(source, f"line {lineno}", line.strip(),
                                 "ACPI table revision does not fit in a byte")
            table = AcpiTable(signature, table.address, table.length, int(digits),
                              _fix_id(header.group(2)), _fix_id(full.group(3)) if full else "")
        tables.setdefault(table)
    return tuple(tables)


def parse_ramdisk(text: str, source: str) -> tuple[int, int] | None:
    """The initrd as ``reserve_initrd`` reports it: ``RAMDISK: [mem 0xbfee4000-0xbffdffff]``
    gives ``(0xbfee4000, 0xbffe0000)`` (the kernel prints the page-aligned end minus one).
    None when the log has no such line; the first one counts."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not _RAMDISK_TAG.match(line):
            continue
        match = _RAMDISK.match(line)
        if not match:
            raise InputError(source, f"line {lineno}", line.strip(),
                             "malformed RAMDISK line, want 'RAMDISK: [mem 0xSTART-0xLAST]'")
        start, last = int(match.group(1), 16), int(match.group(2), 16)
        if last < start:
            raise InputError(source, f"line {lineno}", line.strip(), "end below start")
        return start, last + 1
    return None


def parse_command_line(text: str, source: str) -> str | None:
    """The boot command line from the first ``Command line: ...`` line (printed by
    ``setup_arch``), without the trailing blanks of the log line, or None."""
    del source  # every line is acceptable; kept for a uniform signature
    for line in text.splitlines():
        match = _COMMAND_LINE.match(line)
        if match:
            return (match.group(1) or "").rstrip()
    return None


def parse_linux_version(text: str) -> tuple[str | None, str | None]:
    """The release and the Debian package version from the first ``Linux version`` line
    (``Linux version 6.12.117+deb13-amd64 (...) #1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1
    (...)``), each None when not there."""
    m = _LINUX_VERSION.search(text)
    if not m:
        return None, None
    d = _DEBIAN_VERSION.search(m.group(2))
    return m.group(1), d.group(1) if d else None


def guess_qemu_machine(text: str) -> str | None:
    """"q35" or "pc" from ``DMI: QEMU Standard PC (Q35 + ICH9, 2009)`` / ``(i440FX + PIIX``."""
    match = _DMI.search(text)
    if not match:
        return None
    return "q35" if match.group(1) == "Q35" else "pc"


def guess_hypervisor(text: str, tables: tuple[AcpiTable, ...]) -> bool:
    """Whether the kernel ran under a hypervisor (X86_FEATURE_HYPERVISOR), which decides the
    x86_64 memory block size (``probe_memory_block_size``).

    Heuristic: True if the log says ``Hypervisor detected`` or ``DMI: QEMU``, or if an ACPI
    table has the OEM ID ``BOCHS`` that QEMU/SeaBIOS tables carry (so a firmware-lines file
    of a QEMU guest counts); else False.  QEMU sets the CPUID hypervisor bit under KVM and
    TCG alike.  A bare-metal log with none of these is taken as bare metal.
    """
    return bool(_HYPERVISOR.search(text)) or any(t.oem_id.rstrip() == "BOCHS" for t in tables)


# e820__reserve_setup_data() turns each setup_data blob into E820_TYPE_RESERVED_KERN, which
# e820_print_type() prints as "usable": the only "usable ==> usable" update 6.1 makes.
_SETUP_DATA = re.compile(
    _PREFIX + r"e820: update \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\] usable ==> usable")


def parse_setup_data(text: str) -> tuple[tuple[int, int], ...]:
    """The setup_data blobs ``[start, end)`` from ``e820: update [mem ...] usable ==> usable``
    (printed twice each, for the kernel's table and kexec's), in address order."""
    blobs = {(int(m.group(1), 16), int(m.group(2), 16) + 1)
             for m in map(_SETUP_DATA.match, text.splitlines()) if m}
    return tuple(sorted(b for b in blobs if b[0] < b[1]))


def machine_from_boot_log(
    text: str, source: str, cmdline_override: str | None = None
) -> Machine:
    """A :class:`Machine` (without SRAT) from a kernel log; only the ``=====DMESG=====``
    section of a corpus serial log is read.  ``cmdline_override`` replaces the logged
    command line.  A log without ``BIOS-e820:`` lines is an :class:`InputError`."""
    log = dmesg_section(text)
    e820 = parse_e820_lines(log, source)
    if not e820:
        raise InputError(source, "BIOS-e820", None, "no 'BIOS-e820:' lines in the log")
    tables = parse_acpi_table_lines(log, source)
    raw = cmdline_override if cmdline_override is not None else parse_command_line(log, source)
    memmap = parse_efi_memmap(log, source)
    return ovmf.complete_handover(Machine(
        e820=e820,
        cmdline=parse_cmdline(raw or ""),
        acpi_tables=tables,
        initrd=parse_ramdisk(log, source),
        qemu_machine=guess_qemu_machine(log),
        hypervisor=guess_hypervisor(log, tables),
        kernel=parse_linux_version(log)[0],
        efi_memmap=memmap,
        efi_boot=bool(memmap),
        setup_data=parse_setup_data(log),
        efi_memattr=parse_efi_memattr(log),
        efi_mem_reserve=efi_mem_reserved(log, source),
    ))
