"""Elaboration's bookkeeping: a Frame (the scope that a block instance or the network runs in),
the size limits (MAX_REPEAT, which `range` obeys too, lives in values.py), the Budget that
enforces the depth and step limits, and the control-flow exceptions (`return`, too deep, too
long)."""

from __future__ import annotations

from dataclasses import field

from netdsl.record import MutableRecord, record
from netdsl.source import Span
from netdsl.values import Value

MAX_NODES = 100_000  # a graph larger than this is a mistake (an enormous repeat count)
MAX_DEPTH = 150  # nested expressions, statements and block calls; keeps clear of Python's stack
MAX_STEPS = 200_000  # statements run in all (loops in loops): checking stays within seconds
OPTIONS = {"floor": "bool", "init": "str"}  # `option NAME: value` and the type it takes


@record(frozen=False, slots=False)
class Frame(MutableRecord):
    """Where elaboration stands: the names in scope, the layer-name prefix, the block calls
    and loops that led here."""

    prefix: str  # "layer1.0." inside a block instance, "" at network level
    env: dict[str, Value]
    trace: tuple[Span, ...] = ()  # the block calls that led here, outermost first
    blocks: tuple[str, ...] = ()  # active block names, for recursion errors
    owner: str | None = None  # `y` while the operands of `y = a + b`, `y = f(...)` are evaluated
    loops: tuple[str, ...] = ()  # the variables of the `for` loops running here, outermost first
    failed: bool = False  # something failed here (a block's caller learns it)
    chains: dict[str, tuple[str, int, Value]] = field(default_factory=dict)  # name: base, next, end


class Budget:
    """Nesting depth (expressions, statements and block calls together) and statements run."""

    def __init__(self) -> None:
        self.depth = 0
        self.steps = 0

    def enter(self, span: Span, statement: bool = False) -> None:
        """Go one level deeper; raises TooDeep or TooLong. Pair with leave() in `finally`."""
        self.depth += 1
        if statement:
            self.steps += 1
        if self.depth > MAX_DEPTH:
            raise TooDeep(span)
        if statement and self.steps > MAX_STEPS:
            raise TooLong(span)

    def leave(self) -> None:
        self.depth -= 1


class Return(Exception):
    """`return VALUE` leaving a block's body (or a network's)."""

    def __init__(self, value: Value):
        self.value = value


class TooDeep(Exception):
    def __init__(self, span: Span):
        self.span = span


class TooLong(TooDeep):
    pass
