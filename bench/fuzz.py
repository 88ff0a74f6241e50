#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fuzz memhp's firmware readers, and with ``--with-model`` the whole prediction.

Every input starts from a real fixture (SRAT binaries, acpidump and ``iasl -d`` text,
firmware-line logs, corpus serial logs, the /sys/firmware/memmap tree, machine files and
command lines) and is mutated: truncated, bit-flipped, bytes changed, lines or subtables
duplicated, dropped and reordered, lengths and checksums broken or fixed up again, and huge
or zero numbers spliced in.  Some inputs are generated from a mutated :class:`Machine`
(e820, SRAT, command line, initrd, ACPI tables) so that they get past the readers and
reach the model.  The mutations are tests/mutations.py's, the ones the hostile-input
tests (tests/test_hostile_input.py) draw through hypothesis.

A reader must return a result or raise ``InputError`` (naming file, field and value, on one
line).  Anything else - another exception, a hang past ``--timeout``, an ``InputError``
whose message spans lines, a machine that ``dump_machine`` writes and ``load_machine``
cannot read back unchanged - is a crash.  With ``--with-model`` each machine a reader
returns is also booted (``memhp.kernel.setup.boot``) and rendered in all three formats, as
``memhp predict`` does.

Every input is derived from ``--seed``, its number and the fixtures alone, so
``--start I --count 1`` with the same seed and target reproduces input I (as long as the
fixtures are the same).  Each crashing input is saved as a
directory under ``--crash-dir`` (its files, the traceback and the command that replays it
through the CLI where there is one).

usage: PYTHONPATH=src bench/fuzz.py [--count N] [--seed S] [--target NAME|all]
                                    [--seconds T] [--with-model] [--jobs J] [--crash-dir D]
The last line printed is ``inputs: N, crashes: C``; the exit status is 1 if C > 0.
``--atheris`` runs one target under atheris (coverage-guided) when it is installed.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
try:
    import memhp  # noqa: F401
except ImportError:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "tests"))  # the mutation library the tests share

from mutations import (  # noqa: E402
    Files,
    mutate_bytes,
    mutate_cmdline,
    mutate_machine,
    mutate_memmap,
    mutate_srat,
    mutate_text,
    read_tree,
    write_tree,
)

import memhp  # noqa: E402
from memhp.errors import InputError  # noqa: E402
from memhp.firmware import acpi, bootlog, cmdline, e820, machine_file  # noqa: E402
from memhp.firmware.types import Machine, Srat  # noqa: E402

T = TypeVar("T")
MEMHP_SRC = os.path.dirname(os.path.abspath(memhp.__file__)) + os.sep
FIXTURES = ROOT / "tests" / "fixtures"

# ---------------------------------------------------------------------------- seeds


def _unique(blobs: list[bytes]) -> list[bytes]:
    return list(dict.fromkeys(b for b in blobs if b))


def _trimmed_serial_log(text: str) -> str:
    """A corpus serial log cut down to what the readers look at: a few console lines, the
    DMESG section's first 300 lines, and the next marker."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("=====DMESG====="))
    except StopIteration:
        return "".join(lines[:300])
    tail = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("=====")),
                len(lines))
    return "".join(lines[:40] + lines[start : min(start + 300, tail)] + lines[tail : tail + 5])


@dataclasses.dataclass
class Seeds:
    srat_bin: list[bytes]
    acpidump: list[bytes]
    iasl: list[bytes]
    fw_logs: list[bytes]
    serial_logs: list[bytes]
    memmap: Files
    machine_files: list[bytes]
    cmdlines: list[bytes]
    machines: list[Machine]
    p01_srat: bytes


def load_seeds() -> Seeds:
    acpi_dir, corpus = FIXTURES / "acpi", FIXTURES / "corpus"
    srat_bin = _unique([p.read_bytes() for p in sorted(acpi_dir.glob("*.srat.bin"))]
                       + [p.read_bytes() for p in sorted(corpus.glob("*/srat.bin"))])
    fw_logs = [p.read_bytes() for p in sorted((FIXTURES / "firmware").glob("*.fw.log"))]
    serial = [_trimmed_serial_log(p.read_text(errors="replace")).encode()
              for p in sorted(corpus.glob("*/serial.log"))]
    tomls = sorted((ROOT / "examples").glob("*.toml")) + sorted(
        (FIXTURES / "machines").glob("*.toml"))
    machines = [machine_file.load_machine(str(p)) for p in sorted((ROOT / "examples").glob(
        "*.toml"))]
    cmdlines = _unique([m.cmdline.raw.encode() for m in machines] + [
        b"console=ttyS0 nokaslr movable_node kernelcore=50% movablecore=1G mem=4G numa=off",
        b'quiet "a b=c" -- init=/bin/sh movable_node',
        b"kernelcore=mirror,1G movablecore=0x40000000 memblock=debug,foo numa=offline",
        b"mem=nopentium mem= mem=0 kernelcore movablecore= numa numa=fake=4",
    ])
    return Seeds(
        srat_bin=srat_bin,
        acpidump=[p.read_bytes() for p in sorted(acpi_dir.glob("*.acpidump.txt"))],
        iasl=[p.read_bytes() for p in sorted(acpi_dir.glob("*.dsl"))],
        fw_logs=fw_logs,
        serial_logs=serial,
        memmap=read_tree(FIXTURES / "memmap"),
        machine_files=[p.read_bytes() for p in tomls],
        cmdlines=cmdlines,
        machines=machines,
        p01_srat=(FIXTURES / "machines" / "p01.srat.bin").read_bytes(),
    )


SEEDS: Seeds | None = None


def seeds() -> Seeds:
    global SEEDS
    if SEEDS is None:
        SEEDS = load_seeds()
    return SEEDS


# ---------------------------------------------------------------------------- machines


def machine_toml(m: Machine) -> bytes:
    """``dump_machine``, tolerating a cmdline that was never parsed."""
    return machine_file.dump_machine(m).encode("utf-8", "surrogatepass")


def firmware_log(rng: random.Random, m: Machine) -> bytes:
    """The firmware lines a kernel would print for ``m``."""
    stamp = rng.random() < 0.3
    lines = [f"Command line: {m.cmdline.raw}"]
    lines += [f"BIOS-e820: [mem {e.start:#018x}-{(e.end - 1) % (1 << 64):#018x}] {e.type}"
              for e in m.e820]
    if m.initrd:
        lines.append(f"RAMDISK: [mem {m.initrd[0]:#010x}-{m.initrd[1] - 1:#010x}]")
    for t in m.acpi_tables:
        if t.signature == "FACS" or t.revision is None:
            lines.append(f"ACPI: {t.signature} 0x{t.address:016X} {t.length:06X}")
        elif t.signature == "RSDP":
            lines.append(f"ACPI: RSDP 0x{t.address:016X} {t.length:06X} "
                         f"(v{t.revision:02d} {t.oem_id:<6})")
        else:
            lines.append(f"ACPI: {t.signature} 0x{t.address:016X} {t.length:06X} "
                         f"(v{t.revision:02d} {t.oem_id:<6} {t.oem_table_id:<8} 00000001 "
                         f"BXPC 00000001)")
    if stamp:
        lines = [f"[    0.{k:06d}] {line}" for k, line in enumerate(lines)]
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def encode_srat_safely(srat: Srat | None, rng: random.Random) -> bytes | None:
    if srat is None:
        return None
    try:
        data = acpi.encode_srat(srat)
    except InputError:
        return None
    return mutate_srat(rng, data, []) if rng.random() < 0.2 else data


# ---------------------------------------------------------------------------- targets


class RoundTripError(Exception):
    """A reader result that does not survive the writer and the reader again."""


class FuzzTimeout(BaseException):
    """The input took longer than --timeout (a BaseException so no ``except Exception``
    in the code under test swallows it)."""


@dataclasses.dataclass
class Target:
    name: str
    generate: Callable[[random.Random], Files]
    run: Callable[[Files, Path], Machine | None]
    replay: str  # the memhp command that replays a saved input, "" when there is none


def _base_log(rng: random.Random) -> bytes:
    return rng.choice(seeds().fw_logs)


def _boot_log_machine(files: Files) -> Machine:
    return bootlog.machine_from_boot_log(files["boot.log"].decode("utf-8", "replace"),
                                         "boot.log")


def check_round_trip(m: Machine, scratch: Path) -> None:
    """What ``import-log`` writes, ``predict`` must read back as the same machine."""
    text = machine_file.dump_machine(m)
    scratch.mkdir(parents=True, exist_ok=True)
    path = scratch / "roundtrip.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        again = machine_file.load_machine(str(path))
    except InputError as error:
        raise RoundTripError(f"dump_machine output is refused: {error}") from None
    if again != m:
        fields = [f.name for f in dataclasses.fields(Machine)
                  if getattr(again, f.name) != getattr(m, f.name)]
        raise RoundTripError(f"dump_machine -> load_machine changes {fields}")


def check_srat_round_trip(srat: Srat) -> None:
    again = acpi.parse_srat(acpi.encode_srat(srat, "encoded"), "encoded")
    if again != srat:
        raise RoundTripError("parse_srat(encode_srat(srat)) != srat")


# -- SRAT binary


def gen_srat_bin(rng: random.Random) -> Files:
    s = seeds()
    return {"srat.bin": mutate_srat(rng, rng.choice(s.srat_bin), s.srat_bin),
            "boot.log": _base_log(rng)}


def run_srat_bin(files: Files, scratch: Path) -> Machine | None:
    srat = acpi.parse_srat(files["srat.bin"], "srat.bin")
    check_srat_round_trip(srat)
    acpi.parse_table_header(files["srat.bin"], "srat.bin")
    return dataclasses.replace(_boot_log_machine(files), srat=srat)


# -- acpidump


def gen_acpidump(rng: random.Random) -> Files:
    s = seeds()
    if rng.random() < 0.5:
        srat = mutate_srat(rng, rng.choice(s.srat_bin), s.srat_bin)
        data = acpi.format_acpidump([("SRAT", srat)]).encode()
        if rng.random() < 0.5:
            data = mutate_text(rng, data, s.acpidump)
    else:
        data = mutate_text(rng, rng.choice(s.acpidump), s.acpidump)
    return {"srat.acpidump.txt": data, "boot.log": _base_log(rng)}


def run_acpidump(files: Files, scratch: Path) -> Machine | None:
    text = files["srat.acpidump.txt"].decode("utf-8", "replace")
    tables = acpi.parse_acpidump(text, "srat.acpidump.txt")
    srats = [acpi.parse_srat(t, "srat.acpidump.txt") for t in tables.get("SRAT", [])]
    for blobs in tables.values():
        for blob in blobs:
            try:
                acpi.parse_table_header(blob, "srat.acpidump.txt")
            except InputError:
                pass
    if len(srats) != 1:
        return None
    return dataclasses.replace(_boot_log_machine(files), srat=srats[0])


# -- iasl


def gen_iasl(rng: random.Random) -> Files:
    s = seeds()
    return {"srat.dsl": mutate_text(rng, rng.choice(s.iasl), s.iasl),
            "boot.log": _base_log(rng)}


def run_iasl(files: Files, scratch: Path) -> Machine | None:
    srat = acpi.parse_iasl_srat(files["srat.dsl"].decode("utf-8", "replace"), "srat.dsl")
    return dataclasses.replace(_boot_log_machine(files), srat=srat)


# -- load_srat (format detection, decoding, the file itself)


def gen_load_srat(rng: random.Random) -> Files:
    s = seeds()
    kind = rng.randrange(3)
    if kind == 0:
        data = mutate_srat(rng, rng.choice(s.srat_bin), s.srat_bin)
    elif kind == 1:
        data = mutate_text(rng, rng.choice(s.acpidump), s.acpidump)
    else:
        data = mutate_text(rng, rng.choice(s.iasl), s.iasl)
    if rng.random() < 0.2:
        data = mutate_bytes(rng, data, s.srat_bin + s.acpidump + s.iasl)
    return {"srat.bin": data, "boot.log": _base_log(rng)}


def run_load_srat(files: Files, scratch: Path) -> Machine | None:
    write_tree({"srat.bin": files["srat.bin"]}, scratch)
    srat = acpi.load_srat(str(scratch / "srat.bin"))
    return dataclasses.replace(_boot_log_machine(files), srat=srat)


# -- e820 lines


def gen_e820(rng: random.Random) -> Files:
    s = seeds()
    log = rng.choice(s.fw_logs)
    lines = [line for line in log.splitlines(keepends=True) if b"BIOS-e820" in line]
    if rng.random() < 0.3:
        m = mutate_machine(rng, rng.choice(s.machines))
        lines = firmware_log(rng, m).splitlines(keepends=True)
        lines = [line for line in lines if b"BIOS-e820" in line or rng.random() < 0.1]
    data = mutate_text(rng, b"".join(lines), s.fw_logs)
    return {"boot.log": data}


def run_e820(files: Files, scratch: Path) -> Machine | None:
    text = files["boot.log"].decode("utf-8", "replace")
    entries = e820.parse_e820_lines(text, "boot.log")
    e820.sanitize_e820(entries)
    if not entries:
        return None
    return bootlog.machine_from_boot_log(text, "boot.log")


# -- /sys/firmware/memmap


def gen_memmap(rng: random.Random) -> Files:
    return mutate_memmap(rng, seeds().memmap)


def run_memmap(files: Files, scratch: Path) -> Machine | None:
    write_tree(files, scratch)
    (scratch / "memmap").mkdir(exist_ok=True)
    entries = e820.read_sys_firmware_memmap(str(scratch / "memmap"))
    e820.sanitize_e820(entries)
    return Machine(e820=entries, cmdline=cmdline.parse_cmdline("nokaslr"))


# -- command line


def gen_cmdline(rng: random.Random) -> Files:
    s = seeds()
    return {"cmdline.txt": mutate_cmdline(rng, s.cmdlines), "boot.log": _base_log(rng)}


def run_cmdline(files: Files, scratch: Path) -> Machine | None:
    raw = files["cmdline.txt"].decode("utf-8", "surrogateescape")
    parsed = cmdline.parse_cmdline(raw)
    return dataclasses.replace(_boot_log_machine(files), cmdline=parsed)


# -- machine file


def gen_machine_file(rng: random.Random) -> Files:
    s = seeds()
    files: Files = {"p01.srat.bin": s.p01_srat}
    if rng.random() < 0.45:
        m = mutate_machine(rng, rng.choice(s.machines))
        data = machine_toml(m)
        if rng.random() < 0.3:
            data = mutate_text(rng, data, s.machine_files, rounds=1)
        if rng.random() < 0.15:
            srat = encode_srat_safely(m.srat, rng)
            if srat is not None:
                data = re.sub(rb"(?ms)^\[srat\].*", b"", data)
                data = data.replace(b"\nname =", b'\nsrat_file = "p01.srat.bin"\nname =', 1)
                files["p01.srat.bin"] = srat
    else:
        data = mutate_text(rng, rng.choice(s.machine_files), s.machine_files)
        if rng.random() < 0.1:
            data = rng.choice((
                b"a = " + b"9" * 5000 + b"\n", b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n",
                b'srat_file = "/dev/null"\n', b'srat_file = "a\\u0000b"\n',
                b'srat_file = "."\n', b"cpus = 1e9\n", b"[[e820]]\nstart = -1\n",
                b"e820 = 1\n", b"initrd = []\n", b'srat_file = "/nonexistent/x"\n',
            )) + data
    files["machine.toml"] = data
    return files


def run_machine_file(files: Files, scratch: Path) -> Machine | None:
    write_tree(files, scratch)
    m = machine_file.load_machine(str(scratch / "machine.toml"))
    check_round_trip(m, scratch)
    return m


# -- boot log


def gen_bootlog(rng: random.Random) -> Files:
    s = seeds()
    files: Files = {}
    roll = rng.random()
    if roll < 0.4:
        m = mutate_machine(rng, rng.choice(s.machines))
        data = firmware_log(rng, m)
        srat = encode_srat_safely(m.srat, rng)
        if srat is not None:
            files["srat.bin"] = srat
        if rng.random() < 0.3:
            data = mutate_text(rng, data, s.fw_logs, rounds=1)
    elif roll < 0.9:
        data = mutate_text(rng, rng.choice(s.fw_logs), s.fw_logs)
    else:
        data = mutate_text(rng, rng.choice(s.serial_logs), s.serial_logs)
    files["boot.log"] = data
    return files


def run_bootlog(files: Files, scratch: Path) -> Machine | None:
    m = _boot_log_machine(files)
    if "srat.bin" in files:
        m = dataclasses.replace(m, srat=acpi.parse_srat(files["srat.bin"], "srat.bin"))
    check_round_trip(m, scratch)
    return m


TARGETS = {t.name: t for t in (
    Target("srat-bin", gen_srat_bin, run_srat_bin,
           "memhp predict --boot-log boot.log --srat srat.bin"),
    Target("acpidump", gen_acpidump, run_acpidump,
           "memhp predict --boot-log boot.log --srat srat.acpidump.txt"),
    Target("iasl", gen_iasl, run_iasl, "memhp predict --boot-log boot.log --srat srat.dsl"),
    Target("load-srat", gen_load_srat, run_load_srat,
           "memhp predict --boot-log boot.log --srat srat.bin"),
    Target("e820", gen_e820, run_e820, "memhp predict --boot-log boot.log"),
    Target("memmap", gen_memmap, run_memmap, ""),
    Target("cmdline", gen_cmdline, run_cmdline,
           'memhp predict --boot-log boot.log --cmdline "$(cat cmdline.txt)"'),
    Target("machine-file", gen_machine_file, run_machine_file, "memhp predict machine.toml"),
    Target("bootlog", gen_bootlog, run_bootlog,
           "memhp predict --boot-log boot.log [--srat srat.bin]"),
)}

# ---------------------------------------------------------------------------- running


@dataclasses.dataclass
class Stats:
    inputs: Counter[str] = dataclasses.field(default_factory=Counter)
    input_errors: Counter[str] = dataclasses.field(default_factory=Counter)
    ok: Counter[str] = dataclasses.field(default_factory=Counter)
    booted: Counter[str] = dataclasses.field(default_factory=Counter)
    crashes: Counter[str] = dataclasses.field(default_factory=Counter)
    signatures: Counter[tuple[str, str, str]] = dataclasses.field(default_factory=Counter)
    examples: dict[tuple[str, str, str], str] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def add(self, other: Stats) -> None:
        for name in ("inputs", "input_errors", "ok", "booted", "crashes", "signatures"):
            getattr(self, name).update(getattr(other, name))
        for key, value in other.examples.items():
            self.examples.setdefault(key, value)


def _on_alarm(signum: int, frame: object) -> None:
    raise FuzzTimeout()


def crash_signature(error: BaseException, tb: TracebackType | None) -> tuple[str, str, str]:
    """(where: reader|model, exception type, innermost memhp frame)."""
    frames = [f for f in traceback.extract_tb(tb) if f.filename.startswith(MEMHP_SRC)]
    if not frames:
        return ("reader" if not isinstance(error, FuzzTimeout) else "fuzz", type(error).__name__,
                "?")
    last = frames[-1]
    rel = last.filename[len(MEMHP_SRC) :]
    where = "model" if rel.startswith(("kernel" + os.sep, "output" + os.sep)) else "reader"
    if isinstance(error, RoundTripError):
        where = "reader"
    return where, type(error).__name__, f"{rel}:{last.lineno} {last.name}"


def render_all(machine: Machine) -> None:
    from memhp import analysis
    from memhp.kernel.profile import load_profile
    from memhp.kernel.setup import boot
    from memhp.output import dmesg, json_facts, report, text

    result = boot(machine, load_profile())
    text.render(result)
    dmesg.render(result)
    json_facts.render(result)
    for block in result.blocks[:1] + result.blocks[-1:]:  # as predict --explain does
        verdict = analysis.block_verdict(result, block.id)
        if verdict is None:
            raise AssertionError(f"no verdict on block {block.id}, which the boot lists")
        report.block_text(verdict, text.PLAIN)


def input_rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 0x9E3779B97F4A7C15 + index)


def target_of(names: list[str], index: int) -> Target:
    return TARGETS[names[index % len(names)]]


@dataclasses.dataclass
class Job:
    names: list[str]
    seed: int
    start: int
    stop: int
    deadline: float
    with_model: bool
    timeout: float
    crash_dir: str
    max_per_signature: int
    scratch: str


def save_crash(job: Job, target: Target, index: int, files: Files, sig: tuple[str, str, str],
               detail: str) -> str:
    digest = hashlib.sha1(repr(sorted(files.items())).encode()).hexdigest()[:10]
    sig_hash = hashlib.sha1(repr(sig).encode()).hexdigest()[:6]
    where = Path(job.crash_dir) / f"{sig[0]}-{target.name}-{sig_hash}-{digest}"
    if where.exists():
        return str(where)
    where.mkdir(parents=True)
    for name, content in files.items():
        safe = name.replace("/", os.sep) if target.name == "memmap" else name
        path = where / "input" / safe
        parts = Path(safe).parts
        if any(p in ("", ".", "..") for p in parts) or "\0" in safe:
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        except OSError:
            pass
    replay = target.replay
    how = (f"cd {where / 'input'} && PYTHONPATH={ROOT / 'src'} python3 -m memhp "
           f"{replay.removeprefix('memhp ')}" if replay else "(no CLI path; see the target)")
    reproduce = (f"PYTHONPATH={ROOT / 'src'} python3 {Path(__file__).resolve()} --target "
                 f"{target.name} --seed {job.seed} --start {index} --count 1"
                 f"{' --with-model' if job.with_model else ''}")
    (where / "meta.json").write_text(json.dumps({
        "target": target.name, "seed": job.seed, "index": index, "signature": sig,
        "with_model": job.with_model}) + "\n", encoding="utf-8")
    (where / "README.txt").write_text(
        f"target: {target.name}\ninput number: {index} (seed {job.seed})\n"
        f"signature: {' | '.join(sig)}\n\nreplay through the CLI:\n  {how}\n"
        f"regenerate with the fuzzer:\n  {reproduce}\n\n{detail}", encoding="utf-8")
    return str(where)


def run_one(job: Job, index: int, stats: Stats, saved: Counter[tuple[str, str, str]]) -> None:
    target = target_of(job.names, index)
    rng = input_rng(job.seed, index)
    files = target.generate(rng)
    scratch = Path(job.scratch)
    stats.inputs[target.name] += 1
    if job.timeout:
        signal.setitimer(signal.ITIMER_REAL, job.timeout)
    try:
        try:
            machine = target.run(files, scratch)
            if job.with_model and machine is not None:
                render_all(machine)
                stats.booted[target.name] += 1
        finally:
            if job.timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)
    except InputError as error:
        text = str(error)
        if "\n" not in text and "\r" not in text and error.source and error.field:
            stats.input_errors[target.name] += 1
            return
        problem = RoundTripError(f"InputError is not one line naming source and field: {text!r}")
        _crash(job, target, index, files, problem, error.__traceback__, stats, saved)
        return
    except (Exception, FuzzTimeout) as error:  # anything but InputError is a crash
        _crash(job, target, index, files, error, error.__traceback__, stats, saved)
        return
    stats.ok[target.name] += 1


def _crash(job: Job, target: Target, index: int, files: Files, error: BaseException,
           tb: TracebackType | None, stats: Stats,
           saved: Counter[tuple[str, str, str]]) -> None:
    late = error.__context__ if isinstance(error, FuzzTimeout) else None
    if late is not None:
        error, tb = late, late.__traceback__  # the alarm came late
    sig = crash_signature(error, tb)
    stats.crashes[target.name] += 1
    stats.signatures[sig] += 1
    detail = "".join(traceback.format_exception(type(error), error, tb))
    if len(detail) > 20000:
        detail = detail[:10000] + "\n...\n" + detail[-10000:]
    if not job.max_per_signature or saved[sig] < job.max_per_signature:
        saved[sig] += 1
        path = save_crash(job, target, index, files, sig, detail)
        stats.examples.setdefault(sig, path)


def run_job(job: Job) -> Stats:
    stats, saved = Stats(), Counter[tuple[str, str, str]]()
    t0 = time.perf_counter()
    for index in range(job.start, job.stop):
        if time.time() > job.deadline:
            break
        run_one(job, index, stats, saved)
    stats.seconds = time.perf_counter() - t0
    return stats


def _worker_init(memory_limit: int, scratch_root: str) -> None:
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
        except (ValueError, OSError):
            pass
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    seeds()


def _pool_job(job: Job) -> Stats:
    job.scratch = os.path.join(job.scratch, f"w{os.getpid()}")
    return run_job(job)


def report(stats: Stats, elapsed: float, out: Callable[[str], None]) -> None:
    out(f"{'target':14} {'inputs':>9} {'InputError':>10} {'ok':>9} {'booted':>9} {'crashes':>8}")
    for name in sorted(stats.inputs):
        out(f"{name:14} {stats.inputs[name]:9} {stats.input_errors[name]:10} "
            f"{stats.ok[name]:9} {stats.booted[name]:9} {stats.crashes[name]:8}")
    if stats.signatures:
        out("crash signatures (where, exception, innermost memhp frame: count, example):")
        for sig, count in stats.signatures.most_common():
            out(f"  {' | '.join(sig)}: {count}  {stats.examples.get(sig, '')}")
    total = sum(stats.inputs.values())
    out(f"time: {elapsed:.1f} s, {total / max(elapsed, 1e-9):.0f} inputs/s")


# ---------------------------------------------------------------------------- minimizing


def _model_failure(machine: Machine, timeout: float) -> tuple[str, str] | None:
    """(exception type, innermost memhp function) of booting ``machine``, or None."""
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        try:
            render_all(machine)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except InputError:
        return None
    except (Exception, FuzzTimeout) as error:
        cause: BaseException = error
        if isinstance(error, FuzzTimeout) and error.__context__ is not None:
            cause = error.__context__
        where, kind, frame = crash_signature(cause, cause.__traceback__)
        return (kind, "" if kind == "FuzzTimeout" else frame.split(":")[0] + " "
                + frame.rsplit(" ", 1)[-1])
    return None


def _ddmin(items: tuple[T, ...], fails: Callable[[tuple[T, ...]], bool]) -> tuple[T, ...]:
    """Drop chunks of ``items`` (halves first, then smaller) while ``fails`` stays true."""
    size = max(len(items) // 2, 1)
    while items:
        k, dropped = 0, False
        while k < len(items):
            candidate = items[:k] + items[k + size :]
            if fails(candidate):
                items, dropped = candidate, True
            else:
                k += size
        if size == 1 and not dropped:
            break
        size = max(size // 2, 1)
    return items


def _fails_with(fails: Callable[[Machine], bool], m: Machine, name: str,
                items: tuple[object, ...]) -> bool:
    """Whether ``m`` with field ``name`` set to ``items`` still fails (a machine file
    needs one e820 entry at least)."""
    if name == "e820" and not items:
        return False
    return fails(dataclasses.replace(m, **{name: items}))  # type: ignore[arg-type]


def _fails_with_srat(fails: Callable[[Machine], bool], m: Machine, srat: Srat,
                     entries: tuple[object, ...]) -> bool:
    return fails(dataclasses.replace(m, srat=dataclasses.replace(
        srat, entries=entries)))  # type: ignore[arg-type]


def _fails_with_words(fails: Callable[[Machine], bool], m: Machine,
                      words: tuple[str, ...]) -> bool:
    return fails(dataclasses.replace(m, cmdline=cmdline.parse_cmdline(" ".join(words))))


def shrink_machine(m: Machine, fails: Callable[[Machine], bool]) -> Machine:
    """A machine with as little as possible left in it for which ``fails`` still holds."""
    def replace(machine: Machine, **changes: object) -> Machine:
        return dataclasses.replace(machine, **changes)  # type: ignore[arg-type]

    for _ in range(3):
        before = m
        for change in ({"srat": None}, {"initrd": None}, {"cpus": None}, {"acpi_tables": ()},
                       {"name": "", "description": ""}, {"qemu_machine": None}):
            candidate = replace(m, **change)
            if candidate != m and fails(candidate):
                m = candidate
        m = replace(m, e820=_ddmin(m.e820, partial(_fails_with, fails, m, "e820")))
        m = replace(m, acpi_tables=_ddmin(m.acpi_tables,
                                          partial(_fails_with, fails, m, "acpi_tables")))
        if m.srat is not None:
            srat = m.srat
            entries = _ddmin(srat.entries, partial(_fails_with_srat, fails, m, srat))
            m = replace(m, srat=dataclasses.replace(srat, entries=entries))
        words = _ddmin(tuple(m.cmdline.raw.split()), partial(_fails_with_words, fails, m))
        m = replace(m, cmdline=cmdline.parse_cmdline(" ".join(words)))
        if m == before:
            break
    return m


def minimize(crash: Path, timeout: float) -> int:
    """Shrink a saved model crash to a small machine file that still fails the same way."""
    if (crash / "meta.json").exists():
        name = json.loads((crash / "meta.json").read_text())["target"]
    else:
        name = (crash / "README.txt").read_text().split("\n", 1)[0].removeprefix("target: ")
    target = TARGETS[name]
    files = {str(p.relative_to(crash / "input")).replace(os.sep, "/"): p.read_bytes()
             for p in sorted((crash / "input").rglob("*")) if p.is_file()}
    scratch = Path(tempfile.mkdtemp(prefix="memhp-min-"))
    try:
        machine = target.run(files, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if machine is None:
        print(f"{crash}: the reader gives no machine", file=sys.stderr)
        return 2
    machine = dataclasses.replace(machine, cmdline=cmdline.parse_cmdline(machine.cmdline.raw))
    want = _model_failure(machine, timeout)
    if want is None:
        print(f"{crash}: booting it no longer fails", file=sys.stderr)
        return 1
    machine = shrink_machine(machine, lambda m: _model_failure(m, timeout) == want)
    text = machine_file.dump_machine(machine)
    path = crash / "minimal.toml"
    path.write_text(text, encoding="utf-8")
    again = _model_failure(machine_file.load_machine(str(path)), timeout)
    print(f"{crash}: {' '.join(want)}\n{text}")
    if again != want:
        print(f"{path}: read back, it fails differently: {again}", file=sys.stderr)
        return 1
    return 0


def run_atheris(target: Target, with_model: bool) -> int:  # pragma: no cover - optional
    try:
        import atheris
    except ImportError:
        print("fuzz.py: --atheris needs the atheris package (pip install atheris)",
              file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="memhp-atheris-"))
    probe = target.generate(random.Random(0))
    main_file = next(n for n in probe if n not in ("boot.log", "p01.srat.bin"))

    def one(data: bytes) -> None:
        files = target.generate(random.Random(0))
        files[main_file] = data
        try:
            machine = target.run(files, scratch)
            if machine is not None and with_model:
                render_all(machine)
        except InputError:
            pass

    atheris.Setup([sys.argv[0]], one)  # libFuzzer's own options are not passed on
    atheris.Fuzz()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1_000_000, help="inputs to run (1,000,000)")
    p.add_argument("--start", type=int, default=0, help="number of the first input (0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", default="all", help="all or one of: " + ", ".join(TARGETS))
    p.add_argument("--seconds", type=float, default=0, help="time budget (0: none)")
    p.add_argument("--with-model", action="store_true",
                   help="also boot and render every machine a reader returns")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="worker processes (default 2; 1 runs in this process)")
    p.add_argument("--crash-dir", default="fuzz-crashes")
    p.add_argument("--max-per-signature", type=int, default=100,
                   help="crashing inputs saved per crash signature and worker (0: all)")
    p.add_argument("--timeout", type=float, default=0,
                   help="seconds one input may take before it counts as a hang "
                        "(default 5, 60 with --with-model)")
    p.add_argument("--memory-limit", type=int, default=4096,
                   help="address space limit per worker in MiB (0: none)")
    p.add_argument("--chunk", type=int, default=2000, help="inputs per work unit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--atheris", action="store_true",
                   help="run --target under atheris instead (optional dependency)")
    p.add_argument("--minimize", nargs="+", metavar="CRASH",
                   help="shrink saved model crashes to a small machine file (minimal.toml)")
    args = p.parse_args(argv)
    if args.minimize:
        return max(minimize(Path(c), args.timeout or 10.0) for c in args.minimize)
    names = list(TARGETS) if args.target == "all" else args.target.split(",")
    for name in names:
        if name not in TARGETS:
            p.error(f"unknown target {name!r}; have all, {', '.join(TARGETS)}")
    if args.atheris:
        return run_atheris(TARGETS[names[0]], args.with_model)
    timeout = args.timeout or (60.0 if args.with_model else 5.0)
    deadline = time.time() + args.seconds if args.seconds else float("inf")
    scratch_root = tempfile.mkdtemp(prefix="memhp-fuzz-",
                                    dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    crash_dir = os.path.abspath(args.crash_dir)
    jobs = [Job(names, args.seed, s, min(s + args.chunk, args.start + args.count), deadline,
                args.with_model, timeout, crash_dir, args.max_per_signature, scratch_root)
            for s in range(args.start, args.start + args.count, args.chunk)]
    total, t0, last = Stats(), time.perf_counter(), time.perf_counter()
    limit = args.memory_limit << 20
    try:
        if args.jobs <= 1:
            _worker_init(limit, scratch_root)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            results = map(_pool_job, jobs)
            for stats in results:
                total.add(stats)
                last = _progress(args, total, t0, last)
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(args.jobs, _worker_init, (limit, scratch_root)) as pool:
                for stats in pool.imap_unordered(_pool_job, jobs):
                    total.add(stats)
                    last = _progress(args, total, t0, last)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
    elapsed = time.perf_counter() - t0
    report(total, elapsed, print)
    inputs, crashes = sum(total.inputs.values()), sum(total.crashes.values())
    print(f"inputs: {inputs}, crashes: {crashes}")
    return 1 if crashes else 0


def _progress(args: argparse.Namespace, total: Stats, t0: float, last: float) -> float:
    now = time.perf_counter()
    if args.quiet or now - last < 30:
        return last
    n, c = sum(total.inputs.values()), sum(total.crashes.values())
    print(f"[{now - t0:7.0f} s] inputs: {n}, InputErrors: {sum(total.input_errors.values())}, "
          f"crashes: {c}", file=sys.stderr, flush=True)
    return now


if __name__ == "__main__":
    sys.exit(main())
