# SPDX-License-Identifier: GPL-2.0-or-later
"""The TOML machine file: everything firmware and boot loader give the kernel, by hand.

Schema (every key optional unless marked *required*; no other keys are allowed)::

    # what the machine shows
    name = "p01"
    description = "node 1 hot-pluggable, movable_node"
    qemu_machine = "pc"         # "pc" or "q35"; absent = not a QEMU machine type
    hypervisor = true           # X86_FEATURE_HYPERVISOR; default true
    cpus = 2                    # possible CPUs; default: enabled SRAT CPUs, else the MADT
    la57 = false                # CPU has 5-level paging (QEMU -cpu max does); default: profile
    kernel = "6.12.117+deb13-amd64"  # the kernel it runs (picks the profile); default: none
    cmdline = "console=ttyS0 nokaslr movable_node"     # default ""
    initrd = { start = "0xbfee4000", end = "0xbffe0000" }   # or start + size
    srat_file = "srat.bin"      # relative to this file; or a [srat] table; not both
    kernel_load = "0x1600000"   # where the boot loader put the kernel (UEFI); default: profile
    setup_data = [ { start = "0x7dd05018", end = "0x7dd42058" } ]   # boot loader's blobs

    [efi]                       # a UEFI boot; every key optional
    memmap_at = "0x7fb71040"    # where the EFI memory map lies (boot_params.efi_info)
    memdesc_size = 48           # its descriptor size
    memattr = { start = "0x7e007118", end = "0x7e007548" }  # the memory attributes table
    mem_reserve = [ { start = "0x7de49000", end = "0x7de52000" } ]  # efi_mem_reserve()d
    [[efi.memmap]]              # the EFI memory map, in order (efi=debug prints it)
    type = 7                    # EFI memory type number (7: conventional memory)
    start = "0x100000"
    end = "0x800000"            # exclusive; or size
    attribute = "0xf"           # default 0; bit 63 EFI_MEMORY_RUNTIME

Inputs a UEFI machine file lacks are completed as for a log (``memhp.platform.ovmf``) or
reported ``unknown``.

    [[e820]]                    # *required*, at least one, kept in the given order
    start = "0x0"
    end = "0x9fc00"             # exclusive; or size = "639K"
    type = "usable"             # as the kernel prints it, or "type N"

    [[acpi_table]]
    signature = "SRAT"          # 4 characters
    address = "0xbffe1b33"
    length = "0xc8"
    revision = 3                # optional; oem_id (<= 6 chars), oem_table_id (<= 8) too

    [srat]                      # header, all optional: revision, oem_id, oem_table_id,
    revision = 3                # oem_revision, creator_id, creator_revision, table_revision
    [[srat.cpu]]                # pxm, apic_id required; enabled = true, x2apic = false,
    pxm = 0                     # sapic_eid = 0, clock_domain = 0
    apic_id = 0
    [[srat.memory]]             # pxm, base required; length or end; either flags = N or
    pxm = 1                     # enabled = true, hotpluggable = false, non_volatile = false
    base = "4G"
    length = "4G"
    hotpluggable = true
    [[srat.unknown]]            # any other subtable: data = its bytes in hex, from the
    data = "0506..."            # type and length bytes on

    # after boot: memory hotplug events, played in order by ``memhp predict``
    qemu_mem = "4G,slots=4,maxmem=16G"  # QEMU -m: the device-memory region and its limits
                                # (default: the SRAT's hot-pluggable range above RAM)
    [[hotplug]]                 # a DIMM: add = SIZE, node = N (its _PXM), optional
    add = "1G"                  # addr (default: where QEMU 7.2 puts a pc-dimm), id
    node = 1                    # (default d1, d2, ...), at_boot = true (cold-plugged:
                                # present at boot, added by the kernel while booting)
    [[hotplug]]                 # a write to memoryFIRST..memoryLAST/state: one key of
    online_movable = "40-47"    # online, online_movable, online_kernel, offline
    [[hotplug]]
    remove = "d1"               # ACPI eject of a DIMM: offline its blocks, then remove
    [[hotplug]]
    dump = "AFTER"              # a state to show (one is always shown at the end)

The SRAT's subtables come in the order cpu, memory, unknown.  For any other order, list
them instead as ``[[srat.entry]]`` tables, each with ``kind = "cpu" | "memory" | "unknown"``
and the same keys; the two forms do not mix.

Numbers are TOML integers or strings: ``0x`` hex or decimal, with an optional K/M/G/T/P/E
suffix (``memparse``); a leading 0 before decimal digits is refused (the kernel would read
octal).  Errors name the file, the dotted field (``e820[3].end``, indexes from 0) and the
value.
"""

from __future__ import annotations

import os
import re
import tomllib
from typing import NoReturn

from memhp.errors import InputError
from memhp.firmware import hotplug
from memhp.firmware.cmdline import memparse, parse_cmdline
from memhp.firmware.e820 import canonical_e820_type
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
    SratEntry,
    SratMemory,
    SratUnknown,
)
from memhp.inputfile import read_bytes, stdin_name
from memhp.platform import ovmf

__all__ = ["U32", "U64", "dump_machine", "load_machine"]

U64 = 1 << 64
U32 = 1 << 32
# 17 hex digits so that an exclusive end of 2^64 (0x10000000000000000) can be written
_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]{1,17}|0|[1-9][0-9]{0,19})[kKmMgGtTpPeE]?")
_TOP_KEYS = {"name", "description", "qemu_machine", "hypervisor", "cpus", "la57", "kernel",
             "cmdline", "initrd",
             "srat_file", "srat", "e820", "acpi_table", "kernel_load", "setup_data", "efi",
             "qemu_mem", "hotplug"}
_EFI_KEYS = {"memmap_at", "memdesc_size", "memattr", "mem_reserve", "memmap"}
_HOTPLUG_KEYS = {"add", "node", "addr", "id", "at_boot", "remove", "dump",
                 *hotplug.STATES}
_SRAT_HEADER = {"revision": 1 << 8, "oem_revision": U32, "creator_revision": U32,
                "table_revision": U32}
_SRAT_IDS = {"oem_id": 6, "oem_table_id": 8, "creator_id": 4}
_KINDS = ("cpu", "memory", "unknown")
_MEM_FLAGS = {"enabled": SRAT_MEM_ENABLED, "hotpluggable": SRAT_MEM_HOT_PLUGGABLE,
              "non_volatile": SRAT_MEM_NON_VOLATILE}


def _int_free(value: object) -> object:
    """``value`` with every integer too long for ``repr`` written in hex instead."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            repr(value)
        except ValueError:
            return f"{value:#x}"
        return value
    if isinstance(value, dict):
        return {k: _int_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_int_free(v) for v in value]
    return value


class _Reader:
    """Checked access to the parsed TOML; every complaint names ``path`` and the field."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, field: str, value: object, problem: str) -> NoReturn:
        try:
            repr(value)
        except ValueError:  # a TOML hex integer of thousands of digits has no decimal repr
            value = _int_free(value)
        raise InputError(self.path, field, value, problem)

    def table(self, value: object, field: str, allowed: set[str],
              required: tuple[str, ...] = ()) -> dict[str, object]:
        if not isinstance(value, dict):
            self.fail(field, value, "must be a table")
        prefix = f"{field}." if field else ""
        for key in value:
            if key not in allowed:
                self.fail(prefix + key, value[key], "unknown key")
        for key in required:
            if key not in value:
                self.fail(prefix + key, None, "missing")
        return value

    def tables(self, doc: dict[str, object], key: str) -> list[object]:
        value = doc.get(key, [])
        if not isinstance(value, list):
            self.fail(key, value, "must be an array of tables ([[...]])")
        return value

    def number(self, t: dict[str, object], key: str, field: str, limit: int = U64,
               default: int | None = None) -> int:
        raw = value = t.get(key, default)
        name = f"{field}.{key}" if field else key
        if value is None:
            self.fail(name, None, "missing")
        if isinstance(value, str):
            if not _NUMBER.fullmatch(value):
                self.fail(name, value, "not a number (want 0x hex or decimal, optional "
                          "K/M/G/T/P/E suffix; no leading 0)")
            value = memparse(value, wrap=False)[0]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, value, "must be an integer or a number string")
        if not 0 <= value < limit:
            self.fail(name, raw, f"out of range 0..{limit - 1:#x}")
        return value

    def string(self, t: dict[str, object], key: str, field: str, default: str = "",
               width: int | None = None) -> str:
        value = t.get(key, default)
        name = f"{field}.{key}" if field else key
        if not isinstance(value, str):
            self.fail(name, value, "must be a string")
        if width is not None and (len(value) > width or not all(c <= "\xff" for c in value)):
            self.fail(name, value, f"must be at most {width} latin-1 characters")
        return value

    def boolean(self, t: dict[str, object], key: str, field: str, default: bool) -> bool:
        value = t.get(key, default)
        if not isinstance(value, bool):
            self.fail(f"{field}.{key}" if field else key, value, "must be true or false")
        return value

    def span(self, t: dict[str, object], field: str, start_key: str, end_key: str,
             size_key: str, empty_ok: bool = False) -> tuple[int, int]:
        """``start`` with either an exclusive end or a size; returns (start, end)."""
        start = self.number(t, start_key, field)
        if (end_key in t) == (size_key in t):
            self.fail(f"{field}.{end_key}", t.get(end_key), f"give {end_key} or {size_key}")
        if size_key in t:
            end = start + self.number(t, size_key, field, U64 + 1)
            if end > U64:
                self.fail(f"{field}.{size_key}", t[size_key], "runs past 2^64")
            if end == start and not empty_ok:
                self.fail(f"{field}.{size_key}", t[size_key], "must not be 0")
        else:
            end = self.number(t, end_key, field, U64 + 1)
            if end <= start:
                self.fail(f"{field}.{end_key}", t[end_key], f"not above {start_key} {start:#x}")
        return start, end


def _e820(r: _Reader, value: object, field: str) -> E820Entry:
    t = r.table(value, field, {"start", "end", "size", "type"}, ("start", "type"))
    start, end = r.span(t, field, "start", "end", "size")
    kind = r.string(t, "type", field)
    canonical = canonical_e820_type(kind)
    if canonical is None:
        r.fail(f"{field}.type", kind, "unknown e820 type (want usable, reserved, ACPI data, "
               "ACPI NVS, unusable, persistent (type 7), persistent (type 12), soft reserved "
               "or 'type N')")
    return E820Entry(start, end, canonical)


def _spans(r: _Reader, doc: dict[str, object], key: str, field: str) -> tuple[tuple[int, int], ...]:
    """An array of ``{ start, end | size }`` tables."""
    return tuple(r.span(r.table(item, f"{field}[{i}]", {"start", "end", "size"}, ("start",)),
                        f"{field}[{i}]", "start", "end", "size")
                 for i, item in enumerate(r.tables(doc, key)))


def _efi(r: _Reader, value: object) -> dict[str, object]:
    """The ``[efi]`` table as Machine fields."""
    t = r.table(value, "efi", _EFI_KEYS)
    memmap = []
    for i, item in enumerate(r.tables(t, "memmap")):
        field = f"efi.memmap[{i}]"
        md = r.table(item, field, {"type", "start", "end", "size", "attribute"},
                     ("type", "start"))
        start, end = r.span(md, field, "start", "end", "size")
        if start % 4096 or end % 4096:
            r.fail(field, f"{start:#x}-{end:#x}", "EFI ranges are whole 4 KiB pages")
        memmap.append(EfiMemoryDescriptor(r.number(md, "type", field, U32), start, end,
                                          r.number(md, "attribute", field, U64, 0)))
    out: dict[str, object] = {"efi_boot": True, "efi_memmap": tuple(memmap),
                              "efi_mem_reserve": _spans(r, t, "mem_reserve", "efi.mem_reserve")}
    if "memmap_at" in t:
        out["efi_memmap_at"] = r.number(t, "memmap_at", "efi")
    if "memdesc_size" in t:
        out["efi_memdesc_size"] = r.number(t, "memdesc_size", "efi", 1 << 16)
    if "memattr" in t:
        out["efi_memattr"] = r.span(r.table(t["memattr"], "efi.memattr",
                                            {"start", "end", "size"}, ("start",)),
                                    "efi.memattr", "start", "end", "size")
    return out


def _acpi_table(r: _Reader, value: object, field: str) -> AcpiTable:
    keys = {"signature", "address", "length", "revision", "oem_id", "oem_table_id"}
    t = r.table(value, field, keys, ("signature", "address", "length"))
    signature = r.string(t, "signature", field)
    if len(signature) != 4:
        r.fail(f"{field}.signature", signature, "must be 4 characters")
    revision = r.number(t, "revision", field, 1 << 8) if "revision" in t else None
    return AcpiTable(signature, r.number(t, "address", field), r.number(t, "length", field, U32),
                     revision, r.string(t, "oem_id", field, width=6),
                     r.string(t, "oem_table_id", field, width=8))


def _srat_entry(r: _Reader, kind: str, value: object, field: str, tagged: bool) -> SratEntry:
    extra = {"kind"} if tagged else set()
    if kind == "cpu":
        keys = {"pxm", "apic_id", "enabled", "x2apic", "sapic_eid", "clock_domain"}
        t = r.table(value, field, keys | extra, ("pxm", "apic_id"))
        x2apic = r.boolean(t, "x2apic", field, False)
        sapic_eid = r.number(t, "sapic_eid", field, 1 << 8, 0)
        if x2apic and sapic_eid:
            r.fail(f"{field}.sapic_eid", sapic_eid, "an x2APIC entry has no SAPIC EID")
        return SratCpu(r.number(t, "pxm", field, U32),
                       r.number(t, "apic_id", field, U32 if x2apic else 1 << 8),
                       r.boolean(t, "enabled", field, True), x2apic, sapic_eid,
                       r.number(t, "clock_domain", field, U32, 0))
    if kind == "memory":
        keys = {"pxm", "base", "length", "end", "flags", *_MEM_FLAGS}
        t = r.table(value, field, keys | extra, ("pxm", "base"))
        if "length" in t and "end" not in t:
            # base and length are two u64 fields of the table: base + length may run past
            # 2^64 in a binary SRAT (the kernel's u64 end wraps), so it may here too
            base = r.number(t, "base", field)
            end = base + r.number(t, "length", field)
        else:
            base, end = r.span(t, field, "base", "end", "length", empty_ok=True)
        if "flags" in t:
            for key in _MEM_FLAGS:
                if key in t:
                    r.fail(f"{field}.{key}", t[key], "give flags or the flag booleans, not both")
            flags = r.number(t, "flags", field, U32)
        else:
            defaults = {"enabled": True, "hotpluggable": False, "non_volatile": False}
            flags = sum(bit for key, bit in _MEM_FLAGS.items()
                        if r.boolean(t, key, field, defaults[key]))
        return SratMemory(r.number(t, "pxm", field, U32), base, end - base, flags)
    t = r.table(value, field, {"data"} | extra, ("data",))
    text = r.string(t, "data", field)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        r.fail(f"{field}.data", text, "not hex bytes")
    if not 2 <= len(raw) <= 255 or raw[1] != len(raw) or raw[0] in (0, 1, 2):
        r.fail(f"{field}.data", text, "must be a whole subtable of 2..255 bytes (type, length "
               "matching, ...) of a type other than 0, 1, 2")
    return SratUnknown(raw[0], raw)


def _srat(r: _Reader, value: object) -> Srat:
    t = r.table(value, "srat", {*_SRAT_HEADER, *_SRAT_IDS, *_KINDS, "entry"})
    entries: list[SratEntry] = []
    if "entry" in t:
        for key in _KINDS:
            if key in t:
                r.fail(f"srat.{key}", t[key], "srat.entry and per-kind arrays do not mix")
        for i, item in enumerate(r.tables(t, "entry")):
            field = f"srat.entry[{i}]"
            kind = item.get("kind") if isinstance(item, dict) else None
            if kind not in _KINDS:
                r.fail(f"{field}.kind", kind, 'must be "cpu", "memory" or "unknown"')
            entries.append(_srat_entry(r, str(kind), item, field, True))
    for kind in _KINDS:
        for i, item in enumerate(r.tables(t, kind)):
            entries.append(_srat_entry(r, kind, item, f"srat.{kind}[{i}]", False))
    defaults = Srat(())
    numbers = {k: r.number(t, k, "srat", lim, getattr(defaults, k))
               for k, lim in _SRAT_HEADER.items()}
    ids = {k: r.string(t, k, "srat", getattr(defaults, k), w) for k, w in _SRAT_IDS.items()}
    return Srat(tuple(entries), numbers["revision"], ids["oem_id"], ids["oem_table_id"],
                numbers["oem_revision"], ids["creator_id"], numbers["creator_revision"],
                numbers["table_revision"])


def _hotplug(r: _Reader, value: object, field: str, n: int) -> hotplug.Event:
    t = r.table(value, field, _HOTPLUG_KEYS)
    kinds = [k for k in ("add", "remove", "dump", *hotplug.STATES) if k in t]
    if len(kinds) != 1:
        r.fail(field, value, "give exactly one of add, remove, dump, "
               + ", ".join(hotplug.STATES))
    kind = kinds[0]
    if kind == "add":
        addr = r.number(t, "addr", field) if "addr" in t else None
        return hotplug.DimmAdd(r.string(t, "id", field, f"d{n}") or f"d{n}",
                               r.number(t, "add", field), r.number(t, "node", field, 1 << 16),
                               addr, r.boolean(t, "at_boot", field, False))
    extra = sorted(set(t) - {kind})
    if extra:
        r.fail(f"{field}.{extra[0]}", t[extra[0]], f"not with {kind}")
    if kind == "remove":
        return hotplug.DimmRemove(r.string(t, "remove", field))
    if kind == "dump":
        return hotplug.Dump(r.string(t, "dump", field))
    first, last = hotplug.block_range(r.string(t, kind, field), r.path, f"{field}.{kind}")
    return hotplug.SetState(kind, first, last)


def _decode_toml(path: str) -> dict[str, object]:
    data = read_bytes(path)
    path = stdin_name(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(path, "file", path, f"not UTF-8: {error}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = re.search(r"at line (\d+)", str(error))
        lineno = int(match.group(1)) if match else 0
        lines = text.split("\n")  # tomllib counts only "\n" as a line break
        line = lines[lineno - 1].rstrip("\r") if 0 < lineno <= len(lines) else ""
        raise InputError(path, f"line {lineno}", line, f"TOML syntax: {error}") from None
    except RecursionError:
        raise InputError(path, "file", path, "TOML nested too deeply to read") from None
    except ValueError as error:  # tomllib lets int()'s errors out, e.g. a 5000-digit integer
        raise InputError(path, "file", path, f"TOML value not readable: {error}") from None


def load_machine(path: str) -> Machine:
    """Read a machine file (schema in the module docstring) into a :class:`Machine`;
    ``-`` reads standard input."""
    r = _Reader(stdin_name(path))
    doc = r.table(_decode_toml(path), "", _TOP_KEYS, ("e820",))
    e820 = [_e820(r, item, f"e820[{i}]") for i, item in enumerate(r.tables(doc, "e820"))]
    if not e820:
        r.fail("e820", [], "needs at least one entry")
    tables = [_acpi_table(r, item, f"acpi_table[{i}]")
              for i, item in enumerate(r.tables(doc, "acpi_table"))]
    initrd = None
    if "initrd" in doc:
        initrd = r.span(r.table(doc["initrd"], "initrd", {"start", "end", "size"}, ("start",)),
                        "initrd", "start", "end", "size")
    qemu = doc.get("qemu_machine")
    if qemu is not None and qemu not in ("pc", "q35"):
        r.fail("qemu_machine", qemu, "must be \"pc\" or \"q35\"")
    srat = None
    if "srat" in doc and "srat_file" in doc:
        r.fail("srat_file", doc["srat_file"], "give srat_file or [srat], not both")
    if "srat" in doc:
        srat = _srat(r, doc["srat"])
    elif "srat_file" in doc:
        from memhp.firmware.acpi import load_srat

        name = r.string(doc, "srat_file", "")
        # relative to the machine file (to the working directory for standard input)
        base = "." if path == "-" else os.path.dirname(os.path.abspath(path))
        srat = load_srat(os.path.join(base, name))
    events: list[hotplug.Event] = []
    for i, item in enumerate(r.tables(doc, "hotplug")):
        n = sum(isinstance(e, hotplug.DimmAdd) for e in events) + 1
        events.append(_hotplug(r, item, f"hotplug[{i}]", n))
    handover: dict[str, object] = _efi(r, doc["efi"]) if "efi" in doc else {}
    if "kernel_load" in doc:
        handover["kernel_load"] = r.number(doc, "kernel_load", "")
    handover["setup_data"] = _spans(r, doc, "setup_data", "setup_data")
    return ovmf.complete_handover(Machine(
        e820=tuple(e820),
        cmdline=parse_cmdline(r.string(doc, "cmdline", "")),
        acpi_tables=tuple(tables),
        srat=srat,
        initrd=initrd,
        name=r.string(doc, "name", ""),
        description=r.string(doc, "description", ""),
        qemu_machine=qemu if isinstance(qemu, str) else None,
        hypervisor=r.boolean(doc, "hypervisor", "", True),
        cpus=r.number(doc, "cpus", "", 1 << 15) if "cpus" in doc else None,
        la57=r.boolean(doc, "la57", "", False) if "la57" in doc else None,
        kernel=r.string(doc, "kernel", "") or None,
        hotplug=tuple(events),
        qemu_mem=(hotplug.parse_mem(r.string(doc, "qemu_mem", ""), path)
                  if "qemu_mem" in doc else None),
        **handover,  # type: ignore[arg-type]
    ))


def _quote(text: str) -> str:
    """A TOML basic string (control characters, quote and backslash escaped)."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
             "\f": "\\f", "\r": "\\r"}

    def escape(c: str) -> str:
        if c in short:
            return short[c]
        return f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else c
    return '"' + "".join(escape(c) for c in text) + '"'


def _srat_lines(srat: Srat) -> list[str]:
    defaults = Srat(())
    lines = ["", "[srat]"]
    for key in (*_SRAT_HEADER, *_SRAT_IDS):
        value = getattr(srat, key)
        if value != getattr(defaults, key):
            lines.append(f"{key} = {_quote(value) if isinstance(value, str) else value}")
    order = [_KINDS.index(_kind(e)) for e in srat.entries]
    tagged = order != sorted(order)
    for e in srat.entries:
        kind = _kind(e)
        lines += ["", "[[srat.entry]]", f'kind = "{kind}"'] if tagged else ["", f"[[srat.{kind}]]"]
        if isinstance(e, SratCpu):
            lines += [f"pxm = {e.pxm}", f"apic_id = {e.apic_id}"]
            lines += [] if e.enabled else ["enabled = false"]
            lines += ["x2apic = true"] if e.x2apic else []
            lines += [f"sapic_eid = {e.sapic_eid}"] if e.sapic_eid else []
            lines += [f"clock_domain = {e.clock_domain}"] if e.clock_domain else []
        elif isinstance(e, SratMemory):
            lines += [f"pxm = {e.pxm}", f'base = "{e.base:#x}"', f'length = "{e.length:#x}"']
            if e.flags & ~0b111:
                lines.append(f'flags = "{e.flags:#x}"')
            else:
                lines += [] if e.enabled else ["enabled = false"]
                lines += ["hotpluggable = true"] if e.hotpluggable else []
                lines += ["non_volatile = true"] if e.non_volatile else []
        else:
            lines.append(f'data = "{e.raw.hex()}"')
    return lines


def _kind(entry: SratEntry) -> str:
    return "cpu" if isinstance(entry, SratCpu) else (
        "memory" if isinstance(entry, SratMemory) else "unknown")


def _qemu_size(size: int) -> str:
    """A QEMU size as ``qemu_mem`` reads it back: whole MiB, else bytes."""
    return f"{size >> 20}M" if not size % (1 << 20) else f"{size}B"


def dump_machine(m: Machine) -> str:
    """A machine file that :func:`load_machine` reads back to ``m``, addresses in hex.

    The command line is written as its raw text, so ``m.cmdline`` must be what
    ``parse_cmdline`` makes of ``m.cmdline.raw`` (it always is for machines memhp reads)."""
    title = " - ".join(s for s in (m.name, (m.description.splitlines() or [""])[0]) if s)
    title = "".join(c for c in title if " " <= c != "\x7f")
    lines = [f"# memhp machine file{': ' + title if title else ''}"]
    # what reading a boot log inferred or could not tell (import-log)
    lines += ["# note: " + "".join(c for c in n if " " <= c != "\x7f") for n in m.notes]
    lines += [f"name = {_quote(m.name)}", f"description = {_quote(m.description)}"]
    if m.qemu_machine is not None:
        lines.append(f"qemu_machine = {_quote(m.qemu_machine)}")
    lines += [f"hypervisor = {'true' if m.hypervisor else 'false'}"]
    lines += [] if m.cpus is None else [f"cpus = {m.cpus}"]
    lines += [] if m.la57 is None else [f"la57 = {'true' if m.la57 else 'false'}"]
    lines += [] if m.kernel is None else [f"kernel = {_quote(m.kernel)}"]
    lines.append(f"cmdline = {_quote(m.cmdline.raw)}")
    if m.qemu_mem is not None:
        q = m.qemu_mem
        lines.append(f'qemu_mem = "{_qemu_size(q.ram)},slots={q.slots},'
                     f'maxmem={_qemu_size(q.maxmem)}"')
    if m.initrd is not None:
        lines.append(f'initrd = {{ start = "{m.initrd[0]:#x}", end = "{m.initrd[1]:#x}" }}')
    if m.kernel_load is not None:
        lines.append(f'kernel_load = "{m.kernel_load:#x}"')
    if m.setup_data:
        lines.append(f"setup_data = [{_span_list(m.setup_data)}]")
    for e in m.e820:
        lines += ["", "[[e820]]", f'start = "{e.start:#x}"', f'end = "{e.end:#x}"',
                  f"type = {_quote(e.type)}"]
    for t in m.acpi_tables:
        lines += ["", "[[acpi_table]]", f"signature = {_quote(t.signature)}",
                  f'address = "{t.address:#x}"', f'length = "{t.length:#x}"']
        lines += [] if t.revision is None else [f"revision = {t.revision}"]
        lines += [f"oem_id = {_quote(t.oem_id)}"] if t.oem_id else []
        lines += [f"oem_table_id = {_quote(t.oem_table_id)}"] if t.oem_table_id else []
    if m.efi_boot:
        lines += _efi_lines(m)
    if m.srat is not None:
        lines += _srat_lines(m.srat)
    for ev in m.hotplug:
        lines += ["", "[[hotplug]]"] + _hotplug_lines(ev)
    return "\n".join(lines) + "\n"


def _span_list(spans: tuple[tuple[int, int], ...]) -> str:
    return ", ".join(f'{{ start = "{s:#x}", end = "{e:#x}" }}' for s, e in spans)


def _efi_lines(m: Machine) -> list[str]:
    lines = ["", "[efi]", f"memdesc_size = {m.efi_memdesc_size}"]
    if m.efi_memmap_at is not None:
        lines.append(f'memmap_at = "{m.efi_memmap_at:#x}"')
    if m.efi_memattr is not None:
        lines.append(f"memattr = {_span_list((m.efi_memattr,))}")
    if m.efi_mem_reserve:
        lines.append(f"mem_reserve = [{_span_list(m.efi_mem_reserve)}]")
    for md in m.efi_memmap:
        lines += ["", "[[efi.memmap]]", f"type = {md.type}", f'start = "{md.start:#x}"',
                  f'end = "{md.end:#x}"', f'attribute = "{md.attribute:#x}"']
    return lines


def _hotplug_lines(e: hotplug.Event) -> list[str]:
    if isinstance(e, hotplug.DimmAdd):
        return ([f'add = "{e.size:#x}"', f"node = {e.node}", f"id = {_quote(e.id)}"]
                + ([f'addr = "{e.addr:#x}"'] if e.addr is not None else [])
                + (["at_boot = true"] if e.at_boot else []))
    if isinstance(e, hotplug.DimmRemove):
        return [f"remove = {_quote(e.id)}"]
    if isinstance(e, hotplug.SetState):
        return [f'{e.state} = "{e.first}-{e.last}"']
    if isinstance(e, hotplug.Dump):
        return [f"dump = {_quote(e.name)}"]
    return []
