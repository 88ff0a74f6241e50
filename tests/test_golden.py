# SPDX-License-Identifier: GPL-2.0-or-later
"""Golden tests of what people read: ``memhp predict --format text`` on three machines.

The expected outputs are tests/fixtures/golden/<machine>.txt.  After a deliberate change
of the text, regenerate them with ``MEMHP_UPDATE_GOLDEN=1 python -m pytest
tests/test_golden.py`` and read the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memhp.cli import main

HERE = Path(__file__).parent
EXAMPLES = HERE.parent / "examples"
GOLDEN = HERE / "fixtures" / "golden"
MACHINES = {  # one per kind of answer: movable_node, movablecore=, a server
    "p01_movable_node_hotplug_node1": [],
    "p06_movablecore_two_nodes": [],
    "p08_q35_four_nodes_two_hotplug": [],
}
UPDATE = os.environ.get("MEMHP_UPDATE_GOLDEN") == "1"


@pytest.mark.parametrize("name", sorted(MACHINES))
def test_predict_text(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(EXAMPLES / f"{name}.toml"), "--format", "text", "--no-color",
                 "--profile", "debian-6.1-amd64", *MACHINES[name]]) == 0
    out = capsys.readouterr().out
    golden = GOLDEN / f"{name}.txt"
    if UPDATE:
        golden.write_text(out)
    assert golden.exists(), f"no {golden}: run with MEMHP_UPDATE_GOLDEN=1 to write it"
    assert out == golden.read_text(), f"{name}: output differs from {golden.name}"
