"""The graph IR: a Node is one use of an op; Graph wraps a networkx.DiGraph of them.
The only module that imports networkx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from netdsl.expectations import Expectation
from netdsl.ops.base import Op, Shape
from netdsl.source import Source, Span


@dataclass(frozen=True, slots=True)
class InputOp(Op):
    """A graph input; not callable from .net (declared with `input NAME: [dims]`)."""

    name: ClassVar[str] = "input"
    mac_rule: ClassVar[str] = "0: no computation"
    shape: tuple[Any, ...] = ()

    def output_shape(self, *xs: Shape) -> Shape:
        return self.shape


@dataclass(slots=True)
class Node:
    name: str  # hierarchical layer name, also the name of the value it defines
    op: Op
    inputs: tuple[str, ...]  # producer names, in argument order: the single source of edges
    span: Span  # the whole call in the source
    arg_spans: dict[str, Span] = field(default_factory=dict)  # "x0", "kernel", ...: carets
    shape: Shape | None = None
    trace: tuple[Span, ...] = ()  # the block calls that led here, outermost first


class Graph:
    """A network's layers in elaboration order (which is a topological order)."""

    def __init__(self, name: str, source: Source, params: dict[str, Any]):
        self.name = name
        self.source = source
        self.params = params  # the network's parameters as elaborated (defaults + overrides)
        self.options: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}  # output name -> node name
        self.expectations: list[Expectation] = []
        self._g = _nx().DiGraph()
        self._order: list[str] = []
        self.scopes: set[str] = set()  # names taken by block instances (prefixes)
        self._prefixes: set[str] = set()  # "layer1", "layer1.0" for a node "layer1.0.conv1"

    def add(self, node: Node) -> Node:
        assert node.name not in self._g, f"node {node.name} added twice"
        self._g.add_node(node.name, node=node)
        for i, src in enumerate(node.inputs):
            self._g.add_edge(src, node.name, index=i)
        self._order.append(node.name)
        dot = node.name.rfind(".")
        while dot > 0 and node.name[:dot] not in self._prefixes:
            self._prefixes.add(node.name[:dot])
            dot = node.name.rfind(".", 0, dot)
        return node

    def taken(self, name: str) -> bool:
        """Whether a new layer may not be called `name`: a layer, an output, a block instance or
        a group of layers (`layer1` while `layer1.0.conv1` exists) already has it. PyTorch has
        the same rule: a module is a leaf with parameters or a container, never both."""
        return (name in self._g or name in self.scopes or name in self._prefixes
                or name in self.outputs)

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return len(self._order)

    def node(self, name: str) -> Node:
        return self._g.nodes[name]["node"]  # type: ignore[no-any-return]

    def nodes(self) -> Iterator[Node]:
        """Every node, producers before consumers, in the order the source defines them."""
        for name in self._order:
            yield self.node(name)

    def producers(self, node: Node) -> list[Node]:
        return [self.node(n) for n in node.inputs]

    def consumers(self, node: Node) -> list[Node]:
        return [self.node(n) for n in self._g.successors(node.name)]

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes() if isinstance(n.op, InputOp)]

    def is_dag(self) -> bool:
        return bool(_nx().is_directed_acyclic_graph(self._g))

    def ancestors(self, name: str) -> set[str]:
        return set(_nx().ancestors(self._g, name))


def _nx() -> Any:
    # NOTE: imported on first use, not with the module: networkx costs ~70 ms of import time,
    # which `netdsl list`, `--version` and files with syntax errors need not pay.
    import networkx
    return networkx
