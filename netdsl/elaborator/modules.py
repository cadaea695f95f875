"""Files → Namespace: parse a source, follow its `use` lines (relative to it, and only inside the
root of the compilation: Source.root), add the prelude."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import field
from pathlib import Path
from typing import Any

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.limits import MAX_SOURCE_BYTES, MAX_USE_DEPTH
from netdsl.ops import REGISTRY
from netdsl.parse import parse
from netdsl.record import MutableRecord, record
from netdsl.source import Source, Span


@record(frozen=False, slots=False)
class Namespace(MutableRecord):
    """What a file (and the files it `use`s) defines."""

    blocks: dict[str, s.Block] = field(default_factory=dict)
    networks: dict[str, s.Network | s.NetworkAlias] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # network names in file order
    files: list[str] = field(default_factory=list)  # every file `use`d, directly or not: resolved



_Loaded = dict[str, "tuple[s.Module, Namespace] | NetdslError"]  # by resolved path


def load_module(source: Source, _stack: tuple[str, ...] = (), _loaded: _Loaded | None = None
                ) -> tuple[s.Module, Namespace]:
    """Parse a source and the files it `use`s (relative to it) into one Namespace. A file that
    several others use (a diamond) is read and parsed once (`_loaded`), not once per path."""
    module = _parse(source)
    ns = Namespace()
    diags: list[Diagnostic] = []
    loaded: _Loaded = {} if _loaded is None else _loaded
    if not _stack:
        _add_prelude(ns)
    here = str(Path(source.path).resolve()) if source.path != "<string>" else "<string>"
    for item in module.items:
        if isinstance(item, s.Use):
            _use(item, source, (*_stack, here), ns, diags, loaded)
        elif isinstance(item, s.Block):
            _define(ns.blocks, item, diags, "block")
        else:
            _define(ns.networks, item, diags, "network")
            ns.order.append(item.name.id)
    if diags:
        raise NetdslError(diags)
    return module, ns


_PARSED: dict[tuple[str, str, str | None], s.Module] = {}  # the last few sources parsed
_PARSED_KEPT = 16


def _parse(source: Source) -> s.Module:
    """parse(source), or the Module of an earlier source with the same path, text and root: a
    warm process (the language server, a test session, netdsl.load of several networks of one
    file) checks unchanged files again and again, and parsing is a third of a check. Safe to
    share, as the prelude's blocks are: the AST is frozen; its spans name the earlier Source
    object, whose text is the same."""
    key = (source.path, source.text, source.root)
    module = _PARSED.pop(key, None) or parse(source)
    _PARSED[key] = module  # NOTE: re-inserted: the dict's order is the order of last use
    while len(_PARSED) > _PARSED_KEPT:
        del _PARSED[next(iter(_PARSED))]
    return module


def _define(table: dict[str, Any], item: Any, diags: list[Diagnostic], kind: str) -> None:
    name = item.name.id
    first: dict[str, Span] = {}
    for p in getattr(item, "params", ()):  # NOTE: a network alias has none
        span = first.setdefault(p.name.id, p.name.span)
        if span is not p.name.span:
            diags.append(error("E211", f"{kind} `{name}` has two parameters named `{p.name.id}`",
                               p.name.span, "second", secondary=[(span, "first")],
                               hints=["rename one of them"]))
    if kind == "block" and name in REGISTRY:
        diags.append(error("E211", f"block `{name}` has the name of an operator", item.name.span,
                           "already an operator", hints=[f"rename the block, e.g. `my_{name}`"]))
        return
    old = table.get(name)
    old_source = old.name.span.source if old is not None else None
    new_source = item.name.span.source
    if old is None or old_source is None or new_source is None or old is item:
        table[name] = item
    elif old_source is new_source:
        diags.append(error("E211", f"{kind} `{name}` is defined twice", item.name.span,
                           "second definition", secondary=[(old.name.span, "first defined here")]))
    elif old_source.path == _PRELUDE_PATH:
        table[name] = item  # a file may redefine a prelude block for itself
    elif old_source.path != new_source.path:  # the same file reached twice (a diamond) is fine
        diags.append(error("E211", f"{kind} `{name}` is defined in two files",
                           item.name.span, f"defined in {new_source.path}",
                           secondary=[(old.name.span, f"and in {old_source.path}")],
                           hints=["rename one of them: a name means one block in a file"]))


def _use(item: s.Use, source: Source, stack: tuple[str, ...], ns: Namespace,
         diags: list[Diagnostic], loaded: _Loaded) -> None:
    base = Path(source.path).parent if source.path != "<string>" else Path.cwd()
    root = Path(source.root or Path.cwd()).resolve()
    from netdsl.files import resolved  # NOTE: lazily, as only `use` needs it
    try:
        path = resolved(base / item.path.value)
    except (OSError, ValueError) as e:  # a symlink loop, a NUL in the path
        reason = "a symbolic link loop" if not isinstance(e, ValueError) else "an invalid path"
        diags.append(error("E210", f"cannot use \"{item.path.value}\": {reason}",
                           item.path.span))
        return
    if not path.is_relative_to(root):  # NOTE: before reading: no byte of it may be shown
        diags.append(error("E210", f"cannot use \"{item.path.value}\": it is outside the root "
                           f"of this compilation, {root}", item.path.span, hints=[
                               "`use` reads files in the main file's folder and below; name a "
                               "wider root with --root DIR (root= in the API)"]))
        return
    if len(stack) >= MAX_USE_DEPTH:
        diags.append(error("E210", f"`use` files nest more than {MAX_USE_DEPTH} deep",
                           item.span, hints=["a chain of files each using the next is too long"]))
        return
    # NOTE: messages name a used file as the user would reach it (zoo/lib.net), not absolutely
    shown = (os.path.normpath(os.path.join(os.path.dirname(source.path), item.path.value))
             if source.path != "<string>" else item.path.value)
    if str(path) in stack:
        chain = [Path(p).name for p in stack[stack.index(str(path)):]] + [path.name]
        diags.append(error("E210", f"`use \"{item.path.value}\"` makes an import cycle: "
                           + " -> ".join(chain), item.span,
                           "imports a file that imports this one",
                           hints=["move the shared blocks into a third file that both use"]))
        return
    if str(path) not in loaded:
        try:
            text = read_text(path)
        except NetdslError as e:  # NOTE: not kept: each `use` of it is reported where it is
            reason = e.diagnostics[0].message.removeprefix(f"{path}: ")
            net = item.path.value + ".net"
            diags.append(error("E210", f"cannot use \"{item.path.value}\": {reason}",
                               item.path.span, hints=[
                                   f'did you mean `use "{net}"`?' if reason == "no such file"
                                   and path.suffix != ".net" and (base / net).is_file() else
                                   "a `use` path is relative to the file that has the `use` "
                                   "line"]))
            return
        try:
            loaded[str(path)] = load_module(Source(shown, text, str(root)), stack, loaded)
        except NetdslError as e:
            loaded[str(path)] = e
    result = loaded[str(path)]
    if isinstance(result, NetdslError):
        diags.extend(d for d in result.diagnostics if d not in diags)
        return
    ns.files += [str(path), *result[1].files]
    for name, blk in result[1].blocks.items():
        if name not in _prelude_names():
            _define(ns.blocks, blk, diags, "block")
    # networks of a used file are not re-exported: `use` shares blocks


def read_text(path: Path | str) -> str:
    """A .net file's text, or E001 with a reason a user understands. Only a regular file is read
    (a FIFO would block, /dev/zero never ends), and at most limits.MAX_SOURCE_BYTES of it."""
    p = Path(path)
    try:
        # NOTE: O_NONBLOCK: opening a FIFO must not wait for a writer; fstat on what was opened
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):
                raise NetdslError([error("E001", f"{p}: not a regular file")])
            data = f.read(MAX_SOURCE_BYTES + 1)
        if len(data) > MAX_SOURCE_BYTES:
            raise NetdslError([error("E001", f"{p}: larger than the limit of "
                                     f"{MAX_SOURCE_BYTES:,} bytes for a .net file")])
    except FileNotFoundError:
        raise NetdslError([error("E001", f"{p}: no such file")]) from None
    except IsADirectoryError:
        raise NetdslError([error("E001", f"{p}: is a directory, not a .net file")]) from None
    except PermissionError:
        raise NetdslError([error("E001", f"{p}: permission denied")]) from None
    except OSError as e:
        raise NetdslError([error("E001", f"{p}: cannot read: {e.strerror or e}")]) from None
    except ValueError:  # a NUL in the path
        raise NetdslError([error("E001", f"{p}: not a valid path")]) from None
    if b"\x00" in data:
        raise NetdslError([error("E001", f"{p}: binary content, not a .net text file")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NetdslError([error("E001", f"{p}: not UTF-8 text (byte {e.start})")]) from None


_PRELUDE_CACHE: list[Namespace] = []
_PRELUDE_PATH = str(Path(__file__).resolve().parent.parent / "prelude.net")


def _prelude() -> Namespace:
    if not _PRELUDE_CACHE:
        path = Path(_PRELUDE_PATH)
        module = parse(Source(_PRELUDE_PATH, path.read_text(encoding="utf-8"),
                              str(path.parent.parent)))  # recorded as netdsl/prelude.net
        ns = Namespace()
        for item in module.items:
            assert isinstance(item, s.Block)
            ns.blocks[item.name.id] = item
        _PRELUDE_CACHE.append(ns)
    return _PRELUDE_CACHE[0]


def _prelude_names() -> set[str]:
    return set(_prelude().blocks)


def _add_prelude(ns: Namespace) -> None:
    ns.blocks.update(_prelude().blocks)


def block_not_network(ns: Namespace, block: s.Block) -> Diagnostic:
    """E213 for `--network NAME` where NAME is a block: the networks that call it, directly or
    through other blocks (by name, in their text)."""
    name = block.name.id
    users, found = {name}, True
    while found:  # NOTE: the blocks that call it, then those that call them, ...
        more = {b for b, blk in ns.blocks.items() if b not in users and any(
            re.search(rf"(?<![\w.]){u}\b", blk.span.text()) for u in users)}
        users |= more
        found = bool(more)
    calls = [n for n in ns.order if isinstance(net := ns.networks[n], s.Network) and any(
        re.search(rf"(?<![\w.]){u}\b", net.span.text()) for u in users)]
    return error("E213", f"`{name}` is a block, not a network", block.name.span, "defined here",
                 [f"a block is checked through a network that calls it: pass --network "
                  f"{' or '.join(calls)}" if calls else
                  "a block is checked through a network that calls it; no network of this file "
                  "does"])
