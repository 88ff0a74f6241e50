#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How memhp's cost grows with the machine: nodes x TiB, from the shell.

For every pair of 4/16/64 nodes and 1/8/32 TiB (bare metal, half the nodes hot-pluggable,
movable_node), runs `memhp predict MACHINE --format json` as a separate process and
prints its wall time and peak memory (max RSS), and each one's ratio to the smallest
machine, all measured in this one run.
usage: bench/bench_scale.py [--nodes 4,16,64] [--tib 1,8,32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_server import server  # noqa: E402

from memhp.firmware.machine_file import dump_machine  # noqa: E402


def run(path: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS bytes of one prediction in its own process."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "memhp", "predict", str(path),
                             "--format", "json"], stdout=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    if status:
        raise SystemExit(f"memhp failed on {path}")
    return elapsed, usage.ru_maxrss * 1024


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="4,16,64")
    ap.add_argument("--tib", default="1,8,32")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in map(int, args.nodes.split(",")):
            for tib in map(int, args.tib.split(",")):
                path = Path(tmp) / f"s{nodes}-{tib}.toml"
                path.write_text(dump_machine(server(nodes, tib)))
                rows.append((nodes, tib, *run(path)))
    t0, m0 = rows[0][2], rows[0][3]
    print(f"{'nodes':>5} {'TiB':>4} {'seconds':>8} {'x time':>7} {'peak MiB':>9} {'x mem':>6}")
    for nodes, tib, t, mem in rows:
        print(f"{nodes:5d} {tib:4d} {t:8.2f} {t / t0:7.1f} {mem / 2**20:9.0f} {mem / m0:6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
