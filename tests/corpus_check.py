# SPDX-License-Identifier: GPL-2.0-or-later
"""The corpus judgement the acceptance tests share: compare.py over all groups, with the
blocks a prediction leaves ``unknown`` (and only those) taken as matching."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent / "corpus_tools"))
import compare  # noqa: E402
import facts  # noqa: E402


def mismatches(serial_log: Path, pred: dict[str, Any], unknown: set[str]) -> dict[str, str]:
    """Every group of the 14 that differs; the unknown blocks must be exactly ``unknown``."""
    real = facts.facts(serial_log.read_text(errors="replace"))
    assert {k for k, v in pred["offline_trial"].items() if v == "unknown"} == unknown
    for block in unknown:
        pred["offline_trial"][block] = real["offline_trial"][int(block)]
    results = compare.compare(real, pred)
    assert len(results) == 14
    return {k: v for k, v in results.items() if v}
