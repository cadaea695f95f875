"""python -m netdsl.cli → console(), as `python -m netdsl`."""

from __future__ import annotations

from netdsl.cli.entry import console

if __name__ == "__main__":
    console()
