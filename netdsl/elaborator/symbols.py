"""Named input sizes (issue 16) during elaboration: which names of a network's `input` lines are
sizes (`[N, 3, H, W]`), the binding a build uses (given from outside, else the first
`expect ... at H = 572, W = 572` example), and `where` conditions → symbolic Conds.

A network with named sizes is always elaborated at one binding, where every size is a number;
anysize.py derives the symbolic shapes and the valid sizes from that graph."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from netdsl import syntax as s
from netdsl.diagnostics import did_you_mean
from netdsl.elaborator.scope import MAX_DEPTH, TooDeep
from netdsl.source import Span
from netdsl.values import Fault

# NOTE: netdsl.symbolic is imported in the functions that translate `where` conditions, so that the
# elaboration of a network without them does not import it (builder.py imports this module).

Eval = Callable[[s.Expr], Any]


def size_symbols(net: s.Network) -> list[str]:
    """The names among the spatial dims (after batch and channels) of the network's inputs,
    in order of appearance, except the network's own parameters."""
    params = {p.name.id for p in net.params}
    out: list[str] = []
    for st in net.body:
        if isinstance(st, s.Input):
            for d in st.dims.items[2:]:
                if isinstance(d, s.Name) and d.id not in params and d.id not in out:
                    out.append(d.id)
    return out


def channels(net: s.Network, name: str) -> bool:
    """Whether `name` is written at the channel axis of an input of `net` (no size, E217)."""
    return name not in {p.name.id for p in net.params} and any(
        isinstance(st, s.Input) and len(st.dims.items) > 1 and isinstance(st.dims.items[1], s.Name)
        and st.dims.items[1].id == name for st in net.body)


def not_a_size(net: s.Network, name: str, value: s.Expr, symbols: list[str]) -> str:
    """The hint of an `at` that binds `name`, no input size: a parameter's, else the sizes."""
    if name in {p.name.id for p in net.params}:
        return (f"`{name}` is a parameter of network `{net.name.id}`: `at` binds input sizes "
                f"alone; a parameter is given from outside (--set {name}={value.span.text()}) "
                f"or by a variant (`network NAME = {net.name.id}({name}: {value.span.text()})`)")
    return did_you_mean(name, symbols, f"its sizes: {', '.join(symbols)}" if symbols
                        else "its inputs have no named sizes")


def examples(net: s.Network) -> list[s.ExpectShape]:
    """The network's `expect NAME: [dims] at ...` lines, in order."""
    return [st for st in net.body if isinstance(st, s.ExpectShape) and st.at]


def translate(e: s.Expr, symbols: Mapping[str, Any], ev: Eval, depth: int = 0) -> Any:
    """A `where` condition (or a side of one) over the sizes: comparisons, `and`, `or`, `not`,
    + - * // % of sizes and numbers. A size becomes symbols[name] (an Expr or, bound, an int);
    anything else is evaluated. Returns an Expr, int, Cond or bool; None where it is none; raises
    Fault for `// 0` and `% 0`, TooDeep past MAX_DEPTH levels, as the evaluator does."""
    from netdsl.symbolic import Cond, conj, disj
    if depth > MAX_DEPTH:
        raise TooDeep(e.span)
    depth += 1
    match e:
        case s.Name() if e.id in symbols:
            return symbols[e.id]
        case s.Compare():
            out: Any = True
            left = translate(e.operands[0], symbols, ev, depth)
            for op, right_e in zip(e.ops, e.operands[1:]):
                right = translate(right_e, symbols, ev, depth)
                if not _sized(left) or not _sized(right):
                    return None
                out = conj(out, _compare(op, left, right))
                left = right
            return out
        case s.BinOp() if e.op in _ARITH:
            links = [e]  # NOTE: `H + 1 + ... + 1` nests to the left: a loop, not recursion
            while isinstance(links[-1].left, s.BinOp) and links[-1].left.op in _ARITH:
                links.append(links[-1].left)
            a = translate(links[-1].left, symbols, ev, depth)
            for link in reversed(links):
                b = translate(link.right, symbols, ev, depth)
                if not _sized(a) or not _sized(b) or (link.op in ("//", "%")
                                                      and not isinstance(b, int)):
                    return None
                if link.op in ("//", "%") and b == 0:
                    raise Fault("E212", "division by zero", link.right.span)
                a = _ARITH[link.op](a, b)
            return a
        case s.BoolOp():
            chain = [e]  # NOTE: `a and b and ... and z` nests to the left, as a BinOp chain
            while isinstance(chain[-1].left, s.BoolOp):
                chain.append(chain[-1].left)
            chain.reverse()
            parts = [translate(chain[0].left, symbols, ev, depth),
                     *(translate(b.right, symbols, ev, depth) for b in chain)]
            if any(not isinstance(p, (bool, Cond)) for p in parts):
                return None
            cond = parts[0]
            for b, p in zip(chain, parts[1:]):
                cond = conj(cond, p) if b.op == "and" else disj(cond, p)
            return cond
        case s.Unary() if e.op == "-":
            p = translate(e.operand, symbols, ev, depth)
            return -p if _sized(p) else None
        case s.Unary() if e.op == "not":
            p = translate(e.operand, symbols, ev, depth)
            return None if not isinstance(p, (bool, Cond)) else (~p if isinstance(p, Cond)
                                                                  else not p)
    return ev(e)


_ARITH: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b}


def _sized(v: Any) -> bool:
    from netdsl.symbolic import Expr
    return isinstance(v, Expr) or (isinstance(v, int) and not isinstance(v, bool))


def _compare(op: str, a: Any, b: Any) -> Any:
    from netdsl.symbolic import Cond, Lit
    if isinstance(a, int) and isinstance(b, int):
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]
    d = a - b
    if op in ("==", "!="):
        eq = Lit.make("eq", d)
        return eq if op == "==" else (~eq if isinstance(eq, Cond) else not eq)
    return {">=": Lit.make("ge", d), ">": Lit.make("ge", d - 1),
            "<=": Lit.make("ge", -d), "<": Lit.make("ge", -d - 1)}[op]


def where_hint(net: s.Network | s.NetworkAlias, use: Span) -> str:
    """Where an undefined name is used in an input's `where` condition: its named sizes."""
    for st in net.body if isinstance(net, s.Network) else ():
        if isinstance(st, s.Input) and any(e.span.start <= use.start < e.span.end
                                           for e in st.where):
            names = [d.id for d in st.dims.items[2:] if isinstance(d, s.Name)]
            return f"a `where` condition compares the input's named sizes: {', '.join(names)}"
    return ""
