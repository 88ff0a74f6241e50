# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading one input file: a path, or ``-`` for standard input, with one size cap.

Every file argument of the CLI goes through :func:`read_bytes` (or :func:`read_text`), so
``dmesg | memhp predict --boot-log -`` works like a file, and a mistaken path such as
/dev/zero ends in a one-line error instead of filling memory.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from memhp.errors import InputError

__all__ = ["MAX_INPUT", "STDIN", "json_object", "read_bytes", "read_text", "stdin_name"]

MAX_INPUT = 64 << 20  # no boot log, machine file or SRAT dump is this long; /dev/zero is
STDIN = "-"


def stdin_name(path: str) -> str:
    """How error messages name ``path``: standard input as ``<stdin>``."""
    return "<stdin>" if path == STDIN else path


def read_bytes(path: str, what: str = "file") -> bytes:
    """The bytes of ``path`` (``-``: standard input), at most :data:`MAX_INPUT`."""
    name = stdin_name(path)
    try:
        if path == STDIN:
            data: bytes = sys.stdin.buffer.read(MAX_INPUT + 1)
        else:
            with open(path, "rb") as f:
                data = f.read(MAX_INPUT + 1)
    except (OSError, ValueError) as e:  # ValueError: a NUL in the name
        why = getattr(e, "strerror", None) or str(e)
        raise InputError(name, what, name, f"cannot read: {why}") from None
    if len(data) > MAX_INPUT:
        raise InputError(name, what, name, f"longer than {MAX_INPUT >> 20} MiB")
    return data


def read_text(path: str, what: str = "file") -> str:
    """:func:`read_bytes` decoded as UTF-8, undecodable bytes replaced (logs hold any)."""
    return read_bytes(path, what).decode("utf-8", errors="replace")


def json_object(text: str, source: str, what: str = "scenario") -> dict[str, Any]:
    """``text`` parsed as one JSON object (a scenario.json), or a one-line InputError."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(source, f"line {e.lineno}", None, f"not JSON: {e.msg}") from None
    if not isinstance(doc, dict):
        raise InputError(source, what, doc, "must be a JSON object")
    return doc
