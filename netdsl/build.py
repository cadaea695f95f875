"""AST → IR: resolve names, run blocks, loops and conditionals, look up ops, validate arguments,
and infer each node's shape as it is made (blocks branch on `x.channels`, so shapes cannot wait).

Every user mistake becomes a Diagnostic; elaboration goes on past it where that is safe (a value
that failed becomes POISON, and anything computed from POISON fails silently), and raises one
NetdslError with everything found at the end.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdsl import syntax as s
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.ir import Expectation, Graph, InputOp, Node
from netdsl.ops import REGISTRY
from netdsl.ops.base import Op, OpError, Shape, fmt_shape
from netdsl.ops.types import coerce
from netdsl.parse import parse
from netdsl.source import Source, Span

MAX_NODES = 100_000  # a graph larger than this is a mistake (an enormous repeat count)
MAX_REPEAT = 10_000
MAX_DEPTH = 150  # nested expressions, statements and block calls; keeps clear of Python's stack
MAX_STEPS = 200_000  # statements run in all (loops in loops): checking stays within seconds
OPTIONS = {"floor": "bool", "init": "str"}  # `option NAME: value` and the type it takes
INITS = ("he", "xavier")


class _Poison:
    """The value of anything whose computation already failed (and was reported)."""

    def __repr__(self) -> str:
        return "POISON"


POISON = _Poison()


@dataclass(frozen=True, slots=True)
class Tensor:
    node: str
    shape: Shape


@dataclass
class Namespace:
    """What a file (and the files it `use`s) defines."""

    blocks: dict[str, s.Block] = field(default_factory=dict)
    networks: dict[str, s.Network | s.NetworkAlias] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # network names in file order


@dataclass
class _Frame:
    prefix: str  # "layer1.0." inside a block instance, "" at network level
    env: dict[str, Any]
    trace: tuple[Span, ...] = ()
    blocks: tuple[str, ...] = ()  # active block names, for recursion errors
    failed: bool = False  # once something failed here, unknown names stay quiet
    chains: dict[str, tuple[str, int, Any]] = field(default_factory=dict)  # name: base, next, end


class _Return(Exception):
    def __init__(self, value: Any):
        self.value = value


class _TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


class _TooLong(_TooDeep):
    pass


_BUILTIN_VALUES = {"same": "same", "valid": "valid", "none": None}


class _Limit(ValueError):
    """A builtin was asked for more than netdsl's size limits allow (E215)."""


def _range(*a: int) -> list[int]:
    r = range(*a)
    try:
        n = len(r)
    except OverflowError:  # more than sys.maxsize items
        n = MAX_REPEAT + 1
    if n > MAX_REPEAT:
        raise _Limit(f"`range` of {a[0] if len(a) == 1 else len(r) if n <= 2**62 else 'so many'}"
                     f" items exceeds the limit of {MAX_REPEAT}")
    return list(r)


_BUILTIN_FUNCS: dict[str, Any] = {
    "min": min, "max": max, "abs": abs, "int": int, "float": float, "round": round,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "len": len, "range": _range,
}


# --------------------------------------------------------------------------------- module loading

def load_module(source: Source, _stack: tuple[str, ...] = ()) -> tuple[s.Module, Namespace]:
    """Parse a source and the files it `use`s (relative to it) into one Namespace."""
    module = parse(source)
    ns = Namespace()
    diags: list[Diagnostic] = []
    if not _stack:
        _add_prelude(ns)
    here = str(Path(source.path).resolve()) if source.path != "<string>" else "<string>"
    for item in module.items:
        if isinstance(item, s.Use):
            _use(item, source, (*_stack, here), ns, diags)
        elif isinstance(item, s.Block):
            _define(ns.blocks, item, diags, "block")
        else:
            _define(ns.networks, item, diags, "network")
            ns.order.append(item.name.id)
    if diags:
        raise NetdslError(diags)
    return module, ns


def _define(table: dict[str, Any], item: Any, diags: list[Diagnostic], kind: str) -> None:
    name = item.name.id
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
         diags: list[Diagnostic]) -> None:
    base = Path(source.path).parent if source.path != "<string>" else Path.cwd()
    path = (base / item.path.value).resolve()
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
    try:
        text = read_text(path)
    except NetdslError as e:
        reason = e.diagnostics[0].message.removeprefix(f"{path}: ")
        diags.append(error("E210", f"cannot use \"{item.path.value}\": {reason}",
                           item.path.span, hints=["a `use` path is relative to the file that "
                                                  "has the `use` line"]))
        return
    try:
        _, sub = load_module(Source(shown, text), stack)
    except NetdslError as e:
        diags.extend(e.diagnostics)
        return
    for name, blk in sub.blocks.items():
        if name not in _prelude_names():
            _define(ns.blocks, blk, diags, "block")
    # networks of a used file are not re-exported: `use` shares blocks


def read_text(path: Path | str) -> str:
    """A .net file's text, or E001 with a reason a user understands."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise NetdslError([error("E001", f"{p}: no such file")]) from None
    except IsADirectoryError:
        raise NetdslError([error("E001", f"{p}: is a directory, not a .net file")]) from None
    except PermissionError:
        raise NetdslError([error("E001", f"{p}: permission denied")]) from None
    except OSError as e:
        raise NetdslError([error("E001", f"{p}: cannot read: {e.strerror or e}")]) from None
    if b"\x00" in data:
        raise NetdslError([error("E001", f"{p}: binary content, not a .net text file")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NetdslError([error("E001", f"{p}: not UTF-8 text (byte {e.start})")]) from None


_PRELUDE_CACHE: list[Namespace] = []
_PRELUDE_PATH = str(Path(__file__).with_name("prelude.net"))


def _prelude() -> Namespace:
    if not _PRELUDE_CACHE:
        path = Path(_PRELUDE_PATH)
        module = parse(Source(_PRELUDE_PATH, path.read_text(encoding="utf-8")))
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


# ------------------------------------------------------------------------------------- networks

def build(module: s.Module, ns: Namespace, network: str | None = None,
          overrides: dict[str, Any] | None = None) -> Graph:
    """Elaborate one network of a module into a checked Graph."""
    name = _pick_network(module, ns, network)
    return _Elaborator(module.source, ns).network(name, dict(overrides or {}))


def _pick_network(module: s.Module, ns: Namespace, network: str | None) -> str:
    if network is not None:
        if network not in ns.networks:
            close = difflib.get_close_matches(network, list(ns.networks), 1)
            hint = f"did you mean `{close[0]}`?" if close else (
                f"this file defines: {', '.join(ns.order)}" if ns.order else "")
            raise NetdslError([error("E213", f"{module.source.path} defines no network "
                                     f"`{network}`", hints=[hint])])
        return network
    if not ns.order:
        raise NetdslError([error("E213", f"{module.source.path} defines no network",
                                 module.source.span(0, 0),
                                 hints=["a file needs `network NAME { ... }` to check or compile"])])
    if len(ns.order) > 1:
        raise NetdslError([error("E213", f"{module.source.path} defines {len(ns.order)} networks; "
                                 "choose one", hints=[f"pass --network with one of: "
                                                      f"{', '.join(ns.order)}"])])
    return ns.order[0]


class _Elaborator:
    def __init__(self, source: Source, ns: Namespace):
        self.source = source
        self.ns = ns
        self.diags: list[Diagnostic] = []
        self.graph: Graph | None = None
        self.options: dict[str, Any] = {}
        self.depth = 0  # of eval and _stmt calls, against MAX_DEPTH
        self.steps = 0  # statements run, against MAX_STEPS
        self._hard: set[str] = set()  # names the author chose (labels, chain indices)
        self._output_spans: dict[str, Span] = {}
        self._reported: set[tuple[str, str, int, int, int]] = set()

    # -- entry
    def network(self, name: str, overrides: dict[str, Any]) -> Graph:
        item = self.ns.networks[name]
        if isinstance(item, s.NetworkAlias):
            target = self.ns.networks.get(item.target.id)
            if not isinstance(target, s.Network):
                raise NetdslError([error("E213", f"`{item.target.id}` is not a network defined "
                                         "in this file", item.target.span)])
            base = _Frame("", {})
            args = self._alias_args(item, target, base)
            args.update(overrides)
            net, overrides = target, args
        else:
            net = item
        graph = Graph(name, self.source, {})
        self.graph = graph
        frame = _Frame("", {})
        self._bind_network_params(net, overrides, frame)
        graph.params = dict(frame.env)
        try:
            self._body(net.body, frame)
        except _Return:
            pass  # `return` in a network body is accepted and ends it
        except _TooLong as long:
            self.diags.append(error("E215", f"elaboration runs more than {MAX_STEPS} statements",
                                    long.span, "still running here", hints=[
                                        "a loop runs far more often than a network needs"]))
        except _TooDeep as deep:
            self.diags.append(error("E102", f"the program nests more than {MAX_DEPTH} levels "
                                    "deep", deep.span, "too deep here", hints=[
                                        "name intermediate values, or repeat with `* n` or "
                                        "`for`, instead of nesting"]))
        except RecursionError:
            self.diags.append(error("E102", "the program nests too deeply to elaborate",
                                    net.name.span))
        if not graph.outputs and not self.diags:
            self.diags.append(error("E216", f"network `{name}` declares no output", net.name.span,
                                    hints=["end a pipeline with `-> output NAME`, or write "
                                           "`output NAME = value`"]))
        graph.options = dict(self.options)
        if self.diags:
            raise NetdslError(self.diags)
        return graph

    def _alias_args(self, item: s.NetworkAlias, target: s.Network, frame: _Frame) -> dict[str, Any]:
        out: dict[str, Any] = {}
        names = [p.name.id for p in target.params]
        if len(item.args) > len(names):
            self._err("E207", f"network `{target.name.id}` takes {len(names)} parameters, "
                      f"{len(item.args)} given", item.args[len(names)].span)
        for p, a in zip(names, item.args):
            out[p] = self.eval(a, frame)
        for kw in item.kwargs:
            if kw.name not in names:
                self._unknown_kw(kw, names, f"network `{target.name.id}`")
            out[kw.name] = self.eval(kw.value, frame)
        if self.diags:
            raise NetdslError(self.diags)
        return out

    def _bind_network_params(self, net: s.Network, overrides: dict[str, Any], frame: _Frame) -> None:
        names = [p.name.id for p in net.params]
        for key in overrides:
            if key not in names:
                close = difflib.get_close_matches(key, names, 1)
                self._err("E214", f"network `{net.name.id}` has no parameter `{key}`",
                          net.name.span, "given a value for `" + key + "` from outside",
                          hints=[f"did you mean `{close[0]}`?" if close else
                                 (f"its parameters: {', '.join(names)}" if names
                                  else "it takes no parameters")])
        for p in net.params:
            if p.name.id in overrides:
                frame.env[p.name.id] = self._override(net, p, overrides[p.name.id], frame)
            elif p.default is not None:
                frame.env[p.name.id] = self.eval(p.default, frame)
            else:
                self._err("E204", f"network parameter `{p.name.id}` has no default and no "
                          "value was given", p.span, hints=[f"pass --set {p.name.id}=VALUE"])
                frame.env[p.name.id] = POISON
        if self.diags:
            raise NetdslError(self.diags)

    def _override(self, net: s.Network, p: s.Param, value: Any, frame: _Frame) -> Any:
        """A parameter value given from outside (--set, keyword arguments of load): it must have
        the kind of the parameter's default, so that `--set classes=abc` fails here, once."""
        if p.default is None:
            return value
        default = self.eval(p.default, frame)
        kinds = [(bool, "`true` or `false`"), (int, "an integer"), (float, "a number"),
                 (str, "a string"), (list, "a list")]
        for kind, words in kinds:
            if isinstance(default, kind):
                fits = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
                if kind is float and _is_number(value):
                    fits = True
                if not fits:
                    self._err("E214", f"parameter `{p.name.id}` of network `{net.name.id}` "
                              f"takes {words}, not {_kind(value)}", p.span,
                              f"default {p.default.span.text()}", hints=[
                                  f"set it like its default, e.g. --set {p.name.id}="
                                  f"{p.default.span.text()}"])
                    return POISON
                break
        return value

    # -- diagnostics
    def _err(self, code: str, message: str, span: Span | None, label: str = "",
             hints: list[str] | tuple[str, ...] = (), frame: _Frame | None = None,
             secondary: list[tuple[Span, str]] | None = None) -> _Poison:
        if frame is not None:
            frame.failed = True
        # NOTE: a mistake inside a block would repeat once per call; the first call reports it.
        key = (code, message, id(span.source) if span else 0, span.start if span else -1,
               span.end if span else -1)
        if key in self._reported:
            return POISON
        self._reported.add(key)
        notes = [f"in block `{b}` called at {self._where(sp)}"
                 for b, sp in zip(reversed(frame.blocks), reversed(frame.trace))] if frame else []
        self.diags.append(error(code, message, span, label, hints, secondary or [], notes))
        return POISON

    @staticmethod
    def _where(span: Span) -> str:
        if span.source is None:
            return "?"
        line, col = span.source.line_col(span.start)
        return f"{span.source.path}:{line}:{col}"

    def _unknown_kw(self, kw: s.Keyword, names: list[str], what: str,
                    frame: _Frame | None = None) -> None:
        close = difflib.get_close_matches(kw.name, names, 1)
        self._err("E203", f"{what} has no argument `{kw.name}`", kw.name_span,
                  "unknown argument", [f"did you mean `{close[0]}`?" if close else
                                       f"it takes: {', '.join(names)}" if names else ""], frame)

    # -- statements
    def _body(self, body: tuple[Any, ...], frame: _Frame) -> None:
        for stmt in body:
            self._stmt(stmt, frame)

    def _stmt(self, st: Any, frame: _Frame) -> None:
        self.depth += 1
        self.steps += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(st.span)
            if self.steps > MAX_STEPS:
                raise _TooLong(st.span)
            getattr(self, f"_stmt_{type(st).__name__.lower()}")(st, frame)
        finally:
            self.depth -= 1

    def _stmt_input(self, st: s.Input, frame: _Frame) -> None:
        if frame.prefix:
            self._err("E217", "`input` belongs in a network, not in a block", st.span,
                      hints=["a block receives tensors as its parameters"], frame=frame)
            return
        shape = self._shape_literal(st.dims, frame)
        if shape is POISON:
            frame.env[st.name.id] = POISON
            return
        bad = [d for d in shape[1:] if not isinstance(d, int) or d <= 0]
        if len(shape) < 2 or bad:
            self._err("E217", f"input `{st.name.id}` needs a shape [N, C, ...] with positive "
                      f"sizes after the batch, not {fmt_shape(shape)}", st.dims.span, frame=frame)
            frame.env[st.name.id] = POISON
            return
        frame.env[st.name.id] = self._add_node(st.name.id, InputOp(shape=tuple(shape)), (),
                                               st.span, {}, shape, frame, hard=True,
                                               name_span=st.name.span)

    def _stmt_assign(self, st: s.Assign, frame: _Frame) -> None:
        frame.env[st.name.id] = self.eval(st.value, frame, name=st.name.id)

    def _stmt_exprstmt(self, st: s.ExprStmt, frame: _Frame) -> None:
        self.eval(st.expr, frame)

    def _stmt_output(self, st: s.Output, frame: _Frame) -> None:
        if st.value is None:
            value = self._lookup(st.name, frame)
        else:
            value = self.eval(st.value, frame, name=st.name.id)
            frame.env[st.name.id] = value
        self._output(st.name, value, frame)

    def _output(self, name: s.Name, value: Any, frame: _Frame) -> None:
        assert self.graph is not None
        if frame.prefix:
            self._err("E216", "`output` belongs in a network; a block returns its result",
                      name.span, hints=["write `return VALUE`"], frame=frame)
            return
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"output `{name.id}` must be a tensor, not {_kind(value)}",
                      name.span, frame=frame)
            return
        if name.id in self.graph.outputs:
            self._err("E211", f"output `{name.id}` is declared twice", name.span, "second "
                      "declaration", frame=frame,
                      secondary=[(self._output_spans[name.id], "first declared here")])
            return
        if name.id in self.graph and name.id != value.node:
            # NOTE: ONNX names an output's tensor after the output: it must not be a layer's.
            other = self.graph.node(name.id)
            self._err("E211", f"output `{name.id}` has the name of another layer", name.span,
                      f"the layer `{name.id}` is a different one", frame=frame,
                      secondary=[(other.span, f"`{name.id}` is this {other.op.name} layer")],
                      hints=["choose another name for the output"])
            return
        self.graph.outputs[name.id] = value.node
        self._output_spans[name.id] = name.span

    def _stmt_annotate(self, st: s.Annotate, frame: _Frame) -> None:
        self._check_shape(st.name, st.dims, frame, "E304", "annotation")

    def _stmt_expectshape(self, st: s.ExpectShape, frame: _Frame) -> None:
        self._check_shape(st.name, st.dims, frame, "E305", "expectation")

    def _check_shape(self, name: s.Name, dims: s.ListExpr, frame: _Frame, code: str,
                     what: str) -> None:
        value = self._lookup(name, frame)
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"`{name.id}` is {_kind(value)}, not a tensor", name.span,
                      frame=frame)
            return
        want = self._shape_literal(dims, frame)
        if want is POISON:
            return
        if tuple(want) != tuple(value.shape):
            self._err(code, f"`{name.id}` has shape {fmt_shape(value.shape)}, but the {what} "
                      f"says {fmt_shape(want)}", dims.span, f"actual {fmt_shape(value.shape)}",
                      frame=frame, secondary=[(self._node_span(value), "made here")])

    def _stmt_expectexpr(self, st: s.ExpectExpr, frame: _Frame) -> None:
        assert self.graph is not None
        env = {k: v for k, v in frame.env.items() if not isinstance(v, Tensor)}
        self.graph.expectations.append(Expectation(st.expr, env, st.span))

    def _stmt_option(self, st: s.Option, frame: _Frame) -> None:
        key = st.name.id
        if key not in OPTIONS:
            close = difflib.get_close_matches(key, list(OPTIONS), 1)
            self._err("E203", f"unknown option `{key}`", st.name.span,
                      hints=[f"did you mean `{close[0]}`?" if close else
                             f"options: {', '.join(OPTIONS)}"], frame=frame)
            return
        value = self.eval(st.value, frame)
        if value is POISON:
            return
        try:
            value = coerce(OPTIONS[key], value)
        except TypeError as e:
            self._err("E205", f"option `{key}` takes {e}, not {_kind(value)}", st.value.span,
                      frame=frame)
            return
        if key == "init" and value not in INITS:
            self._err("E206", f'unknown initialisation "{value}"', st.value.span,
                      hints=[f'use one of: {", ".join(INITS)}'], frame=frame)
            return
        self.options[key] = value

    def _stmt_if(self, st: s.If, frame: _Frame) -> None:
        for cond, body in st.branches:
            c = self.eval(cond, frame)
            if c is not POISON and not isinstance(c, (bool, int, float)):
                c = self._err("E212", f"a condition must be true or false, not {_kind(c)}",
                              cond.span, frame=frame)
            if c is POISON:  # no branch runs: what any branch defines is unknown, not undefined
                frame.failed = True
                _poison(frame, [b for _, b in st.branches] + [st.orelse])
                return
            if c:
                self._body(body, frame)
                return
        self._body(st.orelse, frame)

    def _stmt_for(self, st: s.For, frame: _Frame) -> None:
        items = self.eval(st.iter, frame)
        if items is not POISON and not isinstance(items, list):
            items = self._err("E212", f"`for` needs a list such as range(n), not "
                              f"{_kind(items)}", st.iter.span, frame=frame)
        if items is not POISON and len(items) > MAX_REPEAT:
            items = self._err("E215", f"a loop of {len(items)} iterations exceeds the limit of "
                              f"{MAX_REPEAT}", st.iter.span, frame=frame)
        if items is POISON:  # the body never runs: what it defines is unknown, not undefined
            frame.failed = True
            frame.env[st.var.id] = POISON
            _poison(frame, [st.body])
            return
        for item in items:
            frame.env[st.var.id] = item
            self._body(st.body, frame)

    def _stmt_return(self, st: s.Return, frame: _Frame) -> None:
        # NOTE: a block that returns a chain is a Sequential, as in torch: the chain's unlabelled
        # stages are numbered in the block's own scope (NAME.0, NAME.1, ...); "" names that scope.
        own = "" if frame.prefix and isinstance(st.value, s.Pipeline) else None
        raise _Return(self.eval(st.value, frame, name=own))

    # -- expressions
    def eval(self, e: Any, frame: _Frame, name: str | None = None) -> Any:
        """Evaluate an expression. `name` is the assignment target: it names the outermost layer
        the expression makes (or, for a chain, prefixes its layers)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooDeep(e.span)
            return getattr(self, f"_eval_{type(e).__name__.lower()}")(e, frame, name)
        finally:
            self.depth -= 1

    def _eval_num(self, e: s.Num, frame: _Frame, name: str | None) -> Any:
        return e.value

    def _eval_str(self, e: s.Str, frame: _Frame, name: str | None) -> Any:
        return e.value

    def _eval_bool(self, e: s.Bool, frame: _Frame, name: str | None) -> Any:
        return e.value

    def _eval_name(self, e: s.Name, frame: _Frame, name: str | None) -> Any:
        return self._lookup(e, frame)

    def _lookup(self, e: s.Name, frame: _Frame) -> Any:
        if e.id in frame.env:
            return frame.env[e.id]
        if e.id in _BUILTIN_VALUES:
            return _BUILTIN_VALUES[e.id]
        if e.id in REGISTRY or e.id in self.ns.blocks:
            return self._call_named(e, [], [], frame, None, e.span)
        known = list(frame.env) + list(_BUILTIN_VALUES)
        close = difflib.get_close_matches(e.id, known, 1)
        return self._err("E201", f"`{e.id}` is not defined", e.span, "not defined",
                         [f"did you mean `{close[0]}`?" if close else ""], frame)

    def _eval_listexpr(self, e: s.ListExpr, frame: _Frame, name: str | None) -> Any:
        items = [self.eval(x, frame) for x in e.items]
        return POISON if any(x is POISON for x in items) else items

    def _eval_dictexpr(self, e: s.DictExpr, frame: _Frame, name: str | None) -> Any:
        table: dict[Any, Any] = {}
        where: dict[Any, Span] = {}
        for k, v in e.pairs:
            key, value = self.eval(k, frame), self.eval(v, frame)
            if key is POISON or value is POISON:
                return POISON
            if not isinstance(key, (int, float, str)):
                return self._err("E212", f"a table key must be a number, a string or a boolean, "
                                 f"not {_kind(key)}", k.span, frame=frame)
            if key in table:
                return self._err("E211", f"table key {_show(key)} is given twice", k.span,
                                 "second entry", frame=frame,
                                 secondary=[(where[key], "first entry")])
            table[key], where[key] = value, k.span
        return table

    def _shape_literal(self, e: s.ListExpr, frame: _Frame) -> Any:
        """Dims of `input`, annotations and expectations: an unbound name is a symbolic dim."""
        dims: list[Any] = []
        for x in e.items:
            if isinstance(x, s.Name) and x.id not in frame.env:
                dims.append(x.id)
                continue
            v = self.eval(x, frame)
            if v is POISON:
                return POISON
            if not isinstance(v, int) or isinstance(v, bool):
                return self._err("E217", f"a shape holds integers and symbolic names, not "
                                 f"{_kind(v)}", x.span, frame=frame)
            dims.append(v)
        return tuple(dims)

    def _eval_unary(self, e: s.Unary, frame: _Frame, name: str | None) -> Any:
        v = self.eval(e.operand, frame)
        if v is POISON:
            return POISON
        if e.op == "not":
            return not self._truth(v, e.operand, frame)
        if not _is_number(v):
            return self._err("E212", f"cannot negate {_kind(v)}", e.span, frame=frame)
        return -v

    def _truth(self, v: Any, e: Any, frame: _Frame) -> Any:
        if isinstance(v, Tensor):
            self._err("E212", "a tensor is not true or false", e.span, frame=frame)
            return False
        return bool(v)

    def _eval_boolop(self, e: s.BoolOp, frame: _Frame, name: str | None) -> Any:
        left = self.eval(e.left, frame)
        if left is POISON:
            return POISON
        lt = self._truth(left, e.left, frame)
        if (e.op == "and" and not lt) or (e.op == "or" and lt):
            return lt
        right = self.eval(e.right, frame)
        return POISON if right is POISON else self._truth(right, e.right, frame)

    def _eval_compare(self, e: s.Compare, frame: _Frame, name: str | None) -> Any:
        vals = [self.eval(x, frame) for x in e.operands]
        if any(v is POISON for v in vals):
            return POISON
        result = True
        for op, a, b, ea in zip(e.ops, vals, vals[1:], e.operands):
            if isinstance(a, Tensor) or isinstance(b, Tensor):
                return self._err("E212", "tensors cannot be compared; compare their shapes "
                                 "(x.channels, x.shape)", e.span, frame=frame)
            try:
                ok = {"==": a == b, "!=": a != b}.get(op)
                if ok is None:
                    ok = {"<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b,
                          ">=": lambda: a >= b}[op]()
            except TypeError:
                return self._err("E212", f"cannot compare {_kind(a)} with {_kind(b)}", e.span,
                                 frame=frame)
            result = result and bool(ok)
        return result

    def _eval_binop(self, e: s.BinOp, frame: _Frame, name: str | None) -> Any:
        a = self.eval(e.left, frame)
        b = self.eval(e.right, frame)
        if a is POISON or b is POISON:
            return POISON
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            op = {"+": "add", "*": "mul"}.get(e.op)
            if op is None or not (isinstance(a, Tensor) and isinstance(b, Tensor)):
                return self._err("E212", f"`{e.op}` between {_kind(a)} and {_kind(b)} is not "
                                 "defined", e.op_span, frame=frame,
                                 hints=["tensors support `a + b` (add) and `a * b` (broadcast "
                                        "multiply); scale with a layer instead"])
            return self._call_op(REGISTRY[op], [(a, e.left.span), (b, e.right.span)], [], frame,
                                 name, e.span, hard=False)
        return self._arith(e, a, b, frame)

    def _arith(self, e: s.BinOp, a: Any, b: Any, frame: _Frame) -> Any:
        if isinstance(a, list) or isinstance(b, list):
            return self._list_arith(e, a, b, frame)
        if not (_is_number(a) and _is_number(b)):
            if e.op == "+" and isinstance(a, str) and isinstance(b, str):
                return a + b
            return self._err("E212", f"`{e.op}` between {_kind(a)} and {_kind(b)} is not defined",
                             e.op_span, frame=frame)
        try:
            if e.op == "+":
                return a + b
            if e.op == "-":
                return a - b
            if e.op == "*":
                return a * b
            if e.op == "/":
                return a / b
            if e.op == "//":
                return a // b
            if e.op == "%":
                return a % b
            if e.op == "**":
                if abs(b) > 64 or abs(a) > 1e6:
                    raise OverflowError
                return a ** b
        except ZeroDivisionError:
            return self._err("E212", "division by zero", e.right.span, frame=frame)
        except OverflowError:
            return self._err("E215", "the number is too large", e.span, frame=frame)
        raise AssertionError(e.op)

    def _list_arith(self, e: s.BinOp, a: Any, b: Any, frame: _Frame) -> Any:
        """Numeric lists scale elementwise by a number (`[[1, 2, 1], ...] / 16`); `+` joins lists."""
        if e.op == "+" and isinstance(a, list) and isinstance(b, list):
            return a + b
        lst, k = (a, b) if isinstance(a, list) else (b, a)
        if e.op in ("*", "/") and _is_number(k) and (e.op == "*" or lst is a):
            def walk(x: Any) -> Any:
                if isinstance(x, list):
                    return [walk(y) for y in x]
                if not _is_number(x):
                    raise TypeError
                return x * k if e.op == "*" else x / k
            try:
                return walk(lst)
            except TypeError:
                pass
            except ZeroDivisionError:
                return self._err("E212", "division by zero", e.right.span, frame=frame)
        return self._err("E212", f"`{e.op}` between {_kind(a)} and {_kind(b)} is not defined",
                         e.op_span, frame=frame)

    def _eval_attr(self, e: s.Attr, frame: _Frame, name: str | None) -> Any:
        v = self.eval(e.obj, frame)
        if v is POISON:
            return POISON
        if not isinstance(v, Tensor):
            return self._err("E212", f"{_kind(v)} has no attribute `{e.name}`", e.name_span,
                             frame=frame)
        shp = v.shape
        attrs: dict[str, Any] = {"shape": list(shp), "batch": shp[0], "rank": len(shp)}
        if len(shp) >= 2:
            attrs["channels"] = shp[1]
        if len(shp) == 3:
            attrs["length"] = shp[2]
        if len(shp) >= 4:
            attrs["height"], attrs["width"] = shp[-2], shp[-1]
        if len(shp) == 5:
            attrs["depth"] = shp[2]
        if e.name not in attrs:
            close = difflib.get_close_matches(e.name, list(attrs), 1)
            return self._err("E212", f"a tensor of shape {fmt_shape(shp)} has no attribute "
                             f"`{e.name}`", e.name_span, frame=frame,
                             hints=[f"did you mean `{close[0]}`?" if close else
                                    f"it has: {', '.join(attrs)}"])
        return attrs[e.name]

    def _eval_index(self, e: s.Index, frame: _Frame, name: str | None) -> Any:
        v = self.eval(e.obj, frame)
        i = self.eval(e.index, frame)
        if v is POISON or i is POISON:
            return POISON
        if isinstance(v, dict):
            if isinstance(i, (int, float, str)) and i in v:
                return v[i]
            return self._err("E212", f"the table has no entry {_show(i)}", e.index.span,
                             f"{_show(i)}", frame=frame,
                             hints=[f"its keys: {', '.join(_show(k) for k in v)}"])
        if not isinstance(v, list) or not isinstance(i, int) or isinstance(i, bool):
            return self._err("E212", f"cannot index {_kind(v)} with {_kind(i)}", e.span,
                             frame=frame)
        if not -len(v) <= i < len(v):
            return self._err("E212", f"index {i} is out of range for a list of {len(v)}",
                             e.index.span, frame=frame)
        return v[i]

    def _eval_call(self, e: s.Call, frame: _Frame, name: str | None) -> Any:
        if not isinstance(e.func, s.Name):
            return self._err("E212", "only operators, blocks and builtins can be called",
                             e.func.span, frame=frame)
        args = [(self.eval(a, frame), a.span) for a in e.args]
        return self._call_named(e.func, args, list(e.kwargs), frame, name, e.span)

    def _eval_pipeline(self, e: s.Pipeline, frame: _Frame, name: str | None) -> Any:
        reached: set[str] = set()
        value = self._run_pipeline(e, frame, name, reached)
        if value is POISON:  # the outputs after the failed stage are unknown, not undefined
            for st in e.stages:
                if isinstance(st, s.OutputStage) and st.name.id not in reached:
                    frame.env[st.name.id] = POISON
        return value

    def _run_pipeline(self, e: s.Pipeline, frame: _Frame, name: str | None,
                      reached: set[str]) -> Any:
        calls = [st for st in e.stages if isinstance(st, s.Stage)]
        indexed = name is not None and (len(calls) > 1 or any(st.repeat for st in calls)
                                        or isinstance(e.head, s.Call))
        base = (self._scope_base(name, frame) if name else "") if indexed else None
        pos = 0
        chain = frame.chains.get(name) if name is not None else None
        if chain is not None and isinstance(e.head, s.Name) and e.head.id == name and (
                frame.env.get(name) == chain[2]):
            base, pos = chain[0], chain[1]  # `name = name -> ...` appends to the chain `name`
        if base is not None and isinstance(e.head, s.Call):
            value = self.eval(e.head, frame, name=f"{base}.0".lstrip("."))
            pos = 1
        else:
            value = self.eval(e.head, frame)
        prev_span = e.head.span
        for st in e.stages:
            if isinstance(st, s.OutputStage):
                self._output(st.name, value, frame)
                frame.env[st.name.id] = value
                reached.add(st.name.id)
                continue
            n = 1
            if st.repeat is not None:
                n = self.eval(st.repeat, frame)
                if n is POISON:
                    return POISON
                if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                    tensor = isinstance(n, Tensor)
                    return self._err("E205", "a repetition count must be a whole number >= 0, "
                                     f"not {_kind(n)}", st.repeat.span, frame=frame, hints=[
                                         "`x -> f * n` repeats the stage f n times; to multiply "
                                         "by a tensor, write `(x -> f) * y`" if tensor else ""])
                if n > MAX_REPEAT:
                    return self._err("E215", f"repeating {n} times exceeds the limit of "
                                     f"{MAX_REPEAT}", st.repeat.span, frame=frame)
            for r in range(n):
                if value is POISON:
                    return POISON
                if st.label is not None:
                    local = st.label.id if n == 1 else f"{st.label.id}.{r}"
                    hard = True
                elif base is not None:
                    local, hard = f"{base}.{pos}".lstrip("."), True
                elif name and len(calls) == 1 and n == 1:
                    local, hard = name, False
                else:
                    local, hard = None, False
                args = [(value, prev_span)] + [(self.eval(a, frame), a.span) for a in st.args]
                value = self._call_named(st.func, args, list(st.kwargs), frame, local, st.span,
                                         hard=hard, label_span=st.label.span if st.label else None)
                pos += 1
            prev_span = st.span
        if base is not None and name is not None:
            frame.chains[name] = (base, pos, value)
        return value

    def _scope_base(self, name: str, frame: _Frame) -> str:
        """The chain prefix for `name = x -> ...`: `name`, or `name_1`... when reassigned."""
        assert self.graph is not None
        base, k = name, 0
        while self._taken(frame.prefix + base + ".0") or self._taken(frame.prefix + base):
            k += 1
            base = f"{name}_{k}"
        return base

    def _taken(self, full: str) -> bool:
        assert self.graph is not None
        return self.graph.taken(full)

    # -- calls
    def _call_named(self, func: s.Name, args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                    frame: _Frame, name: str | None, span: Span, hard: bool = False,
                    label_span: Span | None = None) -> Any:
        f = func.id
        if f in self.ns.blocks:
            return self._call_block(self.ns.blocks[f], args, kwargs, frame, name, span, hard,
                                    func, label_span)
        if f in REGISTRY:
            return self._call_op(REGISTRY[f], args, kwargs, frame, name, span, hard,
                                 func_span=label_span or func.span)
        if f in _BUILTIN_FUNCS and f not in frame.env:
            return self._call_builtin(f, args, kwargs, frame, span)
        known = list(REGISTRY) + list(self.ns.blocks) + list(_BUILTIN_FUNCS)
        close = difflib.get_close_matches(f, known, 1)
        return self._err("E202", f"`{f}` is not an operator, a block or a builtin", func.span,
                         "unknown", [f"did you mean `{close[0]}`?" if close else ""], frame)

    def _call_builtin(self, f: str, args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                      frame: _Frame, span: Span) -> Any:
        if kwargs:
            return self._err("E203", f"`{f}` takes no keyword arguments", kwargs[0].name_span,
                             frame=frame)
        vals = [v for v, _ in args]
        if any(v is POISON for v in vals):
            return POISON
        for v, sp in args:
            if isinstance(v, Tensor):
                return self._err("E205", f"`{f}` takes numbers, not a tensor", sp, frame=frame)
        try:
            return _BUILTIN_FUNCS[f](*vals)
        except _Limit as ex:
            return self._err("E215", str(ex), span, frame=frame)
        except (TypeError, ValueError, OverflowError) as ex:
            return self._err("E205", f"`{f}` cannot take these arguments: {ex}", span,
                             frame=frame)

    def _call_block(self, blk: s.Block, args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                    frame: _Frame, name: str | None, span: Span, hard: bool,
                    func: s.Name, label_span: Span | None = None) -> Any:
        if blk.name.id in frame.blocks:
            chain = " -> ".join((*frame.blocks[frame.blocks.index(blk.name.id):], blk.name.id))
            return self._err("E209", f"block `{blk.name.id}` calls itself ({chain})", func.span,
                             "recursive call", ["blocks cannot recurse; repeat with `* n` or "
                                                "`for` instead"], frame)
        env = self._bind(blk, args, kwargs, frame, span)
        if env is POISON:
            return POISON
        full = self._name(frame, name or blk.name.id, hard and name is not None,
                          label_span or func.span)
        assert self.graph is not None
        self.graph.scopes.add(full)
        inner = _Frame(full + ".", env, (*frame.trace, span), (*frame.blocks, blk.name.id))
        try:
            self._body(blk.body, inner)
        except _Return as r:
            if inner.failed and r.value is POISON:
                frame.failed = True
            return r.value
        if inner.failed:
            frame.failed = True
            return POISON
        return self._err("E216", f"block `{blk.name.id}` ends without `return`", blk.name.span,
                         hints=["end the block with `return VALUE`"], frame=frame)

    def _bind(self, blk: s.Block, args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
              frame: _Frame, span: Span) -> Any:
        names = [p.name.id for p in blk.params]
        what = f"block `{blk.name.id}`"
        ok = True
        if len(args) > len(names):
            self._err("E207", f"{what} takes {_plural(len(names), 'argument')}, {len(args)} "
                      "given", args[len(names)][1], "one too many", frame=frame,
                      secondary=[(blk.name.span, "defined here")])
            ok = False
        given = {n: a for a, n in zip(args, names)}
        env: dict[str, Any] = {n: v for n, (v, _) in given.items()}
        unknown = []
        for kw in kwargs:
            if kw.name not in names:
                unknown.append(kw)
            elif kw.name in env:
                first = given[kw.name][1] if kw.name in given else next(
                    k.name_span for k in kwargs if k.name == kw.name)
                ok = self._twice(kw, first, kw.name in given, frame)
            else:
                env[kw.name] = self.eval(kw.value, frame)
        required = [p.name.id for p in blk.params if p.default is None]
        missing = [n for n in required if n not in env]
        declared = {p.name.id: p.span for p in blk.params}
        for n in self._unknown_and_missing(unknown, missing, names, what, span, frame):
            self._err("E204", f"{what} needs argument `{n}`", span, f"`{n}` missing",
                      frame=frame, secondary=[(declared[n], "declared here")])
        if not ok or unknown or missing:
            return POISON
        for p in blk.params:
            if p.name.id not in env and p.default is not None:
                env[p.name.id] = self.eval(p.default, _Frame(frame.prefix, dict(env)))
        if any(v is POISON for v in env.values()):
            frame.failed = True
            return POISON
        return env

    def _twice(self, kw: s.Keyword, first: Span, by_position: bool, frame: _Frame) -> bool:
        """E208, pointing at both; `by_position`: a positional argument gave it first."""
        self._err("E208", f"argument `{kw.name}` is given twice", kw.name_span, "second time",
                  frame=frame, secondary=[(first, "first given here" + (" by position" if
                                                                        by_position else ""))],
                  hints=["positional arguments fill the parameters in order"] if by_position
                  else [])
        return False

    def _unknown_and_missing(self, unknown: list[s.Keyword], missing: list[str],
                             names: list[str], what: str, span: Span,
                             frame: _Frame) -> list[str]:
        """E203 for each unknown keyword, with the likeliest meaning as a hint: a close
        spelling, or else a required argument nobody gave. Returns the missing arguments that
        no unknown keyword explains: those get E204 (a misspelt `kernal:` is one mistake)."""
        unexplained = list(missing)
        for kw in unknown:
            close = _close(kw.name, names)
            if close is None and unexplained:
                close = unexplained[0]
                hint = f"did you mean `{close}`? it is required and not given"
            elif close is not None:
                hint = f"did you mean `{close}`?"
            else:
                hint = f"it takes: {', '.join(names)}" if names else "it takes no arguments"
            if close in unexplained:
                unexplained.remove(close)
            self._err("E203", f"{what} has no argument `{kw.name}`", kw.name_span,
                      "unknown argument", [hint], frame)
        return unexplained

    def _call_op(self, cls: type[Op], args: list[tuple[Any, Span]], kwargs: list[s.Keyword],
                 frame: _Frame, name: str | None, span: Span, hard: bool = False,
                 func_span: Span | None = None) -> Any:
        sig = _signature(cls)
        rest = list(args)
        inputs: list[tuple[Any, Span]] = []
        while rest and (isinstance(rest[0][0], Tensor) or rest[0][0] is POISON) and (
                cls.inputs[1] is None or len(inputs) < cls.inputs[1]):
            inputs.append(rest.pop(0))
        spans: dict[str, Span] = {f"x{i}": sp for i, (_, sp) in enumerate(inputs)}
        raw, ok = self._op_arguments(cls, sig, rest, kwargs, frame, span)
        values, converted = self._op_values(cls, sig, raw, inputs, spans, frame)
        for fname in sig.fields:
            if fname not in values and fname not in raw and fname in OPTIONS and (
                    fname in self.options):
                values[fname] = self.options[fname]
        lo, hi = cls.inputs
        if ok and converted and not lo <= len(inputs) <= (hi if hi is not None else len(inputs)):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            self._err("E204" if len(inputs) < lo else "E207",
                      f"`{cls.name}` takes {want} input tensor{'s' if hi != 1 else ''}, "
                      f"{len(inputs)} given", span, frame=frame,
                      hints=[f"feed it with a pipe: `x -> {cls.name}(...)`"
                             if not inputs else ""])
            ok = False
        if not (ok and converted) or any(v is POISON for v, _ in inputs):
            frame.failed = True
            return POISON
        op = cls(**values)
        try:
            op.validate()
            shape = op.output_shape(*(t.shape for t, _ in inputs))
        except OpError as ex:
            return self._op_error(ex, op, inputs, spans, span, frame)
        return self._add_node(name or cls.name, op, tuple(t.node for t, _ in inputs), span,
                              spans, shape, frame, hard=hard and name is not None,
                              name_span=func_span)

    def _op_arguments(self, cls: type[Op], sig: _Signature, rest: list[tuple[Any, Span]],
                      kwargs: list[s.Keyword], frame: _Frame,
                      span: Span) -> tuple[dict[str, tuple[Any, Span]], bool]:
        """Positional and keyword arguments by field: E207, E208, E203, E204."""
        ok = True
        if len(rest) > len(sig.positional):
            v, sp = rest[len(sig.positional)]
            takes = (f"takes at most {_plural(len(sig.positional), 'argument')} after its "
                     "input" + ("s" if cls.inputs[1] != 1 else "") if sig.positional
                     else "takes no arguments besides its input")
            self._err("E207", f"`{cls.name}` {takes}", sp, "one too many", frame=frame,
                      hints=[f"`{cls.name}` takes: {', '.join(sig.positional)}"
                             if sig.positional else ""])
            ok = False
        raw = {f: a for a, f in zip(rest, sig.positional)}
        by_position = set(raw)
        unknown = []
        for kw in kwargs:
            if kw.name not in sig.fields:
                unknown.append(kw)
            elif kw.name in raw:
                first = raw[kw.name][1] if kw.name in by_position else next(
                    k.name_span for k in kwargs if k.name == kw.name)
                ok = self._twice(kw, first, kw.name in by_position, frame)
            else:
                raw[kw.name] = (self.eval(kw.value, frame), kw.span)
        missing = [f for f in sig.required if f not in raw]
        for fname in self._unknown_and_missing(unknown, missing, list(sig.fields),
                                               f"`{cls.name}`", span, frame):
            self._err("E204", f"`{cls.name}` needs argument `{fname}`", span,
                      f"missing `{fname}`", frame=frame, hints=[cls.summary])
        return raw, ok and not unknown and not missing

    def _op_values(self, cls: type[Op], sig: _Signature, raw: dict[str, tuple[Any, Span]],
                   inputs: list[tuple[Any, Span]], spans: dict[str, Span],
                   frame: _Frame) -> tuple[dict[str, Any], bool]:
        """Each argument checked against its field's type (E205); tensor fields become inputs."""
        values: dict[str, Any] = {}
        ok = True
        for fname, (v, sp) in raw.items():
            spans[fname] = sp
            ftype = sig.fields[fname]
            if v is POISON:
                ok = False
            elif "Tensor" in ftype:
                if not isinstance(v, Tensor):
                    self._err("E205", f"`{fname}` of `{cls.name}` takes a tensor, not "
                              f"{_kind(v)}", sp, frame=frame)
                    ok = False
                    continue
                spans[f"x{len(inputs)}"] = sp
                values[fname] = v.node
                inputs.append((v, sp))
            elif isinstance(v, Tensor):
                self._err("E205", f"`{fname}` of `{cls.name}` takes {_words(ftype)}, not a "
                          "tensor", sp, "a tensor", frame=frame,
                          hints=[f"a tensor goes first: `x -> {cls.name}(...)`"])
                ok = False
            else:
                try:
                    values[fname] = coerce(ftype, v)
                except TypeError as ex:
                    hint = ("use `//` for integer division" if isinstance(v, float)
                            and "integer" in str(ex) and "/" in sp.text() else "")
                    self._err("E205", f"`{fname}` of `{cls.name}` takes {ex}, not "
                              f"{_kind(v)}", sp, frame=frame, hints=[hint])
                    ok = False
        return values, ok

    def _op_error(self, ex: OpError, op: Op, inputs: list[tuple[Any, Span]],
                  spans: dict[str, Span], span: Span, frame: _Frame) -> Any:
        at = spans.get(ex.at) or spans.get("x0") if ex.at.startswith("x") else spans.get(ex.at)
        if at is None:
            at = span
        secondary = []
        for i, (t, sp) in enumerate(inputs):  # the shapes, where a shape is the problem
            if isinstance(t, Tensor) and sp != at and ex.code.startswith("E3"):
                secondary.append((sp, f"{fmt_shape(t.shape)}"))
        label = (f"input is {fmt_shape(inputs[0][0].shape)}" if ex.at == "x0" and inputs
                 else "")
        return self._err(ex.code, f"{op.name}: {ex.message}", at, label, [ex.hint], frame,
                         secondary)

    def _add_node(self, local: str, op: Op, inputs: tuple[str, ...], span: Span,
                  arg_spans: dict[str, Span], shape: Shape, frame: _Frame, hard: bool,
                  name_span: Span | None = None) -> Tensor:
        assert self.graph is not None
        if len(self.graph) >= MAX_NODES:
            self._err("E215", f"the network exceeds {MAX_NODES} layers", span, frame=frame)
            raise NetdslError(self.diags)
        full = self._name(frame, local, hard, name_span or span)
        self.graph.add(Node(full, op, inputs, span, arg_spans, tuple(shape), frame.trace))
        return Tensor(full, tuple(shape))

    def _name(self, frame: _Frame, local: str, hard: bool, span: Span) -> str:
        full = frame.prefix + local
        if not self._taken(full):
            if hard:
                self._hard.add(full)
            return full
        if hard:
            self._name_clash(full, span, frame)
        k = 1
        while self._taken(f"{full}_{k}"):
            k += 1
        return f"{full}_{k}"

    def _name_clash(self, full: str, span: Span, frame: _Frame) -> None:
        """E211 for a name the author chose that something else already has."""
        g = self.graph
        assert g is not None
        if full in g.outputs:
            self._err("E211", f"`{full}` is already the name of an output", span, "second use",
                      frame=frame, secondary=[(self._output_spans[full], "the output")],
                      hints=["rename the layer or the output"])
        elif full in g and full in self._hard:
            self._err("E211", f"two layers are named `{full}`", span, "second use",
                      frame=frame, secondary=[(g.node(full).span, "first use")],
                      hints=["rename one of the labels"])
        elif full in g:
            node = g.node(full)
            self._err("E211", f"`{full}` is already the automatic name of an earlier layer",
                      span, "second use", frame=frame,
                      secondary=[(node.span, f"this {node.op.name} was named `{full}` "
                                  "automatically")],
                      hints=["label the earlier layer too, or choose another label"])
        else:
            member = next((n.name for n in g.nodes() if n.name.startswith(full + ".")), "")
            self._err("E211", f"`{full}` already names a group of layers"
                      + (f" (`{member}`, ...)" if member else ""), span, "second use",
                      frame=frame, hints=["a name is either one layer or a group of layers "
                                          "(a block call or a chain), as in PyTorch; choose "
                                          "another label"])

    def _node_span(self, t: Tensor) -> Span:
        assert self.graph is not None
        return self.graph.node(t.node).span


# ------------------------------------------------------------------------------------- helpers

@dataclass(frozen=True, slots=True)
class _Signature:
    """What build.py needs of an op's dataclass fields, computed once per op."""

    fields: dict[str, str]  # name -> annotation text, in declaration order
    positional: tuple[str, ...]  # the fields positional arguments fill: all but tensors
    required: tuple[str, ...]


_SIGNATURES: dict[type, _Signature] = {}


def _signature(cls: type[Op]) -> _Signature:
    sig = _SIGNATURES.get(cls)
    if sig is None:
        fs = dataclasses.fields(cls)  # type: ignore[arg-type]
        sig = _Signature({f.name: str(f.type) for f in fs},
                         tuple(f.name for f in fs if "Tensor" not in str(f.type)),
                         tuple(f.name for f in fs if f.default is dataclasses.MISSING
                               and f.default_factory is dataclasses.MISSING))
        _SIGNATURES[cls] = sig
    return sig


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _close(word: str, names: list[str]) -> str | None:
    close = difflib.get_close_matches(word, names, 1)
    return close[0] if close else None


def _poison(frame: _Frame, bodies: list[tuple[Any, ...]]) -> None:
    """Bind every name these statements would define to POISON: they did not run because of a
    reported mistake, and a later use of those names must not be reported again as undefined."""
    todo = list(bodies)
    while todo:
        for st in todo.pop():
            if isinstance(st, (s.Assign, s.Output, s.Input)):
                frame.env.setdefault(st.name.id, POISON)
            elif isinstance(st, s.For):
                frame.env.setdefault(st.var.id, POISON)
                todo.append(st.body)
            elif isinstance(st, s.If):
                todo.extend([b for _, b in st.branches] + [st.orelse])
            value = getattr(st, "value", None) or getattr(st, "expr", None)
            if isinstance(value, s.Pipeline):
                for stage in value.stages:
                    if isinstance(stage, s.OutputStage):
                        frame.env.setdefault(stage.name.id, POISON)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kind(v: Any) -> str:
    if isinstance(v, Tensor):
        return f"a tensor {fmt_shape(v.shape)}"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return f"the integer {v}"
    if isinstance(v, float):
        return f"the number {v:g}"
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a table"
    if v is None:
        return "none"
    return type(v).__name__


def _show(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def _words(ftype: str) -> str:
    try:
        coerce(ftype, object())
    except TypeError as e:
        return str(e)
    return ftype


def evaluate(expr: Any, env: dict[str, Any], source: Source) -> Any:
    """Evaluate a scalar expression (an `expect` line) in env; raises NetdslError."""
    el = _Elaborator(source, Namespace())
    frame = _Frame("", dict(env))
    value = el.eval(expr, frame)
    if el.diags:
        raise NetdslError(el.diags)
    return value
