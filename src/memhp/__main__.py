# SPDX-License-Identifier: GPL-2.0-or-later
"""``python -m memhp``."""

import sys

from memhp.cli import main

sys.exit(main())
