"""Shape annotations and expectations, run in a Frame: `NAME: [dims]` and `expect NAME: [dims]`
→ E304/E305 where the value is in scope; an example at other sizes, an `expect` line about a layer
or a block, and an `expect` expression → kept on the graph, checked after analysis. Part of the
graph builder: statements.py runs the statements and hands these lines here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdsl import syntax as s
from netdsl.diagnostics import did_you_mean
from netdsl.elaborator.evaluator import Evaluator
from netdsl.elaborator.naming import Naming
from netdsl.elaborator.report import Reporter, block_notes
from netdsl.elaborator.scope import Frame
from netdsl.ops.base import fmt_shape
from netdsl.values import POISON, Poison, Tensor, kind

if TYPE_CHECKING:
    from netdsl.elaborator.expect import Evaluate


class ShapeChecks:
    def __init__(self, ev: Evaluator, naming: Naming, report: Reporter, evaluate: Evaluate):
        self.ev = ev
        self.naming = naming
        self._err = report.err
        self._evaluate = evaluate  # a part of an `expect` line, as in a file of its own
        self.sizes: dict[str, int] = {}  # the named input sizes' binding (Builder._sizes)
        self.keep_examples = False  # the sizes are the first example's: keep the others

    def at_here(self, st: s.ExpectShape, frame: Frame) -> bool:
        """Whether an example's `at` binding is the one this build uses."""
        return all(self.ev.eval(e, frame) == self.sizes.get(n.id) for n, e in st.at)

    def example(self, st: s.ExpectShape, frame: Frame) -> None:
        """An example at other sizes, kept on the graph for pipeline.py to check where this build
        is at the network's own sizes (its first example's); a build at sizes given from outside
        (--set, an alias) checks the examples at those alone."""
        if not st.layer and frame.env.get(st.name.id) is POISON:
            return  # NOTE: its tensor failed, reported where (an input's channel axis `[N, L]`)
        for n, _ in st.at:  # NOTE: a network's own examples are checked before its build
            if n.id not in self.sizes:
                self._err("E219", f"`at` binds `{n.id}`, which is no named input size of the "
                          "network", n.span, frame=frame, hints=[did_you_mean(
                              n.id, self.sizes, f"its sizes: {', '.join(self.sizes)}"
                              if self.sizes else "its inputs have no named sizes")])
                return
        if not self.keep_examples:
            return
        at: dict[str, int] = {}
        for n, e in st.at:
            v = self.ev.eval(e, frame)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                if v is not POISON:
                    self._err("E219", f"`{n.id}` is bound to {kind(v)}, not a positive size",
                              e.span, frame=frame)
                return
            at[n.id] = v
        want = self._dims(st.dims, frame, at)
        if want is POISON:
            return
        assert isinstance(want, tuple) and self.naming.graph is not None
        from netdsl.expectations import Example
        value = None if st.layer else frame.env.get(st.name.id)
        node = value.node if isinstance(value, Tensor) else None
        self.naming.graph.examples.append(Example(node, want, at, st.span))

    def _dims(self, dims: s.ListExpr, frame: Frame,
              at: dict[str, int]) -> tuple[int | str, ...] | Poison:
        """An expected shape, its named sizes read at an example's sizes `at`: `[N, 3, H, W] at
        H = 9, W = 8` is [N, 3, 9, 8]."""
        if not at:
            return self.ev.shape_literal(dims, frame)
        scratch = Frame(frame.prefix, {**frame.env, **at}, frame.trace, frame.blocks)
        want = self.ev.shape_literal(dims, scratch)
        frame.failed = frame.failed or scratch.failed
        return want

    def check_shape(self, name: s.Name, dims: s.ListExpr, frame: Frame, code: str,
                     what: str, at: dict[str, int] | None = None) -> None:
        value = self.ev.lookup(name, frame)
        if value is POISON:
            return
        if not isinstance(value, Tensor):
            self._err("E212", f"`{name.id}` is {kind(value)}, not a tensor", name.span,
                      frame=frame)
            return
        want = self._dims(dims, frame, at or {})
        if want is POISON:
            return
        assert isinstance(want, tuple)
        if tuple(want) != tuple(value.shape):
            sizes = [d for d in want if isinstance(d, str) and d in self.sizes]
            bound = ", ".join(f"{d} = {self.sizes[d]}" for d in self.sizes)
            self._err(code, f"`{name.id}` has shape {fmt_shape(value.shape)}, but the {what} "
                      f"says {fmt_shape(want)}", dims.span, f"actual {fmt_shape(value.shape)}",
                      frame=frame, secondary=[(self.naming.node_span(value), "made here")],
                      hints=[f"{' and '.join(f'`{d}`' for d in sizes)} name input sizes, which "
                             f"this build binds to numbers: state the shape at sizes, as in "
                             f"`expect {name.id}: {dims.span.text()} at {bound}`"
                             if sizes else ""])

    # NOTE: expect.py (and expectations.py, 17 classes: ~2 ms at a cold start) is imported by
    # the first `expect` line met, not with this module: a source without one never loads it

    def expect_expr(self, st: s.ExpectExpr | s.ExpectApprox, frame: Frame) -> None:
        from netdsl.elaborator.expect import compile_approx, compile_expectation
        assert self.naming.graph is not None
        args = (frame.env, self._evaluate, frame.prefix, block_notes(frame))
        self.naming.graph.expectations.append(
            compile_approx(st, *args) if isinstance(st, s.ExpectApprox)
            else compile_expectation(st.expr, *args))

    def expect_layer_shape(self, st: s.ExpectShape, frame: Frame) -> None:
        """`expect NAME: [dims]` where NAME is no value in scope: a layer or block, checked
        after analysis (it may be defined further down)."""
        from netdsl.elaborator.expect import layer_shape
        assert self.naming.graph is not None
        want = self._dims(st.dims, frame, {n.id: self.sizes[n.id] for n, _ in st.at})
        if want is POISON:
            return
        assert isinstance(want, tuple)
        self.naming.graph.expectations.append(
            layer_shape(st, want, frame.prefix, block_notes(frame)))
