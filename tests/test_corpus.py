# SPDX-License-Identifier: GPL-2.0-or-later
"""The acceptance check: predictions from firmware lines match the real kernel's boots.

For each corpus scenario (copied from the shared kernel-boots corpus into
tests/fixtures/corpus) the input is only what firmware and boot loader said
(firmware_lines.py) plus the SRAT binary; the corpus' own compare.py judges.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from memhp.cli import main

HERE = Path(__file__).parent
CORPUS = HERE / "fixtures" / "corpus"
TOOLS = HERE / "corpus_tools"
SCENARIOS = sorted(p.name for p in CORPUS.glob("p[0-9]*") if p.is_dir())  # the 6.1 set
GROUPS = "dmesg,memblock,zoneinfo:layout,memory_blocks"

sys.path.insert(0, str(TOOLS))
import compare  # noqa: E402
import facts  # noqa: E402


def predict_json(scenario: str, tmp_path: Path) -> dict[str, object]:
    d = CORPUS / scenario
    fw = tmp_path / "fw.log"
    fw.write_text(subprocess.run(
        [sys.executable, str(TOOLS / "firmware_lines.py"), str(d / "serial.log")],
        check=True, capture_output=True, text=True).stdout)
    argv = ["predict", "--boot-log", str(fw), "--format", "json"]
    if (d / "srat.bin").exists():
        argv += ["--srat", str(d / "srat.bin")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def test_corpus_is_complete() -> None:
    assert len(SCENARIOS) == 10


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_prediction_matches_real_kernel(scenario: str, tmp_path: Path) -> None:
    real = facts.facts((CORPUS / scenario / "serial.log").read_text(errors="replace"))
    pred = predict_json(scenario, tmp_path)
    results = compare.compare(real, pred, GROUPS.split(","))
    assert len(results) == 12
    assert {k: v for k, v in results.items() if v} == {}


def test_compare_tool_accepts_the_cli_output(tmp_path: Path) -> None:
    """The exact shell pipeline of the acceptance, for one scenario."""
    scenario = "p08_q35_four_nodes_two_hotplug"
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(predict_json(scenario, tmp_path)))
    r = subprocess.run(
        [sys.executable, str(TOOLS / "compare.py"), str(CORPUS / scenario / "serial.log"),
         str(pred), "--only", GROUPS], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert r.stdout.strip().splitlines()[-1] == "groups matched: 12/12"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bundled_example_machine_matches_real_kernel(scenario: str) -> None:
    """examples/<scenario>.toml (made by import-log) predicts the same as the log."""
    example = HERE.parent / "examples" / f"{scenario}.toml"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", str(example), "--format", "json"]) == 0
    real = facts.facts((CORPUS / scenario / "serial.log").read_text(errors="replace"))
    results = compare.compare(real, json.loads(out.getvalue()), GROUPS.split(","))
    assert {k: v for k, v in results.items() if v} == {}
