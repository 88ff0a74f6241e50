# SPDX-License-Identifier: GPL-2.0-or-later
"""The one error type for bad user input: the CLI prints it on one line and exits 2."""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(Exception):
    """Bad input: names the file, the field and the offending value."""

    def __init__(self, source: str, field: str, value: object, problem: str) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.problem = problem
        shown = (f"{value:#x}" if isinstance(value, int) and not isinstance(value, bool)
                 and value.bit_length() > 64 else repr(value))
        if len(shown) > 200:
            shown = shown[:200] + "..."
        super().__init__(f"{source}: {field}={shown}: {problem}")
