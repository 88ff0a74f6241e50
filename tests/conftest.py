# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pytest set-up: the ``qemu`` marker for tests that boot the real kernel."""

from __future__ import annotations

import shutil

import pytest


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
