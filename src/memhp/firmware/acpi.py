# SPDX-License-Identifier: GPL-2.0-or-later
"""Read and write the ACPI System Resource Affinity Table (SRAT, ACPI 6.5 section 5.2.16).

Three spellings of the same table are read:

* the raw binary (``/sys/firmware/acpi/tables/SRAT``, a corpus ``srat.bin``),
* the text ``acpidump`` prints (``SRAT @ 0x...`` then ``    0000: 53 52 41 54 ...`` lines),
* the ``.dsl`` text ``iasl -d`` writes (``[030h 0048   1]  Subtable Type : 01 [...]`` lines).

Subtable types 0 (Processor Local APIC), 1 (Memory Affinity) and 2 (Processor Local x2APIC)
are decoded; every other type is kept as :class:`SratUnknown` with its raw bytes.  Whatever
is wrong with an input is reported as :class:`InputError` naming the field.

Encoding writes reserved fields as zero and the CPU flags as just the enabled bit, so a table
with other bits set there does not survive parse -> encode byte for byte (every corpus table
does).
"""

from __future__ import annotations

import os
import re
import struct

from memhp.errors import InputError
from memhp.firmware.types import AcpiTable, Srat, SratCpu, SratEntry, SratMemory, SratUnknown
from memhp.inputfile import read_bytes, stdin_name

__all__ = ["HEADER_LEN", "SRAT_PREFIX_LEN", "encode_srat", "format_acpidump", "load_srat",
           "parse_acpidump", "parse_iasl_srat", "parse_srat", "parse_table_header"]

HEADER_LEN = 36  # the header every ACPI table except RSDP and FACS starts with
SRAT_PREFIX_LEN = 48  # header, u32 "table revision" (must be 1), 8 reserved bytes

# signature, length, revision, checksum, OEM ID, OEM table ID, OEM revision,
# creator ID, creator revision
_HEADER = struct.Struct("<4sIBB6s8sI4sI")
_SRAT_PREFIX = struct.Struct("<I8x")
# type 0: type, length, proximity domain bits 0-7, APIC ID, flags, SAPIC EID,
# proximity domain bits 8-31, clock domain
_LAPIC = struct.Struct("<BBBBIB3sI")
# type 1: type, length, proximity domain, base, length, flags (reserved fields skipped)
_MEMORY = struct.Struct("<BBI2xQQ4xI8x")
# type 2: type, length, proximity domain, x2APIC ID, flags, clock domain
_X2APIC = struct.Struct("<BB2xIIII4x")
_SUBTABLES = {
    0: ("Processor Local APIC Affinity", _LAPIC.size),
    1: ("Memory Affinity", _MEMORY.size),
    2: ("Processor Local x2APIC Affinity", _X2APIC.size),
}
_CPU_ENABLED = 1 << 0

# "    0000: 53 52 41 54 C8 00 00 00 03 1F 4F 52 41 43 4C 45  SRAT......ORACLE"; iasl
# writes "// " before the ASCII column.  Bytes are separated by one space, the ASCII column
# by at least two, so the two never mix.
_HEX_LINE = re.compile(r"\s*([0-9A-Fa-f]{4,8}):((?: [0-9A-Fa-f]{2}){1,16})(?:\s{2,}.*)?")
_OFFSET_LIKE = re.compile(r"\s*[0-9A-Fa-f]+:")
# "SRAT @ 0x00000000BFFE1A2D"; older dumps: "RSD PTR @ 0xf6cd0", "SSDT @ (nil)"
# (read by _acpidump_signature: the name is what precedes the first "@", stripped)
_ACPIDUMP_ADDRESS = re.compile(r"\s+(?:0x[0-9A-Fa-f]{1,16}|\(nil\))\s*")
# "[030h 0048   1]  Subtable Type : 01 [Memory Affinity]"; newer iasl writes the byte
# length in hex too: "[030h 0048 001h]".
# ... then "Name : Value", split by _iasl_field at the first blank followed by ":"
_IASL_HEAD = re.compile(
    r"\[\s*([0-9A-Fa-f]{1,8})h\s+([0-9]{1,10})\s+(?:([0-9A-Fa-f]{1,8})h|([0-9]{1,10}))\s*\]"
)
_IASL_COLON = re.compile(r"\s:")
_IASL_MAX_FIELD = 255  # no SRAT field is longer than a subtable can be
_HEX_NUMBER = re.compile(r"[0-9A-Fa-f]+")
_HEX_BYTE = re.compile(r"[0-9A-Fa-f]{2}")
_IASL_SRAT = re.compile(r'Signature\s*:\s*"SRAT"')
# blanks but no newline: "^\s*" under MULTILINE is quadratic in the number of blank lines
_ACPIDUMP_SRAT = re.compile(r"^[^\S\n]*SRAT[^\S\n]+@[^\S\n]+(?:0x|\(nil\))", re.MULTILINE)


def _unpack_header(
    data: bytes, source: str
) -> tuple[bytes, int, int, int, bytes, bytes, int, bytes, int]:
    if len(data) < HEADER_LEN:
        raise InputError(
            source, "header.length", len(data),
            f"truncated: {len(data)} bytes, an ACPI table header alone is {HEADER_LEN}",
        )
    fields: tuple[bytes, int, int, int, bytes, bytes, int, bytes, int] = _HEADER.unpack_from(data)
    return fields


def _c_string(raw: bytes) -> str:
    """An ID field the way the kernel prints it (``%.6s``): up to the first NUL."""
    return raw.split(b"\0", 1)[0].decode("latin-1")


def parse_table_header(data: bytes, source: str, address: int = 0) -> AcpiTable:
    """The header of any raw ACPI table (the OEM IDs cut at the first NUL, like the kernel).

    Only the header is looked at: neither the length field nor the checksum is checked.
    """
    signature, length, revision, _, oem_id, oem_table_id, *_ = _unpack_header(data, source)
    return AcpiTable(
        signature.decode("latin-1"), address, length, revision,
        _c_string(oem_id), _c_string(oem_table_id),
    )


def parse_srat(data: bytes, source: str) -> Srat:
    """Decode a raw binary SRAT, checking signature, length, checksum and every subtable.

    The ID fields are kept whole (latin-1, NUL padding included) so that
    :func:`encode_srat` gives the same bytes back.
    """
    if len(data) >= 4 and data[:4] != b"SRAT":
        raise InputError(source, "header.signature", data[:4], "not an SRAT (expected b'SRAT')")
    _, length, revision, checksum, oem_id, oem_table_id, oem_rev, creator, creator_rev = (
        _unpack_header(data, source)
    )
    if length != len(data):
        what = "trailing bytes after the table" if length < len(data) else "table is truncated"
        raise InputError(
            source, "header.length", length, f"the data is {len(data)} bytes long ({what})"
        )
    if length < SRAT_PREFIX_LEN:
        raise InputError(
            source, "header.length", length, f"an SRAT is at least {SRAT_PREFIX_LEN} bytes"
        )
    if sum(data) & 0xFF:
        raise InputError(
            source, "header.checksum", f"{checksum:#04x}",
            f"bytes sum to {sum(data) & 0xFF:#04x} mod 256, not 0 "
            f"(the checksum should be {(checksum - sum(data)) & 0xFF:#04x})",
        )
    (table_revision,) = _SRAT_PREFIX.unpack_from(data, HEADER_LEN)
    entries: list[SratEntry] = []
    offset = SRAT_PREFIX_LEN
    while offset < length:
        field = f"entry[{len(entries)}]"
        if length - offset < 2:
            raise InputError(
                source, field, f"offset {offset:#x}",
                "one byte left at the end of the table, too short for a subtable header",
            )
        kind, size = data[offset], data[offset + 1]
        if size < 2:
            raise InputError(
                source, f"{field}.length", size,
                f"subtable at offset {offset:#x} is shorter than its own 2-byte header",
            )
        if offset + size > length:
            raise InputError(
                source, f"{field}.length", size,
                f"subtable at offset {offset:#x} runs past the end of the table ({length:#x})",
            )
        if kind in _SUBTABLES and size != _SUBTABLES[kind][1]:
            name, want = _SUBTABLES[kind]
            raise InputError(
                source, f"{field}.length", size, f"a {name} subtable (type {kind}) is {want} bytes"
            )
        entries.append(_decode_entry(kind, data[offset : offset + size]))
        offset += size
    return Srat(
        tuple(entries), revision, oem_id.decode("latin-1"), oem_table_id.decode("latin-1"),
        oem_rev, creator.decode("latin-1"), creator_rev, table_revision,
    )


def _decode_entry(kind: int, raw: bytes) -> SratEntry:
    if kind == 0:
        _, _, pxm_low, apic_id, flags, sapic_eid, pxm_high, clock = _LAPIC.unpack(raw)
        pxm = pxm_low | int.from_bytes(pxm_high, "little") << 8
        return SratCpu(pxm, apic_id, bool(flags & _CPU_ENABLED), False, sapic_eid, clock)
    if kind == 1:
        _, _, pxm, base, size, flags = _MEMORY.unpack(raw)
        return SratMemory(pxm, base, size, flags)
    if kind == 2:
        _, _, pxm, apic_id, flags, clock = _X2APIC.unpack(raw)
        return SratCpu(pxm, apic_id, bool(flags & _CPU_ENABLED), True, 0, clock)
    return SratUnknown(kind, raw)


def _uint(value: int, bits: int, source: str, field: str) -> int:
    if not 0 <= value < 1 << bits:
        raise InputError(source, field, value, f"does not fit in an unsigned {bits}-bit field")
    return value


def _id_field(text: str, width: int, source: str, field: str) -> bytes:
    """An OEM/creator ID: latin-1, at most ``width`` bytes, NUL-padded like iasl does."""
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raise InputError(source, field, text, "not representable in latin-1") from None
    if len(raw) > width:
        raise InputError(source, field, text, f"longer than the {width}-byte field")
    return raw.ljust(width, b"\0")


def _encode_entry(entry: SratEntry, source: str, field: str) -> bytes:
    if isinstance(entry, SratMemory):
        return _MEMORY.pack(
            1, _MEMORY.size, _uint(entry.pxm, 32, source, f"{field}.pxm"),
            _uint(entry.base, 64, source, f"{field}.base"),
            _uint(entry.length, 64, source, f"{field}.length"),
            _uint(entry.flags, 32, source, f"{field}.flags"),
        )
    if isinstance(entry, SratCpu):
        flags = _CPU_ENABLED if entry.enabled else 0
        pxm = _uint(entry.pxm, 32, source, f"{field}.pxm")
        clock = _uint(entry.clock_domain, 32, source, f"{field}.clock_domain")
        if entry.x2apic:
            if entry.sapic_eid:
                raise InputError(
                    source, f"{field}.sapic_eid", entry.sapic_eid,
                    "an x2APIC affinity subtable has no SAPIC EID field (must be 0)",
                )
            apic_id = _uint(entry.apic_id, 32, source, f"{field}.apic_id")
            return _X2APIC.pack(2, _X2APIC.size, pxm, apic_id, flags, clock)
        return _LAPIC.pack(
            0, _LAPIC.size, pxm & 0xFF, _uint(entry.apic_id, 8, source, f"{field}.apic_id"),
            flags, _uint(entry.sapic_eid, 8, source, f"{field}.sapic_eid"),
            (pxm >> 8).to_bytes(3, "little"), clock,
        )
    kind = _uint(entry.type, 8, source, f"{field}.type")
    if kind in _SUBTABLES:
        raise InputError(
            source, f"{field}.type", kind,
            f"type {kind} is a {_SUBTABLES[kind][0]}: give it as SratCpu/SratMemory",
        )
    if not 2 <= len(entry.raw) <= 255 or entry.raw[:2] != bytes([kind, len(entry.raw)]):
        raise InputError(
            source, f"{field}.raw", entry.raw[:2],
            "raw bytes must be the whole subtable (2..255 bytes) starting with its type and "
            "length",
        )
    return entry.raw


def encode_srat(srat: Srat, source: str = "srat") -> bytes:
    """Write ``srat`` as a binary table with correct length and checksum.

    Every value is checked against its field width; ``source`` only names the input in errors.
    """
    body = b"".join(
        _encode_entry(entry, source, f"entry[{i}]") for i, entry in enumerate(srat.entries)
    )
    length = _uint(SRAT_PREFIX_LEN + len(body), 32, source, "header.length")
    table = bytearray(
        _HEADER.pack(
            b"SRAT", length, _uint(srat.revision, 8, source, "revision"), 0,
            _id_field(srat.oem_id, 6, source, "oem_id"),
            _id_field(srat.oem_table_id, 8, source, "oem_table_id"),
            _uint(srat.oem_revision, 32, source, "oem_revision"),
            _id_field(srat.creator_id, 4, source, "creator_id"),
            _uint(srat.creator_revision, 32, source, "creator_revision"),
        )
        + _SRAT_PREFIX.pack(_uint(srat.table_revision, 32, source, "table_revision"))
        + body
    )
    table[9] = -sum(table) & 0xFF
    return bytes(table)


def _hex_line(line: str, lineno: int, expected: int, source: str) -> bytes:
    """The bytes of one hex dump line, which must start at offset ``expected``."""
    match = _HEX_LINE.fullmatch(line.rstrip())
    if match is None:
        raise InputError(
            source, f"line {lineno}", line.strip(),
            "malformed hex dump line (expected 'OFFSET: XX XX ...' with up to 16 bytes)",
        )
    if int(match[1], 16) != expected:
        raise InputError(
            source, f"line {lineno}.offset", match[1],
            f"expected {expected:04X}: hex dump offsets must be contiguous",
        )
    return bytes.fromhex(match[2])


def _acpidump_signature(line: str) -> str | None:
    """The signature of an acpidump table header line (``SRAT @ 0x00000000BFFE1A2D``,
    ``RSD PTR @ 0xf6cd0``, ``SSDT @ (nil)``), or None if the line is none."""
    name, at, address = line.partition("@")
    if not at or not name.strip() or not name[-1:].isspace():
        return None
    return name.strip() if _ACPIDUMP_ADDRESS.fullmatch(address) else None


def _iasl_field(line: str) -> tuple[str, str, int, str, str] | None:
    """``[030h 0048   1]  Subtable Type : 01 [...]`` as (hex offset, decimal offset, length,
    name, value), or None if malformed.  The name ends at the first blank followed by ``:``;
    one blank after the colon is dropped."""
    head = _IASL_HEAD.match(line)
    if head is None:
        return None
    rest = line[head.end() :]
    colon = _IASL_COLON.search(rest)
    if colon is None:
        return None
    value = rest[colon.end() :]
    if value[:1].isspace():
        value = value[1:]
    hex_offset, dec_offset, hex_size, dec_size = head.groups()
    size = int(hex_size, 16) if hex_size else int(dec_size)
    return hex_offset, dec_offset, size, rest[: colon.start() + 1].strip(), value


def format_acpidump(tables: list[tuple[str, bytes]]) -> str:
    """Tables as the ``acpidump`` tool prints them: a ``SIG @ 0x...`` line, then 16 bytes
    a line, ``    0000: `` offset, hex bytes and the printable ASCII (the inverse of
    :func:`parse_acpidump`)."""
    lines = []
    for signature, data in tables:
        lines.append(f"{signature} @ 0x{0:016X}")
        for offset in range(0, len(data), 16):
            chunk = data[offset : offset + 16]
            hexes = "".join(f"{b:02X} " for b in chunk).ljust(48)
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            lines.append(f"{offset:04X}".rjust(8) + ": " + hexes + " " + text)
        lines.append("")
    return "\n".join(lines) + "\n"


def parse_acpidump(text: str, source: str) -> dict[str, list[bytes]]:
    """All tables in ``acpidump`` text, by signature, in the order they appear.

    A signature can occur more than once (SSDT); ``RSD PTR`` is renamed ``RSDP`` as
    acpixtract does.
    Blank lines and the ASCII column are ignored; any other line must be a table header
    (``SIG @ 0xADDRESS``) or a hex line continuing the current table without a gap.
    """
    blocks: list[tuple[str, int, bytearray]] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if _OFFSET_LIKE.match(line):
            if not blocks:
                raise InputError(
                    source, f"line {lineno}", line.strip(),
                    "hex dump line before any 'SIG @ 0xADDRESS' table header",
                )
            data = blocks[-1][2]
            data += _hex_line(line, lineno, len(data), source)
        elif (name := _acpidump_signature(line)) is not None:
            signature = "RSDP" if name == "RSD PTR" else name
            blocks.append((signature, lineno, bytearray()))
        else:
            raise InputError(
                source, f"line {lineno}", line.strip(),
                "neither a table header ('SIG @ 0xADDRESS') nor a hex dump line",
            )
    tables: dict[str, list[bytes]] = {}
    for signature, lineno, data in blocks:
        if not data:
            raise InputError(source, f"line {lineno}", signature, "table has no hex dump lines")
        tables.setdefault(signature, []).append(bytes(data))
    return tables


def _iasl_value(value: str, size: int, source: str, field: str) -> bytes:
    """The ``size`` bytes an iasl field value stands for: a quoted string, a hex number
    (little-endian in the table) or a list of ``size`` hex bytes."""
    if value.startswith('"'):
        string = re.match(r'"(.*)"', value)
        if string is None:
            raise InputError(source, field, value, "unterminated string")
        return _id_field(string[1], size, source, field)
    tokens = value.split()
    if size > 1 and len(tokens) >= size and all(_HEX_BYTE.fullmatch(t) for t in tokens[:size]):
        return bytes.fromhex("".join(tokens[:size]))
    if not tokens or not _HEX_NUMBER.fullmatch(tokens[0]):
        raise InputError(source, field, value, "not a hex number")
    number = int(tokens[0], 16)
    if number >= 1 << (8 * size):
        raise InputError(source, field, value, f"does not fit in the field's {size} bytes")
    return number.to_bytes(size, "little")


def parse_iasl_srat(text: str, source: str) -> Srat:
    """Decode the ``.dsl`` text ``iasl -d`` writes for an SRAT.

    The table is rebuilt from the ``[offset ... length] Name : Value`` lines (the bracketed
    offsets are trusted).  Bytes no field describes - the body of a subtable type iasl does
    not know, or everything after a subtable iasl gave up on - are taken from the "Raw Table
    Data" dump at the end of the file; without that dump they are an error.  The checksum is
    recomputed (string fields are not byte exact: iasl prints a NUL-padded ID only up to its
    first NUL, read back NUL-padded, and non-printable characters as spaces), then the result
    goes through :func:`parse_srat`.
    """
    fields: list[tuple[str, int, bytes]] = []  # (field name for errors, offset, bytes)
    raw: bytearray | None = None
    table_length: int | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if raw is not None:
            if _OFFSET_LIKE.match(line):
                raw += _hex_line(line, lineno, len(raw), source)
            continue
        if stripped.startswith("Raw Table Data"):
            raw = bytearray()
            continue
        if not stripped.startswith("["):
            continue  # comments, decoded flag bits, blank lines, iasl's own remarks
        match = _iasl_field(stripped)
        if match is None:
            raise InputError(
                source, f"line {lineno}", stripped,
                "malformed iasl field line (expected '[OFFh DEC LEN] Name : Value')",
            )
        hex_offset, dec_offset, size, name, value = match
        field = f"line {lineno}: {name}"
        offset = int(hex_offset, 16)
        if offset != int(dec_offset):
            raise InputError(
                source, field, f"{hex_offset}h {dec_offset}",
                "hex and decimal offsets disagree",
            )
        if not 0 < size <= _IASL_MAX_FIELD:
            raise InputError(source, field, size, "implausible field length")
        if value.startswith("["):
            continue  # heading of a structure whose fields follow, e.g. a Generic Address
        data = _iasl_value(value, size, source, field)
        if name == "Table Length" and table_length is None:
            table_length = int.from_bytes(data, "little")
        fields.append((field, offset, data))
    if table_length is None:
        raise InputError(
            source, "Table Length", None, "no 'Table Length' field: not iasl -d output"
        )
    for field, offset, data in fields:
        if offset + len(data) > table_length:
            raise InputError(
                source, field, f"{offset:#x}+{len(data)}",
                f"runs past the Table Length ({table_length:#x})",
            )
    # Every byte must come from a field or the raw dump; found from the spans alone so that
    # a bogus Table Length is reported rather than allocated.
    spans = sorted([(0, len(raw or b""))] + [(off, off + len(data)) for _, off, data in fields])
    described = 0
    for start, end in spans:
        if start > described:
            break
        described = max(described, end)
    if described < max(end for _, end in spans):
        raise InputError(
            source, "Raw Table Data", f"offset {described:#x}",
            "no field describes this table byte and no Raw Table Data dump holds it",
        )
    if described < table_length:
        raise InputError(
            source, "Table Length", f"{table_length:#x}",
            f"the fields and Raw Table Data describe only {described:#x} bytes",
        )
    image = bytearray(table_length)
    dump = (raw or b"")[:table_length]
    image[: len(dump)] = dump
    for _, offset, data in fields:  # fields win over the dump: they are what gets edited
        image[offset : offset + len(data)] = data
    if table_length > 9:
        image[9] = 0
        image[9] = -sum(image) & 0xFF
    return parse_srat(bytes(image), source)


def load_srat(path: str) -> Srat:
    """Read an SRAT from ``path``: raw binary, acpidump text, iasl -d text, or a directory
    such as /sys/firmware/acpi/tables/ holding a file ``SRAT``; ``-`` is standard input."""
    target = os.path.join(path, "SRAT") if path != "-" and os.path.isdir(path) else path
    data = read_bytes(target)
    target = stdin_name(target)
    text = data.decode("utf-8", errors="replace")
    if _ACPIDUMP_SRAT.search(text):  # before the binary test: this text starts "SRAT" too
        srats = parse_acpidump(text, target).get("SRAT", [])
        if len(srats) != 1:
            raise InputError(target, "SRAT", len(srats), "acpidump text must hold exactly one SRAT")
        return parse_srat(srats[0], target)
    if _IASL_SRAT.search(text):
        return parse_iasl_srat(text, target)
    if data.startswith(b"SRAT"):
        return parse_srat(data, target)
    raise InputError(
        target, "format", data[:16], "not a raw SRAT, acpidump text or iasl -d output"
    )
