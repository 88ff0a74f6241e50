# SPDX-License-Identifier: GPL-2.0-or-later
"""explain, compare and advise: the cause behind each verdict, for every corpus scenario."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memhp import analysis
from memhp.cli import main
from memhp.firmware.machine_file import load_machine
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import boot

EXAMPLES = Path(__file__).parent.parent / "examples"
PROFILE = load_profile()

# node -> (cause, hot-removable) as the real kernel's boots show them
CAUSES = {
    "p01_movable_node_hotplug_node1": {0: ("not_hotpluggable", False), 1: ("movable", True)},
    # without movable_node the top-down direct-map page tables land in node 1
    "p02_hotplug_srat_without_movable_node": {1: ("kernel_memory", False)},
    "p03_movable_node_overrides_kernelcore": {1: ("movable", True)},
    "p04_hotplug_range_holds_acpi_tables": {1: ("kernel_memory", False)},
    "p05_kernelcore_two_nodes": {1: ("kernelcore", False)},
    "p06_movablecore_two_nodes": {1: ("movablecore", False)},
    "p07_srat_misses_memory_numa_off": {0: ("numa_rejected", False)},
    "p08_q35_four_nodes_two_hotplug": {1: ("not_hotpluggable", False), 2: ("movable", True),
                                        3: ("movable", True)},
    "p09_no_srat_movablecore_percent": {0: ("movablecore", False)},
    "p10_mem_limit_truncates_hotplug_node": {1: ("movable", True)},
}


def verdicts(name: str) -> dict[int, analysis.NodeVerdict]:
    b = boot(load_machine(str(EXAMPLES / f"{name}.toml")), PROFILE)
    return {v.nid: v for v in analysis.node_verdicts(b)}


@pytest.mark.parametrize("name", sorted(CAUSES))
def test_explain_names_the_right_cause(name: str) -> None:
    got = verdicts(name)
    for nid, (cause, removable) in CAUSES[name].items():
        assert (got[nid].cause, got[nid].removable) == (cause, removable)


def test_kernel_node_cause_names_the_reservations() -> None:
    v = verdicts("p04_hotplug_range_holds_acpi_tables")[1]
    assert "ACPI SRAT table" in v.reason or "ACPI" in v.reason
    assert v.rule == "numa_clear_kernel_node_hotplug"
    p02 = verdicts("p02_hotplug_srat_without_movable_node")[1]
    assert "direct-map page tables" in p02.reason


def test_rejected_srat_says_how_much_it_covers() -> None:
    v = verdicts("p07_srat_misses_memory_numa_off")[0]
    assert "5119MB of your 6143MB" in v.reason


def test_mem_limit_is_mentioned() -> None:
    assert "mem=5 GiB" in verdicts("p10_mem_limit_truncates_hotplug_node")[1].reason


def test_explain_block_and_address(capsys: pytest.CaptureFixture[str]) -> None:
    ex = str(EXAMPLES / "p01_movable_node_hotplug_node1.toml")
    assert main(["explain", ex, "--block", "22", "--format", "json"]) == 0
    v = json.loads(capsys.readouterr().out)
    assert (v["result"], v["cause"]) == ("failed", "boot_memory")
    assert any(what == "swiotlb bounce buffer" for what, _ in v["holds"])
    assert main(["explain", ex, "--addr", "0xbfeb9000", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["node"], info["zone"], info["reserved_by"]) == (0, "DMA32", "NODE_DATA(0)")
    assert main(["explain", ex, "--node", "7"]) == 2


def test_compare_shows_what_movable_node_changes(capsys: pytest.CaptureFixture[str]) -> None:
    ex = str(EXAMPLES / "p02_hotplug_srat_without_movable_node.toml")
    assert main(["compare", ex, "--cmdline", "nokaslr", "--cmdline", "nokaslr movable_node",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "node 1: becomes hot-removable" in out["changes"][0]
    assert "node 1: NODE_DATA moves from node 1 to node 0" in out["changes"][0]
    assert main(["compare", ex, "--cmdline", "", "--cmdline", "movable_node", "--no-color"]) == 0
    assert "from [1] to [2]:" in capsys.readouterr().out


def test_advise_finds_movable_node_for_the_8_node_server() -> None:
    m = load_machine(str(EXAMPLES / "server-8node-4hotplug.toml"))
    a = analysis.advise(m, [4, 5, 6, 7], PROFILE)
    works = [o for o in a.options if o.works]
    assert [o.cmdline for o in works] == ["movable_node"]
    o = works[0].outcome
    assert 0.9 < o.ratio < 1.1
    nodes = {n.nid: n for n in o.nodes}
    assert all(nodes[n].kernel == 0 and nodes[n].node_data_on in (0, 1, 2, 3) for n in (4, 5, 6, 7))


def test_advise_says_no_command_line_works_when_acpi_tables_pin_the_node(
        capsys: pytest.CaptureFixture[str]) -> None:
    ex = str(EXAMPLES / "p04_hotplug_range_holds_acpi_tables.toml")
    assert main(["advise", ex, "--removable", "1", "--format", "json"]) == 1
    a = json.loads(capsys.readouterr().out)
    assert not any(o["works"] for o in a["options"])
    assert any("kernel memory lies in its SRAT range" in w for w in a["why_not"])
    assert any("ACPI tables" in f for f in a["firmware"])
    assert main(["advise", ex, "--removable", "x"]) == 2


def test_advise_warns_about_zone_imbalance() -> None:
    m = load_machine(str(EXAMPLES / "server-8node-4hotplug.toml"))
    a = analysis.advise(m, [1], PROFILE)
    assert any("MOVABLE:KERNEL" in w for o in a.options for w in o.warnings)
