# SPDX-License-Identifier: GPL-2.0-or-later
"""The prefix the kernel log puts before each message: an optional syslog level (``<6>``)
and an optional timestamp (``[    0.000000]``).  One pattern for every reader of logs.

Logs come as people paste them: ``dmesg`` with or without timestamps, ``dmesg -T``/``-x``/
``-r``, ``journalctl -k`` (short, short-iso, short-precise, short-monotonic), syslog
(``/var/log/messages``, ``kern.log``, the installer's syslog), CRLF line ends, several boots
in one file.  :func:`kernel_messages` reduces every form to the kernel's own lines, so that
``LINE_PREFIX`` patterns read them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["LINE_PREFIX", "KernelLog", "kernel_messages", "strip_prefix"]

# For patterns that find a message at the start of a line: blanks, level and timestamp
# are skipped (never a newline, so the pattern also works with re.MULTILINE).
LINE_PREFIX = r"^[^\S\n]*(?:<\d+>)?(?:\[[^\S\n]*\d+\.\d+\][^\S\n]*)?"


# One line of syslog or journalctl: "Nov 29 12:00:00[.123456] host kernel: ", or the
# same with an ISO date (short-iso, RFC 5424 syslog) or a monotonic "[    0.000000]" stamp.
_SYSLOG_TIME = (r"(?:[A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d(?:\.\d{1,9})?"
                r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
                r"|\[\s*\d+\.\d+\])")
_SYSLOG = re.compile(r"(?:<\d{1,3}>)?(?:" + _SYSLOG_TIME + r" \S+ (\S+?)(?:\[\d+\])?: "
                     # the installer's syslog (anaconda): "03:09:07,531 INFO kernel:"
                     r"|\d\d:\d\d:\d\d,\d{3} [A-Z]{1,8} (\S+?):)")
# What dmesg puts before a message: "<6>" (-r), "kern  :info  : " (-x), "[    0.000000]",
# "[Sun Nov 29 12:00:00 2026]" (-T), "[  +0.000004]" (reltime), "[    T0]" (caller id),
# "2026-11-29T12:00:00,123456+00:00 " (--time-format iso).
_DMESG_PREFIX = re.compile(
    r"(?:<\d{1,3}>"
    r"|[a-z]{2,8} *:[a-z]{2,7} *: "
    r"|\[(?: *[+<])? *\d+\.\d+>?\]"
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]?\d \d\d:\d\d:\d\d \d{4}\]"
    r"|\[\s*[TC]\d{1,7}\]"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d,\d{6}[+-]\d\d:\d\d)")
_BOOT_START = re.compile(r"Linux version \S")
_FIRMWARE_MAP = re.compile(r"^\s*(?:BIOS-e820|Xen): ")


@dataclass(frozen=True)
class KernelLog:
    """The kernel's own lines of a pasted log, one per input line (a line that is no
    kernel message, or belongs to another boot, is empty), and what reading it noticed."""

    text: str
    notes: tuple[str, ...] = ()


def strip_prefix(line: str) -> str:
    """The message of one log line, without the level and the stamps dmesg puts before it
    (one blank after each), so that a message keeps its own indentation (memblock dumps)."""
    while True:
        match = _DMESG_PREFIX.match(line)
        if not match:
            return line
        line = line[match.end():]
        if line.startswith(" "):
            line = line[1:]


def kernel_messages(text: str) -> KernelLog:
    """The kernel messages of a log in any of the forms people paste (see the module
    docstring), one per input line, so line numbers stay.  Syslog and journal files keep
    only lines tagged ``kernel``.  A file with several boots (``Linux version`` more than
    once) is cut to the last boot that printed its firmware memory map, and a note says
    so."""
    lines = text.splitlines()
    syslog = any(m is not None and "kernel" in m.groups()
                 for m in map(_SYSLOG.match, lines[:2000]))
    out: list[str] = []
    for line in lines:
        if syslog:
            match = _SYSLOG.match(line)
            line = line[match.end():] if match and "kernel" in match.groups() else ""
        out.append(strip_prefix(line.rstrip("\r\n")).rstrip())
    notes: list[str] = []
    starts = [i for i, line in enumerate(out) if _BOOT_START.match(line)]
    if len(starts) > 1:
        bounds = list(zip(starts, starts[1:] + [len(out)], strict=True))
        with_map = [(a, b) for a, b in bounds
                    if any(_FIRMWARE_MAP.match(x) for x in out[a:b])]
        first, last = with_map[-1] if with_map else bounds[-1]
        out = [x if first <= i < last else "" for i, x in enumerate(out)]
        notes.append(f"the log holds {len(starts)} boots; memhp reads the last one with a "
                     f"firmware memory map (from line {first + 1})")
    return KernelLog("\n".join(out) + "\n", tuple(notes))
