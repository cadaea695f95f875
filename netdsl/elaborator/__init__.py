"""AST → IR: resolve names, run blocks, loops and conditionals, look up ops, validate arguments,
and infer each node's shape as it is made (blocks branch on `x.channels`, so shapes cannot wait).

Every user mistake becomes a Diagnostic; elaboration goes on past it where that is safe (a value
that failed becomes POISON, and anything computed from POISON fails silently), and raises one
NetdslError with everything found at the end.

The stage is a package by concept: modules.py (files and `use`), elaborate.py (networks and
statements), expressions.py, calls.py (pipelines, blocks, ops, names), values.py.
"""
from __future__ import annotations

from netdsl.elaborator.elaborate import build, evaluate
from netdsl.elaborator.modules import Namespace, load_module, read_text
from netdsl.elaborator.values import POISON, Tensor

__all__ = ["POISON", "Namespace", "Tensor", "build", "evaluate", "load_module", "read_text"]
