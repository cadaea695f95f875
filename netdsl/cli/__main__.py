"""python -m netdsl.cli → main(), as `python -m netdsl`."""

from __future__ import annotations

import sys

from netdsl.cli.entry import main

if __name__ == "__main__":
    sys.exit(main())
