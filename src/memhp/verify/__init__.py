# SPDX-License-Identifier: GPL-2.0-or-later
"""``memhp verify``: boot the real kernel in QEMU on a machine and diff the real boot
against memhp's prediction.

Modules: ``qemu`` (the VM and its argument list), ``initramfs`` (the cpio archive and its
/init), ``kernel`` (fetching the Debian kernel and busybox), ``scenario`` (corpus
scenario.json), ``compare`` (the real boot's facts and the group comparison), ``cli``.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_subcommand(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register ``verify`` on the ``memhp`` subcommand parsers (``func(args) -> int``)."""
    from memhp.cli import add_command
    from memhp.verify.cli import add_arguments, cmd_verify

    p = add_command(
        subparsers, "verify", "boot the real kernel in QEMU on the machine and diff it against "
        "the prediction",
        "  memhp verify machine.toml\n  memhp verify machine.toml --cmdline movable_node "
        "--keep out/\n  memhp verify --scenario scenario.json --format json",
        description="Boot Debian's kernel in QEMU on the machine (or a corpus scenario), "
        "predict the same boot with memhp and compare them group by group. Exit status: 0 "
        "all compared groups match, 1 some differ, 2 error, 3 the booted kernel panicked, "
        "4 the VM did not finish within --timeout (3 and 4: no ground truth, boot again).")
    add_arguments(p)
    p.set_defaults(func=cmd_verify)
