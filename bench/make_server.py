#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Make a bare-metal x86_64 server: firmware e820, ACPI table list and an SRAT.

NODES equal nodes share the RAM of TIB TiB of addresses (1.73 GiB below 4 GiB, a PCI hole,
then the rest); the upper half of the nodes is hot-pluggable.
Writes a machine file, or a firmware-lines log plus a raw SRAT (what `memhp predict
--boot-log FW --srat SRAT` reads), so both input paths can be measured.
usage: bench/make_server.py NODES TIB [--cpus-per-node N] [--cmdline S]
                             (-o MACHINE.toml | --fw-log FW.log --srat SRAT.bin)
"""

from __future__ import annotations

import argparse
import sys

from memhp.firmware.acpi import encode_srat
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.machine_file import dump_machine
from memhp.firmware.types import (
    E820_ACPI,
    E820_NVS,
    E820_RESERVED,
    E820_USABLE,
    SRAT_MEM_ENABLED,
    SRAT_MEM_HOT_PLUGGABLE,
    AcpiTable,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
)
from memhp.kernel.e820 import e820_print
from memhp.kernel.profile import load_profile

G = 1 << 30
LOW_END = 0x6F000000  # the RAM below 4 GiB ends here; the firmware and PCI hole follow
LOW_RAM = 0x9D000 + LOW_END - 0x100000  # the RAM below 4 GiB


def end_for_ram(ram: int, limit: int) -> int:
    """The end of the address space (server()'s TIB, in bytes) at which the server has
    ``ram`` bytes of RAM: the RAM below 4 GiB (at least that) and the rest above 4 GiB;
    at most ``limit``, the physical address limit (there the RAM falls short by the
    hole below 4 GiB)."""
    return min(limit, (1 << 32) + max(0, ram - LOW_RAM))


def server(nodes: int, tib: float, cpus_per_node: int = 4, cmdline: str = "movable_node",
           name: str = "", hotplug: set[int] | None = None, riser_gib: int = 0) -> Machine:
    """The machine: RAM [0, 1.75G) and [4G, TIB), PCI hole below 4G; every node has an
    equal share of the RAM (its bounds 1 GiB aligned, 2 MiB on a machine with less than a
    GiB per node; the last node to the end), so that on a small machine the hole does not
    leave the upper nodes without memory.

    ``hotplug`` (default: the upper half of the nodes) are hot-pluggable as a whole; with
    ``riser_gib`` every node instead ends in a hot-pluggable riser of that size (at most
    half the node, whole GiB: none on a node under 2 GiB).
    """
    total = int(tib * (1 << 40))
    riser = riser_gib * G
    hot = set(range(nodes // 2, nodes)) if hotplug is None else hotplug
    if riser:
        hot = set()
    e820 = (
        E820Entry(0, 0x9D000, E820_USABLE),
        E820Entry(0x9D000, 0xA0000, E820_RESERVED),
        E820Entry(0xE0000, 0x100000, E820_RESERVED),
        E820Entry(0x100000, LOW_END, E820_USABLE),
        E820Entry(LOW_END, 0x6F800000, E820_ACPI),
        E820Entry(0x6F800000, 0x70000000, E820_NVS),
        E820Entry(0x70000000, 0x90000000, E820_RESERVED),
        E820Entry(0xFE000000, 1 << 32, E820_RESERVED),
        E820Entry(1 << 32, total, E820_USABLE),
    )
    tables = []
    addr = LOW_END
    for sig, length in (("FACP", 0x114), ("DSDT", 0x3A000), ("FACS", 0x40), ("APIC", 0x1000),
                        ("HPET", 0x38), ("MCFG", 0x3C), ("SLIT", 0x1010), ("SRAT", 0x3000)):
        tables.append(AcpiTable(sig, addr, length, 1, "SERVER", "MEMHPSRV"))
        addr += -(-length // 64) * 64
    entries: list[SratCpu | SratMemory] = []
    for n in range(nodes):
        for c in range(cpus_per_node):
            entries.append(SratCpu(pxm=n, apic_id=n * cpus_per_node + c, x2apic=True))
    hp = SRAT_MEM_ENABLED | SRAT_MEM_HOT_PLUGGABLE
    low_ram = LOW_END - 0x100000
    share = (low_ram + max(0, total - (1 << 32))) // nodes
    align = G if share >= G else 2 << 20

    def bound(n: int) -> int:  # where node n starts: below it, n shares of the RAM
        c = n * share
        return (0x100000 + c if c < low_ram else (1 << 32) + c - low_ram) // align * align

    for n in range(nodes):
        base, end = bound(n), bound(n + 1) if n < nodes - 1 else max(total, LOW_END)
        flags = hp if n in hot else SRAT_MEM_ENABLED
        if n == 0:
            entries.append(SratMemory(0, 0, 0xA0000, SRAT_MEM_ENABLED))
            base = 0x100000
        fits = min(riser, (end - base) // 2 // G * G)
        if fits:
            entries.append(SratMemory(n, base, end - fits - base, SRAT_MEM_ENABLED))
            entries.append(SratMemory(n, end - fits, fits, hp))
        else:
            entries.append(SratMemory(n, base, end - base, flags))
    size = f"{tib:g} TiB" if tib >= 1 else f"{total >> 30} GiB"
    what = (f"each node ends in a {riser_gib} GiB hot-pluggable riser" if riser else
            f"nodes {', '.join(map(str, sorted(hot)))} hot-pluggable" if hot else "no hotplug")
    return Machine(
        e820=e820, cmdline=parse_cmdline(cmdline), acpi_tables=tuple(tables),
        srat=Srat(tuple(entries), oem_id="SERVER", oem_table_id="MEMHPSRV"),
        initrd=(0x5C000000, 0x5E000000), hypervisor=False, la57=False,
        cpus=nodes * cpus_per_node,
        name=name or f"server-{nodes}node-{size.replace(' ', '').lower()}",
        description=f"bare-metal {nodes}-node {size} server, {what}",
    )


def firmware_lines(m: Machine) -> str:
    """The lines a real boot log has for this machine (firmware_lines.py's selection)."""
    lines = [f"Command line: {m.cmdline.raw}", *e820_print(m.e820, "BIOS-e820", load_profile())]
    if m.initrd:
        lines.append(f"RAMDISK: [mem {m.initrd[0]:#010x}-{m.initrd[1] - 1:#010x}]")
    for t in m.acpi_tables:
        lines.append(f"ACPI: {t.signature} 0x{t.address:016X} {t.length:06X} "
                     f"(v{t.revision or 0:02d} {t.oem_id:<6} {t.oem_table_id:<8} 00000001 "
                     "MEMH 00000001)")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nodes", type=int)
    ap.add_argument("tib", type=float)
    ap.add_argument("--cpus-per-node", type=int, default=4)
    ap.add_argument("--cmdline", default="movable_node")
    ap.add_argument("--hotplug", help="hot-pluggable nodes, e.g. 4,5,6,7 (default: upper half)")
    ap.add_argument("--riser-gib", type=int, default=0, help="a hot-pluggable riser per node")
    ap.add_argument("--name", default="")
    ap.add_argument("--comment", default="", help="what the machine shows (file header)")
    ap.add_argument("-o", "--output")
    ap.add_argument("--fw-log")
    ap.add_argument("--srat")
    args = ap.parse_args(argv)
    hot = {int(n) for n in args.hotplug.split(",")} if args.hotplug else None
    m = server(args.nodes, args.tib, args.cpus_per_node, args.cmdline, args.name, hot,
               args.riser_gib)
    if args.output:
        with open(args.output, "w") as f:
            f.write(f"# {m.description} (made by bench/make_server.py).\n")
            for line in args.comment.splitlines():
                f.write(f"# {line}\n")
            f.write(dump_machine(m).split("\n", 1)[1])
    if args.fw_log:
        with open(args.fw_log, "w") as f:
            f.write(firmware_lines(m))
    if args.srat:
        assert m.srat is not None
        with open(args.srat, "wb") as f:
            f.write(encode_srat(m.srat))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
