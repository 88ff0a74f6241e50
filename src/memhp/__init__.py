# SPDX-License-Identifier: GPL-2.0-or-later
"""memhp: predict where Linux x86_64 puts boot memory, ZONE_MOVABLE and hot-removable blocks."""

__version__ = "0.1.0"
