"""The package version, read from the installed package's metadata (pyproject.toml's `version`):
its one place. The CLI's --version, every ONNX file's producer_version and SARIF logs print it.
Read on first use (`VERSION`, or version()): importlib.metadata costs a cold `netdsl check` ~5%
of its time, and check prints no version."""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def version() -> str:
    from importlib import metadata
    try:
        return metadata.version("netdsl")
    except metadata.PackageNotFoundError:  # a checkout on sys.path that was never pip-installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "VERSION":
        return version()
    raise AttributeError(f"module 'netdsl.version' has no attribute {name!r}")
