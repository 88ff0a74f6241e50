# SPDX-License-Identifier: GPL-2.0-or-later
"""The prefix the kernel log puts before each message: an optional syslog level (``<6>``)
and an optional timestamp (``[    0.000000]``).  One pattern for every reader of logs."""

from __future__ import annotations

import re

__all__ = ["LINE_PREFIX", "strip_prefix"]

# For patterns that find a message at the start of a line: blanks, level and timestamp
# are skipped (never a newline, so the pattern also works with re.MULTILINE).
LINE_PREFIX = r"^[^\S\n]*(?:<\d+>)?(?:\[[^\S\n]*\d+\.\d+\][^\S\n]*)?"

# The prefix exactly, so that a message keeps its own indentation (memblock dumps).
_PREFIX = re.compile(r"^(?:<\d+>)?(?:\[[^\S\n]*\d+\.\d+\] ?)?")


def strip_prefix(line: str) -> str:
    """The message of one log line, without the level and timestamp."""
    return _PREFIX.sub("", line, count=1)
