# SPDX-License-Identifier: GPL-2.0-or-later
"""The one error type for bad user input: the CLI prints it on one line and exits 2."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: names the file, the field and the offending value."""

    def __init__(self, source: str, field: str, value: object, problem: str) -> None:
        self.source = source
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"{source}: {field}={value!r}: {problem}")
