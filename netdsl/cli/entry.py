"""The command line's entry (cli stage): argv → a command's exit code. Parses the arguments, runs
the command, and turns what it raises into the exit code: 0 ok, 1 the input has errors (its
diagnostics on stderr), 2 usage errors, 3 internal errors (a traceback); stdout and stderr survive
a reader that goes away."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from netdsl.cli.arguments import _COMMANDS, _parser
from netdsl.cli.base import EXIT_ERRORS, EXIT_INTERNAL, EXIT_USAGE, _emit, _Usage
from netdsl.diagnostics import NetdslError


def _unreadable(e: NetdslError) -> bool:
    """A file that cannot be read at all (E001) is a usage error, like a missing one: exit 2."""
    return all(d.code == "E001" for d in e.diagnostics)


class _Unwritable(Exception):
    """stdout or stderr cannot take the output (a full disk, an I/O error): not netdsl's bug."""


class _PipeGuard:
    """A text stream whose reader may go away (`netdsl check bad.net | head -0`): on EPIPE the
    rest of the output goes to /dev/null, as the Python docs advise (signal module, "Note on
    SIGPIPE"), instead of raising, so that the command finishes and its exit code survives. A
    stream closed before the start (`>&-`), which Python gives as None, takes nothing; any other
    failure to write raises _Unwritable."""

    def __init__(self, stream: Any, name: str):
        self._stream, self._name = stream, name

    def write(self, text: str) -> int:
        if self._stream is None:
            return len(text)
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._to_devnull()
            return len(text)
        except OSError as e:
            raise self._unwritable(e) from None

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()
        except OSError as e:
            raise self._unwritable(e) from None

    def _unwritable(self, e: OSError) -> _Unwritable:
        return _Unwritable(f"netdsl: cannot write to {self._name}: {e.strerror or e}")

    def _to_devnull(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            pass  # not a file (a test's StringIO): nothing to point elsewhere

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def console() -> NoReturn:
    """The process's entry: the console script `netdsl` and `python -m netdsl`. Runs main()
    and ends the process with its exit code, without the interpreter's teardown where no other
    thread is left (_hard_exit). main() itself returns, for scripts and tests that call it.

    numpy's OpenBLAS gets one thread unless the user chose (OPENBLAS_NUM_THREADS, read when numpy
    loads): no command calls BLAS, and the threads OpenBLAS starts by default spin on the cores
    that draw the weights (bench/process.py: resnet50's compile 339 -> 316 ms wall, 411 -> 321 ms
    CPU). Only here: a library does not set its caller's environment."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    code = main()
    if _alone():
        _hard_exit(code)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """`netdsl ARGS`; without argv, the process's arguments (sys.argv), for a process that ends
    when it returns (its heap is frozen for the last collections)."""
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeGuard(sys.stdout, "stdout"), _PipeGuard(sys.stderr, "stderr")
    collecting = gc.isenabled()
    try:
        code = _main(argv)
        sys.stdout.flush()  # NOTE: here, not at exit, where EPIPE would turn the code into 120
        sys.stderr.flush()
    except _Unwritable as e:  # NOTE: the output is lost: exit 2, as for a file not readable
        code = EXIT_USAGE
        with contextlib.suppress(_Unwritable):
            print(e, file=sys.stderr)
            sys.stderr.flush()
    finally:
        sys.stdout, sys.stderr = streams
        if argv is None:  # NOTE: the process ends: its last collections need not scan it all
            gc.freeze()
        if collecting:
            gc.enable()
    return code


def _alone() -> bool:
    """No thread but this one is left (a command joins the threads it starts)."""
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1


def _hard_exit(code: int) -> NoReturn:
    """End the process without the interpreter's teardown, which frees every object of every
    module one by one: about 6 ms of a 200 ms `netdsl check` (bench/check.py), for nothing. mypy
    ends the same way (mypy/util.py, hard_exit). What teardown would still do here: atexit's
    logging.shutdown flushes stderr's handler, flushed below; no command leaves temporary files
    to weakref finalizers."""
    for stream in sys.stdout, sys.stderr:
        try:
            if stream is not None:  # NOTE: None: closed before the start (`>&-`)
                stream.flush()
        except (OSError, ValueError):  # NOTE: closed (`netdsl check >&-`): nothing to lose
            pass
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    # NOTE: only the command's own arguments are built; the first word not an option names it
    command = next((arg for arg in args if not arg.startswith("-")), "")
    parser = _parser(command)
    try:
        a = parser.parse_args(args)
        if not getattr(a, "command", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        for name in ("file", "model"):
            path = getattr(a, name, None)
            if path is not None and a.command != "run" and not Path(path).exists():
                raise _Usage(f"{path}: no such file")
        if getattr(a, "root", None) is not None and not Path(a.root).is_dir():
            raise _Usage(f"--root {a.root}: not a directory")
        if a.command != "lsp":
            # NOTE: one command runs, and what it imports and builds lives to its end: the
            # cyclic collector would only rescan it (with the freeze at exit, 15-20% of a cold
            # check or compile). The cycles left are a few KB a network; the server keeps it.
            gc.disable()
        return int(a.func(a))
    except _Usage as e:
        help_of = f"netdsl {command}" if command in _COMMANDS else "netdsl"
        print(f"{e}\nusage: see `{help_of} --help`", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help, --version: argparse exits; main() returns the code
        return int(e.code or 0)
    except NetdslError as e:
        _emit(e.diagnostics)
        return EXIT_USAGE if _unreadable(e) else EXIT_ERRORS
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except _Unwritable:
        raise
    except Exception:  # noqa: BLE001 - a bug in netdsl, not the user's mistake
        traceback.print_exc()
        print("netdsl: internal error, please report it with the input that caused it",
              file=sys.stderr)
        return EXIT_INTERNAL
