# SPDX-License-Identifier: GPL-2.0-or-later
"""Readers of what firmware and the boot loader hand to Linux (kept apart from the kernel model)."""
