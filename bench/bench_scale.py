#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""How memhp's cost grows with the machine: RAM from 4 GiB to 4 PiB, and node count.

For every node count and RAM size (bench/make_server.py servers with that much RAM, what
does not fit below 4 GiB from 4 GiB up: half the nodes hot-pluggable with movable_node, or
--layout plain / risers; 5-level paging where the addresses pass 64 TiB, and none past
4 PiB, so the 4 PiB machine has 2.27 GiB less; the last column says how much RAM each has):
the model (setup.boot), best of --repeat rounds in which one process boots the machines of
the node count in turn, so that a slow spell of a shared machine falls on all of them
alike; then one process per machine for the text and JSON outputs apart from it and the
process' peak memory (max RSS).  Times are CPU time (time.process_time), so that other work
on a shared machine does not count.  Prints each and its ratio to the smallest machine of
the same node count, all measured in this one run; and what the model works through:
``runs`` of memory blocks and of their offline verdicts, ``events``, the memblock calls
it writes down (a run of alike calls, or a cycle written in closed form, counts once), and
``mapped``, the nodes that own a memory section and so get a memory map of their own (on a
machine whose nodes are smaller than a section, not all of them).
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_server import end_for_ram, server  # noqa: E402

from memhp.firmware.types import E820_USABLE, Machine  # noqa: E402

UNITS = {"G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def ram_bytes(text: str) -> int:
    return int(float(text[:-1]) * UNITS[text[-1].upper()])


def machine(nodes: int, ram: int, layout: str) -> Machine:
    hot: set[int] | None = set() if layout == "plain" else None
    end = end_for_ram(ram, 1 << 52)  # 52-bit physical addresses at most
    m = server(nodes, end / (1 << 40), hotplug=hot, riser_gib=16 if layout == "risers" else 0)
    return dataclasses.replace(m, la57=end > 1 << 46)


def measure_models(nodes: int, rams: list[int], layout: str, repeat: int) -> list[float]:
    """In this process: each machine's model CPU seconds, best of ``repeat`` rounds that
    boot them all in turn."""
    from memhp.kernel.profile import load_profile
    from memhp.kernel.setup import boot

    machines = [machine(nodes, ram, layout) for ram in rams]
    prof = load_profile()
    best = [float("inf")] * len(machines)
    for _ in range(repeat):
        for i, m in enumerate(machines):
            t0 = time.process_time()
            boot(m, prof)
            best[i] = min(best[i], time.process_time() - t0)
    return best


def measure_one(nodes: int, ram: int, layout: str) -> dict[str, float]:
    """In this process: one boot, then the text and JSON outputs' CPU seconds."""
    from memhp.kernel.profile import load_profile
    from memhp.kernel.setup import boot
    from memhp.output import json_facts, text

    m = machine(nodes, ram, layout)
    b = boot(m, load_profile())
    t0 = time.process_time()
    text.render(b)
    t1 = time.process_time()
    json_facts.render(b)
    t2 = time.process_time()
    return {"text": t1 - t0, "json": t2 - t1, "blocks": len(b.blocks),
            "runs": len(b.blocks.runs) + len(b.offline.runs), "events": len(b.memblock.events),
            "mapped": len({nid for _, _, nid in b.sparse.runs}) if b.sparse else 0,
            "ram": sum(e.end - e.start for e in m.e820 if e.type == E820_USABLE)}


def run(*args: str) -> tuple[Any, int]:
    """This script with ``args`` in its own process: what it prints (JSON) and the
    process' peak RSS in bytes."""
    env = dict(os.environ)
    env["PYTHONPATH"] = (str(Path(__file__).resolve().parent.parent / "src") + os.pathsep
                         + env.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"bench_scale: {' '.join(args)} failed")
    return json.loads(out), usage.ru_maxrss * 1024


def human(n: int) -> str:
    for unit, shift in (("PiB", 50), ("TiB", 40), ("GiB", 30)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} B"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure_one(int(argv[1]), int(argv[2]), argv[3])))
        return 0
    if argv[:1] == ["--models"]:
        rams = [int(r) for r in argv[2].split(",")]
        print(json.dumps(measure_models(int(argv[1]), rams, argv[3], int(argv[4]))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="4,64")
    ap.add_argument("--ram", default="4G,64G,1T,32T,1P,4P")
    ap.add_argument("--layout", choices=("hotplug", "plain", "risers"), default="hotplug")
    ap.add_argument("--repeat", type=int, default=20,
                    help="rounds of model runs (best of them)")
    args = ap.parse_args(argv)
    print(f"layout {args.layout}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'nodes':>5} {'RAM':>8} {'blocks':>8} {'runs':>5} {'model s':>8} {'x model':>8} "
          f"{'text s':>7} {'json s':>7} {'peak MiB':>9} {'x mem':>6} {'events':>6} {'mapped':>6} "
          f"{'RAM GiB':>12}")
    rams = [ram_bytes(r) for r in args.ram.split(",")]
    for nodes in map(int, args.nodes.split(",")):
        models, _ = run("--models", str(nodes), ",".join(map(str, rams)), args.layout,
                        str(args.repeat))
        base_peak = 0
        for ram, model in zip(rams, models, strict=True):
            r, peak = run("--one", str(nodes), str(ram), args.layout)
            base_peak = base_peak or peak
            print(f"{nodes:5d} {human(ram):>8} {r['blocks']:8d} {r['runs']:5d} "
                  f"{model:8.4f} {model / models[0]:8.2f} {r['text']:7.3f} "
                  f"{r['json']:7.3f} {peak / 2**20:9.0f} {peak / base_peak:6.2f} "
                  f"{r['events']:6d} {r['mapped']:6d} {r['ram'] / 2**30:12.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
