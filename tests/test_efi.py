# SPDX-License-Identifier: GPL-2.0-or-later
"""UEFI boots: the EFI memory map reader, the OVMF hand-over model and the kernel's EFI
reservations (arch/x86/platform/efi, drivers/firmware/efi)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhp.errors import InputError
from memhp.firmware.bootlog import dmesg_section, machine_from_boot_log
from memhp.firmware.cmdline import parse_cmdline
from memhp.firmware.efi import format_efi_memmap_line, parse_efi_memattr, parse_efi_memmap
from memhp.firmware.machine_file import dump_machine, load_machine
from memhp.firmware.types import (
    E820_RESERVED,
    E820_USABLE,
    EFI_BOOT_SERVICES_CODE,
    EFI_BOOT_SERVICES_DATA,
    EFI_CONVENTIONAL_MEMORY,
    EFI_MEMORY_MORE_RELIABLE,
    EFI_MEMORY_RUNTIME,
    EFI_RUNTIME_SERVICES_DATA,
    UNKNOWN_EFI_BGRT,
    UNKNOWN_EFI_MAP,
    UNKNOWN_EFI_MEMATTR,
    UNKNOWN_EFI_MEMMAP_AT,
    UNKNOWN_KERNEL_LOAD,
    UNKNOWN_SETUP_DATA,
    E820Entry,
    EfiMemoryDescriptor,
    Machine,
)
from memhp.kernel import setup
from memhp.kernel.efi import boot_services_freed, efi_memmap_at
from memhp.kernel.profile import load_profile
from memhp.platform.ovmf import is_ovmf

WB = 0xF  # UC|WC|WT|WB, as OVMF sets them
COLS = "|  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]"  # HP..UCE blank, then the cache columns
LINES = "\n".join([
    "efi: mem00: [Boot Code   |   " + COLS + " range=[0x0000000000000000-0x0000000000000fff] (0MB)",
    "[    0.000000] efi: mem01: [Conventional|   |  |MR|  |  |  |  |  |  |  |   |WB|WT|WC|UC]"
    " range=[0x0000000000001000-0x0000000000086fff] (0MB)",
    "efi: mem02: [Runtime Data|RUN" + COLS + " range=[0x000000007eea1000-0x000000007ef61fff] (0MB)",
    "efi: mem03: [type=17|attr=0x0000000000f0000f]"
    " range=[0x0000000100000000-0x00000001ffffffff] (4096MB)",
    "efi: EFI runtime memory map:",
    "efi: mem00: [Runtime Data|RUN" + COLS + " range=[0x000000007eea1000-0x000000007ef61fff] (0MB)",
]) + "\n"


def test_reads_the_first_map_only() -> None:
    """Types by name or number, the attribute columns or a raw value; the runtime map the
    kernel prints later (numbered from mem00 again) is not the firmware's."""
    assert parse_efi_memmap(LINES, "log") == (
        EfiMemoryDescriptor(EFI_BOOT_SERVICES_CODE, 0, 0x1000, WB),
        EfiMemoryDescriptor(EFI_CONVENTIONAL_MEMORY, 0x1000, 0x87000,
                            WB | EFI_MEMORY_MORE_RELIABLE),
        EfiMemoryDescriptor(EFI_RUNTIME_SERVICES_DATA, 0x7EEA1000, 0x7EF62000,
                            WB | EFI_MEMORY_RUNTIME),
        EfiMemoryDescriptor(17, 0x100000000, 0x200000000, 0xF0000F),
    )


def test_reads_the_columns_before_hp() -> None:
    """Before the HP column (ba69e0750b03, 6.14 and its stable backports) the kernel printed
    14 columns: MR right after RUN (lines from a 6.2-rc1 boot)."""
    old = ("efi: mem00: [Conventional|   |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]"
           " range=[0x0000000000000000-0x000000000008dfff] (0MB)\n"
           "efi: mem01: [Runtime Data|RUN|MR|  |  |  |  |  |  |  |   |WB|WT|WC|UC]"
           " range=[0x000000005c688000-0x000000005ca87fff] (4MB)\n")
    assert parse_efi_memmap(old, "log") == (
        EfiMemoryDescriptor(EFI_CONVENTIONAL_MEMORY, 0, 0x8E000, WB),
        EfiMemoryDescriptor(EFI_RUNTIME_SERVICES_DATA, 0x5C688000, 0x5CA88000,
                            WB | EFI_MEMORY_RUNTIME | EFI_MEMORY_MORE_RELIABLE),
    )


def test_no_map() -> None:
    assert parse_efi_memmap("BIOS-e820: [mem 0x0-0x9ffff] usable\n", "log") == ()


@pytest.mark.parametrize(("line", "field"), [
    # a type the kernel has no name for is printed as type=N, never as a made-up name
    ("efi: mem00: [Bogus Type  |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] "
     "range=[0x0000000000000000-0x0000000000000fff] (0MB)", "Bogus Type"),
    # an attribute column holding another column's name
    ("efi: mem00: [Boot Code   |WB |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] "
     "range=[0x0000000000000000-0x0000000000000fff] (0MB)", "WB |"),
    # too few columns
    ("efi: mem00: [Boot Code   |   |WB|WT|WC|UC] range=[0x0000000000000000-0x0000000000000fff]",
     "|WB"),
    # not whole pages
    ("efi: mem00: [Boot Code   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] "
     "range=[0x0000000000000000-0x0000000000000ffe] (0MB)", "0x0000000000000000-"),
    # end below start
    ("efi: mem00: [Boot Code   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] "
     "range=[0x0000000000002000-0x0000000000000fff] (0MB)", "0x0000000000002000-"),
    # no range at all
    ("efi: mem00: [Boot Code   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC]", "efi: mem00"),
    # entries must count up from mem00
    ("efi: mem01: [Boot Code   |   |  |  |  |  |  |  |  |  |  |   |WB|WT|WC|UC] "
     "range=[0x0000000000000000-0x0000000000000fff] (0MB)", "mem01"),
])
def test_bad_lines_are_one_line_errors(line: str, field: str) -> None:
    with pytest.raises(InputError) as err:
        parse_efi_memmap(line + "\n", "boot.log")
    message = str(err.value)
    assert message.startswith("boot.log: line 1=") and "\n" not in message
    assert field in message


@given(st.lists(st.tuples(st.integers(0, 15), st.integers(1, 1 << 20),
                          st.sampled_from([0, WB, WB | EFI_MEMORY_RUNTIME,
                                           WB | EFI_MEMORY_MORE_RELIABLE, 1 << 40])),
                min_size=1, max_size=20))
def test_format_and_read_round_trip(entries: list[tuple[int, int, int]]) -> None:
    """What the kernel prints for a map reads back as that map."""
    mds, start = [], 0
    for kind, pages, attr in entries:
        mds.append(EfiMemoryDescriptor(kind, start, start + pages * 4096, attr))
        start += pages * 4096
    text = "\n".join(format_efi_memmap_line(i, md) for i, md in enumerate(mds))
    assert parse_efi_memmap(text, "log") == tuple(mds)


def test_memattr_needs_address_and_entries() -> None:
    """efi_memattr_init reserves the header and every entry: the address is on the
    configuration-table line, the entries are printed with efi=debug only."""
    config = "efi: SMBIOS=0x7f918000 ACPI=0x7fb7e000 MEMATTR=0x7e007118 INITRD=0x7e005f18 \n"
    entry = ("efi: memattr:  0x00007eea1000-0x00007ef61fff [Runtime Data|RUN|  |  |  |  |  |XP"
             "|  |  |  |   |  |  |  |  ]\n")
    assert parse_efi_memattr(config + entry * 22) == (0x7E007118, 0x7E007118 + 16 + 22 * 48)
    assert parse_efi_memattr(config) is None
    assert parse_efi_memattr(entry) is None
    assert EFI_BOOT_SERVICES_DATA == 4


# --- the kernel's EFI reservations (arch/x86/platform/efi/quirks.c) -------------------------

PROFILE = load_profile()
MiB = 1 << 20
BOOT = EFI_BOOT_SERVICES_DATA


def _efi_boot(regions: list[tuple[int, int, int, int]], cmdline: str = "",
              reserved_e820: tuple[int, int] | None = None, memattr: tuple[int, int] | None = None,
              ) -> setup.Boot:
    """A 2 GiB UEFI machine whose EFI map has ``regions`` (type, start, end, attribute)
    and conventional memory elsewhere; the kernel loaded at 16 MiB."""
    e820 = [E820Entry(0, 0x9F000, E820_USABLE), E820Entry(MiB, 2048 * MiB, E820_USABLE)]
    if reserved_e820:
        s, e = reserved_e820
        e820 = [E820Entry(0, 0x9F000, E820_USABLE), E820Entry(MiB, s, E820_USABLE),
                E820Entry(s, e, E820_RESERVED), E820Entry(e, 2048 * MiB, E820_USABLE)]
    mds = tuple(EfiMemoryDescriptor(t, s, e, WB | a) for t, s, e, a in regions)
    m = Machine(e820=tuple(e820), cmdline=parse_cmdline("nokaslr " + cmdline), efi_memmap=mds,
                efi_boot=True, efi_memattr=memattr)
    b = setup.setup_start(m, PROFILE)
    setup.memblock_setup(b)
    assert b.efi is not None
    return b


@pytest.mark.parametrize(("sketch", "regions", "kw", "reserved", "kept"), [
    # |-- boot data --|          nobody else wants it: reserved now, freed late
    ("free region", [(BOOT, 512 * MiB, 520 * MiB, 0)], {},
     [(512 * MiB, 520 * MiB)], []),
    # |-- boot data [memattr] --|  already partly reserved: left alone, tagged runtime, kept
    ("holds the attributes table", [(BOOT, 512 * MiB, 520 * MiB, 0)],
     {"memattr": (512 * MiB + 0x118, 512 * MiB + 0x548)}, [], [(512 * MiB, 520 * MiB)]),
    # |-- boot code [kernel image] --|  overlaps the kernel: reserved, but never freed
    ("overlaps the kernel", [(EFI_BOOT_SERVICES_CODE, 30 * MiB, 34 * MiB, 0)], {},
     [], [(30 * MiB, 34 * MiB)]),
    # |-- boot data --|, e820 says part of it is reserved: reserved, never freed
    ("not all RAM in e820", [(BOOT, 512 * MiB, 520 * MiB, 0)],
     {"reserved_e820": (516 * MiB, 517 * MiB)}, [], [(512 * MiB, 520 * MiB)]),
    # a runtime boot services region belongs to the firmware: untouched
    ("runtime attribute", [(BOOT, 512 * MiB, 520 * MiB, EFI_MEMORY_RUNTIME)], {}, [], []),
    # page 0 is reserved already (first 64K): tagged runtime
    ("page zero", [(EFI_BOOT_SERVICES_CODE, 0, 0x1000, 0)], {}, [], [(0, 0x1000)]),
])
def test_efi_reserve_boot_services(sketch: str, regions: list[tuple[int, int, int, int]],
                                   kw: dict[str, tuple[int, int]], reserved: list[tuple[int, int]],
                                   kept: list[tuple[int, int]]) -> None:
    b = _efi_boot(regions, **kw)  # type: ignore[arg-type]
    assert b.efi is not None
    assert (b.efi.reserved, b.efi.kept) == (reserved, kept), sketch


def test_boot_services_freed_late_unless_efi_debug() -> None:
    """efi_free_boot_services() gives reserved regions back from 1 MiB up; efi=debug keeps
    them all for /sys/kernel/debug/efi."""
    regions = [(BOOT, 0x87000, 0x88000, 0), (BOOT, 0x900000, 0x1000000, 0),
               (BOOT, 1024 * MiB, 1032 * MiB, 0)]
    b = _efi_boot(regions)
    assert boot_services_freed(b) == [(0x900000, 0x1000000), (1024 * MiB, 1032 * MiB)]
    assert boot_services_freed(_efi_boot(regions, "efi=debug")) == []


# --- the OVMF hand-over model (platform/ovmf.py) ---------------------------------------------

EFI_CORPUS = Path(__file__).parent / "fixtures" / "corpus" / "efi"


def _firmware_lines(boot: str) -> str:
    """What firmware_lines.py keeps of a corpus log (without running it)."""
    keep = ("Linux version ", "Command line: ", "BIOS-e820: ", "RAMDISK: ", "ACPI: ", "efi: mem")
    log = dmesg_section((EFI_CORPUS / boot / "serial.log").read_text(errors="replace"))
    lines = [re.sub(r"^\[\s*\d+\.\d+\] ", "", ln) for ln in log.splitlines()]
    return "\n".join(ln for ln in lines if ln.startswith(keep)) + "\n"


@pytest.mark.parametrize(("boot", "memmap_at", "setup_data"), [
    # q35: the map right below the BGRT table at 0x7fb73000; ROM copies of VGA and e1000e
    ("e01_q35_efi_movable_node_hotplug_node1", 0x7FB71040,
     ((0x7DD05018, 0x7DD42058), (0x7DD43018, 0x7DD4CC58))),
    # pc: no MCFG and no SRAT, so the tables end higher; e1000's ROM is as big as e1000e's
    ("e02_pc_efi_no_srat_movablecore", 0xBFB74040,
     ((0xBDE0D018, 0xBDE4A058), (0xBDE4B018, 0xBDE54C58))),
])
def test_ovmf_handover(boot: str, memmap_at: int, setup_data: tuple[tuple[int, int], ...]) -> None:
    """Where OVMF and the stub put the kernel, the map and setup_data, as the real kernel's
    reservations show them (efi_memblock_x86_reserve_range, e820: update ... ==> usable)."""
    m = machine_from_boot_log(_firmware_lines(boot), boot)
    assert is_ovmf(m) and m.efi_boot
    assert m.kernel_load == 0x1600000  # the 64 MiB Loader Code region
    assert m.efi_memmap_at is None  # the stub's request decides it: 6.1 asks 8 slots more
    assert efi_memmap_at(m, load_profile("debian-6.1-amd64").efi_mmap_nr_slack_slots) == \
        memmap_at
    assert m.setup_data == setup_data
    assert [what for what, _ in m.unknown_inputs] == [UNKNOWN_EFI_MEMATTR]


def test_other_uefi_firmware_is_unknown_not_guessed() -> None:
    """An EFI map from firmware that is not OVMF: the kernel model applies, but where the
    boot loader put things is not modelled, so it is unknown."""
    text = _firmware_lines("e01_q35_efi_movable_node_hotplug_node1").replace("BOCHS", "DELL ")
    m = machine_from_boot_log(text, "log")
    assert not is_ovmf(m) and m.efi_boot and m.kernel_load is None
    assert {what for what, _ in m.unknown_inputs} >= {
        UNKNOWN_KERNEL_LOAD, UNKNOWN_EFI_MEMMAP_AT, UNKNOWN_SETUP_DATA}


def test_no_map_no_guess() -> None:
    """e05 booted without efi=debug: the firmware lines tell an OVMF boot by its e820, but
    nothing of what the map would tell."""
    m = machine_from_boot_log(_firmware_lines("e05_q35_efi_movable_node_no_efi_debug"), "e05")
    assert m.efi_boot and m.kernel_load is None and m.setup_data == ()
    assert {what for what, _ in m.unknown_inputs} == {
        UNKNOWN_EFI_MAP, UNKNOWN_KERNEL_LOAD, UNKNOWN_SETUP_DATA, UNKNOWN_EFI_MEMATTR,
        UNKNOWN_EFI_BGRT}


def test_kernelcore_mirror_from_the_efi_map() -> None:
    """efi_find_mirror(): memory the EFI map marks MORE_RELIABLE is mirrored; with
    kernelcore=mirror ZONE_MOVABLE then starts at the first unmirrored memory above 4 GiB
    (find_zone_movable_pfns_for_nodes), and the mirrored range stays kernel memory.

        0 ....... 2G ...... 4G ===== 5G ------------ 8G
          RAM (MR)  hole    mirrored  not mirrored: Movable
    """
    G = 1 << 30
    e820 = (E820Entry(0, 0x9F000, E820_USABLE), E820Entry(MiB, 2 * G, E820_USABLE),
            E820Entry(4 * G, 8 * G, E820_USABLE))
    mr = WB | EFI_MEMORY_MORE_RELIABLE
    mds = (EfiMemoryDescriptor(EFI_CONVENTIONAL_MEMORY, MiB, 2 * G, mr),
           EfiMemoryDescriptor(EFI_CONVENTIONAL_MEMORY, 4 * G, 5 * G, mr),
           EfiMemoryDescriptor(EFI_CONVENTIONAL_MEMORY, 5 * G, 8 * G, WB))
    m = Machine(e820=e820, cmdline=parse_cmdline("nokaslr kernelcore=mirror"), efi_memmap=mds,
                efi_boot=True, acpi_tables=(), cpus=2)
    b = setup.boot(m, PROFILE)
    assert "efi: Memory: 3071M/6143M mirrored memory" in b.log
    assert b.zones is not None and b.zones.zone_movable_pfn == {0: (5 * G) >> 12}
    assert not any("no memory is mirrored" in n for n in b.notes)
    # without kernelcore=mirror 6.1 marks nothing: no movable zone
    plain = setup.boot(dataclasses.replace(m, cmdline=parse_cmdline("nokaslr")), PROFILE)
    assert plain.zones is not None and plain.zones.zone_movable_pfn == {}


def test_machine_file_keeps_the_uefi_handover(tmp_path: Path) -> None:
    """import-log writes the EFI map and the hand-over ([efi], kernel_load, setup_data); the
    machine file reads back to the same machine."""
    boot = "e01_q35_efi_movable_node_hotplug_node1"
    m = machine_from_boot_log((EFI_CORPUS / boot / "serial.log").read_text(), boot)
    path = tmp_path / "m.toml"
    path.write_text(dump_machine(m))
    back = load_machine(str(path))
    for name in ("efi_boot", "efi_memmap", "kernel_load", "setup_data", "efi_memmap_at",
                 "efi_memdesc_size", "efi_memattr", "efi_mem_reserve", "unknown_inputs"):
        assert getattr(back, name) == getattr(m, name), name


@pytest.mark.parametrize(("text", "field"), [
    ('[[efi.memmap]]\ntype = 7\nstart = "0x1000"\nend = "0x1800"\n', "efi.memmap[0]"),
    ('[[efi.memmap]]\ntype = 7\nstart = "0x1000"\n', "efi.memmap[0].end"),
    ('[efi]\nbogus = 1\n', "efi.bogus"),
    ('[efi]\nmemattr = { start = "0x2000", end = "0x1000" }\n', "efi.memattr.end"),
])
def test_machine_file_efi_errors(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "m.toml"
    path.write_text('[[e820]]\nstart = "0"\nend = "1G"\ntype = "usable"\n' + text)
    with pytest.raises(InputError) as err:
        load_machine(str(path))
    assert f": {field}=" in str(err.value) and "\n" not in str(err.value)
