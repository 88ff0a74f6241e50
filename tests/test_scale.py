# SPDX-License-Identifier: GPL-2.0-or-later
"""The 64-node, 32 TiB server: predicted from both inputs, and sane."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from memhp.firmware.acpi import load_srat
from memhp.firmware.bootlog import machine_from_boot_log
from memhp.firmware.machine_file import load_machine
from memhp.kernel.mm_init import ZONE_MOVABLE
from memhp.kernel.profile import load_profile
from memhp.kernel.setup import Boot, boot

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def server() -> Boot:
    return boot(load_machine(str(EXAMPLES / "server-64node-32t.toml")), load_profile())


def test_all_64_nodes_are_initialised(server: Boot) -> None:
    assert server.numa is not None and server.zones is not None
    assert sorted(server.numa.online) == list(range(64))
    assert sum(ln.startswith("Initmem setup node") for ln in server.log) == 64
    assert server.block_size == 2 << 30  # bare metal above 64G: the largest block size


def test_zone_movable_exactly_on_the_hotpluggable_nodes(server: Boot) -> None:
    assert server.zones is not None
    assert sorted(server.zones.zone_movable_pfn) == list(range(32, 64))
    for nid, node in server.zones.nodes.items():
        movable = node.zones[ZONE_MOVABLE].present
        kernel = sum(z.present for z in node.zones if z.idx != ZONE_MOVABLE)
        assert (movable > 0, kernel == 0) == ((nid >= 32),) * 2


def test_node_data_of_hotplug_nodes_lives_on_kernel_nodes(server: Boot) -> None:
    assert server.numa is not None
    for nid in range(64):
        home = server.numa.node_data_home[nid]
        assert home == nid if nid < 32 else home < 32


def test_hotplug_nodes_can_go_offline_entirely(server: Boot) -> None:
    verdict = {v.block: v.result for v in server.offline}
    for b in server.blocks:
        if b.nodes and b.nodes[0] >= 32:
            assert verdict[b.id] == "offlined"


def test_firmware_lines_and_srat_give_the_same_prediction(server: Boot) -> None:
    d = EXAMPLES / "server-64node-32t"
    m = machine_from_boot_log((d / "firmware.log").read_text(), "firmware.log")
    assert not m.hypervisor  # not QEMU's tables: bare metal
    m = dataclasses.replace(m, srat=load_srat(str(d / "SRAT")), la57=False)
    other = boot(m, load_profile())
    assert other.dumps == server.dumps
    assert [ln for ln in other.log if not ln.startswith("ACPI:")] == [
        ln for ln in server.log if not ln.startswith("ACPI:")]
