"""Files: which suffix means an ONNX model, and writing output files atomically (a temporary file
beside the target, then a rename, so that a failed or interrupted write, SIGTERM included, never
leaves a half-written or temporary file nor clobbers an earlier one)."""

from __future__ import annotations

import errno
import functools
import io
import os
import signal
import stat
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from netdsl.diagnostics import NetdslError, error

ONNX_SUFFIX = ".onnx"
WRITE_BEHIND = 16 << 20  # bytes: an output file's data is handed to the disk in steps this large


def is_onnx(path: str | os.PathLike[str]) -> bool:
    """Whether a model path names an ONNX file (`.onnx`, any case) rather than a .net source: the
    one rule, for `netdsl run MODEL` and netdsl.run alike."""
    return Path(path).suffix.lower() == ONNX_SUFFIX


@contextmanager
def atomic(*targets: Path) -> Iterator[list[Path]]:
    """Yields one temporary path per target (same directory); on a clean exit renames each onto
    its target, in order; on any failure, SIGTERM included, removes them all. A target that is
    a symbolic link is written through it, as open() would: its target is replaced, the link
    stays. OSError becomes E402."""
    temps: list[Path] = []
    with _sigterm_raises():
        try:
            real = [_through_links(t) for t in targets]
            for t in real:
                fd, name = tempfile.mkstemp(prefix=f".{t.name}.", suffix=".tmp", dir=t.parent)
                os.close(fd)
                temps.append(Path(name))
                os.chmod(name, _mode(t))  # mkstemp makes 0600; give what open() would have
            yield temps
            for tmp, t in zip(temps, real):
                os.replace(tmp, t)
        except OSError as e:
            where = targets[len(temps) - 1] if temps else targets[0]
            raise NetdslError([error("E402", f"{where}: cannot write: {e.strerror or e}")]
                              ) from None
        finally:
            for tmp in temps:
                if tmp.exists():
                    tmp.unlink()


def _through_links(path: Path) -> Path:
    """The file that writing `path` writes: a symbolic link's target."""
    return resolved(path) if path.is_symlink() else path


def resolved(path: Path) -> Path:
    """path.resolve(), a symbolic link loop being OSError ELOOP as open() has it, on every
    Python: Path.resolve raises RuntimeError for one before 3.13 and from 3.13 returns a link of
    the loop."""
    try:
        real = path.resolve()
    except RuntimeError:
        real = path
    if real.is_symlink():  # NOTE: what resolve() leaves a link is a loop
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    return real


class _Terminated(BaseException):
    """SIGTERM arrived while output files were being written."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM, which would end the process at once, raises _Terminated inside the block, so
    that `finally` clauses remove temporary files; then the signal is delivered again with its
    default action (the exit status still says SIGTERM). Only where SIGTERM has its default
    handler and in the main thread (the only one that may set handlers)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_bytes(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Atomically write one file through `write(f)`."""
    with atomic(target) as (tmp,), open_temp(tmp) as f:
        write(f)


def open_temp(tmp: Path) -> BinaryIO:
    """A temporary file of `atomic` (made new and empty) opened for writing, without truncating
    it: ext4 (its auto_da_alloc rule) answers a truncation to zero, which "wb" is, by writing the
    file back as it is closed, a wait the size of the file (0.2 to 0.27 s for vgg16's 553 MB,
    most of a compile's writing). Its data goes to the disk as it is written (_WriteBehind)."""
    return io.BufferedRandom(_WriteBehind(tmp, "r+"))


class _WriteBehind(io.FileIO):
    """A file whose data is handed to the disk every WRITE_BEHIND bytes as the writing goes on:
    Linux's sync_file_range(SYNC_FILE_RANGE_WRITE) starts the writeback of what was written and
    does not wait for it (PostgreSQL's *_flush_after settings do the same). Otherwise ext4 writes
    a large new file back inside the rename that replaces an existing one (auto_da_alloc again),
    and the user waits for the disk at the end instead of while the weights are drawn: 0.15 s of
    a vgg16 compile over its earlier output. Small files never start it; where the call does
    not exist (not Linux), writing is as with open()."""

    _started = 0  # bytes before this offset are written back or on their way

    def write(self, b: Any) -> int:
        n = super().write(b)
        end = self.tell()
        if end - self._started >= WRITE_BEHIND:
            write_behind(self.fileno(), self._started, end - self._started)
            self._started = end
        return n


def write_behind(fd: int, offset: int, length: int) -> None:
    """Start writing bytes [offset, offset + length) of `fd` to the disk, without waiting; a no-op
    where the system has no sync_file_range. Advice only: its failures are ignored."""
    call = _sync_file_range()
    if call is not None:
        call(fd, offset, length, 2)  # SYNC_FILE_RANGE_WRITE


@functools.cache
def _sync_file_range() -> Any:
    """libc's sync_file_range, or None (not Linux; a libc without it)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return call


def check_writable(path: Path, inputs: Sequence[Path] = (), what: str = "",
                   example: str = "model.onnx") -> None:
    """E402 unless `path` can become an output file: not a directory (E402 suggests DIR/
    `example`), a device or a FIFO (which the rename would replace), in an existing writable
    directory, and not one of `inputs` (the files this command reads)."""
    label = f"{what} {path}" if what else str(path)
    if path.is_dir():
        raise NetdslError([error("E402", f"{label} is a directory; give a file name such as "
                                 f"{path / example}")])
    if path.exists() and not path.is_file():
        raise NetdslError([error("E402", f"{label} is not a regular file ({_kind(path)}); "
                                 "netdsl writes only regular files",
                                 hints=["give the path of a new or ordinary file"])])
    for i in inputs:
        if path.exists() and i.exists() and os.path.samefile(path, i):
            raise NetdslError([error("E402", f"{label} is an input of this command; writing it "
                                     "would destroy it", hints=["choose another output file"])])
    _check_dir(path.parent, label)


def check_dir(directory: Path, what: str = "") -> None:
    """E402 unless `directory` is, or can be created as, a writable directory."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    label = f"{what} {directory}" if what else str(directory)
    if not probe.is_dir():
        raise NetdslError([error("E402", f"{label}: {probe} is a file, not a directory")])
    _check_dir(probe, label)


def _check_dir(d: Path, label: str) -> None:
    if not d.is_dir():
        raise NetdslError([error("E402", f"{label}: the directory {d} does not exist")])
    if not os.access(d, os.W_OK | os.X_OK):
        raise NetdslError([error("E402", f"{label}: the directory {d} is not writable")])


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a socket" if stat.S_ISSOCK(mode) else "not a file"


def _mode(target: Path) -> int:
    if target.exists():
        return target.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
