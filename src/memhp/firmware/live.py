# SPDX-License-Identifier: GPL-2.0-or-later
"""The running machine's firmware input, read where Linux exposes it.

Everything is read below a root directory (``/`` on the machine itself; tests point it at
a tree made from a corpus boot):

- the kernel log (``dev/kmsg``, what ``dmesg`` reads): the kernel's own copy of the firmware
  lines (e820, ACPI table list, ``RAMDISK:``, ``Command line:``), read by the boot-log reader;
- ``sys/kernel/boot_params/data`` (arch/x86/kernel/ksysfs.c, readable by every user): the
  ``struct boot_params`` the boot loader handed over (arch/x86/include/uapi/asm/bootparam.h):
  its e820 table and where the initrd was loaded;
- ``sys/firmware/memmap`` (drivers/firmware/memmap.c): the firmware e820 map, which also
  lists memory hot-added later;
- ``sys/firmware/acpi/tables/`` (drivers/acpi/sysfs.c): the SRAT and the names and lengths of
  the other tables (their addresses are only in the kernel log);
- ``proc/cmdline``, ``proc/version`` (the kernel release, which picks the profile),
  ``proc/cpuinfo`` (the ``hypervisor`` and ``la57`` CPU flags),
  ``sys/devices/system/cpu/possible``, ``sys/class/dmi/id/product_name`` and whether
  ``sys/firmware/efi`` exists (a UEFI boot).

What cannot be read (most of it needs root: the kernel log under ``kernel.dmesg_restrict``,
the ACPI tables) is named in the machine's ``notes``, and the prediction goes on with what
is known.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import stat
import struct
from dataclasses import dataclass

from memhp.errors import InputError
from memhp.firmware import acpi, bootlog
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.e820 import e820_type_name, read_sys_firmware_memmap
from memhp.firmware.logline import kernel_messages
from memhp.firmware.types import E820_USABLE, AcpiTable, E820Entry, Machine, Srat
from memhp.inputfile import MAX_INPUT
from memhp.kernel.pfn import round_up
from memhp.platform import ovmf

__all__ = ["LiveMachine", "parse_boot_params", "read_kernel_log", "read_live_machine"]

# struct boot_params (arch/x86/include/uapi/asm/bootparam.h)
_EXT_RAMDISK_IMAGE, _EXT_RAMDISK_SIZE = 0x0C0, 0x0C4
_E820_ENTRIES = 0x1E8
_RAMDISK_IMAGE, _RAMDISK_SIZE = 0x218, 0x21C
_E820_TABLE, _E820_MAX_ZEROPAGE, _E820_ENTRY = 0x2D0, 128, 20
_CPU_ID = re.compile(r"[0-9]{1,10}")  # not str.isdigit(): int() refuses "²"
_KMSG_RECORD = re.compile(r"^(\d{1,20}),(\d{1,20}),(\d{1,20}),[^;]*;(.*)$")
_PAGE = 4096


@dataclass(frozen=True)
class LiveMachine:
    """The machine as read from a live system: the model's input, the kernel it runs and the
    kernel log (empty when it could not be read)."""

    machine: Machine
    root: str
    kernel_release: str | None
    kernel_log: str
    log_problem: str  # why the kernel log gave no boot lines; "" when it did
    lacking: tuple[str, ...] = ()  # the notes that name input the prediction had to go without


class _Notes(list[str]):
    """Notes in order; ``lacking`` are those naming input the prediction goes without."""

    def __init__(self) -> None:
        super().__init__()
        self.lacking: list[str] = []


def lack(notes: _Notes, text: str) -> None:
    notes.append(text)
    notes.lacking.append(text)


def _at(root: str, rel: str) -> str:
    return os.path.join(root, rel)


def _why(error: OSError) -> str:
    return error.strerror or str(error)


def _read(root: str, rel: str, limit: int = 1 << 20) -> tuple[bytes | None, str]:
    """The bytes of ``root/rel`` and "" or None and why it could not be read."""
    try:
        with open(_at(root, rel), "rb") as f:
            data = f.read(limit)
    except OSError as e:
        return None, _why(e)
    return data, ""


def _read_str(root: str, rel: str) -> tuple[str | None, str]:
    data, why = _read(root, rel)
    return (None, why) if data is None else (data.decode("utf-8", "replace"), "")


def read_kernel_log(root: str) -> tuple[str, str]:
    """The kernel log as ``dmesg`` prints it (``[seconds] text`` lines) from ``root/dev/kmsg``
    and "" or why it could not be read.

    On a live system ``dev/kmsg`` is the character device: one ``read`` gives one record,
    ``prefix,seq,usec,flags;text`` (Documentation/ABI/testing/dev-kmsg); EAGAIN ends the
    log, EPIPE means a record was overwritten meanwhile.  A regular file (a test tree) may
    hold such records or plain dmesg lines.
    """
    path = _at(root, "dev/kmsg")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        why = _why(e)
        if e.errno in (errno.EPERM, errno.EACCES):
            restrict, _ = _read_str(root, "proc/sys/kernel/dmesg_restrict")
            if restrict and restrict.strip() == "1":
                why += " (kernel.dmesg_restrict=1: needs root or CAP_SYSLOG)"
        return "", why
    lines: list[str] = []
    size = 0
    try:
        if not stat.S_ISCHR(os.fstat(fd).st_mode):
            with os.fdopen(os.dup(fd), "rb") as f:
                raw = f.read(MAX_INPUT).decode("utf-8", "replace")
            return "\n".join(_dmesg_line(line) for line in raw.splitlines()) + "\n", ""
        while size < MAX_INPUT:
            try:
                record = os.read(fd, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:
                continue  # overwritten while we read: the next read gives the oldest left
            except OSError as e:
                return "", _why(e)
            if not record:
                break
            size += len(record)
            lines.append(_dmesg_line(record.decode("utf-8", "replace").split("\n", 1)[0]))
    finally:
        os.close(fd)
    return "\n".join(lines) + "\n", ""


def _dmesg_line(line: str) -> str:
    """A /dev/kmsg record as dmesg prints it; any other line unchanged."""
    m = _KMSG_RECORD.match(line)
    if not m:
        return line
    usec = int(m.group(3))
    return f"[{usec // 1000000:5d}.{usec % 1000000:06d}] {m.group(4)}"


def parse_boot_params(data: bytes, source: str) -> tuple[tuple[E820Entry, ...],
                                                         tuple[int, int] | None]:
    """The e820 table and the initrd ``[start, end)`` (end page-aligned, as ``reserve_initrd``
    takes it) of a ``struct boot_params``; an empty table when the loader gave none."""
    if len(data) < _E820_TABLE + _E820_MAX_ZEROPAGE * _E820_ENTRY:
        raise InputError(source, "size", len(data), "shorter than struct boot_params")
    count = min(data[_E820_ENTRIES], _E820_MAX_ZEROPAGE)
    entries = []
    for i in range(count):
        addr, size, kind = struct.unpack_from("<QQI", data, _E820_TABLE + i * _E820_ENTRY)
        if size and addr + size <= 1 << 64:
            entries.append(E820Entry(addr, addr + size, e820_type_name(kind)))
    (image,) = struct.unpack_from("<I", data, _RAMDISK_IMAGE)
    (size,) = struct.unpack_from("<I", data, _RAMDISK_SIZE)
    (ext_image,) = struct.unpack_from("<I", data, _EXT_RAMDISK_IMAGE)
    (ext_size,) = struct.unpack_from("<I", data, _EXT_RAMDISK_SIZE)
    start, length = image | ext_image << 32, size | ext_size << 32
    initrd = None
    # reserve_initrd() reads these fields whether or not the loader wrote the setup
    # header's "HdrS" (a direct 64-bit boot, Firecracker's, leaves it out)
    if start and length:
        initrd = (start, round_up(start + length, _PAGE))
    return tuple(entries), initrd


def _memmap_at_boot(entries: tuple[E820Entry, ...]) -> tuple[tuple[E820Entry, ...], int]:
    """The boot entries of /sys/firmware/memmap and how many later ones were left out.

    The kernel adds the sanitized (sorted, non-overlapping) e820 table first and appends an
    entry for each range hot-added later (``firmware_map_add_hotplug``); the boot part is
    taken as the longest sorted, non-overlapping run from the first entry (a hot-added range
    above every boot entry cannot be told apart)."""
    n = 1
    while n < len(entries) and entries[n].start >= entries[n - 1].end:
        n += 1
    return entries[:n], len(entries) - n


def _acpi_listing(root: str) -> tuple[tuple[AcpiTable, ...], dict[str, bytes], str]:
    """The tables in sys/firmware/acpi/tables: signature and length (the file size), the
    header's IDs where the file is readable (root), the bytes read, and "" or why the
    directory could not be listed.  Addresses are not there: 0."""
    path = _at(root, "sys/firmware/acpi/tables")
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        return (), {}, _why(e)
    tables, blobs = [], {}
    for name in names:
        full = os.path.join(path, name)
        if not os.path.isfile(full) or not re.fullmatch(r"[A-Z0-9_]{4}\d*", name):
            continue
        data, _ = _read(root, f"sys/firmware/acpi/tables/{name}", MAX_INPUT)
        if data is not None:
            blobs[name] = data
        table = AcpiTable(name[:4], 0, os.path.getsize(full))
        if data is not None:  # a short table: parse_table_header says so
            try:
                h = acpi.parse_table_header(data, full)
                table = AcpiTable(name[:4], 0, len(data), h.revision, h.oem_id, h.oem_table_id)
            except InputError:
                pass
        tables.append(table)
    return tuple(tables), blobs, ""


def _possible_cpus(text: str) -> int | None:
    """The number of CPUs in a cpulist such as ``0-3,6``."""
    count = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        if not _CPU_ID.fullmatch(lo) or (hi and not _CPU_ID.fullmatch(hi)):
            return None
        count += int(hi or lo) - int(lo) + 1
    return count or None


def _cpu_flags(root: str) -> set[str] | None:
    text, _ = _read_str(root, "proc/cpuinfo")
    if text is None:
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), None)
    return set(line.partition(":")[2].split()) if line is not None else None


def read_live_machine(root: str = "/", kernel_log: tuple[str, str] | None = None
                      ) -> LiveMachine:
    """The firmware input of the machine whose /proc and /sys are below ``root``;
    ``kernel_log`` (text, where from) replaces dev/kmsg, e.g. ``journalctl -k -b`` output
    when the ring buffer no longer holds the boot."""
    notes = _Notes()
    kmsg = _at(root, "dev/kmsg")
    if kernel_log is not None:
        (log, kmsg), log_problem = kernel_log, ""
        log = bootlog.dmesg_section(log)  # a corpus serial log holds the log twice
    else:
        log, log_problem = read_kernel_log(root)
    boot_lines = bool(log and bootlog.firmware_memory_map(
        kernel_messages(log).text, "kernel log")[0])
    if log and not boot_lines:
        log_problem = ("it does not hold the boot lines (the ring buffer has wrapped? "
                       "`journalctl -k -b | memhp ... --boot-log -` gives them)")
    if log_problem:
        lack(notes, f"kernel log ({kmsg}) not read: {log_problem}; without it the ACPI "
                    "table addresses are unknown")

    version, why = _read_str(root, "proc/version")
    release = None
    if version is not None:
        release = bootlog.parse_linux_version(version)[0]
    if release is None:
        osrelease, _ = _read_str(root, "proc/sys/kernel/osrelease")
        release = osrelease.strip() if osrelease else None
    if release is None:
        why = why or "no `Linux version` line"
        lack(notes, f"kernel release unknown ({_at(root, 'proc/version')}: {why})")

    proc_cmdline, why_cmd = _read_str(root, "proc/cmdline")
    tables, blobs, why_acpi = _acpi_listing(root)

    sys_srat = (acpi.parse_srat(blobs["SRAT"], _at(root, "sys/firmware/acpi/tables/SRAT"))
                if "SRAT" in blobs else None)
    if boot_lines:
        # the firmware's SRAT where readable, else the log's own SRAT lines
        machine = bootlog.machine_from_boot_log(log, kmsg, srat=sys_srat)
        if proc_cmdline is not None and proc_cmdline.strip() != machine.cmdline.raw:
            notes.append(f"{_at(root, 'proc/cmdline')} differs from the boot log's `Command "
                         "line:` (bootconfig or a built-in command line adds to it); the "
                         "logged one, which early parameters see, is used")
    else:
        machine = _machine_from_sysfs(root, proc_cmdline, why_cmd, tables, notes)

    if os.path.isdir(_at(root, "sys/firmware/efi")) and not machine.efi_boot:
        # booted through UEFI, but the input has no EFI memory map (the kernel log has one
        # only with efi=debug): what the map decides is unknown, not guessed
        machine = ovmf.complete_handover(dataclasses.replace(machine, efi_boot=True))
    flags = _cpu_flags(root)
    if flags is not None:
        machine = dataclasses.replace(machine, hypervisor="hypervisor" in flags,
                                      la57="la57" in flags)
    else:
        lack(notes, f"{_at(root, 'proc/cpuinfo')} not readable: whether this is a virtual "
                    "machine and has 5-level paging is guessed")

    srat: Srat | None = machine.srat  # the log's own SRAT lines, where the reader has them
    if sys_srat is not None:
        srat = sys_srat
    elif srat is None and (any(t.signature == "SRAT" for t in tables) or why_acpi):
        what = (f"{_at(root, 'sys/firmware/acpi/tables/SRAT')} not readable (needs root)"
                if not why_acpi else f"{_at(root, 'sys/firmware/acpi/tables')}: {why_acpi}")
        lack(notes, f"{what}: the NUMA layout and hot-pluggable ranges are unknown; "
                    "predicted as if the firmware gave no SRAT")
    machine = dataclasses.replace(machine, srat=srat)

    possible, _ = _read_str(root, "sys/devices/system/cpu/possible")
    cpus = _possible_cpus(possible) if possible else None
    if cpus and not (srat and srat.cpus):
        machine = dataclasses.replace(machine, cpus=cpus)

    machine = dataclasses.replace(machine, name=machine.name or "this machine",
                                  kernel=release or machine.kernel,
                                  notes=(*machine.notes, *notes))
    return LiveMachine(machine, root, release, log if boot_lines else "", log_problem,
                       tuple(notes.lacking))


def _machine_from_sysfs(root: str, proc_cmdline: str | None, why_cmd: str,
                        tables: tuple[AcpiTable, ...], notes: _Notes) -> Machine:
    """The machine without the kernel log: boot_params, else /sys/firmware/memmap."""
    bp_path = _at(root, "sys/kernel/boot_params/data")
    data, why_bp = _read(root, "sys/kernel/boot_params/data", 1 << 16)
    e820: tuple[E820Entry, ...] = ()
    initrd = None
    if data is not None:
        e820, initrd = parse_boot_params(data, bp_path)
        if len(e820) >= _E820_MAX_ZEROPAGE:
            lack(notes, f"{bp_path} holds {_E820_MAX_ZEROPAGE} e820 entries, the most it can; "
                        "further entries in setup_data are not read")
    if not e820:
        try:
            entries = read_sys_firmware_memmap(_at(root, "sys/firmware/memmap"),
                                               by_address=False)
        except InputError as e:
            raise InputError(root, "firmware memory map", None,
                             f"none readable: {bp_path}: {why_bp or 'no e820 entries'}; "
                             f"{_at(root, 'sys/firmware/memmap')}: {e}") from None
        e820, later = _memmap_at_boot(entries)
        if later:
            notes.append(f"{_at(root, 'sys/firmware/memmap')}: {later} entr"
                         f"{'y' if later == 1 else 'ies'} after the sorted boot map taken as "
                         "memory hot-added after boot")
        if any(e.type == E820_USABLE for e in e820):
            lack(notes, "the firmware map comes from /sys/firmware/memmap: memory hot-added "
                        "after boot above all boot memory cannot be told from boot memory")
    if initrd is None:
        lack(notes, f"where the initrd was loaded is unknown ({bp_path}: "
                    f"{why_bp or 'no initrd'}): predicted without one")
    if proc_cmdline is None:
        lack(notes, f"{_at(root, 'proc/cmdline')} not readable ({why_cmd}): predicted with "
                    "an empty command line")
    if tables:
        lack(notes, "the ACPI table addresses are only in the kernel log: their boot "
                    "reservations (acpi_reserve_initial_tables) are left out")
    product, _ = _read_str(root, "sys/class/dmi/id/product_name")
    qemu = None
    if product and "Standard PC" in product:
        qemu = "q35" if "Q35" in product else "pc" if "i440FX" in product else None
    return Machine(e820=e820, cmdline=parse_cmdline((proc_cmdline or "").strip()),
                   acpi_tables=tables, initrd=initrd, qemu_machine=qemu)
