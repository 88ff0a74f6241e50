# SPDX-License-Identifier: GPL-2.0-or-later
"""Many inputs in one call: JSON Lines in input order, a summary table, failures isolated."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from memhp import batch
from memhp.cli import main

ROOT = Path(__file__).resolve().parents[1]
P01 = str(ROOT / "examples" / "p01_movable_node_hotplug_node1.toml")
P08 = str(ROOT / "examples" / "p08_q35_four_nodes_two_hotplug.toml")
P01_LOG = str(ROOT / "tests" / "fixtures" / "corpus" / "p01_movable_node_hotplug_node1"
              / "serial.log")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_one_record_per_input_in_order_and_a_failure_stays_in_its_record(
        capsys: pytest.CaptureFixture[str], jobs: str, tmp_path: Path) -> None:
    # p01, a missing file, a machine file that is no TOML, p08: four records, two failed
    bad = tmp_path / "bad.toml"
    bad.write_text("[[e820\n")
    rc, out, err = run(capsys, "predict", "--format", "json", "-j", jobs, P01,
                       str(tmp_path / "missing.toml"), str(bad), P08)
    recs = [json.loads(line) for line in out.splitlines()]
    assert [r["input"] for r in recs] == [P01, str(tmp_path / "missing.toml"), str(bad), P08]
    assert [r["ok"] for r in recs] == [True, False, False, True]
    assert "missing.toml" in recs[1]["error"] and "\n" not in recs[1]["error"]
    assert rc == 2  # some input failed
    assert "4 inputs, 2 failed" in err  # the summary goes to stderr after JSON Lines
    assert "\r" not in err  # no progress bar off a terminal


def test_a_record_holds_the_single_prediction(capsys: pytest.CaptureFixture[str]) -> None:
    rc, single, _ = run(capsys, "predict", "--format", "json", P08)
    assert rc == 0
    rc, out, _ = run(capsys, "predict", "--format", "json", P01, P08)
    assert rc == 0
    rec = json.loads(out.splitlines()[1])
    assert rec["facts"] == json.loads(single)
    # four nodes, 2 and 3 hot-removable (the example's header says so)
    assert rec["summary"]["nodes"] == 4 and rec["summary"]["removable_nodes"] == [2, 3]


def test_a_log_takes_the_srat_beside_it(capsys: pytest.CaptureFixture[str]) -> None:
    # the corpus log and its machine file predict the same
    rc, out, _ = run(capsys, "predict", "--format", "json", P01_LOG, P01)
    assert rc == 0
    log, machine = (json.loads(line) for line in out.splitlines())
    assert log["summary"] == machine["summary"]
    assert log["summary"]["removable_nodes"] == [1]


def test_text_format_prints_the_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "predict", P01, P08)
    assert rc == 0
    head = out.splitlines()[0].split()
    assert head[:3] == ["input", "nodes", "movable"]
    assert "2 inputs, 0 failed" in out


def test_explain_and_advise_batches(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "explain", "--format", "json", "--node", "1", P01, P08)
    assert rc == 0
    recs = [json.loads(line) for line in out.splitlines()]
    assert [[n["nid"] for n in r["nodes"]] for r in recs] == [[1], [1]]
    rc, out, _ = run(capsys, "advise", "--format", "json", "--removable", "1", P01, P08)
    recs = [json.loads(line) for line in out.splitlines()]
    assert all(r["ok"] and r["advice"]["nodes"] == [1] for r in recs)


def test_single_input_options_refuse_a_batch(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "predict", "--format", "dmesg", P01, P08)
    assert rc == 2 and "single input" in err
    rc, _, err = run(capsys, "explain", "--block", "3", P01, P08)
    assert rc == 2 and "single input" in err


def test_progress_bar_only_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        p = batch.Progress(3, stream)
        p.update(3, 1)
        p.close()
    assert "3/3" in tty.getvalue() and "1 failed" in tty.getvalue()
    assert plain.getvalue() == ""
