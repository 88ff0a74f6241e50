# SPDX-License-Identifier: GPL-2.0-or-later
"""Platform models: what a machine or hypervisor decides before the kernel sees it."""
