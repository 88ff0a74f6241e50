# SPDX-License-Identifier: GPL-2.0-or-later
"""A model of the Linux x86_64 boot-time memory code, one module per kernel file it mirrors."""
