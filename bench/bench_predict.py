#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Time memhp's prediction of the bundled example machines, in one run.

Prints, per example, the wall time of a full prediction (JSON output included) and its
ratio to the fastest one, so the cost of bigger machines shows as a ratio, not as an
absolute number that depends on the computer.
usage: bench/bench_predict.py [EXAMPLE.toml ...]
"""

from __future__ import annotations

import sys
import time
import tracemalloc
from pathlib import Path

from memhp.firmware.machine_file import load_machine
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import boot
from memhp.output import json_facts


def measure(path: Path) -> tuple[float, int]:
    machine = load_machine(str(path))
    tracemalloc.start()
    t0 = time.perf_counter()
    json_facts.render(boot(machine, load_profile()))
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return elapsed, peak


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent / "examples"
    paths = [Path(a) for a in argv] or sorted(root.glob("*.toml"))
    rows = [(p.stem, *measure(p)) for p in paths]
    fastest = min(t for _, t, _ in rows)
    print(f"{'machine':45} {'seconds':>8} {'ratio':>7} {'peak MiB':>9}")
    for name, t, peak in rows:
        print(f"{name:45} {t:8.3f} {t / fastest:7.1f} {peak / 2**20:9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
