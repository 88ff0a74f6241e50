# SPDX-License-Identifier: GPL-2.0-or-later
"""Output formats (kernel dmesg text, JSON facts, readable text), apart from the model."""
