# SPDX-License-Identifier: GPL-2.0-or-later
"""Command-line splitting and the memory options, against the kernel's handlers."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memhp.firmware.bootlog import parse_command_line
from memhp.firmware.cmdline import memparse, parse_cmdline, split_cmdline
from memhp.firmware.types import CommandLine, CoreSize

FIXTURES = Path(__file__).parent / "fixtures"
G = 1 << 30
BASE = "console=ttyS0 nokaslr loglevel=7 memblock=debug tryoffline"


@pytest.mark.parametrize(
    ("text", "value", "rest"),
    [
        ("0x10M", 16 << 20, ""),
        ("16M", 16 << 20, ""),
        ("2G", 2 * G, ""),
        ("5g", 5 * G, ""),
        ("1k", 1024, ""),
        ("3T", 3 << 40, ""),
        ("1P", 1 << 50, ""),
        ("2e", 2 << 60, ""),
        ("010", 8, ""),  # leading 0: octal
        ("08", 0, "8"),
        ("0x", 0, "x"),  # "0x" without a hex digit: octal 0, rest "x"
        ("0xfg", 15 * G, ""),  # "g" is a suffix, not a hex digit
        ("0X1fK", 31 * 1024, ""),
        ("G", 0, ""),  # 6.1 takes a suffix even without digits
        ("25%", 25, "%"),
        ("5G,foo", 5 * G, ",foo"),
        ("-1", 0, "-1"),
        (" 1", 0, " 1"),
        ("foo", 0, "foo"),
        ("", 0, ""),
        ("16E", 0, ""),  # 2^64 wraps to 0
        ("18446744073709551617", 1, ""),
    ],
)
def test_memparse(text: str, value: int, rest: str) -> None:
    assert memparse(text) == (value, rest)


def test_memparse_exact() -> None:
    assert memparse("16E", wrap=False) == (1 << 64, "")


@pytest.mark.parametrize("log", sorted((FIXTURES / "firmware").glob("*.fw.log")),
                         ids=lambda p: p.name.split("_")[0])
def test_corpus_command_lines(log: Path) -> None:
    raw = parse_command_line(log.read_text(), str(log))
    assert raw is not None and raw.startswith(BASE)
    cl = parse_cmdline(raw)
    assert cl.raw == raw and cl.nokaslr and cl.memblock_debug and not cl.numa_off
    assert cl.unknown == ("console=ttyS0", "loglevel=7", "tryoffline")
    expected = {
        "p01": CommandLine(movable_node=True),
        "p02": CommandLine(),
        "p03": CommandLine(movable_node=True, kernelcore=CoreSize(bytes=G)),
        "p04": CommandLine(movable_node=True),
        "p05": CommandLine(kernelcore=CoreSize(bytes=2 * G)),
        "p06": CommandLine(movablecore=CoreSize(bytes=2 * G)),
        "p07": CommandLine(movable_node=True),
        "p08": CommandLine(movable_node=True),
        "p09": CommandLine(movablecore=CoreSize(percent=25)),
        "p10": CommandLine(movable_node=True, mem=5 * G),
    }[log.name[:3]]
    for name in ("movable_node", "kernelcore", "movablecore", "mem"):
        assert getattr(cl, name) == getattr(expected, name), name
    # what movable_node does to kernelcore= (p03) is the model's decision, not a parser note
    assert cl.notes == ()


@pytest.mark.parametrize(
    ("raw", "field", "value"),
    [
        ("kernelcore=25%", "kernelcore", CoreSize(percent=25)),
        ("kernelcore=0x40000000", "kernelcore", CoreSize(bytes=G)),
        ("movablecore=2G", "movablecore", CoreSize(bytes=2 * G)),
        ("movablecore=25%", "movablecore", CoreSize(percent=25)),
        ("kernelcore=mirror", "kernelcore", CoreSize(mirror=True)),
        ("kernelcore=foo,mirror", "kernelcore", CoreSize(mirror=True)),
        ("kernelcore=mirrored", "kernelcore", CoreSize(bytes=0)),
        ("movablecore=mirror", "movablecore", CoreSize(bytes=0)),
        ("mem=5G", "mem", 5 * G),
        ("mem=0x140000000", "mem", 5 * G),
        ("movable_node", "movable_node", True),
        ("movable-node", "movable_node", True),  # parameq: '-' and '_' match
        ("movable_node=0", "movable_node", True),  # the handler ignores the value
        ("numa=off", "numa_off", True),
        ("numa=offline", "numa_off", True),  # numa_setup compares 3 characters
        ("numa=on", "numa_off", False),
        ("memblock=debug", "memblock_debug", True),
        ("memblock=nodebug", "memblock_debug", True),  # strstr()
        ("memblock=on", "memblock_debug", False),
        ("nokaslr", "nokaslr", True),
        ("nokaslr=1", "nokaslr", False),
        ("a -- nokaslr", "nokaslr", True),  # the decompressor scans every word
        ('x="a nokaslr b"', "nokaslr", True),  # ... ignoring quotes
        ('x="a nokaslr"', "nokaslr", False),  # the word is 'nokaslr"'
        ("nokaslrx", "nokaslr", False),
    ],
)
def test_decoded(raw: str, field: str, value: object) -> None:
    assert getattr(parse_cmdline(raw), field) == value


@pytest.mark.parametrize(
    ("raw", "field", "value", "note"),
    [
        # repeated options: the handler runs each time on shared state
        ("kernelcore=1G kernelcore=2G", "kernelcore", CoreSize(bytes=2 * G), None),
        ("kernelcore=1G kernelcore=25%", "kernelcore", CoreSize(percent=25), None),
        ("kernelcore=25% kernelcore=1G", "kernelcore", CoreSize(bytes=G), None),
        ("kernelcore=1G kernelcore=0%", "kernelcore", CoreSize(bytes=G), "percentage of 0"),
        ("kernelcore=mirror kernelcore=1G", "kernelcore", CoreSize(bytes=G, mirror=True), None),
        ("movablecore=10% movablecore=20%", "movablecore", CoreSize(percent=20), None),
        ("mem=8G mem=4G", "mem", 4 * G, "lowest (0x100000000)"),
        ("mem=4G mem=8G", "mem", 4 * G, "max_mem_size (hotplug limit) is the last (0x200000000)"),
        # bad values the kernel lives with
        ("kernelcore=foo", "kernelcore", CoreSize(bytes=0), "not a number"),
        ("kernelcore=150%", "kernelcore", CoreSize(percent=150), "WARNING"),
        ("kernelcore", "kernelcore", None, "NULL"),
        ("movablecore", "movablecore", None, "Malformed early option 'movablecore'"),
        ("kernelcore=2Gx", "kernelcore", CoreSize(bytes=2 * G), "memparse stops at 'x'"),
        ("mem=", "mem", None, "Malformed early option 'mem'"),
        ("mem", "mem", None, "Malformed early option 'mem'"),
        ("mem=foo", "mem", None, "Malformed early option 'mem'"),
        ("mem=nopentium", "mem", None, "mem=nopentium ignored! (only supported on x86_32)"),
        ("mem=5G,x", "mem", 5 * G, "memparse stops at ',x'"),
        ("numa", "numa_off", False, "Malformed early option 'numa'"),
        ("movable_node=0", "movable_node", True, "ignores the value"),
        ("movable_node kernelcore=1G", "kernelcore", CoreSize(bytes=G), None),
        ("kernelcore=mirror movablecore=1G", "movablecore", CoreSize(bytes=G),
         None),
    ],
)
def test_kernel_fallbacks(raw: str, field: str, value: object, note: str | None) -> None:
    cl = parse_cmdline(raw)
    assert getattr(cl, field) == value
    if note is None:
        assert cl.notes == ()
    else:
        assert any(note in n for n in cl.notes), cl.notes
    assert cl.unknown == ()


@pytest.mark.parametrize(
    ("raw", "args"),
    [
        ("a b=c", [("a", None), ("b", "c")]),
        ("  a \t b  ", [("a", None), ("b", None)]),
        ('foo="bar baz" x', [("foo", "bar baz"), ("x", None)]),
        ('"quoted arg" y', [("quoted arg", None), ("y", None)]),
        ('"k=v w" z', [("k", "v w"), ("z", None)]),
        ('a="', [("a", "")]),
        ('a="b', [("a", "b")]),
        ("a=b=c", [("a", "b=c")]),
        ("=x", [("=x", None)]),  # an '=' in first place does not count
        ("=x=y", [("=x", "y")]),
        ('a"b c"d e', [('a"b c"d', None), ("e", None)]),
        ("", []),
    ],
)
def test_split_like_next_arg(raw: str, args: list[tuple[str, str | None]]) -> None:
    assert split_cmdline(raw) == args


def test_unknown_and_double_dash() -> None:
    cl = parse_cmdline('root=/dev/sda1 ro numa=noacpi quiet -- movable_node kernelcore=1G "x y"')
    assert cl.unknown == ("root=/dev/sda1", "ro", "numa=noacpi", "quiet", "--", "movable_node",
                          "kernelcore=1G", "x y")
    assert not cl.movable_node and cl.kernelcore is None
    assert any("hands it to init" in n for n in cl.notes)


def test_nul_ends_the_line() -> None:
    cl = parse_cmdline("movable_node\0kernelcore=1G")
    assert cl.movable_node and cl.kernelcore is None and cl.raw == "movable_node\0kernelcore=1G"
    assert any("NUL" in n for n in cl.notes)


def test_empty() -> None:
    assert parse_cmdline("") == CommandLine()


_TOKENS = st.sampled_from([
    "movable_node", "movable-node", "kernelcore=", "movablecore=", "mem=", "numa=", "memblock=",
    "nokaslr", "mirror", "debug", "off", "%", "0x", "1", "0", "G", "k", "=", '"', " ", "\t",
    "--", ",", "-", "\0", "é",
])


@given(st.one_of(st.text(), st.lists(_TOKENS, max_size=20).map("".join)))
def test_random_command_lines_never_raise(raw: str) -> None:
    cl = parse_cmdline(raw)
    assert isinstance(cl, CommandLine) and cl.raw == raw
    assert cl.mem is None or 0 < cl.mem < 1 << 64
    for core in (cl.kernelcore, cl.movablecore):
        assert core is None or core.bytes is not None or core.percent or core.mirror
