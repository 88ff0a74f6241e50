# SPDX-License-Identifier: GPL-2.0-or-later
"""The acceptance check for the 7.2 generation: the ten corpus scenarios booted on Debian's
7.2.13 (tests/fixtures/corpus/linux-7.2, copied from kernel-boots/linux-7.2), predicted from
their firmware lines plus SRAT, and every memblock request replayed."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from memhp.cli import main
from memhp.kernel.profile import load_profile
from memhp.replay import replay_log
from memhp.verify import compare as vcmp
from memhp.verify import kernel
from memhp.verify.kernel import VerifyError

HERE = Path(__file__).parent
CORPUS = HERE / "fixtures" / "corpus" / "linux-7.2"
TOOLS = HERE / "corpus_tools"
SCENARIOS = sorted(p.name for p in CORPUS.glob("p[0-9]*") if p.is_dir())
PROFILE = load_profile("debian-7.2-amd64")

sys.path.insert(0, str(TOOLS))
import facts  # noqa: E402
from corpus_check import (  # noqa: E402
    UNKNOWN_BLOCKS,
    check_generation_set,
    generation_mismatches,
    srat_args,
    unknown_share,
)
from verify_boot import run_verify  # noqa: E402

UNKNOWN = UNKNOWN_BLOCKS


def _srat(scenario: str) -> list[str]:
    return srat_args(CORPUS / scenario)


def test_corpus_is_complete() -> None:
    check_generation_set(CORPUS, SCENARIOS, PROFILE.kernel_release)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_all_fourteen_groups_from_firmware_lines(scenario: str, tmp_path: Path) -> None:
    """The acceptance pipeline: firmware_lines.py | memhp predict --format json |
    compare.py, the profile picked from the log's Linux version line."""
    assert generation_mismatches(CORPUS / scenario, PROFILE.name, tmp_path) == set()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_matches_every_allocation_and_dump(scenario: str) -> None:
    text = (CORPUS / scenario / "serial.log").read_text(errors="replace")
    srat = _srat(scenario)
    res = replay_log(text, scenario, srat[1] if srat else None, PROFILE)
    assert res.mismatches == []
    assert res.matched == res.total > 80
    assert res.dumps_matched == res.dumps_total == 2


def test_unknown_blocks_stay_under_two_percent() -> None:
    assert unknown_share([CORPUS / s for s in SCENARIOS], UNKNOWN) <= 0.02


def test_dmesg_prints_the_7_2_e820_table() -> None:
    """The predicted log spells the e820 table as 7.2 does, gaps included."""
    scenario = "p01_movable_node_hotplug_node1"
    serial = CORPUS / scenario / "serial.log"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", "--boot-log", str(serial), *_srat(scenario), "--format",
                     "dmesg"]) == 0
    ours = [ln for ln in out.getvalue().splitlines() if ln.startswith(("BIOS-e820: ", "e820: "))]
    real = [ln.split("] ", 1)[1] for ln in facts.section(serial.read_text(), "DMESG").splitlines()
            if "] BIOS-e820: " in ln or "] e820: update" in ln or "] e820: remove" in ln]
    assert ours == real and any("[gap " in ln for ln in ours)
    assert "e820: update [mem 0x00000000-0x00000fff] System RAM ==> device reserved" in ours


def test_memblock_flags_in_the_first_dump() -> None:
    """Memory below 1M is KHO scratch until the trampoline is allocated; the kernel's own
    reservations carry MEMBLOCK_RSRV_KERN, so the 64K and the 1M reservations do not merge
    with the trampoline between them."""
    scenario = "p01_movable_node_hotplug_node1"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["predict", "--boot-log", str(CORPUS / scenario / "serial.log"),
                     *_srat(scenario), "--format", "json"]) == 0
    after_e820, after_numa = json.loads(out.getvalue())["memblock_dumps"]
    assert after_e820["memory"][0] == [0x1000, 0x9E000, None, 0x40]
    assert [r[3] for r in after_e820["reserved"]] == [0, 0, 0x20, 0x20]  # image+brk, initrd
    assert after_numa["memory"][0][3] == 0
    # the trampoline (RSRV_KERN) between the first 64K and the rest of the first 1M
    assert [(r[0], r[3]) for r in after_numa["reserved"][1:4]] == [
        (0x1000, 0), (0x10000, 0x20), (0x17000, 0)]


@pytest.mark.qemu
def test_verify_boots_the_7_2_kernel(tmp_path: Path) -> None:
    """memhp verify --kernel 7.2: Debian's 7.2 kernel (fetched from sid by .ci/verify-deps,
    its image in linux-binary-*) boots the machine, the booted kernel picks the 7.2
    profile, and all 14 groups match."""
    try:
        kernel.kernel_for_version("7.2", log=False)
    except VerifyError as e:
        pytest.skip(f"no 7.2 kernel: {e}")
    rc, doc = run_verify([str(HERE.parent / "examples" /
                              "p02_hotplug_srat_without_movable_node.toml"),
                          "--kernel", "7.2"], tmp_path)
    assert doc, f"memhp verify failed (exit {rc}); see {tmp_path}/serial.log"
    assert doc["kernel"]["release"] == PROFILE.kernel_release
    assert doc["profile"] == PROFILE.name
    bad = {k: g["detail"] for k, g in doc["groups"].items() if g["status"] != vcmp.OK}
    assert bad == {} and rc == 0
    assert doc["compared"] == doc["matched"] == 14
