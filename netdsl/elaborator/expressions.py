"""Expressions: names, arithmetic, comparisons, lists and tables, attributes of tensors. A mixin
of the elaborator (elaborator/elaborate.py), which supplies _err, _call_named and the graph."""

from __future__ import annotations

import difflib
import operator
from typing import Any

from netdsl import syntax as s
from netdsl.elaborator.values import (
    _BUILTIN_VALUES,
    MAX_DEPTH,
    POISON,
    Tensor,
    _Frame,
    _Host,
    _is_number,
    _kind,
    _show,
    _TooDeep,
)
from netdsl.ops import REGISTRY
from netdsl.ops.base import fmt_shape
from netdsl.source import Span


class _Expressions(_Host):
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
        for op, a, b in zip(e.ops, vals, vals[1:]):
            if isinstance(a, Tensor) or isinstance(b, Tensor):
                return self._err("E212", "tensors cannot be compared; compare their shapes "
                                 "(x.channels, x.shape)", e.span, frame=frame)
            try:
                ok = {"==": a == b, "!=": a != b}.get(op)
                if ok is None:
                    ok = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                          ">=": operator.ge}[op](a, b)
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
        """Numeric lists scale elementwise by a number (`[[1, 2, 1], ...] / 16`); `+` joins
        lists."""
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
