# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel command line, split and decoded the way Linux 6.1 does it on x86_64.

Splitting follows ``next_arg`` and ``parse_args`` (lib/cmdline.c, kernel/params.c) as used
by ``parse_early_param``; the decoded options follow their ``early_param`` handlers.  A bad
value never raises: the kernel boots with whatever its handler made of it, and so do we,
with a note in ``CommandLine.notes``.

Repeated options, checked against the handlers: they run once per occurrence, in order, on
shared state.  So a later ``kernelcore=``/``movablecore=`` size or percentage replaces an
earlier one, except that ``nn%`` leaves an earlier byte size in place (a percentage of 0
then means "no percentage") and ``kernelcore=mirror`` is never undone.  Every valid ``mem=``
removes the RAM above it, so the lowest one bounds RAM (``CommandLine.mem``), while the
hotplug limit ``max_mem_size`` is the last one (noted).  ``movable_node``, ``numa=off``,
``memblock=debug`` and ``nokaslr`` only ever switch on.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from memhp.firmware.types import CommandLine, CoreSize

__all__ = ["COMMAND_LINE_SIZE", "memparse", "parse_cmdline", "split_cmdline"]

_U64_MASK = (1 << 64) - 1
_EXACT_MASK = (1 << 128) - 1  # _strtoull's values are exact up to here
_SPACES = " \t\n\v\f\r"  # isspace() of the kernel's ctype for ASCII
_SHIFTS = {"k": 10, "m": 20, "g": 30, "t": 40, "p": 50, "e": 60}
COMMAND_LINE_SIZE = 2048  # arch/x86/include/uapi/asm/setup.h


def _strtoull(s: str) -> tuple[int, int]:
    """``simple_strtoull(s, &end, 0)``: (value, characters used), value not yet wrapped.

    Base 16 after ``0x`` followed by a hex digit, base 8 after a leading ``0``, else 10; no
    sign, no leading blanks.  No digits at all gives (0, 0).  The value is exact below
    2^128; a bigger one keeps its low 128 bits exact and stays at least 2^128 (so the
    arithmetic stays linear in the number of digits, however many there are)."""
    base, pos = 10, 0
    if s[:1] == "0":
        hex_prefix = s[1:2] in ("x", "X") and s[2:3] != "" and s[2] in string.hexdigits
        base, pos = (16, 2) if hex_prefix else (8, 0)
    value, digits = 0, "0123456789abcdef"[:base]
    while pos < len(s) and s[pos].isascii() and s[pos].lower() in digits:
        value = value * base + digits.index(s[pos].lower())
        if value > _EXACT_MASK:
            value = (value & _EXACT_MASK) | (_EXACT_MASK + 1)
        pos += 1
    return value, pos


def memparse(s: str, *, wrap: bool = True) -> tuple[int, str]:
    """Model of ``memparse`` (lib/cmdline.c, 6.1): a number in C notation (``0x`` hex,
    leading ``0`` octal, else decimal) with an optional K/M/G/T/P/E suffix in either case.

    Returns the value and the unparsed rest.  As in the kernel the value is an unsigned
    64-bit number that silently wraps (``wrap=False`` gives the exact value instead), a
    suffix is taken even without digits before it (``"G"`` -> 0), and a string that does not
    start with a digit gives 0 with the whole string as rest.
    """
    value, pos = _strtoull(s)
    suffix = s[pos : pos + 1].lower()
    if suffix in _SHIFTS:
        value <<= _SHIFTS[suffix]
        pos += 1
    return (value & _U64_MASK if wrap else value), s[pos:]


def _next_arg(text: str, pos: int) -> tuple[str, str | None, int]:
    """``next_arg``: one ``param[=value]`` starting at ``pos`` (no leading blanks).

    Double quotes protect blanks; a quote opening the argument or the value, and one closing
    the argument, are dropped.  Returns param, value (None without ``=``) and the position of
    the next argument."""
    quoted = text[pos : pos + 1] == '"'
    start = pos + 1 if quoted else pos
    in_quote, equals, i = quoted, 0, start
    while i < len(text) and (in_quote or text[i] not in _SPACES):
        if equals == 0 and text[i] == "=" and i > start:  # "=" first counts as no "="
            equals = i
        if text[i] == '"':
            in_quote = not in_quote
        i += 1
    arg = text[start:i]
    ends_in_quote = arg.endswith('"')
    value: str | None = None
    if equals:
        param, value = text[start:equals], text[equals + 1 : i]
        if value.startswith('"'):
            value = value[1:-1] if ends_in_quote and value != '"' else value[1:]
        elif quoted and ends_in_quote:
            value = value[:-1]
    else:
        param = arg[:-1] if quoted and ends_in_quote else arg
    i = i + 1 if i < len(text) else i
    while i < len(text) and text[i] in _SPACES:
        i += 1
    return param, value, i


def split_cmdline(text: str) -> list[tuple[str, str | None]]:
    """All ``(param, value)`` pairs of a command line in order, split like ``parse_args``."""
    args = []
    pos = 0
    while pos < len(text) and text[pos] in _SPACES:
        pos += 1
    while pos < len(text):
        param, value, pos = _next_arg(text, pos)
        args.append((param, value))
    return args


def _has_option(value: str, option: str) -> bool:
    """``parse_option_str``: is ``option`` one of the comma-separated words of ``value``?"""
    return option in value.split(",")


@dataclass
class _Core:
    """The kernel's state for kernelcore= / movablecore= (pages kept as bytes here)."""

    given: bool = False
    bytes: int | None = None
    percent: int = 0
    mirror: bool = False
    written: str = ""  # the last value given, as written

    def result(self) -> CoreSize | None:
        if not self.given:
            return None
        if self.percent:
            return CoreSize(percent=self.percent, mirror=self.mirror, written=self.written)
        size = self.bytes if self.bytes is not None or self.mirror else 0
        return CoreSize(bytes=size, mirror=self.mirror, written=self.written)


def _parse_core(name: str, value: str, core: _Core, notes: list[str]) -> None:
    """``cmdline_parse_core`` (mm/page_alloc.c): ``nn%`` or a memparse size."""
    number, used = _strtoull(value)
    core.given = True
    core.written = value
    if value[used : used + 1] == "%":
        number &= _U64_MASK  # simple_strtoull's unsigned long long, before any check
        if number > 100:
            notes.append(f"{name}={value}: a percentage above 100 makes cmdline_parse_core "
                         f"print a WARNING; the kernel keeps {number}%")
        if number == 0:
            notes.append(f"{name}={value}: a percentage of 0 means no percentage, "
                         f"any earlier {name}=<size> stays")
        if value[used + 1 :]:
            notes.append(f"{name}={value}: the kernel ignores {value[used + 1:]!r} after '%'")
        core.percent = number
        return
    size, rest = memparse(value)
    if used == 0:
        notes.append(f"{name}={value}: not a number, cmdline_parse_core reads it as 0")
    elif rest:
        notes.append(f"{name}={value}: memparse stops at {rest!r}, which the kernel ignores")
    core.bytes, core.percent = size, 0


def _words(text: str) -> list[str]:
    """Words as the boot decompressor's ``cmdline_find_option_bool`` sees them: separated by
    any character up to and including space, quotes not special."""
    return [w for w in re.split(r"[\x00-\x20]+", text) if w]


def parse_cmdline(raw: str) -> CommandLine:
    """Split ``raw`` like the kernel and decode the options memhp models.

    * ``movable_node`` (``cmdline_parse_movable_node``): any value, even ``=0``, switches
      it on.
    * ``kernelcore=`` / ``movablecore=`` (``cmdline_parse_kernelcore`` /
      ``cmdline_parse_core``): ``mirror`` (kernelcore only, any comma-separated word),
      ``nn%`` or a memparse size.  Garbage reads as size 0.
    * ``mem=`` (``parse_memopt``, arch/x86/kernel/e820.c): RAM above the memparse value goes;
      ``nopentium``, 0, garbage and an empty value are rejected ("Malformed early option").
    * ``memmap=`` values are kept as given, in order; the kernel model applies them
      (``parse_memmap_opt``, arch/x86/kernel/e820.c).
    * ``numa=off`` (``numa_setup`` compares three characters, so ``numa=offline`` counts);
      other ``numa=`` words go to ``unknown``.
    * ``memblock=`` with "debug" anywhere in it (``early_memblock``).
    * ``efi=`` with the word ``debug`` among its comma-separated options (``parse_efi_cmdline``).
    * ``nokaslr``: the boot decompressor looks for the word anywhere in the line, even after
      ``--`` (``cmdline_find_option_bool``).

    ``CoreSize`` holds the kernel's final state: ``percent`` when a non-zero percentage is in
    force (the kernel then ignores the byte size), else ``bytes`` as memparse read it (the
    kernel keeps ``bytes >> PAGE_SHIFT`` pages; garbage gives 0); ``mirror`` sticks.

    Names match with ``-`` and ``_`` alike (``parameq``).  Parsing stops at ``--``: what
    follows is handed to init; it goes into ``unknown`` with the ``--``.  Everything not
    decoded goes into ``unknown`` as ``param`` or ``param=value``.  The line ends at a NUL.
    """
    text = raw.split("\0", 1)[0]
    notes: list[str] = []
    unknown: list[str] = []
    kernelcore, movablecore = _Core(), _Core()
    movable_node = numa_off = memblock_debug = efi_debug = False
    mems: list[int] = []
    memmaps: list[str] = []
    nokaslr = "nokaslr" in _words(text)
    if "\0" in raw:
        notes.append("the command line ends at the first NUL character")
    if len(text.encode("utf-8", "surrogatepass")) >= COMMAND_LINE_SIZE:
        notes.append(f"longer than COMMAND_LINE_SIZE - 1 ({COMMAND_LINE_SIZE - 1} bytes): "
                     "the boot loader and kernel keep only the start")
    args = split_cmdline(text)
    for index, (param, value) in enumerate(args):
        shown = param if value is None else f"{param}={value}"
        name = param.replace("-", "_")
        if value is None and param == "--":
            unknown.extend(p if v is None else f"{p}={v}" for p, v in args[index:])
            notes.append("'--': the kernel parses nothing after it and hands it to init")
            break
        if name == "movable_node":
            movable_node = True
            if value is not None:
                notes.append(f"{shown}: cmdline_parse_movable_node ignores the value")
        elif name == "kernelcore" and value is None:
            notes.append("kernelcore without a value: cmdline_parse_kernelcore hands NULL to "
                         "parse_option_str, which dereferences it; memhp ignores the option")
        elif name == "kernelcore" and _has_option(value or "", "mirror"):
            kernelcore.given = kernelcore.mirror = True
            kernelcore.written = value or ""
        elif name in ("kernelcore", "movablecore"):
            if value is None:
                notes.append(f"Malformed early option '{param}'")
            else:
                _parse_core(name, value, kernelcore if name == "kernelcore" else movablecore,
                            notes)
        elif name == "memmap":
            if value is not None:  # parse_memmap_opt(NULL) does nothing
                memmaps.append(value)
        elif name == "mem":
            if value is None or value == "nopentium":
                if value is not None:
                    notes.append("mem=nopentium ignored! (only supported on x86_32)")
                notes.append(f"Malformed early option '{param}'")
                continue
            size, rest = memparse(value)
            if size == 0:
                notes.append(f"Malformed early option '{param}' ({shown}: parse_memopt "
                             "refuses a limit of 0 rather than remove all RAM)")
                continue
            if rest:
                notes.append(f"{shown}: memparse stops at {rest!r}, which the kernel ignores")
            mems.append(size)
        elif name == "numa" and not (value or "").startswith(("fake=", "noacpi", "nohmat")):
            if value is None:
                notes.append(f"Malformed early option '{param}'")
            elif value.startswith("off"):
                numa_off = True
                if value != "off":
                    notes.append(f"{shown}: numa_setup compares only 'off', so this is numa=off")
            else:
                notes.append(f"{shown}: numa_setup does nothing with it")
        elif name == "memblock":
            if value is not None and "debug" in value:
                memblock_debug = True
            else:
                notes.append(f"{shown}: early_memblock looks only for 'debug'; no effect")
        elif not (name == "nokaslr" and value is None and nokaslr):
            if name == "efi" and value is not None and _has_option(value, "debug"):
                efi_debug = True
            unknown.append(shown)
    if len(mems) > 1:
        notes.append(f"mem= given {len(mems)} times: each removes RAM above it, so the lowest "
                     f"({min(mems):#x}) bounds RAM; max_mem_size (hotplug limit) is the last "
                     f"({mems[-1]:#x})")
    return CommandLine(
        raw=raw,
        movable_node=movable_node,
        kernelcore=kernelcore.result(),
        movablecore=movablecore.result(),
        mem=min(mems) if mems else None,
        memmap=tuple(memmaps),
        numa_off=numa_off,
        memblock_debug=memblock_debug,
        nokaslr=nokaslr,
        efi_debug=efi_debug,
        unknown=tuple(unknown),
        notes=tuple(notes),
    )
