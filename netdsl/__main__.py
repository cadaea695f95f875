"""python -m netdsl → cli.main()."""
from __future__ import annotations

import sys

from netdsl.cli import main

sys.exit(main())
