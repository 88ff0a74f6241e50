# SPDX-License-Identifier: GPL-2.0-or-later
"""The corpus judgement the acceptance tests share: compare.py over all groups, with the
blocks a prediction leaves ``unknown`` (and only those) taken as matching; and the
acceptance pipeline itself (firmware_lines.py | memhp predict --format json)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from memhp.cli import main

TOOLS = Path(__file__).parent / "corpus_tools"
sys.path.insert(0, str(TOOLS))
import compare  # noqa: E402
import facts  # noqa: E402

# The ten corpus machines (p01-p10, on every kernel generation): the blocks whose fate
# depends on how much the running kernel allocates, which memhp says are "unknown" (the
# block above the lowest free one of the boot CPU's kernel zone).
UNKNOWN_BLOCKS = {
    "p01_movable_node_hotplug_node1": {"1"},
    "p03_movable_node_overrides_kernelcore": {"1"},
    "p05_kernelcore_two_nodes": {"1"},  # on 6.1: failed in 2 of 12 verify boots
    "p08_q35_four_nodes_two_hotplug": {"1"},  # failed in the 6.1 corpus boot
    "p10_mem_limit_truncates_hotplug_node": {"1"},
}


def srat_args(boot: Path) -> list[str]:
    """``--srat BOOT/srat.bin`` where the boot had one."""
    path = boot / "srat.bin"
    return ["--srat", str(path)] if path.exists() else []


def predict_from_firmware_lines(boot: Path, tmp_path: Path) -> dict[str, Any]:
    """The acceptance pipeline: the boot's firmware lines (firmware_lines.py) and SRAT into
    ``memhp predict --format json``, the profile picked from the log's Linux version."""
    fw = tmp_path / "fw.log"
    fw.write_text(subprocess.run(
        [sys.executable, str(TOOLS / "firmware_lines.py"), str(boot / "serial.log")],
        check=True, capture_output=True, text=True).stdout)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", "--boot-log", str(fw), *srat_args(boot), "--format",
                     "json"]) == 0
    pred: dict[str, Any] = json.loads(out.getvalue())
    return pred


def check_generation_set(corpus: Path, scenarios: list[str], release: str) -> None:
    """A kernel generation's corpus set (linux-6.12/, linux-7.2/): the ten machines, each
    booted on the release its profile was measured on."""
    assert len(scenarios) == 10
    for s in scenarios:
        meta = json.loads((corpus / s / "meta.json").read_text())
        assert meta["kernel_release"] == release


def generation_mismatches(boot: Path, profile: str, tmp_path: Path) -> set[str]:
    """The groups of one generation boot that differ when predicted from its firmware lines
    (the acceptance pipeline), the blocks of UNKNOWN_BLOCKS left unknown, after checking
    that the log's Linux version picked ``profile``."""
    pred = predict_from_firmware_lines(boot, tmp_path)
    assert pred["kernel_profile"] == profile
    return set(mismatches(boot / "serial.log", pred, UNKNOWN_BLOCKS.get(boot.name, set())))


def unknown_share(boots: list[Path], unknown: dict[str, set[str]]) -> float:
    """The share of the boots' memory blocks that memhp leaves unknown (at most 2%)."""
    total = sum(len(facts.memory_blocks((b / "serial.log").read_text(errors="replace")))
                for b in boots)
    return sum(map(len, unknown.values())) / total


def mismatches(serial_log: Path, pred: dict[str, Any], unknown: set[str]) -> dict[str, str]:
    """Every group of the 14 that differs; the unknown blocks must be exactly ``unknown``."""
    real = facts.facts(serial_log.read_text(errors="replace"))
    assert {k for k, v in pred["offline_trial"].items() if v == "unknown"} == unknown
    for block in unknown:
        pred["offline_trial"][block] = real["offline_trial"][int(block)]
    results = compare.compare(real, pred)
    assert len(results) == 14
    return {k: v for k, v in results.items() if v}
