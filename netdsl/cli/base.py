"""The command line's shared pieces (cli stage): exit codes, the usage error, diagnostics on stderr
(or JSON on stdout) and `--set NAME=VALUE` pairs → parameters. Used by every command."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from netdsl.diagnostics import Diagnostic, render, to_dict

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Usage(Exception):
    pass


def _color(stream: Any) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def _emit(diags: Sequence[Diagnostic], fmt: str = "text") -> None:
    if fmt == "json":
        import json  # NOTE: by a JSON output alone, as in checkrun, formats and report
        print(json.dumps([to_dict(d) for d in diags], indent=2))
        return
    for d in diags:
        print(render(d, color=_color(sys.stderr)) + "\n", file=sys.stderr)


# NOTE: a number literal as the grammar's NUMBER, signed
_NUMBER = re.compile(r"[+-]?(\d[\d_]*(\.\d+)?|\.\d+)([eE][+-]?\d+)?[KMGT]?")


def _parse_value(text: str) -> Any:
    """A --set value: `true`/`false`, a number as a .net file writes it (`4.1G`; ValueError where
    malformed, `1__0`), a JSON list, a quoted string or else the text itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if _NUMBER.fullmatch(text.strip()):
        from netdsl.parse.literals import read_number
        digits = text.strip()
        value = read_number(digits.lstrip("+-"))
        return -value if digits.startswith("-") else value
    # NOTE: `[1, 2]` and `"D"` (a string as a .net file writes it, its quotes not part of it)
    if (text.startswith("[") and text.endswith("]")) or (
            len(text) > 1 and text.startswith('"') and text.endswith('"')):
        import json

        from netdsl.limits import MAX_NESTING
        if _depth(text) > MAX_NESTING:  # NOTE: before json, which recurses per bracket
            raise ValueError(f"lists and tables would nest more than {MAX_NESTING} deep")
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def _depth(text: str) -> int:
    """How deep the brackets of a JSON text nest, strings left out."""
    depth = most = 0
    quoted = escaped = False
    for ch in text:
        if quoted:
            quoted, escaped = (True, False) if escaped else (ch != '"', ch == "\\")
        elif ch == '"':
            quoted = True
        elif ch in "[{":
            depth += 1
            most = max(most, depth)
        elif ch in "]}":
            depth -= 1
    return most


def _params(pairs: Sequence[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in pairs or ():
        if "=" not in p or not p.split("=", 1)[0].strip():
            raise _Usage(f"--set takes NAME=VALUE, not {p!r}")
        k, v = p.split("=", 1)
        try:
            out[k.strip()] = _parse_value(v)
        except ValueError as e:
            raise _Usage(f"--set {p}: {e}") from None
    return out


def _sizes(pairs: Sequence[str] | None) -> dict[str, int]:
    """--set H=256 for an .onnx model: the size of a dim that varies in a model for every size."""
    out = {}
    for k, v in _params(pairs).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise _Usage(f"--set {k}=...: the size of an input's dim takes a positive integer")
        out[k] = v
    return out
