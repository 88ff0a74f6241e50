# SPDX-License-Identifier: GPL-2.0-or-later
"""Firmware input recovered from a kernel log: a dmesg, a corpus serial.log, or the output
of shared/tools/firmware_lines.py.

The lines read are the ones the kernel prints before it decides anything itself:
``Linux version`` (``start_kernel``: which kernel, so which profile), ``Command line:``
(``setup_arch``), ``BIOS-e820:`` (``e820__print_table``), ``RAMDISK:``
(``reserve_initrd``) and the ACPI table list (ACPICA ``acpi_tb_print_table_header``).
Without a binary SRAT, the SRAT's affinity entries come from the lines the kernel prints
while parsing it (``ACPI: SRAT: Node N PXM P [mem ...]``, ``SRAT: PXM P -> APIC ...``).

Logs come as people paste them (``memhp.firmware.logline.kernel_messages`` reduces every
form to the kernel's own lines first).
"""

from __future__ import annotations

import dataclasses
import re

from memhp.errors import InputError
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.e820 import parse_e820_lines
from memhp.firmware.efi import efi_mem_reserved, efi_memmaps, parse_efi_memattr
from memhp.firmware.logline import LINE_PREFIX, kernel_messages
from memhp.firmware.types import (
    SRAT_MEM_ENABLED,
    SRAT_MEM_HOT_PLUGGABLE,
    SRAT_MEM_NON_VOLATILE,
    AcpiTable,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
)
from memhp.platform import ovmf

__all__ = ["dmesg_lost_head", "dmesg_section", "firmware_memory_map", "guess_hypervisor",
           "guess_qemu_machine", "machine_from_boot_log", "parse_acpi_table_lines",
           "parse_command_line", "parse_linux_version", "parse_ramdisk", "parse_setup_data",
           "possible_cpus_from_log", "split_serial_log", "srat_from_log"]

_MARKER = re.compile(r"^=====([A-Z_]+)=====[ \t\r]*(?:\n|\Z)", re.MULTILINE)
# "ACPI: SIG 0x<address> <length>" starts every table line; the rest depends on the table.
# 3.x kernels (ACPICA before 2014) printed the address without "0x": "ACPI: XSDT
# 00000000bf7a0080 0008C (v01 DELL   PE_SC3   00000001 DELL 00000001)".
_ACPI_LINE = re.compile(LINE_PREFIX + r"ACPI: (\S{4}) (?:0x([0-9A-Fa-f]{1,16})|([0-9A-Fa-f]{16})) "
                        r"([0-9A-Fa-f]{1,8})(.*)$")
# a header with bytes beyond ASCII (a real HP OEM id): the IDs' widths are lost in decoding
_ACPI_LOOSE = re.compile(r" \(v([0-9]+) (.*)\)")
_KERNEL_VIRTUAL = 0xFFFF800000000000  # SSDTs loaded at run time are printed at such addresses
# "(v03 ORACLE HOTPLUG  00000001 ORCL 00000001)": the IDs are fixed-width, space padded
_ACPI_FULL = re.compile(
    r" \(v([0-9]+) (.{6}) (.{8}) ([0-9A-Fa-f]{8}) (.{4}) ([0-9A-Fa-f]{8})\)")
_ACPI_RSDP = re.compile(r" \(v([0-9]+) (.{6})\)")  # RSDP has just revision and OEM ID
_RAMDISK_TAG = re.compile(LINE_PREFIX + r"RAMDISK: \[mem")
_RAMDISK = re.compile(
    LINE_PREFIX + r"RAMDISK: \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]\s*$")
_COMMAND_LINE = re.compile(LINE_PREFIX + r"Command line:(?: (.*))?$")
# Searched in the whole text: blanks here must not span lines ("^\s*" under MULTILINE is
# quadratic in the number of blank lines).
_LINUX_VERSION = re.compile(LINE_PREFIX + r"Linux version (\S+)(.*)$", re.MULTILINE)
# "... #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)": the last "Debian" after "#"
# the same line on a console, where it may follow the boot loader's output on one line
_CONSOLE_VERSION = re.compile(r"(?:\[ *\d+\.\d+\] *)?Linux version \S")
_DEBIAN_VERSION = re.compile(r"#\S+ .*\bDebian (\d\S*)")
_DMI = re.compile(LINE_PREFIX + r"DMI: QEMU .*\((Q35|i440FX)\b", re.MULTILINE)
_HYPERVISOR = re.compile(LINE_PREFIX + r"(?:Hypervisor detected|DMI: QEMU)", re.MULTILINE)


def dmesg_section(text: str) -> str:
    """The ``=====DMESG=====`` section of a corpus serial log, or all of ``text`` if it has
    none (the console copy before the sections is the same log interleaved with other
    output).  A section that lost its head to the ring buffer gets it back from the console
    (:func:`dmesg_lost_head`)."""
    console, body = split_serial_log(text)
    if body is None:
        return text
    return "".join(line + "\n" for line in dmesg_lost_head(console, body)) + body


def split_serial_log(text: str) -> tuple[str, str | None]:
    """A serial log's console output before its first ``=====NAME=====`` marker, and its
    DMESG section (None when it has none)."""
    markers = list(_MARKER.finditer(text))
    for i, marker in enumerate(markers):
        if marker.group(1) == "DMESG":
            end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
            return text[: markers[0].start()], text[marker.end() : end]
    return text, None


def dmesg_lost_head(console: str, dmesg: str) -> list[str]:
    """The lines a guest's ``dmesg`` no longer had because the printk ring buffer (128 KiB
    of text in Debian's builds, ``CONFIG_LOG_BUF_SHIFT=17``) wrapped before it ran, taken
    from the serial console, which printed them as they came: from the console's ``Linux
    version`` line up to the dmesg's first line.  Empty when the dmesg has its ``Linux
    version`` line, or when the console does not hold both ends (nothing to splice)."""
    if _LINUX_VERSION.search(dmesg):
        return []
    first = next((line.rstrip("\r") for line in dmesg.splitlines() if line.strip()), None)
    lines = [line.rstrip("\r") for line in console.splitlines()]
    found = next(((i, m) for i, line in enumerate(lines)
                  if (m := _CONSOLE_VERSION.search(line))), None)
    if first is None or found is None or first not in lines[found[0]:]:
        return []
    start, version = found
    lines[start] = lines[start][version.start():]  # the console's own output before it
    return lines[start : lines.index(first, start)]


# util-linux dmesg writes a byte it cannot print (not valid UTF-8, e.g. an OEM id's 0xFF, which
# the kernel's latin-1 isprint() let through acpi_tb_fix_string()) as the four characters \xNN
_DMESG_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _unescape_dmesg(text: str) -> str:
    """A table header as the kernel printed it: dmesg's ``\\xNN`` escapes back to one byte
    each (read as latin-1), so the fixed-width ID fields line up again."""
    return _DMESG_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


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
        signature, address, address_3x, length, rest = match.groups()
        rest = _unescape_dmesg(rest)
        table = AcpiTable(signature, int(address or address_3x, 16), int(length, 16))
        if table.address >= _KERNEL_VIRTUAL:
            continue  # "ACPI: Dynamic OEM Table Load:": AML loaded it, not firmware's list
        if rest:
            full = _ACPI_FULL.fullmatch(rest)
            header = full or (_ACPI_RSDP.fullmatch(rest) if signature == "RSDP" else None)
            if header is None and not rest.isascii():
                header = _ACPI_LOOSE.fullmatch(rest)
            if header is None:
                raise InputError(source, f"line {lineno}", line.strip(),
                                 "malformed ACPI table line, want '(vNN OEMID TABLEID ...)'")
            digits = header.group(1).lstrip("0") or "0"
            if len(digits) > 3 or int(digits) > 255:
                # the header's revision is one byte (the kernel prints it with %.2d)
                raise InputError(source, f"line {lineno}", line.strip(),
                                 "ACPI table revision does not fit in a byte")
            oem_id = header.group(2) if header.re is not _ACPI_LOOSE else header.group(2)[:6]
            table = AcpiTable(signature, table.address, table.length, int(digits),
                              _fix_id(oem_id), _fix_id(full.group(3)) if full else "")
        tables.setdefault(table)
    return tuple(tables)


# acpi_parse_memory_affinity() (drivers/acpi/numa/srat.c; before 4.19 the same line came
# from arch/x86/mm/srat.c without the "ACPI: " prefix).  A disabled entry prints nothing.
_SRAT_MEM = re.compile(r"^(?:ACPI: )?SRAT: Node (\d{1,4}) PXM (\d{1,10}) "
                       r"\[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\]"
                       r"( hotplug)?( non-volatile)?$")
# acpi_numa_processor_affinity_init() / acpi_numa_x2apic_affinity_init() (arch/x86/mm/srat.c):
# KERN_INFO up to 6.1, pr_debug in 6.12 and 7.2, so newer logs have no such lines.
_SRAT_CPU = re.compile(r"^SRAT: PXM (\d{1,10}) -> APIC 0x([0-9a-fA-F]{1,8}) -> Node (\d{1,4})"
                       r"(?: skipped apicid that is too big)?$")
_SMPBOOT = re.compile(r"^smpboot: Allowing (\d{1,6}) CPUs, \d{1,6} hotplug CPUs")
# lines printed after NUMA set-up: the log did not end before the SRAT was parsed
_AFTER_NUMA = re.compile(r"^(?:Zone ranges:|No NUMA configuration found|NUMA turned off)")
_SYNTHETIC_APIC = 0x7000  # APIC ids of assumed CPU entries: x2APIC ones (an xAPIC id is
#                           one byte), below MAX_LOCAL_APIC


def srat_from_log(text: str, source: str,
                  tables: tuple[AcpiTable, ...]) -> tuple[Srat | None, tuple[str, ...]]:
    """The SRAT as far as the kernel's parsing lines tell, and what they cannot tell.

    Memory affinity comes from ``ACPI: SRAT: Node N PXM P [mem ...] [hotplug]
    [non-volatile]`` (enabled entries only: the kernel prints nothing for a disabled one),
    processor affinity from ``SRAT: PXM P -> APIC 0xNN -> Node N`` (printed up to 6.1).
    Entries are kept in log order (processors first, as the kernel walks them), so the
    model hands out the same node numbers.  Where the log shows node numbers that
    processor entries missing from the log must have taken (a newer kernel, or a node with
    CPUs only), one assumed processor entry per such node keeps the numbering, and a note
    says so.  None when the log has no SRAT lines."""
    cpus: list[SratCpu] = []
    mems: list[SratMemory] = []
    node_of: dict[int, int] = {}
    after_numa = False
    for lineno, line in enumerate(text.splitlines(), 1):
        m, c = _SRAT_MEM.match(line), _SRAT_CPU.match(line)
        if m or c:
            if m:
                node, pxm = int(m.group(1)), int(m.group(2))
                start, last = int(m.group(3), 16), int(m.group(4), 16)
                if last < start:
                    raise InputError(source, f"line {lineno}", line, "end below start")
                flags = (SRAT_MEM_ENABLED | (SRAT_MEM_HOT_PLUGGABLE if m.group(5) else 0)
                         | (SRAT_MEM_NON_VOLATILE if m.group(6) else 0))
                mem = SratMemory(pxm, start, last - start + 1, flags)
                if mem in mems:
                    continue  # a second copy of the log
                mems.append(mem)
            else:
                assert c is not None
                pxm, apic, node = int(c.group(1)), int(c.group(2), 16), int(c.group(3))
                cpu = SratCpu(pxm, apic, x2apic=len(c.group(2)) > 2 and apic > 0xFF)
                if cpu in cpus:
                    continue
                cpus.append(cpu)
            if node_of.setdefault(pxm, node) != node:
                raise InputError(source, f"line {lineno}", line,
                                 f"PXM {pxm} was node {node_of[pxm]} earlier in the log")
        after_numa = after_numa or bool(_AFTER_NUMA.match(line))
    srat_table = next((t for t in tables if t.signature == "SRAT"), None)
    if not mems and not cpus:
        if srat_table is not None and not after_numa:
            return None, ("the log ends before the kernel parsed the SRAT: the NUMA layout "
                          "is unknown and predicted without an SRAT (give --srat FILE)",)
        if srat_table is not None:
            return None, ("the firmware has an SRAT, but the kernel printed no SRAT entries "
                          "(all disabled, numa=off or a kernel without NUMA): predicted "
                          "without one",)
        return None, ()
    notes = ["SRAT: read from the kernel's 'SRAT: Node N PXM P' lines (no --srat): entries "
             "the kernel did not print (disabled ones, other subtable types) are unknown"]
    # the kernel numbers proximity domains in order of first appearance, processors first
    order = list(dict.fromkeys([c.pxm for c in cpus] + [m.pxm for m in mems]))
    if [node_of[p] for p in order] != list(range(len(order))):
        by_node = {n: p for p, n in node_of.items()}
        free = (p for p in range(1 << 32) if p not in node_of)
        assumed = []
        for n in range(max(by_node) + 1):
            pxm = by_node[n] if n in by_node else next(free)
            assumed.append(SratCpu(pxm, _SYNTHETIC_APIC + n, x2apic=True))
        cpus = assumed + cpus
        missing = sorted(set(range(max(by_node) + 1)) - set(by_node))
        notes.append("SRAT: the log has no processor affinity lines for every node (kernels "
                     "after 6.1 print them only with debug); memhp assumes one processor "
                     "entry per node to keep the kernel's node numbers"
                     + (f"; node(s) {', '.join(map(str, missing))} have no line at all and "
                        "are taken as nodes with CPUs only" if missing else ""))
    elif not cpus:
        notes.append("SRAT: no processor affinity lines (kernels after 6.1 print them only "
                     "with debug): nodes with CPUs but no memory are not in the log")
    srat = Srat(tuple(cpus) + tuple(mems))
    if srat_table is not None:
        srat = dataclasses.replace(
            srat, revision=srat_table.revision if srat_table.revision is not None else 3,
            oem_id=srat_table.oem_id or srat.oem_id,
            oem_table_id=srat_table.oem_table_id or srat.oem_table_id)
    return srat, tuple(notes)


def possible_cpus_from_log(text: str) -> int | None:
    """The number of possible CPUs from ``smpboot: Allowing N CPUs, M hotplug CPUs``
    (``prefill_possible_map``, from the MADT), or None."""
    for line in text.splitlines():
        match = _SMPBOOT.match(line)
        if match:
            return int(match.group(1))
    return None


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
    LINE_PREFIX
    + r"e820: update \[mem 0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\] usable ==> usable")


def parse_setup_data(text: str) -> tuple[tuple[int, int], ...]:
    """The setup_data blobs ``[start, end)`` from ``e820: update [mem ...] usable ==> usable``
    (printed twice each, for the kernel's table and kexec's), in address order."""
    blobs = {(int(m.group(1), 16), int(m.group(2), 16) + 1)
             for m in map(_SETUP_DATA.match, text.splitlines()) if m}
    return tuple(sorted(b for b in blobs if b[0] < b[1]))


def missing_lines(text: str, tables: tuple[AcpiTable, ...], cmdline: str | None) -> list[str]:
    """What a cut log lacks that the prediction uses, in one note each: the ACPI table list
    (printed after the memory map; absent only when the paste ends before it or the kernel
    ran with ``acpi=off``) and the command line."""
    notes = []
    if not tables and "acpi=off" not in (cmdline or "").split():
        ended = not any(_AFTER_NUMA.match(line) for line in text.splitlines())
        notes.append("no ACPI table lines" + (" (the log ends before the kernel listed them)"
                                                if ended else "") +
                     ": the tables' boot reservations are missing from the prediction")
    if cmdline is None:
        notes.append("no 'Command line:' line: predicted with an empty command line "
                     "(give --cmdline)")
    return notes


def firmware_memory_map(messages: str, source: str) -> tuple[tuple[E820Entry, ...], bool]:
    """The firmware memory map a kernel log's messages (:func:`kernel_messages` text) print:
    the ``BIOS-e820:`` lines, else a Xen PV domain's ``Xen:`` lines; and whether it is
    Xen's.  Empty where the log does not hold it."""
    e820 = parse_e820_lines(messages, source)
    if e820:
        return e820, False
    e820 = parse_e820_lines(messages, source, "Xen")
    return e820, bool(e820)


def machine_from_boot_log(
    text: str, source: str, cmdline_override: str | None = None, srat: Srat | None = None
) -> Machine:
    """A :class:`Machine` from a kernel log in any pasted form (:func:`kernel_messages`);
    only the ``=====DMESG=====`` section of a corpus serial log is read.  The SRAT is
    ``srat`` (a ``--srat`` file) if given, else what the kernel's SRAT lines tell
    (:func:`srat_from_log`).  ``cmdline_override`` replaces the logged command line.  A log
    without a firmware memory map is an :class:`InputError` that says why."""
    log = kernel_messages(dmesg_section(text))
    notes = list(log.notes)
    e820, xen = firmware_memory_map(log.text, source)
    if xen:
        notes.append("Xen PV domain: the memory map is the one Xen gave it ('Xen:' lines); "
                     "the PV boot path itself (xen_memory_setup) is not modelled")
    if not e820:
        why = ""
        if _LINUX_VERSION.search(log.text):
            why = (" (it has the kernel's first lines but not its firmware memory map: give "
                   "the whole, unfiltered log of the boot)")
        elif log.text.strip():
            why = (" (the log starts after the kernel printed its firmware memory map: the "
                   "ring buffer wrapped, or the paste begins late; take the log from the start "
                   "of the boot: journalctl -k -b, /var/log/dmesg, or boot with a larger "
                   "log_buf_len=)")
        raise InputError(source, "BIOS-e820", None, "no 'BIOS-e820:' lines in the log" + why)
    tables = parse_acpi_table_lines(log.text, source)
    if srat is None:
        srat, srat_notes = srat_from_log(log.text, source, tables)
        notes.extend(srat_notes)
    raw = (cmdline_override if cmdline_override is not None
           else parse_command_line(log.text, source))
    notes.extend(missing_lines(log.text, tables, raw))
    maps = efi_memmaps(log.text, source)  # the firmware's map, then the runtime one
    memmap = maps[0] if maps else ()
    return ovmf.complete_handover(Machine(
        e820=e820,
        cmdline=parse_cmdline(raw or ""),
        acpi_tables=tables,
        srat=srat,
        initrd=parse_ramdisk(log.text, source),
        qemu_machine=guess_qemu_machine(log.text),
        hypervisor=guess_hypervisor(log.text, tables),
        cpus=possible_cpus_from_log(log.text),
        kernel=parse_linux_version(log.text)[0],
        efi_memmap=memmap,
        efi_boot=bool(memmap),
        setup_data=parse_setup_data(log.text),
        efi_memattr=parse_efi_memattr(log.text),
        efi_mem_reserve=efi_mem_reserved(maps),
        notes=tuple(notes),
    ))
