#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Logs per second of a batch: `memhp predict --format json LOG...` over many machine logs.

Writes COUNT boot logs (default 1,000): variants of the corpus boots (their whole dmesg,
with other command lines) and of bench/make_server.py servers (their firmware lines, with
other sizes, node counts and command lines), each directory with the SRAT its logs share.
Then runs one batch on 1 process and on --jobs processes, and prints the logs per second
of each and their ratio, measured in this one run.
usage: bench/bench_batch.py [--count 1000] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_server import firmware_lines, server  # noqa: E402

from memhp.firmware.acpi import encode_srat  # noqa: E402
from memhp.firmware.bootlog import dmesg_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "fixtures" / "corpus"
BASE = "console=ttyS0 nokaslr loglevel=7"
CMDLINES = ("", "movable_node", "kernelcore=50%", "movablecore=25%", "movable_node mem=6G",
            "kernelcore=2G", "movablecore=1G", "numa=off", "movable_node kernelcore=1G",
            "memblock=debug movable_node")
SERVERS = ((2, 0.0625), (2, 0.25), (4, 0.5), (8, 1.0), (4, 2.0), (8, 4.0))


def _with_cmdline(text: str, cmd: str) -> str:
    """The log ``text`` with its first ``Command line:`` saying ``cmd``."""
    return re.sub(r"(?m)^(.*Command line: ).*$", lambda m: m.group(1) + cmd, text, count=1)


def write_logs(out: Path, count: int) -> list[str]:
    """COUNT logs under ``out``, one directory per source machine; their paths."""
    sources: list[tuple[str, str, bytes]] = []  # name, log text, SRAT
    for d in sorted(CORPUS.glob("p*")):
        if (d / "serial.log").exists():
            srat = (d / "srat.bin").read_bytes() if (d / "srat.bin").exists() else b""
            sources.append((d.name, dmesg_section((d / "serial.log").read_text(
                errors="replace")), srat))
    for nodes, tib in SERVERS:
        m = server(nodes, tib)
        assert m.srat is not None
        sources.append((m.name, firmware_lines(m), encode_srat(m.srat)))
    paths: list[str] = []
    per = -(-count // len(sources))
    for name, text, srat in sources:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        if srat:
            (folder / "srat.bin").write_bytes(srat)
        for k in range(min(per, count - len(paths))):
            cmd = f"{BASE} {CMDLINES[k % len(CMDLINES)]} variant={k}".strip()
            log = _with_cmdline(text, cmd)
            path = folder / f"boot{k:04d}.log"
            path.write_text(log)
            paths.append(str(path))
    return paths


def batch(paths: list[str], jobs: int) -> tuple[float, int, int]:
    """Wall seconds, records written and records that failed, of one batch process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "memhp", "predict", "--format", "json",
                           "-j", str(jobs), *paths], capture_output=True, text=True, env=env,
                          check=False)
    elapsed = time.perf_counter() - t0
    lines = proc.stdout.splitlines()
    return elapsed, len(lines), sum('"ok": false' in ln for ln in lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", help="write the logs here and keep them")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        paths = write_logs(out, args.count)
        rows = [(jobs, *batch(paths, jobs)) for jobs in sorted({1, args.jobs})]
    print(f"{len(paths)} logs from {len(list(CORPUS.glob('p*')))} corpus boots and "
          f"{len(SERVERS)} servers; load average {os.getloadavg()[0]:.2f}")
    print(f"{'processes':>9} {'seconds':>8} {'logs/s':>8} {'x rate':>7} {'records':>8} "
          f"{'failed':>7}")
    base = rows[0][1]
    for jobs, t, n, bad in rows:
        print(f"{jobs:9d} {t:8.2f} {len(paths) / t:8.1f} {base / t:7.2f} {n:8d} {bad:7d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
