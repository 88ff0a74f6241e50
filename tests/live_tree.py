# SPDX-License-Identifier: GPL-2.0-or-later
"""Make the /proc, /sys and /dev/kmsg of a corpus boot as a directory tree, for ``--root``.

A corpus serial.log holds what the running kernel showed (its initramfs dumped
/proc/cmdline, the kernel log, /proc/zoneinfo, every memory block's state, phys_index,
valid_zones and node links, and each node's meminfo); the firmware map is the log's
``BIOS-e820`` lines and the SRAT is srat.bin.  This module writes them where Linux exposes
them, reading the log with its own small patterns (not memhp's readers, which the tree is
there to test):

    python3 tests/live_tree.py SERIAL_LOG [SRAT] DIR     # or make_tree() from a test
"""

from __future__ import annotations

import json
import re
import struct
import sys
from pathlib import Path

_MARKER = re.compile(r"^=====([A-Z_]+(?: [A-Z_0-9]+)?)=====\s*$")
_QUERY = re.compile(r"^=====QMP query-memory-devices \{\} -> (.*)=====$", re.MULTILINE)
_PART = re.compile(r"^-----([A-Z_]+)-----\s*$")
_TS = re.compile(r"^\[\s*\d+\.\d+\] ")
_E820 = re.compile(r"BIOS-e820: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\] (.+?)\s*$")
_RAMDISK = re.compile(r"RAMDISK: \[mem 0x([0-9a-f]+)-0x([0-9a-f]+)\]")
_ACPI = re.compile(r"ACPI: (\w{4}) 0x([0-9A-F]+) ([0-9A-F]+)(?: \(v(\d+) (.{6})(?: (.{8}))?)?")
_BLOCK = re.compile(r"(memory\d+) state=(\S+) phys_index=(\S+) valid_zones=(\S*) nodes=(\S*)")
# e820 type as the log prints it -> its number, and the name /sys/firmware/memmap gives it
_TYPES = {"usable": (1, "System RAM"), "reserved": (2, "Reserved"),
          "ACPI data": (3, "ACPI Tables"), "ACPI NVS": (4, "ACPI Non-volatile Storage"),
          "unusable": (5, "Unusable memory")}
_NOT_IN_SYSFS = {"RSDP", "RSDT", "XSDT"}  # the roots are not under /sys/firmware/acpi/tables


def sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in text.splitlines():
        m = _MARKER.match(line)
        if m:
            cur = out.setdefault(m.group(1), []) if m.group(1) not in out else None
            continue
        if cur is not None:
            cur.append(line)
    return out


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def boot_params(e820: list[tuple[int, int, int]], ramdisk: tuple[int, int] | None) -> bytes:
    """A struct boot_params (arch/x86/include/uapi/asm/bootparam.h) with an e820 table
    [(start, end, type)] and an initrd [start, end)."""
    bp = bytearray(4096)
    bp[0x1E8] = len(e820)
    for i, (start, end, kind) in enumerate(e820):
        struct.pack_into("<QQI", bp, 0x2D0 + 20 * i, start, end - start, kind)
    bp[0x202:0x206] = b"HdrS"
    if ramdisk:
        start, size = ramdisk[0], ramdisk[1] - ramdisk[0]
        struct.pack_into("<II", bp, 0x218, start & 0xFFFFFFFF, size & 0xFFFFFFFF)
        struct.pack_into("<II", bp, 0x0C0, start >> 32, size >> 32)
    return bytes(bp)


def make_tree(serial_log: Path, srat: Path | None, root: Path, kernel_log: bool = True,
              state: str | None = None) -> Path:
    """Write the tree of the boot in ``serial_log`` below ``root`` (``kernel_log=False``: no
    dev/kmsg, as for a user who may not read the kernel log; ``state``: the zoneinfo, memory
    blocks and node meminfo of the runtime dump ``=====STATE NAME=====`` instead of those
    at boot)."""
    text = serial_log.read_text(errors="replace")
    sec = sections(text)
    # [start, end) of the DIMMs QEMU last reported before the state (or the first dump)
    dimms: list[tuple[int, int]] = []
    end = text.find(f"=====STATE {state}=====" if state else "=====STATE ")
    for m in _QUERY.finditer(text[:end] if end >= 0 else text):
        dimms = [(d["data"]["addr"], d["data"]["addr"] + d["data"]["size"])
                 for d in json.loads(m.group(1))["return"] if d["type"] == "dimm"]
    if state is not None:
        part: list[str] = []
        for line in sec[f"STATE {state}"]:
            m = _PART.match(line)
            if m:
                part = sec[m.group(1)] = []
            else:
                part.append(line)
    dmesg = [_TS.sub("", line) for line in sec["DMESG"]]
    if kernel_log:
        _write(root / "dev/kmsg", "\n".join(sec["DMESG"]) + "\n")
    _write(root / "proc/sys/kernel/dmesg_restrict", "1\n")
    version = next(line for line in dmesg if line.startswith("Linux version "))
    _write(root / "proc/version", version + "\n")
    _write(root / "proc/cmdline", sec["CMDLINE"][0] + "\n")
    _write(root / "proc/zoneinfo", "\n".join(sec["ZONEINFO"]) + "\n")
    # the CPU: a hypervisor (QEMU); 5-level paging when max_arch_pfn is 2^40 pages (52 bits)
    flags = "fpu pae hypervisor"
    if any("max_arch_pfn = 0x10000000000" in line for line in dmesg):
        flags += " la57"
    _write(root / "proc/cpuinfo", f"processor\t: 0\nflags\t\t: {flags}\n\n")
    cpus = next(int(m.group(1)) for line in dmesg if (m := re.search(r"nr_cpu_ids:(\d+)", line)))
    _write(root / "sys/devices/system/cpu/possible", f"0-{cpus - 1}\n" if cpus > 1 else "0\n")

    e820 = []
    for line in dmesg:
        m = _E820.search(line)
        if m:
            e820.append((int(m.group(1), 16), int(m.group(2), 16) + 1, _TYPES[m.group(3)][0]))
    names = {n: s for n, s in _TYPES.values()}
    for i, (start, end, kind) in enumerate(e820):
        d = root / "sys/firmware/memmap" / str(i)
        _write(d / "start", f"{start:#x}\n")
        _write(d / "end", f"{end - 1:#x}\n")
        _write(d / "type", names[kind] + "\n")
    blocks = {m.group(1) for line in sec["MEMORY_BLOCKS"] if (m := _BLOCK.match(line.strip()))}
    size = next(int(line.split()[1], 16) for line in sec["MEMORY_BLOCKS"]
                if line.startswith("block_size_bytes"))
    present = [(s, e) for s, e in dimms if f"memory{s // size}" in blocks]
    for i, (start, end) in enumerate(present, len(e820)):
        # firmware_map_add_hotplug() appends an entry for memory hot-added later
        d = root / "sys/firmware/memmap" / str(i)
        _write(d / "start", f"{start:#x}\n")
        _write(d / "end", f"{end - 1:#x}\n")
        _write(d / "type", "System RAM\n")
    rd = next(((int(m.group(1), 16), int(m.group(2), 16) + 1) for line in dmesg
               if (m := _RAMDISK.search(line))), None)
    _write(root / "sys/kernel/boot_params/data", boot_params(e820, rd))

    if any(line.startswith("efi: EFI v") for line in dmesg):  # booted through UEFI
        (root / "sys/firmware/efi").mkdir(parents=True, exist_ok=True)
    tables = root / "sys/firmware/acpi/tables"
    tables.mkdir(parents=True, exist_ok=True)
    seen: dict[str, int] = {}
    for line in dmesg:
        m = _ACPI.search(line)
        if not m or m.group(1) in _NOT_IN_SYSFS or not line.startswith("ACPI: "):
            continue
        sig, length = m.group(1), int(m.group(3), 16)
        seen[sig] = seen.get(sig, 0) + 1
        name = sig if seen[sig] == 1 else f"{sig}{seen[sig]}"
        if sig == "SRAT" and srat is not None:
            _write(tables / name, srat.read_bytes())
            continue
        body = bytearray(length)
        body[:4] = sig.encode()
        if m.group(4) is not None and length >= 36:
            struct.pack_into("<IB", body, 4, length, int(m.group(4)))
            body[10:16] = m.group(5).encode("latin-1")
            body[16:24] = (m.group(6) or "").ljust(8).encode("latin-1")
        _write(tables / name, bytes(body))

    mem = root / "sys/devices/system/memory"
    nodes: set[str] = set()
    for line in sec["MEMORY_BLOCKS"]:
        if line.startswith("block_size_bytes"):
            _write(mem / "block_size_bytes", line.split()[1] + "\n")
            continue
        m = _BLOCK.match(line.strip())
        if not m:
            continue
        name, state, index, zones, links = m.groups()
        _write(mem / name / "state", state + "\n")
        _write(mem / name / "phys_index", index + "\n")
        _write(mem / name / "valid_zones", zones.replace(",", " ") + "\n")
        if any(s <= int(index, 16) * size < e for s, e in present):
            # acpi_bind_memory_blocks(): a DIMM's blocks link to its ACPI device (PNP0C80)
            (mem / name / "firmware_node").mkdir(parents=True, exist_ok=True)
        for node in filter(None, links.split(",")):
            (mem / name / node).mkdir(parents=True, exist_ok=True)  # a symlink on Linux
            nodes.add(node)
    node_dir = root / "sys/devices/system/node"
    meminfo: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in sec.get("NODE_MEMINFO", []):
        if re.fullmatch(r"node\d+", line.strip()):
            current = meminfo.setdefault(line.strip(), [])
        elif current is not None:
            current.append(line)
    for node, lines in meminfo.items():
        _write(node_dir / node / "meminfo", "\n".join(lines) + "\n")
    nodes |= set(meminfo)
    ids = sorted(int(n[4:]) for n in nodes)
    _write(node_dir / "online", ",".join(map(str, ids)) + "\n")
    return root


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (2, 3):
        sys.exit(__doc__)
    make_tree(Path(args[0]), Path(args[1]) if len(args) == 3 else None, Path(args[-1]))
