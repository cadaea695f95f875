"""The package version, read from the installed package's metadata (pyproject.toml's `version`):
its one place. The CLI's --version and every ONNX file's producer_version print it."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("netdsl")
except metadata.PackageNotFoundError:  # a checkout on sys.path that was never pip-installed
    VERSION = "0+unknown"
