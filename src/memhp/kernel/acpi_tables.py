# SPDX-License-Identifier: GPL-2.0-or-later
"""Early ACPI table reservations, modelled on drivers/acpi/tables.c (Linux 6.1)."""

from __future__ import annotations

from memhp.kernel.state import Boot

__all__ = ["ROOT_TABLES", "acpi_reserve_initial_tables"]

ROOT_TABLES = ("RSDP", "RSDT", "XSDT")


def acpi_reserve_initial_tables(boot: Boot) -> None:
    """acpi_reserve_initial_tables(): every table but the roots."""
    for t in boot.machine.acpi_tables:
        if t.signature in ROOT_TABLES or not t.address or not t.length:
            continue
        boot.log.append(f"ACPI: Reserving {t.signature:>4} table memory at "
                        f"[mem {t.address:#x}-{t.address + t.length - 1:#x}]")
        boot.reserve(t.address, t.length, f"ACPI {t.signature} table",
                "acpi_reserve_initial_tables")
