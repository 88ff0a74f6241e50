# SPDX-License-Identifier: GPL-2.0-or-later
"""The benchmarks still run: each on a machine or a batch small enough for the test suite.
(Their figures are for people to read; no time is asserted here.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_scale_prints_a_row_per_machine() -> None:
    out = _run("bench_scale.py", "--nodes", "2", "--ram", "4G,1T", "--repeat", "1")
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [r[:3] for r in rows] == [["2", "4", "GiB"], ["2", "1", "TiB"]]
    assert rows[0][6] == "1.00"  # the ratio column: the first machine against itself
    assert [r[-1] for r in rows] == ["4.00", "1024.00"]  # each has the RAM its row names


def test_bench_batch_runs_a_small_batch() -> None:
    out = _run("bench_batch.py", "--count", "12", "--jobs", "2")
    assert out.splitlines()[-1].split()[-1] == "0"  # no input failed
