"""Symbolic shapes (issue 16): a graph built at one binding of its inputs' named sizes → every
value's shape as expressions in those sizes, the conditions each layer puts on them, the layer
that pins the network to one size (if any), and the exact valid set of each size.

Each op's vectorised `size_rule` (the rule `netdsl sizes` sweeps with numpy arrays) runs here on
symbolic.Expr sizes instead: comparisons there become Conds, the masks the conditions. So the
rules live in one place per op. As for the sweep, the graph's structure is the one built at the
binding (a condition on `x.height` is read there)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any, cast

from netdsl.ir import Graph, InputOp, Node
from netdsl.record import MutableRecord, Record, record
from netdsl.solve import ValidSet, solve
from netdsl.source import Span
from netdsl.symbolic import Cond, Expr, Floor, Junction, Lit, Undecided, render, truth
from netdsl.valueops import attribute
from netdsl.values import Fault, Tensor

SymDim = int | str | Expr  # a size, the batch name ("N"), or an expression in named sizes


@record
class Condition(Record):
    """What a layer needs of the sizes (`H divisible by 2`), where."""

    cond: Cond | bool
    node: str
    span: Span

    def __str__(self) -> str:
        text = "no input size" if self.cond is False else str(self.cond)
        return f"{text} at {self.node}"


@record
class Pin(Record):
    """The first layer that needs a fixed size: the network is not size-independent."""

    node: str
    span: Span
    reason: str

    def __str__(self) -> str:
        return f"layer {self.node} ({self.span.where()}) {self.reason}"


@record(frozen=False, slots=False)
class Symbolic(MutableRecord):
    """A network's shapes over its named input sizes. `shapes[name]`: every value's shape,
    (int | "N" | Expr) per axis (absent past a pin that stops the derivation); `str(Expr)` is a
    plain formula (an ONNX dim_param); `text(dim)` writes divisions the valid set makes exact
    as fractions (`H/2 - 2`)."""

    graph: Graph
    symbols: tuple[str, ...]
    shapes: dict[str, tuple[SymDim, ...]] = field(default_factory=dict)
    conditions: list[Condition] = field(default_factory=list)
    pin: Pin | None = None
    stopped: bool = False  # the pin stopped the derivation: shapes past it are unknown
    valid: list[ValidSet | None] = field(default_factory=list)  # one per group of equal sizes
    groups: list[tuple[str, ...]] = field(default_factory=list)
    cross: list[Condition] = field(default_factory=list)  # across groups: not in `valid`

    def valid_set(self, symbol: str) -> ValidSet | None:
        return next(v for g, v in zip(self.groups, self.valid) if symbol in g)

    def at(self, sizes: Mapping[str, int]) -> dict[str, tuple[int | str, ...]]:
        """Every value's shape at one binding of the sizes."""
        return {n: tuple(d.evaluate(sizes) if isinstance(d, Expr) else d for d in shape)
                for n, shape in self.shapes.items()}

    def shape_at(self, node: str | None, sizes: Mapping[str, int]) -> tuple[int | str, ...] | None:
        """A value's shape at one binding of the sizes; None where the formulas do not give it:
        past a pin that stopped them, or at sizes that break a condition (no node: None)."""
        if node is None or node not in self.shapes or not self.holds(sizes):
            return None
        return tuple(d.evaluate(sizes) if isinstance(d, Expr) else d for d in self.shapes[node])

    def read_sizes(self, reads: Sequence[tuple[str, str]]) -> bool:
        """Whether the build read a tensor attribute that depends on the sizes (graph.reads:
        `x.height`, a flatten's channels): then its layers may differ at other sizes, and the
        formulas, read off the built layers, hold at the built sizes alone."""
        for node, name in reads:
            shape = self.shapes.get(node)
            if shape is None:
                return True
            try:  # NOTE: what the build read, from the formulas' shape: valueops.attribute's axes
                read = attribute(Tensor(node, cast(Any, shape)), name, Span(0, 0))
            except Fault:  # NOTE: none at this rank: the build reported it
                continue
            if any(isinstance(d, Expr) for d in (read if isinstance(read, list) else [read])):
                return True
        return False

    def holds(self, sizes: Mapping[str, int]) -> bool:
        """Whether the sizes pass every condition (the valid sets, and the cross ones)."""
        return all(c.cond is True or (c.cond is not False and c.cond.evaluate(sizes))
                   for c in self.conditions)

    def text(self, d: SymDim) -> str:
        return render(d, self._exact) if isinstance(d, Expr) else str(d)

    def json(self, v: Any) -> Any:
        """For JSON: a number (or "N") as it is, an expression as its text, None as it is."""
        return self.text(v) if isinstance(v, Expr) else v

    def shape_text(self, shape: tuple[SymDim, ...]) -> str:
        return "[" + ", ".join(self.text(d) for d in shape) + "]"

    def _exact(self, f: Floor) -> bool:
        syms = f.symbols()
        if len(syms) != 1:
            return False
        (sym,) = syms
        vs = self.valid_set(sym) if sym in self.symbols else None
        if vs is None or not vs.progressions:
            return False
        group = next(g for g in self.groups if sym in g)
        return all(f.num.evaluate(dict.fromkeys(group, n)) % f.den == 0
                   for p in vs.progressions for n in _samples(p.first, p.step))


def sizes_json(sym: Symbolic) -> dict[str, Any]:
    """The named sizes for JSON (`check` and `summary --format json`; docs/errors.md): the
    binding the numbers are at, each group of equal sizes' valid set (progressions [first, step],
    step 0 for one size; null where it is not solved exactly), the conditions across groups, the
    outputs' shapes as formulas (strings; ints where fixed) and the pin. Past a pin that stopped
    the derivation the conditions are unknown: no valid sets, no conditions."""
    known = not sym.stopped
    return {
        "sizes": dict(sym.graph.sizes),
        "valid": [{"symbols": list(g), "text": None if vs is None else str(vs),
                   "progressions": None if vs is None
                   else [[p.first, p.step] for p in vs.progressions]}
                  for g, vs in zip(sym.groups, sym.valid) if known],
        "conditions": [str(c) for c in sym.cross if known],
        "output_formulas": {out: [sym.json(d) for d in sym.shapes[node]]
                            for out, node in sym.graph.outputs.items() if node in sym.shapes},
        "pin": None if sym.pin is None else str(sym.pin)}


def _samples(first: int, step: int) -> list[int]:
    return [first] if step == 0 else [first + step * j for j in range(64)]


def derive(graph: Graph) -> Symbolic:
    """The symbolic shapes, conditions, pin and valid sets of a graph with named input sizes
    (graph.declared); a graph without any has every shape concrete and no conditions."""
    symbols = tuple(dict.fromkeys(d for dims in graph.declared.values() for d in dims[2:]
                                  if isinstance(d, str)))
    out = Symbolic(graph, symbols)
    out.conditions = [Condition(part, "the input", sp) for c, sp in graph.conditions
                      for part in _parts(c)]
    dims: dict[str, tuple[Any, ...]] = {}
    read = {n: [a for r, a in graph.reads if r == n] for n, _ in graph.reads}
    for node in graph.nodes():
        dims[node.name] = _dims(graph, node, dims, out)
        if out.stopped:  # NOTE: at this node (no size rule): its shape is no formula either
            break
        out.shapes[node.name] = ((node.shape or ("N",))[0], *dims[node.name])
        if node.name in read and out.read_sizes([(node.name, a) for a in read[node.name]]):
            # NOTE: the layers built from what was read (`conv(x.height // 4, 3)`) are those
            # of the built sizes: formulas past here would be wrong at other sizes
            names = ", ".join(f"`{a}`" for a in dict.fromkeys(read[node.name]))
            _pin(out, node, f"has its {names} read by the build, so the layers after it are "
                 "those of the built sizes", stop=True)
            break
    _solve(out)
    return out


def _dims(graph: Graph, node: Node, dims: dict[str, tuple[Any, ...]],
          out: Symbolic) -> tuple[Any, ...]:
    shape = node.shape or ()
    if isinstance(node.op, InputOp):
        declared = graph.declared.get(node.name, shape)
        return tuple(Expr.symbol(d) if i >= 2 and isinstance(d, str) else shape[i]
                     for i, d in enumerate(declared) if i >= 1)
    ins = graph.inputs_of(node)
    if not ins or not any(isinstance(v, Expr) for i in ins for v in dims[i]):
        return tuple(shape[1:])
    given = [dims[i] for i in ins]
    try:
        size, mask = node.op.size_rule(given, [graph.node(i).shape or () for i in ins])
        size = tuple(_plain(v) for v in size)
        cond = truth(mask)
    except (Undecided, TypeError, AttributeError, ValueError, ZeroDivisionError) as e:
        reason = str(e) if isinstance(e, Undecided) else "has no symbolic size rule"
        _pin(out, node, f"needs fixed input sizes: `{node.op.name}` {reason}", stop=True)
        return ()
    if _weights_pin(graph, node, given, out):
        return size  # its weights fix the size: its own condition is that pin
    for part in _parts(cond):
        if part is not True:
            out.conditions.append(Condition(part, node.name, node.span))
    return size


def _parts(cond: Any) -> tuple[Any, ...]:
    """The parts of a conjunction (`H == W == 8` is `H == W and W == 8`: each part may group or
    solve sizes on its own), else the condition alone."""
    return cond.parts if isinstance(cond, Junction) and cond.op == "and" else (cond,)


def _plain(v: Any) -> Any:
    if isinstance(v, Expr):
        c = v.const()
        return v if c is None else c
    return int(v)


def _weights_pin(graph: Graph, node: Node, given: list[tuple[Any, ...]], out: Symbolic) -> bool:
    """Whether the node's parameters depend on the sizes (flatten -> dense): it pins. Its
    inputs' channels (or features) stay symbolic, their spatial sizes are the built ones (a
    conv's `same` padding reads them, its weights do not)."""
    shapes = [("N", d[0], *(graph.node(i).shape or ())[2:]) for d, i in
              zip(given, graph.inputs_of(node))]
    sized: list[Expr] = []
    try:
        params: dict[str, Any] = node.op.param_shapes(*shapes)
        sized = [d for p in params.values() for d in p if isinstance(d, Expr)]
    except Undecided:
        sized = [d[0] for d in given if isinstance(d[0], Expr)]
    if not sized:
        return False
    names = sorted({s for d in sized for s in d.symbols()})
    _pin(out, node, f"needs a fixed {'·'.join(names)} for its weights", stop=False)
    return True


def _pin(out: Symbolic, node: Node, reason: str, stop: bool) -> None:
    if out.pin is None:
        out.pin = Pin(node.name, node.span, f"is not size-independent: it {reason}")
    out.stopped = out.stopped or stop


def _solve(out: Symbolic) -> None:
    """Group sizes that a condition makes equal (`H == W`), and solve each group exactly."""
    parent = {s: s for s in out.symbols}

    def find(s: str) -> str:
        while parent[s] != s:
            s = parent[s]
        return s

    for c in out.conditions:
        if isinstance(c.cond, Lit) and c.cond.kind == "eq":
            terms = c.cond.expr.coeffs()
            syms = [m[0] for m in terms if len(m) == 1 and isinstance(m[0], str)]
            if len(terms) == 2 and len(syms) == 2 and sum(terms.values()) == 0:
                parent[find(syms[0])] = find(syms[1])
    groups: dict[str, list[str]] = {}
    for s in out.symbols:
        groups.setdefault(find(s), []).append(s)
    out.groups = [tuple(g) for g in groups.values()]
    for g in out.groups:
        mine = [c for c in out.conditions if isinstance(c.cond, Cond)
                and c.cond.symbols() <= set(g)]
        if any(c.cond is False for c in out.conditions):
            out.valid.append(ValidSet(g, ()))
        else:
            out.valid.append(solve([c.cond for c in mine if isinstance(c.cond, Cond)], g))
    out.cross = [c for c in out.conditions if isinstance(c.cond, Cond) and not any(
        c.cond.symbols() <= set(g) for g in out.groups)]


# ------------------------------------------------------------------------------- costs (summary)

def macs(sym: Symbolic) -> dict[str, int | Expr | None]:
    """Each layer's MACs as a formula in the named sizes: its op's mac_terms on the symbolic
    shapes (ops.base.dim_value keeps them Exprs; `same` padding and adaptive pools' windows
    stay formulas). None where that is not a formula (an op that needs the sizes as numbers) or
    the derivation stopped at a pin."""
    out: dict[str, int | Expr | None] = {}
    for node in sym.graph.nodes():
        ins = sym.graph.inputs_of(node)
        if node.name not in sym.shapes or any(i not in sym.shapes for i in ins):
            out[node.name] = None
            continue
        shapes: list[Any] = [sym.shapes[node.name], *(sym.shapes[i] for i in ins)]
        try:
            out[node.name] = _plain(node.op.mac_count(*shapes)) if ins else 0
        except (Undecided, TypeError, AttributeError, ValueError, ZeroDivisionError):
            out[node.name] = None
    return out


def activation_bytes(sym: Symbolic, concrete: Mapping[str, int]) -> dict[str, int | Expr] | None:
    """Each value's bytes at batch 1 as a formula: the concrete bytes (analysis.py, at the
    binding) per element, times the symbolic element count. None past a pin that stopped."""
    out: dict[str, int | Expr] = {}
    for node in sym.graph.nodes():
        if node.name not in sym.shapes:
            return None
        shape, built = sym.shapes[node.name], node.shape or ()
        elements = math.prod(int(d) for d in built[1:])
        per = concrete[node.name] // elements if elements else 0
        out[node.name] = _plain(per * math.prod(
            (d if isinstance(d, Expr) else int(d) for d in shape[1:]), start=1))
    return out


def leaders(sym: Symbolic, curve: Sequence[int | Expr]) -> list[int | Expr]:
    """The steps of a live-bytes curve (analysis.live_curve over activation_bytes) whose
    polynomial is the largest somewhere on a grid of valid sizes (the smallest ones, the
    binding, and ever larger ones up to 1024 times it; each group of sizes on its own). The
    peak is their max there; the first one leads for large sizes (one: the peak itself).
    Found by probing, not proven: a step leading only between the probes would be missed."""
    distinct = list({str(c): c for c in curve}.values())
    found: list[int | Expr] = []
    for env in _probes(sym):
        best = max(distinct, key=lambda c: c.evaluate(env) if isinstance(c, Expr) else c)
        if not any(str(best) == str(f) for f in found):
            found.append(best)
    return found


def _probes(sym: Symbolic) -> list[dict[str, int]]:
    """Every combination of each group's probe sizes, the largest first."""
    axes = []
    for g, vs in zip(sym.groups, sym.valid):
        base = sym.graph.sizes.get(g[0], 1)
        solved = vs is not None and bool(vs.progressions)

        def near(n: int, vs: ValidSet | None = vs, solved: bool = solved) -> list[int]:
            return vs.members(1, n) if vs is not None and solved else [n]
        sizes = {base, *(vs.members(4) if vs is not None and solved else range(1, 5))}
        sizes |= {m for k in range(-3, 11) for m in near(max(1, int(base * 2.0 ** k)))}
        axes.append([(g, n) for n in sorted(sizes, reverse=True)])
    return [{s: n for g, n in combo for s in g} for combo in itertools.product(*axes)]
