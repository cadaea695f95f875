"""Regenerate the README's pictures (docs/images/NAME.dot and NAME.png) with `netdsl graph`:
`python tools/genpictures.py`. tests/test_graph.py checks that the .dot files are current."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"

# picture name: (zoo file, network, --depth)
PICTURES: dict[str, tuple[str, str | None, int | None]] = {
    "lenet5": ("lenet.net", None, None),
    "resnet18-depth2": ("resnet.net", "resnet18", 2),
}


def arguments(name: str, suffix: str) -> list[str]:
    """The `netdsl graph` command line that draws picture `name` as NAME.suffix."""
    file, network, depth = PICTURES[name]
    args = ["graph", str(ROOT / "zoo" / file), "-o", str(IMAGES / f"{name}{suffix}")]
    args += ["--network", network] if network else []
    return args + (["--depth", str(depth)] if depth else [])


def main() -> int:
    from netdsl.cli import main as netdsl

    IMAGES.mkdir(parents=True, exist_ok=True)
    for name in PICTURES:
        for suffix in (".dot", ".png"):
            if netdsl(arguments(name, suffix)):
                return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
