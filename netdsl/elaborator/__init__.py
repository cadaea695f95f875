"""AST → IR: resolve names, run blocks, loops and conditionals, look up ops, validate arguments,
and infer each node's shape as it is made (blocks branch on `x.channels`, so shapes cannot wait).

Every user mistake becomes a Diagnostic; elaboration goes on past it where that is safe (a value
that failed becomes POISON, and anything computed from POISON fails silently), and raises one
NetdslError with everything found at the end.

The stage is a package by concept, in two parts with a small interface between them:
- the expression evaluator, evaluator.py: values, arithmetic, conditions, tables (no graph);
  what it computes with lives in netdsl/valueops.py, shared with the expectation pass;
- the graph builder, builder.py (networks), statements.py, shapes.py (shape annotations and
  `expect` lines), pipelines.py, calls.py (blocks, operators, builtins), naming.py (layer names,
  outputs); expect.py turns `expect` lines into expectations (netdsl/expectations.py),
  checked after analysis;
- and their common ground: modules.py (files and `use`), scope.py (frames, limits),
  report.py (the diagnostics collected).
"""
from __future__ import annotations

from netdsl.elaborator.builder import UnmetShapes, build
from netdsl.elaborator.modules import Namespace, load_module, read_text
from netdsl.values import POISON, Tensor

__all__ = ["POISON", "Namespace", "Tensor", "UnmetShapes", "build", "load_module", "read_text"]
