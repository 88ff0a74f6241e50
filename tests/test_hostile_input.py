# SPDX-License-Identifier: GPL-2.0-or-later
"""Hostile input: every reader, and ``memhp predict`` as a whole, on mutated real inputs.

The readers are the SRAT binary, acpidump and ``iasl -d`` text, ``BIOS-e820:`` lines,
/sys/firmware/memmap, the command line, machine files and whole boot logs.  Each starts from
a real fixture that is then truncated, bit-flipped, has bytes changed, lines or subtables
duplicated, dropped and reordered, lengths and checksums broken (or fixed up so the damage
gets further), and huge, zero or overflowing numbers spliced in.  A reader must give a
result or an ``InputError`` that names the file and the field on one line; ``memhp
predict`` must exit 0 or 2 (with a one-line message) and never show a traceback.

Where a mutated input parses but is odd, the kernel model (``memhp.kernel``,
``memhp.output``) has to cope: a traceback from there fails these tests too, and the message
says it came from the model.  The minimal reproducers of the model crashes the fuzz runs
found are kept at the end; the model copes with all of them now.

Also here: one regression test per reader crash the fuzzer (``bench/fuzz.py``) found.
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

import mutations
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from memhp.cli import main
from memhp.errors import InputError
from memhp.firmware import acpi, bootlog, cmdline, e820, hotplug, machine_file
from memhp.firmware.types import (
    E820_TYPES,
    AcpiTable,
    CommandLine,
    E820Entry,
    Machine,
    Srat,
    SratMemory,
)

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
SRAT_BINS = sorted({p.read_bytes() for p in (FIXTURES / "acpi").glob("*.srat.bin")})
ACPIDUMPS = [p.read_bytes() for p in sorted((FIXTURES / "acpi").glob("*.acpidump.txt"))]
IASLS = [p.read_bytes() for p in sorted((FIXTURES / "acpi").glob("*.dsl"))]
FW_LOGS = [p.read_bytes() for p in sorted((FIXTURES / "firmware").glob("*.fw.log"))]
MACHINE_FILES = [p.read_bytes() for p in sorted((ROOT / "examples").glob("*.toml"))
                 + sorted((FIXTURES / "machines").glob("*.toml"))]
# the corpus-sized machines only: a server example takes seconds to predict
SMALL_MACHINE_FILES = [p.read_bytes() for p in sorted((ROOT / "examples").glob("p*.toml"))
                       + sorted((FIXTURES / "machines").glob("*.toml"))]
P01_SRAT = (FIXTURES / "machines" / "p01.srat.bin").read_bytes()
MODEL_PARTS = (os.sep + os.path.join("memhp", "kernel") + os.sep,
               os.sep + os.path.join("memhp", "output") + os.sep)
# Seconds one prediction may take before it counts as a hang.  The bundled examples take
# well under 0.1 s, and so does the model of RAM up to the kernel's 4 PiB; an output that
# lists many blocks one by one takes its size, more on a loaded CI machine.
MODEL_TIMEOUT = 30.0

T = TypeVar("T")


# ---------------------------------------------------------------------------- mutations
# The operators are bench/fuzz.py's (tests/mutations.py); here hypothesis makes their
# choices through the Random it draws, so a failing example shrinks.

_RNG = st.randoms(use_true_random=False)


def _mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed after one to eight mutations: truncation, bit flips, changed, inserted,
    deleted and duplicated bytes, repeated, dropped and reordered lines, huge numbers and
    odd characters."""
    return st.builds(lambda rng, seed: mutations.mutate_text(rng, seed, seeds), _RNG,
                     st.sampled_from(seeds))


def _mutated_srat() -> st.SearchStrategy[bytes]:
    """A mutated SRAT binary: subtables duplicated, dropped, reordered or given absurd
    fields, then byte damage; length and checksum are usually fixed up afterwards so the
    damage reaches the subtables."""
    return st.builds(lambda rng, seed: mutations.mutate_srat(rng, seed, SRAT_BINS), _RNG,
                     st.sampled_from(SRAT_BINS))


def _acpidump(data: bytes) -> bytes:
    return acpi.format_acpidump([("SRAT", data)]).encode()


# ---------------------------------------------------------------------------- checks


def _result_or_input_error(call: Callable[[], T]) -> T | None:
    """The reader's result, or None after an InputError that names the file and the field
    on one line; anything else propagates and fails the test."""
    try:
        return call()
    except InputError as error:
        note(f"InputError: {error}")
        assert error.source and error.field
        assert "\n" not in str(error) and "\r" not in str(error)
        return None


class Hang(BaseException):
    """No answer within the time limit (a BaseException: no ``except Exception`` in the code
    under test may swallow it)."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def fire(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    if not hasattr(signal, "setitimer"):
        yield
        return
    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _in_model(error: BaseException) -> str | None:
    """Where in the kernel model or the renderers ``error`` was raised, if it was."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if os.sep + "memhp" + os.sep in f.filename]
    if frames and any(part in frames[-1].filename for part in MODEL_PARTS):
        last = frames[-1]
        return f"{last.filename.rsplit(os.sep + 'memhp' + os.sep, 1)[1]}:{last.lineno}"
    return None


def _predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    """``memhp predict`` must exit 0 or 2, with one line on stderr when 2, never a
    traceback, never a hang."""
    capsys.readouterr()
    try:
        with _alarm(MODEL_TIMEOUT):
            rc = main(["predict", *argv])
    except (Exception, SystemExit, Hang) as error:
        where = _in_model(error)
        side = f"the kernel model ({where})" if where else "a reader or the CLI"
        raise AssertionError(f"predict {argv}: {type(error).__name__} from {side}") from error
    out, err = capsys.readouterr()
    assert rc in (0, 2), (rc, err)
    assert "Traceback" not in err
    if rc == 2:
        assert err.startswith("memhp: error: ") and err.count("\n") == 1, err
    else:
        assert out
    return rc


# ---------------------------------------------------------------------------- readers


@settings(max_examples=500, deadline=None)
@given(_mutated_srat())
def test_srat_binary(data: bytes) -> None:
    srat = _result_or_input_error(lambda: acpi.parse_srat(data, "srat.bin"))
    if srat is not None:  # whatever parses must encode and parse back the same
        assert acpi.parse_srat(acpi.encode_srat(srat), "again") == srat


@settings(max_examples=300, deadline=None)
@given(st.one_of(_mutated(ACPIDUMPS), _mutated_srat().map(_acpidump)))
def test_acpidump(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    tables = _result_or_input_error(lambda: acpi.parse_acpidump(text, "dump.txt"))
    for blob in (tables or {}).get("SRAT", []):
        _result_or_input_error(lambda blob=blob: acpi.parse_srat(blob, "dump.txt"))


@settings(max_examples=300, deadline=None)
@given(_mutated(IASLS))
def test_iasl(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    _result_or_input_error(lambda: acpi.parse_iasl_srat(text, "srat.dsl"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(_mutated_srat(), _mutated(ACPIDUMPS), _mutated(IASLS),
                 st.binary(max_size=64)))
def test_load_srat_any_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "SRAT")
        Path(path).write_bytes(data)
        _result_or_input_error(lambda: acpi.load_srat(path))
        _result_or_input_error(lambda: acpi.load_srat(tmp))  # the directory form


@settings(max_examples=400, deadline=None)
@given(_mutated(FW_LOGS))
def test_e820_lines(data: bytes) -> None:
    entries = _result_or_input_error(
        lambda: e820.parse_e820_lines(data.decode("utf-8", "replace"), "fw.log"))
    if entries:
        assert all(x.start < x.end <= 1 << 64 for x in entries)
        assert len(set(entries)) == len(entries)
        e820.sanitize_e820(entries)


_U64 = st.one_of(st.sampled_from(mutations.INTERESTING), st.integers(0, (1 << 64) - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_U64, _U64, st.sampled_from([*E820_TYPES, "type 0", "type 99",
                                                       "type 4294967295", "bogus"])),
                max_size=12))
def test_e820_absurd_numbers(rows: list[tuple[int, int, str]]) -> None:
    """Addresses near 2^64, end below start, single-byte and duplicate entries."""
    text = "".join(f"BIOS-e820: [mem {s:#018x}-{last:#018x}] {kind}\n" for s, last, kind in rows)
    entries = _result_or_input_error(lambda: e820.parse_e820_lines(text, "fw.log"))
    if entries is not None:
        assert all(last >= s for s, last, _ in rows)
        for entry in e820.sanitize_e820(entries):
            assert entry.start < entry.end <= 1 << 64


MEMMAP_TREE = mutations.read_tree(FIXTURES / "memmap")


@settings(max_examples=100, deadline=None)
@given(_RNG)
def test_sys_firmware_memmap(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mutations.write_tree(mutations.mutate_memmap(rng, MEMMAP_TREE), Path(tmp))
        root = Path(tmp) / "memmap"
        root.mkdir(exist_ok=True)
        entries = _result_or_input_error(lambda: e820.read_sys_firmware_memmap(str(root)))
        if entries:
            assert list(entries) == sorted(entries, key=lambda x: (x.start, x.end))
            e820.sanitize_e820(entries)


_CMDLINE_SEEDS = [b"console=ttyS0 nokaslr movable_node kernelcore=50% movablecore=1G mem=4G",
                  b'numa=off memblock=debug "quoted arg" kernelcore=mirror -- init=/bin/sh',
                  b"mem=0x100000000 movablecore=0x40000000 kernelcore=25% numa=fake=4"]


@settings(max_examples=400, deadline=None)
@given(st.builds(mutations.mutate_cmdline, _RNG, st.just(_CMDLINE_SEEDS)))
def test_cmdline(data: bytes) -> None:
    """The kernel boots whatever its handlers make of a command line: never an error."""
    parsed = cmdline.parse_cmdline(data.decode("utf-8", "surrogateescape"))
    assert isinstance(parsed, CommandLine)
    assert parsed.mem is None or 0 < parsed.mem < 1 << 64


def _round_trip(m: Machine) -> None:
    """What ``import-log`` writes, ``predict`` reads back as the same machine."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.toml")
        Path(path).write_text(machine_file.dump_machine(m), encoding="utf-8")
        assert machine_file.load_machine(path) == m


@settings(max_examples=300, deadline=None)
@given(_mutated(MACHINE_FILES))
def test_machine_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "p01.srat.bin").write_bytes(P01_SRAT)
        path = os.path.join(tmp, "machine.toml")
        Path(path).write_bytes(data)
        m = _result_or_input_error(lambda: machine_file.load_machine(path))
    if m is not None:
        _round_trip(m)


@settings(max_examples=300, deadline=None)
@given(_mutated(FW_LOGS))
def test_boot_log(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    m = _result_or_input_error(lambda: bootlog.machine_from_boot_log(text, "fw.log"))
    if m is not None:
        _round_trip(m)


# ---------------------------------------------------------------------------- the CLI


@pytest.fixture(scope="module")
def _predict_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("predict")
    (d / "p01.srat.bin").write_bytes(P01_SRAT)
    return d


_CLI = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@_CLI
@given(_mutated(SMALL_MACHINE_FILES))
def test_predict_mutated_machine_file(_predict_dir: Path, capsys: pytest.CaptureFixture[str],
                                      data: bytes) -> None:
    path = _predict_dir / "machine.toml"
    path.write_bytes(data)
    _predict([str(path)], capsys)


@_CLI
@given(_mutated(FW_LOGS))
def test_predict_mutated_boot_log(_predict_dir: Path, capsys: pytest.CaptureFixture[str],
                                  data: bytes) -> None:
    path = _predict_dir / "fw.log"
    path.write_bytes(data)
    _predict(["--boot-log", str(path), "--format", "json"], capsys)


@_CLI
@given(st.one_of(_mutated_srat(), _mutated_srat().map(_acpidump), _mutated(IASLS)),
       st.sampled_from(FW_LOGS))
def test_predict_mutated_srat(_predict_dir: Path, capsys: pytest.CaptureFixture[str],
                              srat: bytes, log: bytes) -> None:
    (_predict_dir / "srat").write_bytes(srat)
    (_predict_dir / "base.log").write_bytes(log)
    _predict(["--boot-log", str(_predict_dir / "base.log"), "--srat",
              str(_predict_dir / "srat"), "--format", "dmesg"], capsys)


_STEP = st.integers(0, 96).map(lambda n: n << 27)  # 128 MiB steps up to 12 GiB
_ODD_E820 = st.builds(lambda s, n, t: E820Entry(s, s + n, t), _STEP,
                      st.one_of(_STEP.filter(bool), st.sampled_from([1, 0x1000, 0x9FC00])),
                      st.sampled_from(["usable"] * 4 + list(E820_TYPES) + ["type 9"]))
_ODD_MEM = st.builds(SratMemory, st.integers(0, 3), _STEP,
                     st.one_of(_STEP, st.just(0), st.just(0x1000)),
                     st.sampled_from([1, 1, 3, 0, 7, 0xFFFFFFFF]))
_ODD_MACHINE = st.builds(
    Machine,
    e820=st.lists(_ODD_E820, min_size=1, max_size=8).map(tuple),  # any order, overlaps
    srat=st.one_of(st.none(), st.lists(_ODD_MEM, max_size=8).map(lambda e: Srat(tuple(e)))),
    cmdline=st.sampled_from(["nokaslr", "nokaslr movable_node", "nokaslr kernelcore=50%",
                             "nokaslr movablecore=1G mem=3G", "nokaslr numa=off",
                             "nokaslr kernelcore=101% movablecore=100%", "mem=1 nokaslr",
                             "memblock=debug nokaslr"]).map(cmdline.parse_cmdline),
    initrd=st.one_of(st.none(), st.builds(lambda s: (s, s + 0x800000), _STEP)),
    cpus=st.one_of(st.none(), st.integers(1, 8)),
)


@_CLI
@given(_ODD_MACHINE)
def test_predict_odd_machines(_predict_dir: Path, capsys: pytest.CaptureFixture[str],
                              machine: Machine) -> None:
    """What parses but is odd: e820 out of order and overlapping, SRAT ranges overlapping,
    zero-length or outside RAM, RAM above mem=, a tiny machine.  The model must cope."""
    path = _predict_dir / "odd.toml"
    path.write_text(machine_file.dump_machine(machine), encoding="utf-8")
    _predict([str(path), "--format", "text"], capsys)


def test_predict_missing_and_odd_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files that are not there, directories, empty files: exit 2, one line."""
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    for argv in ([str(tmp_path / "nope.toml")], [str(tmp_path)], [str(empty)],
                 ["--boot-log", str(empty)], ["--boot-log", str(tmp_path / "nope")],
                 ["--boot-log", str(FIXTURES / "firmware" / "p01_movable_node_hotplug_node1"
                                    ".fw.log"), "--srat", str(empty)]):
        assert _predict(argv, capsys) == 2


# ---------------------------------------------------------------------------- regressions
# One test per reader crash bench/fuzz.py found; each failed with a traceback before.


def _write(tmp_path: Path, text: str | bytes, name: str = "m.toml") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


MINIMAL = '[[e820]]\nstart = 0\nsize = "1G"\ntype = "usable"\n'


@pytest.mark.parametrize("toml", [
    "cpus = " + "9" * 5000 + "\n",  # tomllib: ValueError from int(), not TOMLDecodeError
    "x = " + "[" * 3000 + "]" * 3000 + "\n",  # tomllib: RecursionError
])
def test_machine_file_toml_the_parser_chokes_on(tmp_path: Path, toml: str) -> None:
    path = _write(tmp_path, toml + MINIMAL)
    with pytest.raises(InputError) as err:
        machine_file.load_machine(path)
    assert err.value.source == path and err.value.field == "file"


def test_machine_file_integer_too_long_to_print(tmp_path: Path) -> None:
    """A TOML hex integer of 5000 digits has no decimal repr (int max str digits)."""
    path = _write(tmp_path, "cpus = 0x" + "f" * 5000 + "\n" + MINIMAL)
    with pytest.raises(InputError) as err:
        machine_file.load_machine(path)
    assert err.value.field == "cpus" and err.value.value == "0x" + "f" * 5000
    str(err.value)


def test_machine_file_toml_error_names_the_right_line(tmp_path: Path) -> None:
    """tomllib counts only \\n as a line break; the quoted line must be the same one."""
    path = _write(tmp_path, 'description = "a\u2028b\x85c"\nname = = 1\n' + MINIMAL)
    with pytest.raises(InputError) as err:
        machine_file.load_machine(path)
    assert err.value.field == "line 2" and err.value.value == "name = = 1"


def test_e820_ending_at_2_64_round_trips(tmp_path: Path) -> None:
    """A BIOS-e820 line may end at 0xffffffffffffffff: import-log wrote end =
    0x10000000000000000, which the machine file then refused (17 hex digits)."""
    log = "BIOS-e820: [mem 0x0000000000000000-0xffffffffffffffff] reserved\n"
    m = bootlog.machine_from_boot_log(log, "fw.log")
    assert m.e820 == (E820Entry(0, 1 << 64, "reserved"),)
    path = _write(tmp_path, machine_file.dump_machine(m))
    assert machine_file.load_machine(path) == m
    path = _write(tmp_path, '[[e820]]\nstart = 0\nend = "0x10000000000000001"\ntype = "usable"\n')
    with pytest.raises(InputError, match="out of range"):
        machine_file.load_machine(path)


def test_srat_memory_past_2_64_round_trips(tmp_path: Path) -> None:
    """Base and length are two u64 fields: a binary SRAT may say base + length > 2^64 (the
    kernel's end wraps).  The machine file refused what import-log wrote for it."""
    srat = Srat((SratMemory(0, (1 << 64) - 0x1000, 0x40000000, 3),))
    data = acpi.encode_srat(srat)
    assert acpi.parse_srat(data, "srat.bin") == srat
    m = Machine(e820=(E820Entry(0, 1 << 30, "usable"),), srat=srat)
    path = _write(tmp_path, machine_file.dump_machine(m))
    assert machine_file.load_machine(path) == m
    # given with end = instead, it still has to stay below 2^64
    path = _write(tmp_path, MINIMAL + '[[srat.memory]]\npxm = 0\nbase = "0xfffffffffffff000"\n'
                  'end = "0x10000000000001000"\n')
    with pytest.raises(InputError):
        machine_file.load_machine(path)


@pytest.mark.parametrize(("line", "problem"), [
    ("ACPI: APIC 0x00000000BFFE1A53 000080 (v303 BOCHS  BXPC     00000001 BXPC 00000001)",
     "revision"),
    ("ACPI: APIC 0x00000000BFFE1A53 000080 (v" + "9" * 5000 + " BOCHS  BXPC     00000001 BXPC "
     "00000001)", "revision"),
    ("ACPI: RSDP 0x00000000000F59B0 000014 (v256 BOCHS )", "revision"),
    ("ACPI: APIC 0x00000000BFFE1A53 000080 (v\u0661 BOCHS  BXPC     00000001 BXPC 00000001)",
     "malformed"),
])
def test_acpi_table_revision_must_fit_a_byte(line: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as err:
        bootlog.parse_acpi_table_lines(line, "fw.log")
    assert err.value.field == "line 1"


def test_acpi_table_revision_leading_zeros() -> None:
    line = "ACPI: APIC 0x00000000BFFE1A53 000080 (v0003 BOCHS  BXPC     00000001 BXPC 00000001)"
    assert bootlog.parse_acpi_table_lines(line, "fw.log")[0].revision == 3


def test_acpi_oem_id_beyond_latin1_round_trips(tmp_path: Path) -> None:
    """ACPICA prints an unprintable ID byte as '?'; a mangled log (U+FFFD after decoding)
    gave an OEM ID the machine file could not hold."""
    line = ("ACPI: APIC 0x00000000BFFE1A53 000080 (v01 BOC\ufffdS  BXP\u20acC    00000001 BXPC "
            "00000001)")
    (table,) = bootlog.parse_acpi_table_lines(line, "fw.log")
    assert table == AcpiTable("APIC", 0xBFFE1A53, 0x80, 1, "BOC?S ", "BXP?C   ")
    m = Machine(e820=(E820Entry(0, 1 << 30, "usable"),), acpi_tables=(table,))
    assert machine_file.load_machine(_write(tmp_path, machine_file.dump_machine(m))) == m


def test_iasl_offset_too_long_for_int() -> None:
    text = "[" + "0" * 5000 + "h " + "0" * 5000 + "   4]  Signature : \"SRAT\"\n"
    with pytest.raises(InputError, match="malformed iasl field line"):
        acpi.parse_iasl_srat(text, "srat.dsl")


def test_cmdline_percentage_too_long_to_print() -> None:
    """kernelcore=<5000 digits>%: the note printed the unwrapped number (ValueError);
    simple_strtoull wraps to 64 bits before cmdline_parse_core looks at it."""
    parsed = cmdline.parse_cmdline("kernelcore=" + "9" * 5000 + "%")
    assert parsed.kernelcore is not None
    assert parsed.kernelcore.percent == (10**5000 - 1) % (1 << 64)
    # 2^64 % wraps to 0: "no percentage", as in the kernel
    assert cmdline.parse_cmdline(f"movablecore={1 << 64}%").movablecore == \
        cmdline.parse_cmdline("movablecore=0%").movablecore


@pytest.mark.parametrize(("call", "field"), [
    (lambda: hotplug.parse_mem("9" * 5000, "m.toml"), "mem"),  # bench/fuzz.py: ValueError
    (lambda: hotplug.parse_mem("1G,maxmem=" + "9" * 5000, "m.toml"), "mem.maxmem"),
    (lambda: hotplug.block_range("1" * 5000, "s.toml", "offline"), "offline"),
    (lambda: hotplug.parse_add("1G@1:" + "9" * 5000, "cli", "--add", 0), "--add"),
    # 2^64 bytes or more: QEMU's sizes are 64-bit (the machine file wrote back 23 digits)
    (lambda: hotplug.parse_mem("18446744072635809792G", "m.toml"), "mem"),
    (lambda: hotplug.parse_mem("16E", "m.toml"), "mem"),
    (lambda: hotplug.parse_mem(1 << 44, "m.toml"), "mem"),  # MiB
    (lambda: hotplug.parse_mem(-1, "m.toml"), "mem"),
])
def test_hotplug_numbers_of_thousands_of_digits(call: Callable[[], object], field: str) -> None:
    """int() refuses decimal strings of thousands of digits (a ValueError); the patterns
    take no more digits than a 64-bit value has, and a size must fit in 64 bits."""
    with pytest.raises(InputError) as err:
        call()
    assert err.value.field == field


def test_qemu_slots_int_refuses_are_no_slots() -> None:
    assert hotplug.parse_mem("4G,slots=" + "9" * 5000, "m.toml").slots == 0
    assert hotplug.parse_mem("4G,slots=\u00b2", "m.toml").slots == 0  # str.isdigit() is True
    assert hotplug.parse_mem("4G,slots=4,maxmem=8G", "m.toml") == hotplug.MemSpec(4 << 30, 4,
                                                                                 8 << 30)


def test_load_srat_unreadable_names(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        acpi.load_srat(str(tmp_path / "a\0b"))
    assert err.value.field == "file"
    path = _write(tmp_path, 'srat_file = "a\\u0000b"\n' + MINIMAL)
    with pytest.raises(InputError):
        machine_file.load_machine(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_files_are_refused(tmp_path: Path) -> None:
    """srat_file = "/dev/zero" read forever (or until memory ran out)."""
    with pytest.raises(InputError, match="longer than"):
        acpi.load_srat("/dev/zero")
    with pytest.raises(InputError, match="longer than"):
        machine_file.load_machine("/dev/zero")
    memmap = tmp_path / "memmap" / "0"
    memmap.mkdir(parents=True)
    (memmap / "start").symlink_to("/dev/zero")
    with pytest.raises(InputError, match="sysfs attribute"):
        e820.read_sys_firmware_memmap(str(tmp_path / "memmap"))


def _fast(call: Callable[[], object], seconds: float = 5.0) -> None:
    t0 = time.perf_counter()
    try:
        call()
    except InputError:
        pass
    assert time.perf_counter() - t0 < seconds


N = 200_000  # each case below took minutes at this size (quadratic) before


def test_no_quadratic_regexes_on_blanks() -> None:
    blanks = " " * N
    _fast(lambda: e820.parse_e820_lines(f"BIOS-e820: [mem 0x0-0x1] a{blanks}b", "x"))
    _fast(lambda: acpi.parse_iasl_srat(f"[000h 0000   4] Signature{blanks}x", "x"))
    _fast(lambda: acpi.parse_acpidump(f"SRAT{blanks}x", "x"))
    _fast(lambda: bootlog.machine_from_boot_log(" \n" * N + "BIOS-e820: [mem 0x0-0xfff] usable",
                                                "x"))


def test_load_srat_detection_on_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, " \n" * N, "SRAT")
    _fast(lambda: acpi.load_srat(path))


def test_no_quadratic_work_on_many_entries() -> None:
    rows = "".join(f"BIOS-e820: [mem {i << 12:#018x}-{(i << 12) + 0xfff:#018x}] usable\n"
                   for i in range(50_000))
    _fast(lambda: e820.parse_e820_lines(rows * 2, "x"))
    tables = "".join(f"ACPI: SSDT 0x{i:016X} 000080 (v01 BOCHS  BXPC     00000001 BXPC "
                     "00000001)\n" for i in range(50_000))
    _fast(lambda: bootlog.parse_acpi_table_lines(tables * 2, "x"))
    overlapping = [E820Entry(i, 10**9 - i, f"type {i % 5000 + 20}") for i in range(50_000)]
    _fast(lambda: e820.sanitize_e820(overlapping))
    _fast(lambda: cmdline.parse_cmdline("mem=" + "9" * N))


def test_sanitize_many_overlapping_matches_kernel_rule() -> None:
    """The heap-based sweep gives the highest type at every point, as before."""
    entries = [E820Entry(0, 100, "usable"), E820Entry(10, 90, "reserved"),
               E820Entry(20, 80, "ACPI NVS"), E820Entry(30, 40, "reserved"),
               E820Entry(85, 95, "usable")]
    assert e820.sanitize_e820(entries) == (
        E820Entry(0, 10, "usable"), E820Entry(10, 20, "reserved"),
        E820Entry(20, 80, "ACPI NVS"), E820Entry(80, 90, "reserved"),
        E820Entry(90, 100, "usable"))


def test_sysfs_attribute_too_long(tmp_path: Path) -> None:
    entry = tmp_path / "memmap" / "0"
    entry.mkdir(parents=True)
    (entry / "start").write_text("0x0" + " " * 5000)
    with pytest.raises(InputError, match="sysfs attribute"):
        e820.read_sys_firmware_memmap(str(tmp_path / "memmap"))


# ---------------------------------------------------------------------------- model crashes
# Minimal reproducers (bench/fuzz.py --minimize) of what the --with-model runs found in the
# kernel model; each was a traceback or a hang of minutes.  Fixed in the model since.

_E820_LOW = '[[e820]]\nstart = "0x0"\nend = "0x9fc00"\ntype = "usable"\n'
MODEL_REPRODUCERS = {
    # KeyError in mm_init.memmap_init: 639 KiB of RAM and nothing else
    "only_low_ram": _E820_LOW,
    # IndexError in memblock_start_of_dram: no usable RAM at all
    "no_ram": '[[e820]]\nstart = "0x0"\nend = "0x100000"\ntype = "reserved"\n',
    # AssertionError in mm_init.memmap_init: an SRAT node (hotpluggable) with no RAM in it
    "srat_node_without_ram": _E820_LOW + '[srat]\n[[srat.memory]]\npxm = 3\n'
    'base = "0x200000000"\nlength = "0x80000000"\nhotpluggable = true\n',
    # hang / MemoryError in sparse.memblocks_present: RAM far above what the kernel maps
    "ram_to_2_64": '[[e820]]\nstart = "0x3"\nend = "0xffffffffffffffff"\ntype = "usable"\n',
    "ram_to_2_63": '[[e820]]\nstart = "0x100000"\nend = "0xd7845189ed1f3abd"\n'
    'type = "usable"\n',
    # more than 10 s, in memory_hotplug.predict_offline: 140 TiB of RAM
    "ram_140_tib": '[[e820]]\nstart = "0x1c0000000"\nend = "0x8c58373e2863"\n'
    'type = "usable"\n',
    # MemoryError in setup.possible_cpus: a QEMU MADT 4 GiB long (536 million CPUs)
    "madt_4_gib": _E820_LOW + '[[e820]]\nstart = "1M"\nend = "1G"\ntype = "usable"\n'
    '[[acpi_table]]\nsignature = "APIC"\naddress = "0x3ff00000"\nlength = "0xffffffff"\n'
    'oem_id = "BOCHS "\n',
}


# the second run's (100,000 inputs): ValueError in setup.start_kernel_allocs, with no online
# node and no CPU
MODEL_REPRODUCERS["no_cpu_no_node"] = "cpus = 0\n" + _E820_LOW

# a hypothesis find: ValueError in page_alloc.alloc_large_system_hash.  One SRAT page covers
# a page of the RAM; the rest lies outside every node and is dropped, and that one page
# holds its own memmap, so the page allocator gets nothing (refused: the kernel cannot boot)
MODEL_REPRODUCERS["no_free_page"] = (
    '[[e820]]\nstart = "0x8000000"\nend = "0x80a0000"\ntype = "usable"\n'
    '[srat]\n[[srat.memory]]\npxm = 0\nbase = "0x0"\nlength = "0x0"\n'
    '[[srat.memory]]\npxm = 0\nbase = "0x8000000"\nlength = "0x1000"\n')


# a third run's (--with-model, bootlog): a minute in x86_mm_init.memory_map_bottom_up.  With
# movable_node the direct map is made upwards from the kernel in 2M steps that grow only with
# what they map; no RAM from 640K to 48 TiB: 25 million steps that map nothing
MODEL_REPRODUCERS["direct_map_over_a_hole"] = (
    'cmdline = "movable_node"\n' + _E820_LOW
    + '[[e820]]\nstart = "0x300000000000"\nend = "0x400000000000"\ntype = "usable"\n')


@pytest.mark.parametrize("name", sorted(MODEL_REPRODUCERS))
def test_model_reproducers(name: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    _predict([_write(tmp_path, MODEL_REPRODUCERS[name])], capsys)
