#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Fuzz memhp's firmware readers, and with ``--with-model`` the whole prediction.

Every input starts from a real fixture (SRAT binaries, acpidump and ``iasl -d`` text,
firmware-line logs, corpus serial logs, the /sys/firmware/memmap tree, machine files and
command lines) and is mutated: truncated, bit-flipped, bytes changed, lines or subtables
duplicated, dropped and reordered, lengths and checksums broken or fixed up again, and huge
or zero numbers spliced in.  Some inputs are generated from a mutated :class:`Machine`
(e820, SRAT, command line, initrd, ACPI tables) so that they get past the readers and
reach the model.

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
from pathlib import Path
from types import TracebackType
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
try:
    import memhp  # noqa: F401
except ImportError:  # run from a checkout without PYTHONPATH=src
    sys.path.insert(0, str(ROOT / "src"))

import memhp  # noqa: E402
from memhp.errors import InputError  # noqa: E402
from memhp.firmware import acpi, bootlog, cmdline, e820, machine_file  # noqa: E402
from memhp.firmware.types import (  # noqa: E402
    E820_TYPES,
    CommandLine,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
)

Files = dict[str, bytes]
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
    memmap: Files = {}
    for entry in sorted((FIXTURES / "memmap").iterdir()):
        for f in sorted(entry.iterdir()):
            memmap[f"memmap/{entry.name}/{f.name}"] = f.read_bytes()
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
        memmap=memmap,
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


# ---------------------------------------------------------------------------- mutations

INTERESTING = sorted({
    0, 1, 2, 3, 7, 8, 0x10, 0x28, 0x30, 0x7F, 0x80, 0xFF, 0x100, 0xFFF, 0x1000, 0xFFFF,
    0x10000, 0x9FC00, 0xA0000, 0xF0000, 0x100000, 0x1000000, 0x7FFFFFFF, 0x80000000,
    0xBFFE0000, 0xC0000000, 0xFFFFFFFF, 0x100000000, 0x100000001, 0x1C0000000, 1 << 40,
    (1 << 46) - 1, 1 << 46, 1 << 47, 1 << 52, 1 << 56, (1 << 63) - 1, 1 << 63,
    (1 << 64) - (1 << 30), (1 << 64) - 0x1000, (1 << 64) - 2, (1 << 64) - 1,
})
WEIRD_TEXT = [
    "\0", "\r", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\ufeff", "\ufffd",
    "\u0663", "\uff10", "\U0001d7d9", "é", "\x7f", "\\", '"', "'", "=", "#", "[", "]", "{",
    "}", ",", ":", "@", "%", "--", " ", "  ", "0x", "-", "+", "\ud800",
]
WEIRD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00", b"\x80\x80"]
NUMBER = re.compile(rb"0[xX][0-9a-fA-F]+|[0-9a-fA-F]{2,}|[0-9]+")


def interesting(rng: random.Random, bits: int = 64) -> int:
    """A boundary value, near-boundary value or a random one that fits in ``bits``."""
    roll = rng.random()
    if roll < 0.6:
        value = rng.choice(INTERESTING)
    elif roll < 0.8:
        value = rng.choice(INTERESTING) + rng.choice((-1, 1, -0x1000, 0x1000, -4096 * 7))
    else:
        value = rng.getrandbits(rng.choice((8, 16, 32, 48, 64)))
    return value % (1 << bits)


def _number_text(rng: random.Random, old: bytes) -> bytes:
    hexish = old[:2].lower() == b"0x"
    roll = rng.random()
    if roll < 0.55:
        v = interesting(rng)
        if hexish:
            return b"0x" + (f"{v:x}" if rng.random() < 0.5 else f"{v:016x}").encode()
        if re.fullmatch(rb"[0-9]+", old) and rng.random() < 0.5:
            return str(v).encode()
        return f"{v:0{len(old)}X}".encode()[-max(len(old), 1):] if rng.random() < 0.5 \
            else f"{v:X}".encode()
    choices = [
        b"0x" + b"f" * 17, b"0x10000000000000000", b"9" * 25, b"9" * 5000, b"f" * 5000,
        b"-1", b"", b"0", b"0x", b"\xd9\xa3", b"1" * 40, b"0" * 30 + b"1", b"00", b"1e9",
        old * 2, old[: len(old) // 2], b"0x" + b"0" * 400 + b"1", b"0x" + b"f" * 5000,
        b"0o" + b"7" * 5000, b"0b1" + b"0" * 64,
    ]
    return rng.choice(choices)


def mutate_bytes(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One generic mutation of raw bytes."""
    b = bytearray(data)
    op = rng.randrange(12)
    pos = rng.randrange(len(b) + 1)
    if op == 0 and b:  # flip bits
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1 and b:  # set bytes
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(len(b))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    elif op == 2:  # overwrite with an interesting integer
        width = rng.choice((1, 2, 4, 8))
        value = interesting(rng, 8 * width).to_bytes(width, "little")
        b[pos : pos + width] = value
    elif op == 3:  # truncate
        del b[pos:]
    elif op == 4 and b:  # delete a range
        del b[pos : pos + rng.randint(1, 64)]
    elif op == 5:  # insert random bytes
        b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    elif op == 6 and b:  # duplicate a chunk somewhere
        s = rng.randrange(len(b))
        chunk = b[s : s + rng.randint(1, 128)]
        b[pos:pos] = chunk
    elif op == 7 and pool:  # splice with another seed
        other = rng.choice(pool)
        cut = rng.randrange(len(other) + 1)
        b = b[:pos] + bytearray(other[cut:])
    elif op == 8:
        b[pos:pos] = rng.choice(WEIRD_BYTES)
    elif op == 9:  # repeat the whole input
        b = b * rng.randint(2, 4)
    elif op == 10 and b:  # swap two chunks
        i, j = sorted(rng.randrange(len(b)) for _ in range(2))
        n = rng.randint(1, 16)
        b[i : i + n], b[j : j + n] = b[j : j + n], b[i : i + n]
    else:
        b[pos:pos] = bytes([rng.randrange(256)])
    return bytes(b)


def mutate_lines(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One mutation of a text at the level of lines."""
    lines = data.splitlines(keepends=True)
    if not lines:
        return rng.choice(pool) if pool else data
    op = rng.randrange(9)
    i = rng.randrange(len(lines))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        rng.shuffle(lines)
    elif op == 4:
        lines.reverse()
    elif op == 5 and pool:  # a line from another seed
        other = rng.choice(pool).splitlines(keepends=True)
        if other:
            lines.insert(i, rng.choice(other))
    elif op == 6:  # a block of lines repeated
        j = min(len(lines), i + rng.randint(1, 8))
        lines[j:j] = lines[i:j] * rng.randint(1, 3)
    elif op == 7:  # line endings
        lines[i] = lines[i].rstrip(b"\r\n") + rng.choice((b"\r\n", b"\r", b"", b"\n\n", b"\x0b"))
    else:  # cut the line
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    return b"".join(lines)


def mutate_numbers(rng: random.Random, data: bytes) -> bytes:
    """Replace one number (hex or decimal) with a boundary value or garbage."""
    matches = list(NUMBER.finditer(data))
    if not matches:
        return data
    for _ in range(rng.randint(1, 2)):
        m = rng.choice(matches)
        data = data[: m.start()] + _number_text(rng, m.group()) + data[m.end() :]
        matches = list(NUMBER.finditer(data))
        if not matches:
            break
    return data


def mutate_weird(rng: random.Random, data: bytes) -> bytes:
    pos = rng.randrange(len(data) + 1)
    weird = rng.choice(WEIRD_TEXT).encode("utf-8", "surrogatepass")
    if rng.random() < 0.3:
        weird *= rng.choice((2, 50, 5000))
    return data[:pos] + weird + data[pos:]


def mutate_text(rng: random.Random, data: bytes, pool: list[bytes], rounds: int = 0) -> bytes:
    for _ in range(rounds or _rounds(rng)):
        roll = rng.random()
        if roll < 0.35:
            data = mutate_lines(rng, data, pool)
        elif roll < 0.7:
            data = mutate_numbers(rng, data)
        elif roll < 0.85:
            data = mutate_bytes(rng, data, pool)
        else:
            data = mutate_weird(rng, data)
    return data


def _rounds(rng: random.Random) -> int:
    n = 1
    while n < 8 and rng.random() < 0.45:
        n += 1
    return n


# SRAT structure: 48-byte prefix, then subtables [type, length, ...]
def _subtables(data: bytes) -> tuple[bytearray, list[bytearray]]:
    head = bytearray(data[:48].ljust(48, b"\0"))
    subs: list[bytearray] = []
    off = 48
    while off + 2 <= len(data):
        size = data[off + 1]
        if size < 2 or off + size > len(data):
            subs.append(bytearray(data[off:]))
            break
        subs.append(bytearray(data[off : off + size]))
        off += size
    return head, subs


def _memory_subtable(pxm: int, base: int, length: int, flags: int) -> bytearray:
    return bytearray(acpi._MEMORY.pack(1, 40, pxm, base % (1 << 64), length % (1 << 64), flags))


def fix_srat(head: bytearray, body: bytes, rng: random.Random) -> bytes:
    data = bytearray(head + body)
    if rng.random() < 0.85:
        data[4:8] = (len(data) % (1 << 32)).to_bytes(4, "little")
    if rng.random() < 0.85 and len(data) > 9:
        data[9] = 0
        data[9] = -sum(data) & 0xFF
    return bytes(data)


def mutate_srat_struct(rng: random.Random, data: bytes) -> bytes:
    """Structure-aware SRAT mutation; length and checksum are usually fixed up afterwards."""
    head, subs = _subtables(data)
    for _ in range(_rounds(rng)):
        op = rng.randrange(10)
        i = rng.randrange(len(subs)) if subs else 0
        mems = [s for s in subs if len(s) == 40 and s[0] == 1]
        if op == 0 and subs:
            subs.insert(rng.randrange(len(subs) + 1), bytearray(subs[i]))
        elif op == 1 and subs:
            del subs[i]
        elif op == 2:
            rng.shuffle(subs)
        elif op == 3 and mems:  # base / length / flags / pxm of a memory entry
            m = rng.choice(mems)
            field = rng.choice(((8, 8), (16, 8), (28, 4), (2, 4), (16, 8), (8, 8)))
            off, width = field
            m[off : off + width] = interesting(rng, 8 * width).to_bytes(width, "little")
        elif op == 4 and subs:  # wrong subtable length byte
            subs[i][1:2] = bytes([rng.choice((0, 1, 2, 15, 17, 39, 41, 255, rng.randrange(256)))])
        elif op == 5:  # unknown subtable
            size = rng.randint(2, 64)
            raw = bytearray([rng.choice((3, 4, 5, 6, 7, 0xFF)), size])
            raw += bytes(rng.randrange(256) for _ in range(size - 2))
            subs.insert(rng.randrange(len(subs) + 1), raw)
        elif op == 6:  # server scale: many memory entries
            n = rng.choice((4, 16, 64, 64, 256, 1024))
            base = rng.choice((0, 1 << 32, 1 << 40, rng.choice(INTERESTING)))
            step = rng.choice((0, 1 << 20, 1 << 27, 1 << 30, 1 << 34))
            for k in range(n):
                subs.append(_memory_subtable(rng.randrange(rng.choice((1, 4, 64, 300))),
                                             base + k * step, step or rng.choice((0, 4096)),
                                             rng.choice((1, 3, 0, 5, 7))))
        elif op == 7:  # overlapping / zero-length / absurd memory entry
            subs.append(_memory_subtable(rng.randrange(4), interesting(rng), interesting(rng),
                                         rng.choice((1, 3, 1, 0xFFFFFFFF))))
        elif op == 8 and subs:  # cpu entry fields
            s = subs[i]
            if len(s) >= 16:
                s[rng.randrange(2, len(s))] = rng.randrange(256)
        elif op == 9:  # header fields (revision, table revision)
            off = rng.choice((8, 36, 37, 40))
            head[off] = rng.choice((0, 1, 2, 3, 0xFF))
    return fix_srat(head, b"".join(subs), rng)


def mutate_srat(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    if rng.random() < 0.55:
        data = mutate_srat_struct(rng, data)
    if rng.random() < 0.5:
        for _ in range(_rounds(rng)):
            data = mutate_bytes(rng, data, pool)
        if rng.random() < 0.5 and len(data) >= 10:  # keep the checksum right
            b = bytearray(data)
            b[9] = 0
            b[9] = -sum(b) & 0xFF
            data = bytes(b)
    return data


# ---------------------------------------------------------------------------- machines


def mutate_machine(rng: random.Random, m: Machine) -> Machine:
    """A Machine with odd but mostly well-formed content: what the model has to cope with."""
    e820s = list(m.e820)
    srat_entries = list(m.srat.entries) if m.srat else []
    tables = list(m.acpi_tables)
    raw, initrd, cpus = m.cmdline.raw, m.initrd, m.cpus
    hypervisor, revision = m.hypervisor, m.srat.revision if m.srat else 3
    has_srat = m.srat is not None
    for _ in range(_rounds(rng)):
        op = rng.randrange(16)
        if op == 0 and e820s:  # absurd numbers in an e820 entry
            i = rng.randrange(len(e820s))
            e = e820s[i]
            start = interesting(rng) if rng.random() < 0.5 else e.start
            end = interesting(rng) if start == e.start or rng.random() < 0.5 else e.end
            e820s[i] = E820Entry(min(start, end), max(start, end) + (start == end), e.type)
        elif op == 1 and e820s:  # duplicates and order
            i = rng.randrange(len(e820s))
            e820s.insert(rng.randrange(len(e820s) + 1), e820s[i])
            if rng.random() < 0.5:
                rng.shuffle(e820s)
        elif op == 2:  # overlapping / huge RAM
            start = rng.choice((0, 1 << 20, 1 << 32, 1 << 40, 1 << 46, 1 << 52, 1 << 63,
                                (1 << 64) - (1 << 30)))
            size = rng.choice((1, 4096, 1 << 27, 1 << 30, 1 << 34, 1 << 40, 1 << 46))
            e820s.append(E820Entry(start, min(start + size, 1 << 64),
                                   rng.choice(E820_TYPES + ("type 9", "type 4294967295"))))
        elif op == 3 and e820s:
            i = rng.randrange(len(e820s))
            e820s[i] = dataclasses.replace(
                e820s[i], type=rng.choice(E820_TYPES + ("type 0", "type 13", "type 128")))
        elif op == 4:  # absurd SRAT memory
            base, length = interesting(rng), rng.choice((0, interesting(rng), 1 << 30))
            srat_entries.append(SratMemory(rng.choice((0, 1, 2, 255, 0xFFFFFFFF)), base,
                                           min(length, (1 << 64) - 1),
                                           rng.choice((1, 3, 0, 7, 0xFFFFFFFF))))
            has_srat = True
        elif op == 5 and srat_entries:  # duplicate / reorder / drop SRAT entries
            i = rng.randrange(len(srat_entries))
            roll = rng.random()
            if roll < 0.4:
                srat_entries.insert(rng.randrange(len(srat_entries) + 1), srat_entries[i])
            elif roll < 0.7:
                rng.shuffle(srat_entries)
            else:
                del srat_entries[i]
        elif op == 6:  # many nodes: server scale
            n = rng.choice((4, 8, 16, 64, 64, 256, 1024))
            step = rng.choice((1 << 27, 1 << 30, 1 << 33))
            base = rng.choice((0, 1 << 32))
            for k in range(n):
                srat_entries.append(SratMemory(k % rng.choice((2, 8, 64, 1024)),
                                               base + k * step, step, rng.choice((1, 3))))
            if rng.random() < 0.5:
                e820s.append(E820Entry(base, base + n * step, "usable"))
            has_srat = True
        elif op == 7:  # CPUs
            srat_entries.append(SratCpu(rng.choice((0, 1, 7, 255, 0xFFFFFF)),
                                        rng.choice((0, 1, 255)), rng.random() < 0.8,
                                        False))
            if rng.random() < 0.3:
                srat_entries.append(SratCpu(rng.choice((0, 3, 0xFFFFFFFF)),
                                            rng.choice((0, 256, 0xFFFFFFFF)), True, True))
            has_srat = True
        elif op == 8:
            raw = " ".join(rng.choice([
                "nokaslr", "movable_node", "numa=off", "memblock=debug",
                f"mem={interesting(rng):#x}", f"mem={rng.choice(('1', '1M', '16E', '4G'))}",
                "kernelcore=" + rng.choice(("0", "1", "50%", "100%", "101%", "1G", "16E",
                                            "mirror")),
                f"movablecore={rng.choice(('0', '50%', '99%', '1G', '0xffffffffffffffff'))}",
                "numa=fake=4", "memmap=1G$4G", raw,
            ]) for _ in range(rng.randint(1, 6)))
        elif op == 9:
            initrd = rng.choice((None, (interesting(rng) & ~0xFFF, None), (0, 0x1000),
                                 ((1 << 64) - 0x2000, (1 << 64) - 0x1000),
                                 (0xBFEE4000, 0x1BFFE0000)))
            if initrd is not None and initrd[1] is None:
                initrd = (initrd[0], min(initrd[0] + rng.choice((1, 1 << 20, 1 << 40)),
                                         1 << 64))
        elif op == 10 and tables:
            i = rng.randrange(len(tables))
            tables[i] = dataclasses.replace(tables[i], address=interesting(rng),
                                            length=interesting(rng, 32))
        elif op == 11 and tables:
            tables.insert(rng.randrange(len(tables) + 1), rng.choice(tables))
        elif op == 12:
            cpus = rng.choice((None, 0, 1, 64, 1024, (1 << 15) - 1))
        elif op == 13:
            hypervisor = not hypervisor
        elif op == 14:
            revision = rng.choice((0, 1, 2, 3, 255))
        else:
            if rng.random() < 0.5:
                srat_entries, has_srat = [], rng.random() < 0.5
            else:
                e820s = [e for e in e820s if rng.random() < 0.7] or e820s[:1]
    srat = None
    if has_srat:
        srat = dataclasses.replace(m.srat or Srat(()), entries=tuple(srat_entries),
                                   revision=revision)
    return dataclasses.replace(
        m, e820=tuple(e820s), srat=srat, acpi_tables=tuple(tables), initrd=initrd,
        cmdline=CommandLine(raw=raw), cpus=cpus, hypervisor=hypervisor)


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


def _write(files: Files, scratch: Path) -> None:
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    for name, content in files.items():
        parts = name.split("/")
        if any(p in ("", ".", "..") or "\0" in p for p in parts[:-1]) or "\0" in parts[-1]:
            continue
        path = scratch.joinpath(*parts[:-1])
        try:
            path.mkdir(parents=True, exist_ok=True)
            if parts[-1] in ("", ".", ".."):
                continue
            (path / parts[-1]).write_bytes(content)
        except OSError:
            continue  # a name the file system refuses: the input just lacks that file


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
    _write({"srat.bin": files["srat.bin"]}, scratch)
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
    tree = dict(seeds().memmap)
    for _ in range(_rounds(rng)):
        names = sorted(tree)
        op = rng.randrange(9)
        name = rng.choice(names) if names else "memmap/0/start"
        if op == 0 and names:
            tree[name] = mutate_numbers(rng, tree[name])
        elif op == 1 and names:
            tree[name] = mutate_bytes(rng, tree[name], [])
        elif op == 2 and names:
            del tree[name]
        elif op == 3:  # duplicate an entry under another number
            entry = name.split("/")[1]
            new = rng.choice(("8", "9", "0", "3", "10", "007", "99999999999999999999", "٣"))
            for n in names:
                if n.split("/")[1] == entry:
                    tree[n.replace(f"/{entry}/", f"/{new}/", 1)] = tree[n]
        elif op == 4:  # swap the contents of two entries (out of order)
            a, b = rng.sample(sorted({n.split("/")[1] for n in names}) or ["0", "1"], 2)
            for f in ("start", "end", "type"):
                ka, kb = f"memmap/{a}/{f}", f"memmap/{b}/{f}"
                if ka in tree and kb in tree:
                    tree[ka], tree[kb] = tree[kb], tree[ka]
        elif op == 5 and names:
            tree[name] = f"{interesting(rng):#x}\n".encode()
        elif op == 6 and names:
            tree[name] = rng.choice((b"Unknown E820 type\n", b"System RAM", b"", b"\xff\xfe",
                                     b"Persistent Memory\n", b"Soft Reserved\n", b"Reserved"))
        elif op == 7:  # odd tree shapes: a file where a directory should be, and the reverse
            tree[rng.choice(("memmap/12", "memmap/0/start/x", "memmap/notanumber/start",
                             "memmap/5/extra"))] = b"0x0\n"
            if rng.random() < 0.3:
                tree = {k: v for k, v in tree.items() if not k.startswith("memmap/0/")}
                tree["memmap/0"] = b"0x0"
        else:
            tree = {k: v for k, v in tree.items() if rng.random() < 0.8}
    return tree


def run_memmap(files: Files, scratch: Path) -> Machine | None:
    _write(files, scratch)
    (scratch / "memmap").mkdir(exist_ok=True)
    entries = e820.read_sys_firmware_memmap(str(scratch / "memmap"))
    e820.sanitize_e820(entries)
    return Machine(e820=entries, cmdline=cmdline.parse_cmdline("nokaslr"))


# -- command line


def gen_cmdline(rng: random.Random) -> Files:
    s = seeds()
    data = rng.choice(s.cmdlines)
    if rng.random() < 0.3:
        data = b" ".join(rng.choice(s.cmdlines) for _ in range(rng.randint(1, 3)))
    for _ in range(_rounds(rng)):
        roll = rng.random()
        if roll < 0.3:
            words = data.split(b" ")
            rng.shuffle(words)
            data = b" ".join(words + [rng.choice(words)] * rng.randint(0, 2))
        elif roll < 0.6:
            data = mutate_numbers(rng, data)
        elif roll < 0.8:
            data = mutate_weird(rng, data)
        else:
            data = mutate_bytes(rng, data, s.cmdlines)
    return {"cmdline.txt": data, "boot.log": _base_log(rng)}


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
    _write(files, scratch)
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
    from memhp.kernel.profile import load_profile
    from memhp.kernel.setup import boot
    from memhp.output import dmesg, json_facts, text

    result = boot(machine, load_profile())
    text.render(result)
    dmesg.render(result)
    json_facts.render(result)
    for block in result.blocks[:1] + result.blocks[-1:]:
        text.explain_block(result, block.id)


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
    if isinstance(error, FuzzTimeout) and error.__context__ is not None:
        error, tb = error.__context__, error.__context__.__traceback__  # the alarm came late
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
        if isinstance(error, FuzzTimeout) and error.__context__ is not None:
            error = error.__context__
        where, kind, frame = crash_signature(error, error.__traceback__)
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
        # a machine file needs one e820 entry at least
        m = replace(m, e820=_ddmin(m.e820, lambda e, m=m: bool(e) and fails(replace(m, e820=e))))
        m = replace(m, acpi_tables=_ddmin(
            m.acpi_tables, lambda t, m=m: fails(replace(m, acpi_tables=t))))
        if m.srat is not None:
            entries = _ddmin(m.srat.entries, lambda e, m=m, srat=m.srat: fails(replace(
                m, srat=dataclasses.replace(srat, entries=e))))
            m = replace(m, srat=dataclasses.replace(m.srat, entries=entries))
        words = _ddmin(tuple(m.cmdline.raw.split()), lambda w, m=m: fails(replace(
            m, cmdline=cmdline.parse_cmdline(" ".join(w)))))
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
