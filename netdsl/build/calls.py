"""Pipelines and calls: `x -> f(args) * n`, blocks (scopes, binding), ops (argument checking,
shape inference), and layer names. A mixin of the elaborator (build/elaborate.py)."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import Any

from netdsl import syntax as s
from netdsl.build.values import (
    _BUILTIN_FUNCS,
    MAX_NODES,
    MAX_REPEAT,
    POISON,
    Tensor,
    _close,
    _Frame,
    _Host,
    _kind,
    _Limit,
    _plural,
    _Return,
    _words,
)
from netdsl.diagnostics import NetdslError
from netdsl.ir import Node
from netdsl.ops import REGISTRY
from netdsl.ops.base import Op, OpError, Shape, fmt_shape
from netdsl.ops.signature import Signature
from netdsl.ops.types import coerce
from netdsl.source import Span


class _Calls(_Host):
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
        unknown, ok = self._keywords(kwargs, names, given, frame, ok)
        env: dict[str, Any] = {n: v for n, (v, _) in given.items()}
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

    def _keywords(self, kwargs: list[s.Keyword], known: Collection[str],
                  given: dict[str, tuple[Any, Span]], frame: _Frame,
                  ok: bool) -> tuple[list[s.Keyword], bool]:
        """Evaluate keyword arguments into `given` (name -> (value, span); it holds the positional
        ones already): the keywords the callee does not take, and `ok` unless one repeats (E208)."""
        by_position = set(given)
        unknown = []
        for kw in kwargs:
            if kw.name not in known:
                unknown.append(kw)
            elif kw.name in given:
                first = given[kw.name][1] if kw.name in by_position else next(
                    k.name_span for k in kwargs if k.name == kw.name)
                ok = self._twice(kw, first, kw.name in by_position, frame)
            else:
                given[kw.name] = (self.eval(kw.value, frame), kw.span)
        return unknown, ok

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
        sig = cls.signature()
        rest = list(args)
        inputs: list[tuple[Any, Span]] = []
        while rest and (isinstance(rest[0][0], Tensor) or rest[0][0] is POISON) and (
                cls.inputs[1] is None or len(inputs) < cls.inputs[1]):
            inputs.append(rest.pop(0))
        spans: dict[str, Span] = {f"x{i}": sp for i, (_, sp) in enumerate(inputs)}
        raw, ok = self._op_arguments(cls, sig, rest, kwargs, frame, span)
        values, converted = self._op_values(cls, sig, raw, inputs, spans, frame)
        for fname, option in sig.options.items():
            if fname not in values and fname not in raw and option in self.options:
                values[fname] = self.options[option]
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

    def _op_arguments(self, cls: type[Op], sig: Signature, rest: list[tuple[Any, Span]],
                      kwargs: list[s.Keyword], frame: _Frame,
                      span: Span) -> tuple[dict[str, tuple[Any, Span]], bool]:
        """Positional and keyword arguments by field: E207, E208, E203, E204."""
        ok = True
        if len(rest) > len(sig.positional):
            _, sp = rest[len(sig.positional)]
            takes = (f"takes at most {_plural(len(sig.positional), 'argument')} after its "
                     "input" + ("s" if cls.inputs[1] != 1 else "") if sig.positional
                     else "takes no arguments besides its input")
            self._err("E207", f"`{cls.name}` {takes}", sp, "one too many", frame=frame,
                      hints=[f"`{cls.name}` takes: {', '.join(sig.positional)}"
                             if sig.positional else ""])
            ok = False
        raw = {f: a for a, f in zip(rest, sig.positional)}
        unknown, ok = self._keywords(kwargs, sig.fields, raw, frame, ok)
        missing = [f for f in sig.required if f not in raw]
        for fname in self._unknown_and_missing(unknown, missing, list(sig.fields),
                                               f"`{cls.name}`", span, frame):
            self._err("E204", f"`{cls.name}` needs argument `{fname}`", span,
                      f"missing `{fname}`", frame=frame, hints=[sig.summary])
        return raw, ok and not unknown and not missing

    def _op_values(self, cls: type[Op], sig: Signature, raw: dict[str, tuple[Any, Span]],
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
            elif fname in sig.tensors:
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
        for t, sp in inputs:  # the shapes, where a shape is the problem
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

