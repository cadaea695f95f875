"""Calls: a name applied to arguments becomes a block instance (a scope, its parameters bound,
its body run), an operator's node (arguments checked against the op's fields, the output shape
inferred) or a builtin's value. Part of the graph builder (builder.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence

from netdsl import syntax as s
from netdsl.diagnostics import closest, did_you_mean
from netdsl.elaborator.evaluator import Arg, Evaluator
from netdsl.elaborator.modules import Namespace
from netdsl.elaborator.naming import Naming
from netdsl.elaborator.report import Reporter, line_end_hint
from netdsl.elaborator.scope import Frame, Return
from netdsl.limits import MAX_TOTAL_PARAMS
from netdsl.ops import REGISTRY, foreign_name
from netdsl.ops.base import Op, OpError, Shape, check_sizes, fmt_shape
from netdsl.ops.signature import Signature, signature_of
from netdsl.ops.types import coerce
from netdsl.source import Span
from netdsl.valueops import BUILTIN_FUNCS, call_builtin
from netdsl.values import POISON, Fault, Poison, Tensor, Value, kind, plural, type_words

Body = Callable[[tuple[s.Stmt, ...], Frame], None]  # runs statements (builder.py)
# what Calls._infer remembers of an op made of some values, on some shapes: the op (None where
# equal values may differ in kind), its shape, its parts with theirs, its parameters
_Answer = tuple[Op | None, Shape, list[tuple[Op, Shape]], int]


class Calls:
    def __init__(self, ns: Namespace, options: dict[str, object], ev: Evaluator, naming: Naming,
                 report: Reporter, run_body: Body):
        self.ns = ns
        self.options = options  # `option` statements so far (the builder fills it)
        self.lenient = False  # round fractional window sizes down instead of E302 (build())
        self.ev = ev
        self.naming = naming
        self.report = report
        self._err = report.err
        self._run_body = run_body
        self._inferred: dict[tuple[object, ...], _Answer] = {}

    def call_named(self, func: s.Name, args: list[Arg], kwargs: Sequence[s.Keyword], frame: Frame,
                   name: str | None, span: Span, hard: bool = False,
                   label_span: Span | None = None) -> Value:
        """`f(args)` or a pipeline stage `-> f(args)`: a block, an operator or a builtin."""
        f = func.id
        if f in self.ns.blocks:
            return self._call_block(self.ns.blocks[f], args, kwargs, frame, name, span, hard,
                                    func, label_span)
        if f in REGISTRY:
            return self.call_op(REGISTRY[f], args, kwargs, frame, name, span, hard,
                                func_span=label_span or func.span)
        if f in BUILTIN_FUNCS and f not in frame.env:
            return self._call_builtin(f, args, kwargs, frame, span)
        if f in frame.env:  # NOTE: a value (a builtin's name perhaps: `max = 3`, `max(1, 2)`)
            return POISON if frame.env[f] is POISON else self._err(
                "E202", f"`{f}` is a value here, {kind(frame.env[f])}, not an operator or a "
                "block", func.span, "not callable", [f"the value hides the builtin `{f}`: name "
                                                     "it otherwise" if f in BUILTIN_FUNCS else
                                                     line_end_hint(func.span, "->",
                                                                   "its next stage")], frame)
        known = list(REGISTRY) + list(self.ns.blocks) + list(BUILTIN_FUNCS)
        op = foreign_name(f)
        hints = [did_you_mean(f, known)] if op is None else [
            f"did you mean `{op}` (netdsl's name for `{f}`)?", signature_of(REGISTRY[op]).summary]
        return self._err("E202", f"`{f}` is not an operator, a block or a builtin", func.span,
                         "unknown", hints, frame)

    def _call_builtin(self, f: str, args: list[Arg], kwargs: Sequence[s.Keyword], frame: Frame,
                      span: Span) -> Value:
        try:
            return call_builtin(f, args, kwargs[0].name_span if kwargs else None, span)
        except Fault as ex:
            return self.report.fault(ex, frame)

    def _call_block(self, blk: s.Block, args: list[Arg], kwargs: Sequence[s.Keyword],
                    frame: Frame, name: str | None, span: Span, hard: bool,
                    func: s.Name, label_span: Span | None = None) -> Value:
        if blk.name.id in frame.blocks:
            chain = " -> ".join((*frame.blocks[frame.blocks.index(blk.name.id):], blk.name.id))
            return self._err("E209", f"block `{blk.name.id}` calls itself ({chain})", func.span,
                             "recursive call", ["blocks cannot recurse; repeat with `* n` or "
                                                "`for` instead"], frame)
        env = self._bind(blk, args, kwargs, frame, span)
        if isinstance(env, Poison):
            return POISON
        full = self.naming.name(frame, name or blk.name.id, hard and name is not None,
                                label_span or func.span, moves=name is not None)
        assert self.naming.graph is not None
        self.naming.graph.scopes.add(full)
        inner = Frame(full + ".", env, (*frame.trace, span), (*frame.blocks, blk.name.id))
        try:
            self._run_body(blk.body, inner)
        except Return as r:
            if inner.failed and r.value is POISON:
                frame.failed = True
            return r.value
        if inner.failed:
            frame.failed = True
            return POISON
        return self._err("E216", f"block `{blk.name.id}` ends without `return`", blk.name.span,
                         hints=["end the block with `return VALUE`"], frame=frame)

    def _bind(self, blk: s.Block, args: list[Arg], kwargs: Sequence[s.Keyword],
              frame: Frame, span: Span) -> dict[str, Value] | Poison:
        names = [p.name.id for p in blk.params]
        ok = True
        if len(args) > len(names):
            self._err("E207", f"block `{blk.name.id}` takes {plural(len(names), 'argument')}, "
                      f"{len(args)} given", args[len(names)][1], "one too many", frame=frame,
                      secondary=[(blk.name.span, "defined here")])
            ok = False
        given = dict(zip(names, args))
        unknown, ok = self._keywords(kwargs, names, given, frame, ok) if kwargs else ([], ok)
        env: dict[str, Value] = {n: v for n, (v, _) in given.items()}
        missing = [p.name.id for p in blk.params if p.default is None and p.name.id not in env]
        if unknown or missing:
            what = f"block `{blk.name.id}`"
            declared = {p.name.id: p.span for p in blk.params}
            for n in self._unknown_and_missing(unknown, missing, names, what, span, frame):
                self._err("E204", f"{what} needs argument `{n}`", span, f"`{n}` missing",
                          frame=frame, secondary=[(declared[n], "declared here")])
            return POISON
        if not ok:
            return POISON
        for p in blk.params:
            if p.name.id not in env and p.default is not None:
                env[p.name.id] = self.ev.eval(p.default, Frame(frame.prefix, dict(env)))
        if any(v is POISON for v in env.values()):
            frame.failed = True
            return POISON
        return env

    def _keywords(self, kwargs: Sequence[s.Keyword], known: Collection[str],
                  given: dict[str, Arg], frame: Frame,
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
                given[kw.name] = (self.ev.eval(kw.value, frame), kw.span)
        return unknown, ok

    def _twice(self, kw: s.Keyword, first: Span, by_position: bool, frame: Frame) -> bool:
        """E208, pointing at both; `by_position`: a positional argument gave it first."""
        self._err("E208", f"argument `{kw.name}` is given twice", kw.name_span, "second time",
                  frame=frame, secondary=[(first, "first given here" + (" by position" if
                                                                        by_position else ""))],
                  hints=["positional arguments fill the parameters in order"] if by_position
                  else [])
        return False

    def _unknown_and_missing(self, unknown: list[s.Keyword], missing: list[str],
                             names: list[str], what: str, span: Span,
                             frame: Frame) -> list[str]:
        """E203 for each unknown keyword, with the likeliest meaning as a hint: a close
        spelling, or else a required argument nobody gave. Returns the missing arguments that
        no unknown keyword explains: those get E204 (a misspelt `kernal:` is one mistake)."""
        unexplained = list(missing)
        for kw in unknown:
            if kw.name in _INFERRED:
                self._err("E203", f"{what} has no argument `{kw.name}`", kw.name_span,
                          "unknown argument", [f"netdsl infers the input's size from the tensor "
                                               f"fed in: leave `{kw.name}` out"], frame)
                continue
            close = closest(kw.name, names)
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

    def call_op(self, cls: type[Op], args: list[Arg], kwargs: Sequence[s.Keyword],
                frame: Frame, name: str | None, span: Span, hard: bool = False,
                func_span: Span | None = None) -> Value:
        sig = signature_of(cls)
        lo, hi = cls.inputs
        n = 0  # the leading tensors are the inputs (up to the op's most)
        while n < len(args) and (hi is None or n < hi) and (
                isinstance(args[n][0], Tensor) or args[n][0] is POISON):
            n += 1
        inputs: list[Arg] = args[:n]
        spans: dict[str, Span] = {"x0": args[0][1]} if n == 1 else {
            f"x{i}": sp for i, (_, sp) in enumerate(inputs)}
        if n == 0 and lo >= 1 and len(args) > len(sig.positional):  # NOTE: `3 -> relu`
            return self._err("E205", f"`{cls.name}` takes a tensor as its input, not "
                             f"{kind(args[0][0])}", args[0][1], "not a tensor", frame=frame,
                             hints=[f"feed it a tensor: `x -> {cls.name}`"])
        # NOTE: an op called bare (`-> bn -> relu`, half of a network's calls) has no arguments
        # to check unless it requires some
        raw, ok = self._op_arguments(cls, sig, args[n:], kwargs, frame, span) if (
            len(args) > n or kwargs or sig.required) else ({}, True)
        values, converted = self._op_values(cls, sig, raw, inputs, spans, frame) if raw else (
            {}, True)
        for fname, option in sig.options.items():
            if fname not in values and fname not in raw and option in self.options:
                values[fname] = self.options[option]
        if ok and converted and not lo <= len(inputs) <= (hi if hi is not None else len(inputs)):
            want = f"{lo}" if lo == hi else f"at least {lo}" if hi is None else f"{lo} to {hi}"
            noun = "tensor" if want.split()[-1] == "1" else "tensors"
            self._err("E204" if len(inputs) < lo else "E207",
                      f"`{cls.name}` takes {want} input {noun}, {len(inputs)} given", span,
                      frame=frame,
                      hints=[f"feed it with a pipe: `x -> {cls.name}(...)`"
                             if not inputs else ""])
            ok = False
        shapes: list[Shape] = []
        names: list[str] = []
        for t, _ in inputs:
            if isinstance(t, Tensor):  # the others are POISON
                shapes.append(t.shape)
                names.append(t.node)
        if not (ok and converted) or len(shapes) < len(inputs):
            frame.failed = True
            return POISON
        try:
            op, shape, parts, params = self._infer(cls, values, shapes)
        except _Failed as failed:
            op, ex = failed.op, failed.error
            if not (self.lenient and ex.code == "E302"):
                return self._op_error(ex, op, inputs, spans, span, frame)
            # NOTE: a lenient build (netdsl sizes) rounds a fractional size down so that the
            # graph completes; the nodes keep their strict ops, which the size sweep reads
            try:
                shape, floored = _shapes(dataclasses.replace(op, floor=True), shapes)
            except OpError as again:  # another axis is wrong in another way
                return self._op_error(again, op, inputs, spans, span, frame)
            parts = [(p, y) for p, (_, y) in zip(op.parts(*shapes), floored)]
        else:
            if self.naming.params + params > MAX_TOTAL_PARAMS:
                return self._op_error(OpError(
                    f"the network would have {self.naming.params + params:,} parameters, over "
                    f"the limit of {MAX_TOTAL_PARAMS:,}", code="E215", at=""), op, inputs, spans,
                    span, frame)
            self.naming.params += params
        ins = tuple(names)
        if not parts:
            return self.naming.add_node(name or cls.name, op, ins, span, spans, shape, frame,
                                        hard=hard and name is not None, name_span=func_span)
        # NOTE: a call that yields several values is a group of nodes, one per value (`parts.0`,
        # `parts.1`, as torch names a ModuleList's members), and its value is their list.
        base = self.naming.name(frame, name or cls.name, hard and name is not None,
                                func_span or span)
        assert self.naming.graph is not None
        self.naming.graph.scopes.add(base)
        local = base[len(frame.prefix):]
        return [self.naming.add_node(f"{local}.{i}", p, ins, span, spans, y, frame, hard=True,
                                     name_span=func_span) for i, (p, y) in enumerate(parts)]

    def _infer(self, cls: type[Op], values: dict[str, object],
               shapes: list[Shape]) -> tuple[Op, Shape, list[tuple[Op, Shape]], int]:
        """The op made of `values`, validated, its output shape, its parts with theirs
        (Op.parts) and its number of parameters (check_sizes); raises _Failed. Ops are pure: an
        op made of the same values as one before in this build, on the same shapes, gets the
        same answer (a network repeats its layers: resnet152 has 516 nodes of about 60 kinds),
        which is remembered here with the op itself, which its nodes then share (frozen, and
        equal to a new one made of the same values). (Keyed by the values, which hash without
        calling Python: their count, names and values flat, then the shapes.)"""
        key = (cls, len(values), *values, *values.values(), *shapes)
        known = self._inferred.get(key)
        if known is not None:
            shared, shape, parts, params = known
            return cls(**values) if shared is None else shared, shape, parts, params
        op = cls(**values)
        try:
            op.validate()
            shape, parts = _shapes(op, shapes)
            params = check_sizes(op, shapes, shape)
        except OpError as ex:
            raise _Failed(op, ex) from None
        if not parts:  # NOTE: a part is an op made from this one's fields: make it afresh
            # NOTE: values that compare equal across kinds (a fixed kernel's 1 and 1.0) must not
            # share an op: the next nodes get the answer with an op of their own
            inexact = _inexact(cls)
            exact = not inexact or all(values.get(f) is None for f in inexact)
            self._inferred[key] = (op if exact else None, shape, parts, params)
        return op, shape, parts, params

    def _op_arguments(self, cls: type[Op], sig: Signature, rest: list[Arg],
                      kwargs: Sequence[s.Keyword], frame: Frame,
                      span: Span) -> tuple[dict[str, Arg], bool]:
        """Positional and keyword arguments by field: E207, E208, E203, E204."""
        ok = True
        if len(rest) > len(sig.positional):
            _, sp = rest[len(sig.positional)]
            takes = (f"takes at most {plural(len(sig.positional), 'argument')} after its "
                     "input" + ("s" if cls.inputs[1] != 1 else "") if sig.positional
                     else "takes no arguments besides its input")
            self._err("E207", f"`{cls.name}` {takes}", sp, "one too many", frame=frame,
                      hints=[f"`{cls.name}` takes: {', '.join(sig.positional)}"
                             if sig.positional else ""])
            ok = False
        raw = dict(zip(sig.positional, rest))
        unknown, ok = self._keywords(kwargs, sig.fields, raw, frame, ok) if kwargs else ([], ok)
        missing = [f for f in sig.required if f not in raw]
        if not (unknown or missing):
            return raw, ok
        for fname in self._unknown_and_missing(unknown, missing, list(sig.fields),
                                               f"`{cls.name}`", span, frame):
            self._err("E204", f"`{cls.name}` needs argument `{fname}`", span,
                      f"missing `{fname}`", frame=frame, hints=[sig.summary])
        return raw, False

    def _op_values(self, cls: type[Op], sig: Signature, raw: dict[str, Arg],
                   inputs: list[Arg], spans: dict[str, Span],
                   frame: Frame) -> tuple[dict[str, object], bool]:
        """Each argument checked against its field's type (E205); tensor fields become inputs."""
        values: dict[str, object] = {}
        ok = True
        # NOTE: tensor keywords become inputs in declaration order, however they are written
        order = sorted(raw, key=lambda f: sig.tensors.index(f) if f in sig.tensors else -1
                       ) if sig.tensors else raw
        for fname in order:
            v, sp = raw[fname]
            spans[fname] = sp
            ftype = sig.fields[fname]
            if v is POISON:
                ok = False
                if "str" in ftype.split(" | "):
                    self.report.quoted(sp, fname)
            elif fname in sig.tensors:
                if not isinstance(v, Tensor):
                    self._err("E205", f"`{fname}` of `{cls.name}` takes a tensor, not "
                              f"{kind(v)}", sp, frame=frame)
                    ok = False
                    continue
                spans[f"x{len(inputs)}"] = sp
                values[fname] = v.node
                inputs.append((v, sp))
            elif isinstance(v, Tensor):
                self._err("E205", f"`{fname}` of `{cls.name}` takes {type_words(ftype)}, not a "
                          "tensor", sp, "a tensor", frame=frame,
                          hints=[f"a tensor goes first: `x -> {cls.name}(...)`"])
                ok = False
            else:
                try:
                    values[fname] = coerce(ftype, v)
                except TypeError as ex:
                    hint = ("use `//` for integer division" if isinstance(v, float)
                            and "integer" in str(ex) and "/" in sp.text() else
                            did_you_mean(v, ("same", "valid")) if isinstance(v, str)
                            and "Pad" in ftype.split(" | ") else "")
                    self._err("E205", f"`{fname}` of `{cls.name}` takes {ex}, not "
                              f"{kind(v)}", sp, frame=frame, hints=[hint])
                    ok = False
                except ValueError as ex:
                    self._err("E206", f"`{fname}` of `{cls.name}` {ex}", sp, frame=frame)
                    ok = False
        return values, ok

    def _op_error(self, ex: OpError, op: Op, inputs: list[Arg],
                  spans: dict[str, Span], span: Span, frame: Frame) -> Value:
        at = spans.get(ex.at) or spans.get("x0") if ex.at.startswith("x") else spans.get(ex.at)
        if at is None:
            at = span
        secondary = []
        for t, sp in inputs:  # the shapes, where a shape is the problem
            if isinstance(t, Tensor) and sp != at and ex.code.startswith("E3"):
                secondary.append((sp, f"{fmt_shape(t.shape)}"))
        first = inputs[0][0] if inputs else None
        label = (f"input is {fmt_shape(first.shape)}" if ex.at == "x0" and isinstance(first, Tensor)
                 else "")
        return self._err(ex.code, f"{op.name}: {ex.message}", at, label, [ex.hint], frame,
                         secondary)


class _Failed(Exception):
    """An op that did not validate or infer (Calls._infer), and its OpError."""

    def __init__(self, op: Op, error: OpError):
        self.op, self.error = op, error


_INEXACT: dict[type[Op], tuple[str, ...]] = {}


# NOTE: PyTorch's and Keras's arguments for the input's size, which netdsl infers
_INFERRED = ("in_channels", "in_features", "num_features", "num_channels", "input_dim",
             "input_shape", "in_planes", "inplanes")


def _inexact(cls: type[Op]) -> tuple[str, ...]:
    """The fields of `cls` whose values may compare equal while differing in kind: a fixed
    kernel (nested numbers, where 1 == 1.0) or a type that takes both ints and floats. Every
    other type coerces to one kind of value (ops/types.py), so that equal values make ops that
    are the same in every way."""
    known = _INEXACT.get(cls)
    if known is None:
        kinds = {f: {k.strip() for k in a.split("|")} for f, a in signature_of(cls).fields.items()}
        known = _INEXACT[cls] = tuple(
            f for f, k in kinds.items()
            if "Weights" in k or (k & {"int", "Ints", "Pad"} and k & {"float", "Floats"}))
    return known


def _shapes(op: Op, shapes: list[Shape]) -> tuple[Shape, list[tuple[Op, Shape]]]:
    """A call's output shape, and its parts with theirs where it yields several values."""
    return op.output_shape(*shapes), [(p, p.output_shape(*shapes)) for p in op.parts(*shapes)]
