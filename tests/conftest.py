# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pytest set-up: the ``qemu`` marker for tests that boot the real kernel, and the
hypothesis settings.

Property tests never fail on time (no deadline, no "too slow" health check: CI machines and
a developer's loaded machine differ).  Under CI (``CI`` set) the examples are derandomized,
so a run's result depends on the code alone, and no example database is kept; elsewhere
hypothesis explores at random and remembers what failed."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("memhp", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("memhp"), derandomize=True,
                          database=None)
settings.load_profile("ci" if os.environ.get("CI") else "memhp")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "qemu: boots the real kernel in QEMU (skipped without qemu-system-x86_64)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("qemu-system-x86_64"):
        return
    skip = pytest.mark.skip(reason="qemu-system-x86_64 is not installed")
    for item in items:
        if "qemu" in item.keywords:
            item.add_marker(skip)
