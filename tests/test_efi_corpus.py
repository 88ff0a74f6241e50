# SPDX-License-Identifier: GPL-2.0-or-later
"""The UEFI corpus (tests/fixtures/corpus/efi, copied from kernel-boots/efi): five OVMF boots
of Debian's 6.1 kernel, e01-e04 with efi=debug, e05 without.

Every group the prediction gets wrong must be one it calls unknown, with the input it lacks:
from the firmware lines, the EFI memory attributes table (its address is on a line
firmware_lines.py drops); for e05 also the whole EFI map.  Offline-trial blocks may be
``unknown`` (runtime allocations), as in the BIOS corpus.  From the full log, e01-e04 match
on every other group, and the memblock=debug logs replay exactly.
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
from memhp.kernel.profile import load_profile
from memhp.replay import replay_log

HERE = Path(__file__).parent
EFI = HERE / "fixtures" / "corpus" / "efi"
TOOLS = HERE / "corpus_tools"
BOOTS = sorted(p.name for p in EFI.glob("e[0-9]*") if p.is_dir())

sys.path.insert(0, str(TOOLS))
import compare  # noqa: E402
import facts  # noqa: E402

# the groups each unknown fact stands for
GROUPS_OF = {
    "memblock_dumps": {"memblock:after_e820", "memblock:after_numa"},
    "node_data": {"dmesg:node_data"},
    "managed": {"zoneinfo:managed"},
}
# groups matched from firmware lines + SRAT (of 14): what the unknowns leave
FROM_FIRMWARE_LINES = {"e01": 10, "e02": 10, "e03": 10, "e04": 11, "e05": 9}
FROM_FULL_LOG = {"e01": 13, "e02": 13, "e03": 13, "e04": 14, "e05": 9}


def _predict(boot: str, log: Path, corpus: Path = EFI) -> dict[str, object]:
    argv = ["predict", "--boot-log", str(log), "--format", "json"]
    if (corpus / boot / "srat.bin").exists():
        argv += ["--srat", str(corpus / boot / "srat.bin")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def _check(boot: str, pred: dict[str, object], corpus: Path = EFI) -> int:
    """Groups matched; every mismatch explained by an unknown of the prediction."""
    real = facts.facts((corpus / boot / "serial.log").read_text(errors="replace"))
    results = compare.compare(real, pred)
    assert len(results) == 14
    unknown = pred["unknown"]
    assert isinstance(unknown, list)
    explained = set().union(*(GROUPS_OF[f] for u in unknown for f in u["affects"]))
    offline = pred["offline_trial"]
    assert isinstance(offline, dict)
    unknown_blocks = {k for k, v in offline.items() if v == "unknown"}
    for group, diff in results.items():
        if not diff:
            continue
        if group == "offline_trial":
            wrong = {str(k) for k, v in real["offline_trial"].items() if offline.get(str(k)) != v}
            assert wrong <= unknown_blocks, diff
        else:
            assert group in explained, f"{group}: {diff}"
    return sum(1 for v in results.values() if not v)


@pytest.mark.parametrize("boot", BOOTS)
def test_from_firmware_lines(boot: str, tmp_path: Path) -> None:
    fw = tmp_path / "fw.log"
    fw.write_text(subprocess.run(
        [sys.executable, str(TOOLS / "firmware_lines.py"), str(EFI / boot / "serial.log")],
        check=True, capture_output=True, text=True).stdout)
    assert _check(boot, _predict(boot, fw)) == FROM_FIRMWARE_LINES[boot[:3]]


@pytest.mark.parametrize("boot", BOOTS)
def test_from_the_full_log(boot: str) -> None:
    assert _check(boot, _predict(boot, EFI / boot / "serial.log")) == FROM_FULL_LOG[boot[:3]]


@pytest.mark.parametrize("boot", BOOTS)
def test_replay(boot: str) -> None:
    """Every memblock allocation lands where the kernel put it; the dumps match where the
    log tells the kernel's placement (e05 lacks the EFI map, so the image's place)."""
    srat = EFI / boot / "srat.bin"
    res = replay_log((EFI / boot / "serial.log").read_text(errors="replace"), boot,
                     str(srat) if srat.exists() else None, load_profile())
    assert res.matched == res.total > 70
    assert res.dumps_matched == (0 if boot.startswith("e05") else 2)


OWN_EFI = HERE / "fixtures" / "corpus" / "own-efi"
OWN_BOOTS = {"m03_ovmf_6_12_p01": "debian-6.12-amd64", "m04_ovmf_7_2_p01": "debian-7.2-amd64"}


@pytest.mark.parametrize("boot", sorted(OWN_BOOTS))
def test_newer_kernels_through_ovmf(boot: str) -> None:
    """6.12 and 7.2 booted by OVMF (own boots: the shared efi/ set is 6.1): from the full
    log, the profile its Linux version names (m04's from the console: its dmesg lost its
    head to the ring buffer) and 13 of 14 groups, the EFI map one page lower than 6.1's
    stub puts it (EFI_MMAP_NR_SLACK_SLOTS 32); offline_trial differs only in memory1, which
    the prediction leaves unknown (runtime allocations), as on e01-e03."""
    pred = _predict(boot, OWN_EFI / boot / "serial.log", OWN_EFI)
    assert pred["kernel_profile"] == OWN_BOOTS[boot]
    assert pred["unknown"] == []
    assert _check(boot, pred, OWN_EFI) == 13
    assert pred["offline_trial"]["1"] == "unknown"  # type: ignore[index]
    res = replay_log((OWN_EFI / boot / "serial.log").read_text(errors="replace"), boot,
                     str(OWN_EFI / boot / "srat.bin"), load_profile(OWN_BOOTS[boot]))
    assert res.matched == res.total > 70 and res.dumps_matched == 2


def test_e05_says_what_the_map_would_tell() -> None:
    """Without efi=debug: the EFI map, the kernel's place, setup_data, the attributes table
    and the boot logo are unknown, each with why; NODE_DATA's address is not printed."""
    pred = _predict("e05_q35_efi_movable_node_no_efi_debug",
                    EFI / "e05_q35_efi_movable_node_no_efi_debug" / "serial.log")
    unknown = {u["input"]: u for u in pred["unknown"]}  # type: ignore[union-attr]
    assert set(unknown) == {"EFI memory map", "kernel image placement",
                            "EFI memory attributes table",
                            "EFI boot logo (BGRT image) kept by efi_mem_reserve"}
    assert "efi=debug" in unknown["EFI memory map"]["why"]
    assert not any("allocated [mem" in line for line in pred["dmesg"]  # type: ignore[union-attr]
                   if line.startswith("NODE_DATA"))
    assert pred["memblock_dumps"] == []
