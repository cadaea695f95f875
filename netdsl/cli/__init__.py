"""The command line: check | list | summary | explain | diff | sizes | graph | fmt | compile |
import | run | lsp. Prints diagnostics, sets the exit code (0 ok, 1 the input has errors, 2 usage
errors, 3 internal errors). Heavy modules (onnx, onnxruntime) are imported only by the commands
that need them. A package, in the order a command passes through it:
- entry.py: main: argv → exit code; console: the process's entry (the console script
  `netdsl.cli:console`, python -m netdsl), main() and the end of the process;
- arguments.py: _parser, every subcommand's arguments, help and exit codes (the epilogs);
- reading.py: the commands that read and report (check, list, summary, explain, diff, sizes,
  graph);
- writing.py: the commands that write or run (fmt, compile, import, run, lsp);
- base.py: what they share: exit codes, the usage error, diagnostics out, --set pairs in.

NOTE: the commands import the stages they need inside their functions, so that importing this
package (for --help) imports neither the parser nor the compiler, and a check none of the modules
other commands need (tests/test_cli_check.py).
"""

from __future__ import annotations

from netdsl.cli.arguments import _parser
from netdsl.cli.base import EXIT_ERRORS, EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from netdsl.cli.entry import console, main

__all__ = ["EXIT_ERRORS", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "_parser", "console", "main"]
