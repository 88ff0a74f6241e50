# SPDX-License-Identifier: GPL-2.0-or-later
"""The acceptance check for the 6.12 generation: the ten corpus scenarios booted on Debian
13's 6.12.117 (tests/fixtures/corpus/linux-6.12, copied from kernel-boots/linux-6.12),
predicted from their firmware lines plus SRAT, and every memblock request replayed."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from memhp.cli import main
from memhp.kernel.profile import load_profile

HERE = Path(__file__).parent
CORPUS = HERE / "fixtures" / "corpus" / "linux-6.12"
SCENARIOS = sorted(p.name for p in CORPUS.glob("p[0-9]*") if p.is_dir())
PROFILE = load_profile("debian-6.12-amd64")

from corpus_check import (  # noqa: E402
    UNKNOWN_BLOCKS,
    check_generation_set,
    facts,
    generation_mismatches,
    srat_args,
    unknown_share,
)

UNKNOWN = UNKNOWN_BLOCKS
# Groups the real log itself garbles: the serial console printed a kernel message into the
# middle of a line of the dmesg copy user space was printing.
GARBLED = {"p10_mem_limit_truncates_hotplug_node": {"dmesg:zone_ranges"}}


def _run(argv: list[str]) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    doc: dict[str, object] = json.loads(out.getvalue())
    return rc, doc


def test_corpus_is_complete() -> None:
    check_generation_set(CORPUS, SCENARIOS, PROFILE.kernel_release)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_all_fourteen_groups_from_firmware_lines(scenario: str, tmp_path: Path) -> None:
    """The acceptance pipeline: firmware_lines.py | memhp predict --format json |
    compare.py, the profile picked from the log's Linux version line."""
    assert generation_mismatches(CORPUS / scenario, PROFILE.name,
                                 tmp_path) == GARBLED.get(scenario, set())


def test_the_garbled_line_is_in_the_log() -> None:
    real = facts.facts((CORPUS / "p10_mem_limit_truncates_hotplug_node" / "serial.log")
                       .read_text(errors="replace"))
    assert any(ln.startswith("  DMA ") and "] tsc: Refined TSC" in ln for ln in real["dmesg"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_matches_every_allocation_and_dump(scenario: str) -> None:
    rc, res = _run(["replay", str(CORPUS / scenario / "serial.log"), *srat_args(CORPUS / scenario),
                    "--format", "json"])
    assert res["profile"] == PROFILE.name
    assert res["mismatches"] == [] and rc == 0
    assert res["matched"] == res["total"]
    assert res["dumps_matched"] == res["dumps_total"] == 2


def test_unknown_blocks_stay_under_two_percent() -> None:
    assert unknown_share([CORPUS / s for s in SCENARIOS], UNKNOWN) <= 0.02
