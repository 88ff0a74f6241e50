# SPDX-License-Identifier: GPL-2.0-or-later
"""The EFI memory map as the kernel prints it with ``efi=debug``.

``efi_print_memmap()`` (arch/x86/platform/efi/efi.c, 6.1) prints one line per descriptor of
the map the boot loader handed over, formatted by ``efi_md_typeattr_format()``
(drivers/firmware/efi/efi.c)::

    efi: mem13: [Conventional|   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] range=[0x00000000
    05600000-0x000000007bf6cfff] (1897MB)

(one line in the log).
The type is one of ``memory_type_name[]`` or ``type=N``; the attribute columns are RUN, HP,
MR, CC, SP, NV, XP, RP, WP, RO, UCE, WB, WT, WC, UC (kernels before 6.14 and its stable
backports print no HP column), or ``attr=0x...`` when the attribute has bits the kernel has no
column for.  With ``efi=debug`` the kernel prints a second,
shorter map later (``EFI runtime memory map:``, numbered from ``mem00`` again); only the
first one, the firmware's, is read.
"""

from __future__ import annotations

import re

from memhp.errors import InputError
from memhp.firmware.logline import LINE_PREFIX
from memhp.firmware.types import EfiMemoryDescriptor

__all__ = ["EFI_TYPE_NAMES", "efi_mem_reserved", "efi_memmaps", "format_efi_memmap_line",
           "parse_efi_memattr", "parse_efi_memmap"]

EFI_TYPE_NAMES = (
    "Reserved", "Loader Code", "Loader Data", "Boot Code", "Boot Data", "Runtime Code",
    "Runtime Data", "Conventional", "Unusable", "ACPI Reclaim", "ACPI Mem NVS", "MMIO",
    "MMIO Port", "PAL Code", "Persistent",
)
_TYPE_OF = {name: i for i, name in enumerate(EFI_TYPE_NAMES)}
# the attribute columns of efi_md_typeattr_format(), in order, with their bits
_COLUMNS = (
    ("RUN", 1 << 63), ("HP", 1 << 20), ("MR", 1 << 16), ("CC", 1 << 19), ("SP", 1 << 18),
    ("NV", 1 << 15), ("XP", 1 << 14), ("RP", 1 << 13), ("WP", 1 << 12), ("RO", 1 << 17),
    ("UCE", 1 << 4), ("WB", 1 << 3), ("WT", 1 << 2), ("WC", 1 << 1), ("UC", 1 << 0),
)
# the HP column came with ba69e0750b03 ("efi: Avoid cold plugged memory for placing the
# kernel", 6.14, backported to the stable kernels); before it, the kernel printed the other
# 14 columns (and a descriptor with the hot-pluggable bit as attr=0x...)
_COLUMNS_BEFORE_HP = tuple(column for column in _COLUMNS if column[0] != "HP")

_TAG = re.compile(LINE_PREFIX + r"efi: mem(\d+): ")
_LINE = re.compile(
    LINE_PREFIX + r"efi: mem(\d{2,5}): \[([^|\]]*)\|([^\]]*)\] "
    r"range=\[0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\](?: \(\d+MB\))?\s*$")
# before efi_md_typeattr_format() (3.x kernels): "efi: mem00: type=3, attr=0xf,
# range=[0x0000000000000000-0x0000000000001000) (0MB)", with an exclusive end
_LINE_3X = re.compile(
    LINE_PREFIX + r"efi: mem(\d{2,5}): type=(\d{1,10}), attr=0x([0-9a-fA-F]{1,16}), "
    r"range=\[0x([0-9a-fA-F]{1,16})-0x([0-9a-fA-F]{1,16})\)(?: \(\d+MB\))?\s*$")
_ATTR_HEX = re.compile(r"attr=0x([0-9a-fA-F]{1,16})")
_TYPE_N = re.compile(r"type=(\d{1,10})")


def _type(text: str) -> int | None:
    name = text.rstrip()
    if name in _TYPE_OF:
        return _TYPE_OF[name]
    match = _TYPE_N.fullmatch(name)
    return int(match.group(1)) if match and int(match.group(1)) < 1 << 32 else None


def _attribute(text: str) -> int | None:
    match = _ATTR_HEX.fullmatch(text)
    if match:
        return int(match.group(1), 16)
    cells = text.split("|")
    columns = {len(_COLUMNS): _COLUMNS, len(_COLUMNS_BEFORE_HP): _COLUMNS_BEFORE_HP}.get(len(cells))
    if columns is None:
        return None
    attr = 0
    for cell, (name, bit) in zip(cells, columns, strict=True):
        if cell.strip() == name:
            attr |= bit
        elif cell.strip():
            return None
    return attr


def efi_memmaps(text: str, source: str) -> list[tuple[EfiMemoryDescriptor, ...]]:
    """Every printed EFI memory map of a log, in order (each numbered from mem00): the
    firmware's, then (efi=debug, after SetVirtualAddressMap) the runtime one.  A malformed
    line is an :class:`InputError`."""
    maps: list[list[EfiMemoryDescriptor]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        tag = _TAG.match(line)
        if not tag:
            continue
        if int(tag.group(1)) == 0:
            maps.append([])
        out = maps[-1] if maps else []
        match = _LINE.match(line)
        old = None if match else _LINE_3X.match(line)
        if old:
            index, kind_n, attr_hex, first, end_x = old.groups()
            type_text, attr_text = f"type={kind_n}", f"attr=0x{attr_hex}"
            last = f"{max(int(end_x, 16) - 1, 0):x}"
        elif match:
            index, type_text, attr_text, first, last = match.groups()
        else:
            raise InputError(source, f"line {lineno}", line.strip(),
                             "malformed EFI memory map line, want 'efi: memNN: [TYPE|ATTRS] "
                             "range=[0xSTART-0xLAST] (NMB)'")
        kind, attr = _type(type_text), _attribute(attr_text)
        if kind is None:
            raise InputError(source, f"line {lineno}", type_text.strip(), "unknown EFI memory type")
        if attr is None:
            raise InputError(source, f"line {lineno}", attr_text, "malformed EFI attribute columns")
        start, end = int(first, 16), int(last, 16) + 1
        if end <= start or start % 4096 or end % 4096:
            raise InputError(source, f"line {lineno}", f"0x{first}-0x{last}",
                             "EFI range must be whole 4 KiB pages, end above start")
        if not maps or int(index) != len(out):
            raise InputError(source, f"line {lineno}", f"mem{index}",
                             f"EFI map entries out of order (expected mem{len(out):02d})")
        out.append(EfiMemoryDescriptor(kind, start, end, attr))
    return [tuple(m) for m in maps]


def parse_efi_memmap(text: str, source: str) -> tuple[EfiMemoryDescriptor, ...]:
    """The first EFI memory map of a log (``efi: memNN:`` lines from ``mem00`` on, in log
    order): the firmware's.  Empty when the log has none.  A malformed line is an
    :class:`InputError`."""
    maps = efi_memmaps(text, source)
    return maps[0] if maps else ()


def efi_mem_reserved(maps: list[tuple[EfiMemoryDescriptor, ...]]) -> tuple[tuple[int, int], ...]:
    """What the kernel's EFI drivers kept with ``efi_mem_reserve()`` (the BGRT boot logo,
    ESRT, ...), ``[start, end)``, as the runtime map shows it (``maps``: a log's
    :func:`efi_memmaps`): a runtime-tagged piece split off a boot services data region of
    the firmware's map.  (The region the boot logo lies in is in the BGRT table, which is
    not in the log.)"""
    if len(maps) < 2:
        return ()
    regions = [md for md in maps[0] if md.boot_services and not md.runtime]
    out = []
    for md in maps[1]:
        if not (md.boot_services and md.runtime):
            continue
        if any(r.start <= md.start and md.end <= r.end and (r.start, r.end) != (md.start, md.end)
               for r in regions):
            out.append((md.start, md.end))
    return tuple(sorted(out))


def format_efi_memmap_line(index: int, md: EfiMemoryDescriptor) -> str:
    """The kernel's ``efi: memNN:`` line for one descriptor (the inverse of the reader)."""
    name = (f"{EFI_TYPE_NAMES[md.type]:<12}" if md.type < len(EFI_TYPE_NAMES)
            else f"type={md.type}")
    known = 0
    for _, bit in _COLUMNS:
        known |= bit
    if md.attribute & ~known:
        attrs = f"attr=0x{md.attribute:016x}"
    else:
        attrs = "|".join(f"{col if md.attribute & bit else '':>{max(len(col), 2)}}"
                         for col, bit in _COLUMNS)
    pages = (md.end - md.start) >> 12
    return (f"efi: mem{index:02d}: [{name}|{attrs}] "
            f"range=[0x{md.start:016x}-0x{md.end - 1:016x}] ({pages >> 8}MB)")


_CONFIG = re.compile(LINE_PREFIX + r"efi: .*\bMEMATTR=0x([0-9a-fA-F]{1,16})\b")
_MEMATTR_ENTRY = re.compile(LINE_PREFIX + r"efi: memattr:\s+0x[0-9a-fA-F]+-0x[0-9a-fA-F]+ \[")
MEMATTR_HEADER = 16  # efi_memory_attributes_table_t before its entries


def parse_efi_memattr(text: str, desc_size: int = 48) -> tuple[int, int] | None:
    """The EFI memory attributes table ``[start, end)`` as ``efi_memattr_init`` reserves it:
    the address from the configuration-table line (``efi: ACPI=... MEMATTR=0x...``), the size
    from its entries, which ``efi=debug`` prints (``efi: memattr:  0x...-0x... [...]``).
    None when the log lacks either."""
    config = next((m for m in map(_CONFIG.match, text.splitlines()) if m), None)
    entries = sum(1 for line in text.splitlines() if _MEMATTR_ENTRY.match(line))
    if config is None or not entries:
        return None
    start = int(config.group(1), 16)
    return start, start + MEMATTR_HEADER + entries * desc_size
