#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How memhp's cost grows with the machine: RAM from 4 GiB to 4 PiB, and node count.

For every node count and RAM size (bench/make_server.py servers: half the nodes
hot-pluggable with movable_node, or --layout plain / risers; 5-level paging above 64 TiB),
one process per machine measures the model (setup.boot, best of --repeat runs), the text
and JSON outputs apart from it, and the process' peak memory (max RSS).  Times are the
process' CPU time (time.process_time), so that other work on a shared machine does not
count.  Prints each and its ratio to the smallest machine of the same node count, all
measured in this one run.
usage: bench/bench_scale.py [--nodes 4,64] [--ram 4G,64G,1T,32T,1P,4P] [--layout hotplug]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_server import server  # noqa: E402

UNITS = {"G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def ram_bytes(text: str) -> int:
    return int(float(text[:-1]) * UNITS[text[-1].upper()])


def measure_one(nodes: int, ram: int, layout: str, repeat: int) -> dict[str, float]:
    """In this process: model CPU seconds (best of ``repeat``), text and JSON CPU seconds."""
    from memhp.kernel.profile import load_profile
    from memhp.kernel.setup import boot
    from memhp.output import json_facts, text

    hot = set() if layout == "plain" else None
    m = server(nodes, ram / (1 << 40), hotplug=hot, riser_gib=16 if layout == "risers" else 0)
    m = dataclasses.replace(m, la57=ram > 64 << 40)
    prof = load_profile()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        b = boot(m, prof)
        best = min(best, time.process_time() - t0)
    t0 = time.process_time()
    text.render(b)
    t1 = time.process_time()
    json_facts.render(b)
    t2 = time.process_time()
    return {"model": best, "text": t1 - t0, "json": t2 - t1, "blocks": len(b.blocks),
            "runs": len(b.blocks.runs) + len(b.offline.runs)}


def run(nodes: int, ram: int, layout: str, repeat: int) -> tuple[dict[str, float], int]:
    """One machine in its own process: its figures and the process' peak RSS in bytes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = (str(Path(__file__).resolve().parent.parent / "src") + os.pathsep
                         + env.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, __file__, "--one", str(nodes), str(ram), layout,
                             str(repeat)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"bench_scale: {nodes} nodes, {ram} bytes failed")
    return json.loads(out), usage.ru_maxrss * 1024


def human(n: int) -> str:
    for unit, shift in (("PiB", 50), ("TiB", 40), ("GiB", 30)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} B"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        nodes, ram, layout, repeat = int(argv[1]), int(argv[2]), argv[3], int(argv[4])
        print(json.dumps(measure_one(nodes, ram, layout, repeat)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="4,64")
    ap.add_argument("--ram", default="4G,64G,1T,32T,1P,4P")
    ap.add_argument("--layout", choices=("hotplug", "plain", "risers"), default="hotplug")
    ap.add_argument("--repeat", type=int, default=5, help="model runs per machine (best)")
    args = ap.parse_args(argv)
    print(f"layout {args.layout}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'nodes':>5} {'RAM':>8} {'blocks':>8} {'runs':>5} {'model s':>8} {'x model':>8} "
          f"{'text s':>7} {'json s':>7} {'peak MiB':>9} {'x mem':>6}")
    for nodes in map(int, args.nodes.split(",")):
        base: tuple[float, int] | None = None
        for ram in map(ram_bytes, args.ram.split(",")):
            r, peak = run(nodes, ram, args.layout, args.repeat)
            base = base or (r["model"], peak)
            print(f"{nodes:5d} {human(ram):>8} {r['blocks']:8d} {r['runs']:5d} "
                  f"{r['model']:8.4f} {r['model'] / base[0]:8.2f} {r['text']:7.3f} "
                  f"{r['json']:7.3f} {peak / 2**20:9.0f} {peak / base[1]:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
