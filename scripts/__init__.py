"""Seed-compatible command lines (``python -m scripts.ingest ...``).

A thin, non-installed layer: each module maps the seed's flags onto the ``algotrader`` CLI and
calls it. No logic lives here.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run(command: Sequence[str], argv: Sequence[str] | None = None) -> None:
    """Run ``algotrader <command> <argv>`` and exit with its code."""
    from algotrader.cli.app import main

    args = list(sys.argv[1:] if argv is None else argv)
    sys.exit(main([*command, *args]))
