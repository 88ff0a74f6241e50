# SPDX-License-Identifier: GPL-2.0-or-later
"""The mutations of hostile input, shared by ``bench/fuzz.py`` and
``tests/test_hostile_input.py``: interesting numbers and odd text, and the operators that
damage bytes, lines, numbers, SRAT subtables, machines and /sys/firmware/memmap trees.

Every operator takes its choices from ``rng``, a :class:`random.Random`: the fuzzer passes a
seeded one (fast, reproducible from seed and input number); the tests pass the one
hypothesis draws (``st.randoms(use_true_random=False)``), whose every choice is a
hypothesis draw, so a failing example shrinks.  Where an operator makes many entries at
once, their details come from a second ``Random`` seeded by one choice of ``rng``, so that
a hypothesis example stays small.
"""

from __future__ import annotations

import dataclasses
import random
import re
import shutil
from pathlib import Path

from memhp.firmware import acpi
from memhp.firmware.types import (
    E820_TYPES,
    CommandLine,
    E820Entry,
    Machine,
    Srat,
    SratCpu,
    SratMemory,
)

Files = dict[str, bytes]

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
        b"0o" + b"7" * 5000, b"0b1" + b"0" * 64, b"f" * 40,
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
    for _ in range(rounds or some_rounds(rng)):
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


def some_rounds(rng: random.Random) -> int:
    """How many mutations to stack: one, often more, at most eight."""
    n = 1
    while n < 8 and rng.random() < 0.45:
        n += 1
    return n


def mutate_cmdline(rng: random.Random, pool: list[bytes]) -> bytes:
    """A command line from ``pool`` (or a few joined), its words shuffled and repeated, its
    numbers, characters and bytes changed."""
    data = rng.choice(pool)
    if rng.random() < 0.3:
        data = b" ".join(rng.choice(pool) for _ in range(rng.randint(1, 3)))
    for _ in range(some_rounds(rng)):
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
            data = mutate_bytes(rng, data, pool)
    return data


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
    for _ in range(some_rounds(rng)):
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
            bulk = _bulk(rng)
            for k in range(n):
                subs.append(_memory_subtable(bulk.randrange(bulk.choice((1, 4, 64, 300))),
                                             base + k * step, step or bulk.choice((0, 4096)),
                                             bulk.choice((1, 3, 0, 5, 7))))
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
        for _ in range(some_rounds(rng)):
            data = mutate_bytes(rng, data, pool)
        if rng.random() < 0.5 and len(data) >= 10:  # keep the checksum right
            b = bytearray(data)
            b[9] = 0
            b[9] = -sum(b) & 0xFF
            data = bytes(b)
    return data


def _bulk(rng: random.Random) -> random.Random:
    """A Random for the details of many entries at once, seeded by one choice of ``rng``."""
    return random.Random(rng.getrandbits(64))


def mutate_machine(rng: random.Random, m: Machine) -> Machine:
    """A Machine with odd but mostly well-formed content: what the model has to cope with."""
    e820s = list(m.e820)
    srat_entries = list(m.srat.entries) if m.srat else []
    tables = list(m.acpi_tables)
    raw, initrd, cpus = m.cmdline.raw, m.initrd, m.cpus
    hypervisor, revision = m.hypervisor, m.srat.revision if m.srat else 3
    has_srat = m.srat is not None
    for _ in range(some_rounds(rng)):
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
            bulk = _bulk(rng)
            for k in range(n):
                srat_entries.append(SratMemory(k % bulk.choice((2, 8, 64, 1024)),
                                               base + k * step, step, bulk.choice((1, 3))))
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
            ranges: tuple[tuple[int, int | None] | None, ...] = (
                None, (interesting(rng) & ~0xFFF, None), (0, 0x1000),
                ((1 << 64) - 0x2000, (1 << 64) - 0x1000), (0xBFEE4000, 0x1BFFE0000))
            picked = rng.choice(ranges)
            if picked is None:
                initrd = None
            elif picked[1] is None:  # an end at a chosen distance
                initrd = (picked[0], min(picked[0] + rng.choice((1, 1 << 20, 1 << 40)), 1 << 64))
            else:
                initrd = (picked[0], picked[1])
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


def mutate_memmap(rng: random.Random, tree: Files) -> Files:
    """A /sys/firmware/memmap tree (file name -> content) with numbers, types, entries and
    the shape of the tree changed."""
    tree = dict(tree)
    for _ in range(some_rounds(rng)):
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


def write_tree(files: Files, scratch: Path) -> None:
    """Write ``files`` (slash-separated names) under a fresh ``scratch``, leaving out the names
    the file system refuses."""
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


def read_tree(root: Path) -> Files:
    """The files under ``root`` by slash-separated name, starting with ``root``'s own name
    (the form :func:`mutate_memmap` and :func:`write_tree` take)."""
    return {"/".join(p.relative_to(root.parent).parts): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}
