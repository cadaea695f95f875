"""python -m netdsl → cli.console(): the command line, as the console script `netdsl`."""
from __future__ import annotations

from netdsl.cli import console

console()
