# SPDX-License-Identifier: GPL-2.0-or-later
"""memhp on the machine it runs on: ``predict --live`` and ``memhp check``.

The trees are made at test time from the committed corpus boots (tests/live_tree.py): the
initramfs dumps of each serial.log become /proc/zoneinfo, /sys/devices/system/memory and
node meminfo, the log's e820 becomes /sys/firmware/memmap and boot_params, srat.bin the
SRAT, the log itself /dev/kmsg.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_tree import boot_params, make_tree

from memhp import analysis
from memhp.cli import main
from memhp.firmware import bootlog, live
from memhp.firmware.types import E820Entry

CORPUS = Path(__file__).parent / "fixtures" / "corpus"
BOOTS_61 = sorted(p.name for p in CORPUS.glob("p[01]*"))
BOOTS_612 = sorted(f"linux-6.12/{p.name}" for p in (CORPUS / "linux-6.12").glob("p*"))
R01 = "hotplug/r01_dimm_offline_then_online_movable_then_remove"
R07 = "hotplug/r07_coldplugged_dimm_at_boot"
ALL = ["dmesg:srat", "dmesg:numa", "dmesg:node_data", "dmesg:zone_ranges",
       "dmesg:movable_zone_start", "dmesg:early_node_ranges", "dmesg:initmem",
       "dmesg:unavailable_ranges", "memblock:after_e820", "memblock:after_numa",
       "zoneinfo:layout", "zoneinfo:managed", "memory_blocks"]


def tree(boot: str, tmp_path: Path, **kw: object) -> Path:
    d = CORPUS / boot
    srat = d / "srat.bin"
    return make_tree(d / "serial.log", srat if srat.exists() else None, tmp_path / "root",
                     **kw)  # type: ignore[arg-type]


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


def check_json(root: Path, *extra: str) -> tuple[int, dict[str, object]]:
    rc, out = run(["check", "--root", str(root), "--format", "json", *extra])
    return rc, json.loads(out)


def statuses(doc: dict[str, object]) -> dict[str, str]:
    groups = doc["groups"]
    assert isinstance(groups, dict)
    return {k: v["status"] for k, v in groups.items()}


# p10's log has a console line inside its DMA zone line (see corpus/linux-6.12/README.md):
# that group differs, exactly there
GARBLED = {"linux-6.12/p10_mem_limit_truncates_hotplug_node": "dmesg:zone_ranges"}


@pytest.mark.parametrize("boot", BOOTS_61 + BOOTS_612)
def test_corpus_boot_matches(boot: str, tmp_path: Path) -> None:
    """Every group of the boot matches; the offline trial is never made live."""
    rc, doc = check_json(tree(boot, tmp_path))
    want = {**{g: "ok" for g in ALL}, "offline_trial": "not compared"}
    if boot in GARBLED:
        want[GARBLED[boot]] = "differs"
    assert statuses(doc) == want
    want_counts = (0, 13, 13, []) if boot not in GARBLED else (1, 12, 13, [])
    assert (rc, doc["matched"], doc["compared"], doc["runtime"]) == want_counts
    assert doc["kernel_release"] == ("6.12.117+deb13-amd64" if boot in BOOTS_612
                                     else "6.1.0-56-amd64")


EFI_UNKNOWN = ("memhp: unknown (EFI memory map: the EFI memory map is not in the log (boot "
               "with efi=debug to print it); OVMF's allocations are known only from it)")


@pytest.mark.parametrize("boot", sorted(f"efi/{p.name}" for p in (CORPUS / "efi").glob("e*")))
def test_uefi_boots(boot: str, tmp_path: Path) -> None:
    """UEFI boots (sys/firmware/efi exists): with the EFI map in the log (efi=debug) every
    group matches; without it (e05) what the map decides is unknown and not compared."""
    rc, doc = check_json(tree(boot, tmp_path))
    groups = doc["groups"]
    assert isinstance(groups, dict)
    unknown = {g for g, v in groups.items() if v["detail"] == EFI_UNKNOWN}
    if "no_efi_debug" in boot:
        assert unknown == {"dmesg:node_data", "memblock:after_e820", "memblock:after_numa",
                           "zoneinfo:managed"}
    else:
        assert unknown == set()
    assert (rc, doc["matched"], doc["compared"]) == (0, 13 - len(unknown), 13 - len(unknown))


@pytest.mark.parametrize("boot", ["p04_hotplug_range_holds_acpi_tables",
                                  "linux-6.12/p08_q35_four_nodes_two_hotplug"])
def test_without_the_kernel_log(boot: str, tmp_path: Path) -> None:
    """A user who may not read the kernel log: boot_params gives the e820 map and the
    initrd; the groups read from the log are not compared, and the note says why."""
    root = tree(boot, tmp_path, kernel_log=False)
    rc, doc = check_json(root)
    st = statuses(doc)
    assert {g for g, s in st.items() if s == "ok"} == {"zoneinfo:layout", "zoneinfo:managed",
                                                       "memory_blocks"}
    assert rc == 0 and doc["compared"] == 3
    notes = doc["notes"]
    assert isinstance(notes, list)
    assert notes[0].startswith(f"kernel log ({root}/dev/kmsg) not read: No such file")
    assert "ACPI table addresses are only in the kernel log" in notes[1]


def test_the_kernel_log_from_a_file(tmp_path: Path) -> None:
    """Where /dev/kmsg no longer holds the boot (or may not be read), --boot-log gives the
    kernel log, as `journalctl -k -b | memhp check --boot-log -` does."""
    boot = "linux-6.12/p05_kernelcore_two_nodes"
    root = tree(boot, tmp_path, kernel_log=False)
    rc, doc = check_json(root, "--boot-log", str(CORPUS / boot / "serial.log"))
    assert (rc, doc["matched"], doc["compared"]) == (0, 13, 13)


def test_the_kernel_log_as_journalctl_prints_it(tmp_path: Path) -> None:
    """The remedy the output suggests, `journalctl -k -b`, prefixes every line with a date,
    the host and "kernel:": its firmware lines still count as the boot's (they were taken
    for a wrapped log before, and the check fell back to sysfs)."""
    boot = "linux-6.12/p05_kernelcore_two_nodes"
    root = tree(boot, tmp_path, kernel_log=False)
    log = (CORPUS / boot / "serial.log").read_text()
    messages = bootlog.dmesg_section(log).splitlines()
    journal = tmp_path / "journal.txt"
    journal.write_text("".join(f"Nov 29 12:00:00 host kernel: {ln.split('] ', 1)[-1]}\n"
                               for ln in messages))
    lm = live.read_live_machine(str(root), (journal.read_text(), str(journal)))
    assert not any("does not hold the boot lines" in n for n in lm.machine.notes)
    rc, doc = check_json(root, "--boot-log", str(journal))
    assert (rc, doc["matched"], doc["compared"]) == (0, 13, 13)


def test_advise_adds_parameters_before_the_init_arguments() -> None:
    """After ``--`` the kernel hands everything to init: a parameter put there does
    nothing (a Firecracker command line ends in ``-- --firecracker-init ...``)."""
    assert analysis.with_params("console=ttyS0 movablecore=1G -- --init-arg movable_node",
                          "movable_node", ("movable_node", "movablecore")) == \
        "console=ttyS0 movable_node -- --init-arg movable_node"
    assert analysis.with_params("quiet", "movablecore=25%", ()) == "quiet movablecore=25%"


def test_from_the_firmware_memmap_alone(tmp_path: Path) -> None:
    """No kernel log and no boot_params (an older kernel): the e820 map comes from
    /sys/firmware/memmap, the initrd is unknown; the zones and blocks still match."""
    root = tree("p01_movable_node_hotplug_node1", tmp_path, kernel_log=False)
    (root / "sys/kernel/boot_params/data").unlink()
    rc, doc = check_json(root)
    assert (rc, doc["matched"], doc["compared"]) == (0, 3, 3)
    assert doc["notes"][1:3] == [  # type: ignore[index]
        "the firmware map comes from /sys/firmware/memmap: memory hot-added after boot above "
        "all boot memory cannot be told from boot memory",
        f"where the initrd was loaded is unknown ({root}/sys/kernel/boot_params/data: No such "
        "file or directory): predicted without one"]


def test_live_prediction_equals_the_boot_log_prediction(tmp_path: Path) -> None:
    boot = "p08_q35_four_nodes_two_hotplug"
    root = tree(boot, tmp_path)
    srat = str(CORPUS / boot / "srat.bin")
    _, from_log = run(["predict", "--boot-log", str(CORPUS / boot / "serial.log"), "--srat",
                       srat, "--format", "json"])
    for argv in (["--root", str(root)], ["--live", "--root", str(root)]):
        rc, out = run(["predict", *argv, "--format", "json"])
        assert rc == 0
        a, b = json.loads(out), json.loads(from_log)
        assert {k: v for k, v in a.items() if k not in ("notes", "kernel_profile_chosen")} == \
               {k: v for k, v in b.items() if k not in ("notes", "kernel_profile_chosen")}
    for cmd in (["explain", "--node", "2"], ["compare", "--cmdline", "", "--cmdline",
                                             "movable_node"], ["advise", "--removable", "3"]):
        rc, out = run([*cmd, "--root", str(root)])
        assert rc in (0, 1) and out
    rc, _ = run(["map", "--root", str(root), "-o", str(tmp_path / "m.svg")])
    assert rc == 0 and (tmp_path / "m.svg").read_text().startswith("<svg")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_a_block_offlined_by_hand_is_the_first_difference(tmp_path: Path) -> None:
    root = tree("p08_q35_four_nodes_two_hotplug", tmp_path)
    (root / "sys/devices/system/memory/memory40/state").write_text("offline\n")
    (root / "sys/devices/system/memory/memory40/valid_zones").write_text("Normal Movable\n")
    rc, out = run(["check", "--root", str(root)])
    assert rc == 1
    assert ("memory_blocks                DIFFERS: 1 block differs; first memory40: real "
            "{'state': 'offline', 'valid_zones': ['Normal', 'Movable'], 'nodes': [1]} != "
            "predicted {'state': 'online', 'valid_zones': ['Normal'], 'nodes': [1]}") in out
    assert out.endswith("groups matched: 12/13 (1 not compared)\n"
                        "result: the running kernel differs from the prediction; likely "
                        "reasons:\n"
                        "  - memory onlined or offlined by hand after boot: memory40 (a write "
                        "to memoryN/state, or a tool such as chmem or udev rules)\n")


def test_managed_pages_taken_after_boot(tmp_path: Path) -> None:
    root = tree("linux-6.12/p01_movable_node_hotplug_node1", tmp_path)
    zi = root / "proc/zoneinfo"
    text = zi.read_text()
    i = text.index("Node 1, zone  Movable")
    j = text.index("managed", i)
    k = text.index("\n", j)
    managed = int(text[j:k].split()[1])
    zi.write_text(text[:j] + f"managed  {managed - 256}" + text[k:])
    rc, doc = check_json(root)
    groups = doc["groups"]
    assert isinstance(groups, dict)
    assert rc == 1 and [g for g, s in statuses(doc).items() if s == "differs"] == \
        ["zoneinfo:managed"]
    assert groups["zoneinfo:managed"]["detail"] == (f"node 1 zone Movable managed: real "
                                                    f"{managed - 256} != predicted {managed}")
    assert doc["reasons"] == ["only managed pages differ: they change after boot (balloon "
                              "drivers, free page reporting, memory failure, hugetlb or CMA "
                              "set-up)"]


def test_another_command_line_than_the_booted_one(tmp_path: Path) -> None:
    root = tree("p02_hotplug_srat_without_movable_node", tmp_path)
    rc, doc = check_json(root, "--cmdline", "console=ttyS0 nokaslr movable_node")
    reasons = doc["reasons"]
    assert rc == 1 and isinstance(reasons, list)
    assert reasons[0].startswith("the command line differs from the one this kernel booted "
                                 "with ('console=ttyS0 nokaslr loglevel=7 memblock=debug "
                                 "tryoffline')")


DIMM = ("memory blocks {} are not in the boot firmware map's RAM: added by a driver during or "
        "after boot (ACPI memory devices (hot-added DIMMs))")
MOVABLE_1 = "  not compared, as memory onlined after boot changed them: zone Movable of node 1"


@pytest.mark.parametrize("boot,state,runtime", [
    (R01, "AFTER_ADD", [DIMM.format("40-47"), "  memory40-47: offline, node 1"]),
    (R01, "AFTER_ONLINE", [DIMM.format("40-47"), "  memory40-47: online in zone Movable, "
                           "node 1", MOVABLE_1]),
    (R01, "AFTER_REMOVE", []),
    # a DIMM present at boot (-device pc-dimm) is added by the ACPI driver during boot
    (R07, None, [DIMM.format("40-55"), "  memory40-55: online in zone Movable, node 1",
                 MOVABLE_1]),
    (R07, "AFTER_REMOVE", []),
])
@pytest.mark.parametrize("kernel_log", [True, False])
def test_memory_added_by_drivers_is_runtime_state(boot: str, state: str | None,
                                                  runtime: list[str], kernel_log: bool,
                                                  tmp_path: Path) -> None:
    """A 1 GiB DIMM hot-added to node 1 (corpus r01), left offline, onlined movable,
    removed; a DIMM present at boot (r07), removed: the boot model matches throughout, the
    DIMMs are shown as runtime state.  Without the kernel log and boot_params the firmware
    map comes from /sys/firmware/memmap, whose entry for a hot-added DIMM is left out."""
    root = tree(boot, tmp_path, state=state, kernel_log=kernel_log)
    if not kernel_log:
        (root / "sys/kernel/boot_params/data").unlink()
    rc, doc = check_json(root)
    assert (rc, doc["matched"], doc["runtime"]) == (0, 13 if kernel_log else 3, runtime)


@contextlib.contextmanager
def denied(*paths: Path) -> Iterator[None]:
    """Reads of ``paths`` fail as for an unprivileged user (EACCES), even as root."""
    real_open, real_os_open = builtins.open, os.open
    deny = {str(p) for p in paths}

    def check(path: object) -> None:
        if str(path) in deny:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    def fake_open(path: object, *a: object, **kw: object) -> object:
        check(path)
        return real_open(path, *a, **kw)  # type: ignore[call-overload]

    def fake_os_open(path: object, *a: object, **kw: object) -> int:
        check(path)
        return real_os_open(path, *a, **kw)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(live, "open", fake_open, raising=False)
        mp.setattr(os, "open", fake_os_open)
        yield


def test_what_cannot_be_read_is_named(tmp_path: Path) -> None:
    root = tree("p01_movable_node_hotplug_node1", tmp_path)
    with denied(root / "dev/kmsg", root / "sys/firmware/acpi/tables/SRAT",
                root / "sys/firmware/acpi/tables/APIC"):
        lm = live.read_live_machine(str(root))
        rc, out = run(["check", "--root", str(root)])
    assert lm.machine.srat is None and lm.kernel_log == ""
    assert lm.machine.notes[0] == (
        f"kernel log ({root}/dev/kmsg) not read: Permission denied (kernel.dmesg_restrict=1: "
        "needs root or CAP_SYSLOG); without it the ACPI table addresses are unknown")
    assert (f"{root}/sys/firmware/acpi/tables/SRAT not readable (needs root): the NUMA layout "
            "and hot-pluggable ranges are unknown; predicted as if the firmware gave no SRAT"
            ) in lm.machine.notes
    # the table is still listed with its length
    assert [t.length for t in lm.machine.acpi_tables if t.signature == "APIC"] == [0x80]
    # without the SRAT node 1 is missing: a difference, with the reason
    assert rc == 1
    assert "  - the input was incomplete: " + lm.machine.notes[-1] in out


@pytest.mark.parametrize("possible", ["0-" + "9" * 5000, "\u00b2", "0-3,x"])
def test_a_cpu_list_int_refuses_is_no_cpu_count(possible: str, tmp_path: Path) -> None:
    """/sys/devices/system/cpu/possible of a copied tree (--root) that is not a cpulist:
    int() refuses 5000 digits and "\u00b2" (which str.isdigit() lets through); the file
    then tells nothing, as if missing, and the kernel log's count (2) stands."""
    root = tree("p09_no_srat_movablecore_percent", tmp_path)
    (root / "sys/devices/system/cpu/possible").write_text(possible + "\n")
    assert live.read_live_machine(str(root)).machine.cpus == 2
    (root / "sys/devices/system/cpu/possible").write_text("0-3\n")  # read when it is one
    assert live.read_live_machine(str(root)).machine.cpus == 4


def test_boot_params_reader() -> None:
    data = boot_params([(0, 0x9FC00, 1), (0x100000, 0xC0000000, 1), (0x100000000,
                        0x500000000, 1)], (0x1_2345_6000, 0x1_2395_6123))
    e820, initrd = live.parse_boot_params(data, "boot_params")
    assert e820 == (E820Entry(0, 0x9FC00, "usable"), E820Entry(0x100000, 0xC0000000, "usable"),
                    E820Entry(0x100000000, 0x500000000, "usable"))
    assert initrd == (0x1_2345_6000, 0x1_2395_7000)  # the end page-aligned
    bare = bytearray(data)
    bare[0x202:0x206] = b"\0\0\0\0"  # no "HdrS" (a direct 64-bit boot): still read
    assert live.parse_boot_params(bytes(bare), "b")[1] == initrd
    bare[0x21C:0x220] = bare[0x0C4:0x0C8] = b"\0\0\0\0"  # no size: no initrd
    assert live.parse_boot_params(bytes(bare), "b")[1] is None
    with pytest.raises(Exception, match="shorter than struct boot_params"):
        live.parse_boot_params(data[:100], "b")


def test_kmsg_records_read_as_dmesg_lines(tmp_path: Path) -> None:
    kmsg = tmp_path / "dev" / "kmsg"
    kmsg.parent.mkdir()
    kmsg.write_text("6,0,0,-;Linux version 6.1.0-56-amd64 (x)\n"
                    "6,1,12,-;BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
                    " SUBSYSTEM=acpi\n")
    text, why = live.read_kernel_log(str(tmp_path))
    assert why == ""
    assert text.splitlines() == ["[    0.000000] Linux version 6.1.0-56-amd64 (x)",
                                 "[    0.000012] BIOS-e820: [mem 0x0000000000000000-"
                                 "0x000000000009fbff] usable", " SUBSYSTEM=acpi"]


def test_memmap_entries_added_after_boot_are_left_out() -> None:
    boot = (E820Entry(0, 0x9FC00, "usable"), E820Entry(0x100000, 0xC0000000, "usable"),
            E820Entry(0xFD00000000, 0x10000000000, "reserved"))
    added = (E820Entry(0x140000000, 0x180000000, "usable"),)
    assert live._memmap_at_boot(boot + added) == (boot, 1)
    assert live._memmap_at_boot(boot) == (boot, 0)


def test_struct_layout_of_the_generated_boot_params() -> None:
    data = boot_params([(0, 0x1000, 2)], None)
    assert (data[0x1E8], struct.unpack_from("<QQI", data, 0x2D0)) == (1, (0, 0x1000, 2))


def test_this_machine(capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever machine the tests run on (bare metal, VM, container without SRAT or
    firmware map), predict --live and check give a complete answer: no traceback, a
    verdict for every group, exit 0, 1, or 2 with a one-line error."""
    rc = main(["check"])
    out, err = capsys.readouterr()
    if rc == 2:
        assert err.startswith("memhp: error: ") and err.count("\n") == 1
        return
    assert rc in (0, 1) and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("memhp check: this machine, running Linux ")
    assert sum(1 for ln in lines if ln.split()[:1] and ln.split()[0] in ALL) == 13
    assert any(ln.startswith("groups matched: ") for ln in lines)
    verdict = next(ln for ln in lines if ln.startswith("result: "))
    assert verdict == ("result: the running kernel matches the prediction" if rc == 0 else
                       "result: the running kernel differs from the prediction; likely "
                       "reasons:")
    rc, doc = check_json(Path("/"))
    assert rc in (0, 1) and len(statuses(doc)) == 14
    assert main(["predict", "--live"]) == 0
    assert capsys.readouterr().out.startswith("memhp prediction for this machine")
