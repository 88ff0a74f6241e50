# SPDX-License-Identifier: GPL-2.0-or-later
"""One place for the tests that boot a real kernel: run ``memhp verify ... --format json
--keep DIR`` and boot again when the booted kernel panicked (exit status 3) or the VM did
not finish in time (4).

A panic of the kernel under test gives no ground truth to compare memhp with, so it is not a
verdict on memhp; a boot that panics every time is skipped with the panic in the reason.
(Seen in CI and here on 7.2 under multi-threaded TCG, "Oops: int3 ... Fatal exception in
interrupt", before verify ran TCG single-threaded: qemu.accel_arg.)  A VM that did not
finish is booted again too (seen here for 7.2 through OVMF while several VMs ran at once on
two cores: the console stopped about 1.5 s into the boot); one that never finishes fails
the test with verify's error.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from memhp.cli import main

__all__ = ["ATTEMPTS", "BOOT_TIMEOUT", "GUEST_PANIC", "run_verify"]

ATTEMPTS = 3
GUEST_PANIC = 3  # memhp verify's exit status when the booted kernel panicked
BOOT_TIMEOUT = 4  # ... when the VM did not finish in time


def run_verify(argv: list[str], keep: Path) -> tuple[int, dict[str, Any]]:
    """``memhp verify *argv --format json --keep keep``: its exit status and JSON output
    ({} when it printed none).  A panicked or unfinished boot's console is kept as
    serial.panic-N.log or serial.timeout-N.log."""
    said, rc = "", 0
    for attempt in range(1, ATTEMPTS + 1):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(["verify", *argv, "--format", "json", "--keep", str(keep)])
        if rc not in (GUEST_PANIC, BOOT_TIMEOUT):
            return rc, json.loads(out.getvalue()) if out.getvalue() else {}
        said = err.getvalue().strip()
        print(f"attempt {attempt}: {said}")
        log = keep / "serial.log"
        if log.exists():
            kind = "panic" if rc == GUEST_PANIC else "timeout"
            log.rename(keep / f"serial.{kind}-{attempt}.log")
    if rc == BOOT_TIMEOUT:
        pytest.fail(f"the VM did not finish on the last of {ATTEMPTS} boots: {said}")
    pytest.skip(f"the booted kernel panicked on all {ATTEMPTS} boots: {said}")
