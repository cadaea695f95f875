"""The graph IR that elaboration builds and every later stage reads: a Node is one use of an op;
Graph keeps them with their ordered inputs, the one store of the network's structure. (Plain
dicts: the queries are a topological order, which insertion gives, and reachability; networkx
did the same at a quarter of a cold `netdsl check`'s time in imports alone.)"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
    """One use of an op. Its inputs are edges of the Graph (Graph.inputs_of), not a field."""

    name: str  # hierarchical layer name, also the name of the value it defines
    op: Op
    span: Span  # the whole call in the source
    arg_spans: dict[str, Span] = field(default_factory=dict)  # "x0", "kernel", ...: carets
    shape: Shape | None = None
    trace: tuple[Span, ...] = ()  # the block calls that led here, outermost first


class Graph:
    """A network's layers, keyed by name: each Node (op, shape, span, ...) with the names of the
    nodes it reads, in argument order (a name may repeat: `add(x, x)` reads one tensor twice),
    and the nodes that read it. Graph.add accepts a node only after its inputs, so the order in
    which nodes are added, the source's order, is a topological order: nodes() gives them back
    in it, and files and diagnostics follow the source."""

    def __init__(self, name: str, source: Source, params: dict[str, Any]):
        self.name = name
        self.source = source
        self.params = params  # the network's parameters as elaborated (defaults + overrides)
        self.options: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}  # output name -> node name
        self.expectations: list[Expectation] = []
        self.scopes: set[str] = set()  # names taken by block instances (prefixes)
        self.moved: dict[str, str] = {}  # `x_1`: `x`, a name that moved on because it was taken
        self._nodes: dict[str, Node] = {}  # in the order added
        self._inputs: dict[str, tuple[str, ...]] = {}  # node -> the nodes it reads, in order
        self._users: dict[str, list[str]] = {}  # node -> the nodes that read it (once each)
        self._prefixes: set[str] = set()  # "layer1", "layer1.0" for a node "layer1.0.conv1"

    def add(self, node: Node, inputs: Sequence[str]) -> Node:
        """Add `node`, reading the values of the nodes named in `inputs`, in argument order."""
        assert node.name not in self._nodes, f"node {node.name} added twice"
        assert all(i in self._nodes for i in inputs), f"{node.name} reads an unknown node: {inputs}"
        self._nodes[node.name] = node
        self._inputs[node.name] = tuple(inputs)
        self._users[node.name] = []
        for src in dict.fromkeys(inputs):
            self._users[src].append(node.name)
        dot = node.name.rfind(".")
        while dot > 0 and node.name[:dot] not in self._prefixes:
            self._prefixes.add(node.name[:dot])
            dot = node.name.rfind(".", 0, dot)
        return node

    def taken(self, name: str) -> bool:
        """Whether a new layer may not be called `name`: a layer, an output, a block instance or
        a group of layers (`layer1` while `layer1.0.conv1` exists) already has it. PyTorch has
        the same rule: a module is a leaf with parameters or a container, never both."""
        return (name in self._nodes or name in self.scopes or name in self._prefixes
                or name in self.outputs)

    def __contains__(self, name: str) -> bool:
        return name in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, name: str) -> Node:
        return self._nodes[name]

    def nodes(self) -> Iterator[Node]:
        """Every node, producers before consumers, in the order the source defines them."""
        return iter(list(self._nodes.values()))

    def inputs_of(self, node: Node | str) -> tuple[str, ...]:
        """The names of the nodes `node` takes as inputs, in argument order (Graph.add)."""
        return self._inputs[node if isinstance(node, str) else node.name]

    def producers(self, node: Node | str) -> list[Node]:
        """The nodes `node` reads, in argument order (one per input)."""
        return [self._nodes[i] for i in self.inputs_of(node)]

    def value_inputs_of(self, node: Node | str) -> tuple[str, ...]:
        """The inputs whose values `node` reads (Op.value_inputs): not those, like a `like:`
        tensor, that give it only their shape."""
        n = node if isinstance(node, Node) else self._nodes[node]
        ins = self._inputs[n.name]
        return tuple(ins[i] for i in n.op.value_inputs(len(ins)))

    @property
    def inputs(self) -> list[Node]:
        """The network's inputs (InputOp nodes), in order."""
        return [n for n in self._nodes.values() if isinstance(n.op, InputOp)]

    def ancestors(self, name: str) -> set[str]:
        """Every node that `name` depends on, directly or through others (not `name` itself)."""
        return _reach(name, self._inputs)

    def descendants(self, name: str) -> set[str]:
        """Every node that depends on `name`, directly or through others (not `name` itself)."""
        return _reach(name, self._users)

    def between(self, start: str, end: str) -> list[str]:
        """The nodes on some path from `start` to `end`, both included, in nodes() order; empty
        when `end` does not depend on `start`. (`start == end` gives just that node.)"""
        upstream = self.ancestors(end) | {end}
        if start not in upstream:
            return []
        inside = upstream & (self.descendants(start) | {start})
        return [n for n in self._nodes if n in inside]

    def lifetimes(self) -> dict[str, tuple[int, int]]:
        """Each value's live range, as positions in nodes(): from its producer to the last node
        that reads its values (value_inputs_of), or to len(self) for an output, which lives to
        the end. A value nobody reads dies where it is made."""
        at = {name: i for i, name in enumerate(self._nodes)}
        end = dict(at)
        for name, i in at.items():
            for src in self.value_inputs_of(name):
                end[src] = max(end[src], i)
        for out in self.outputs.values():
            end[out] = len(at)
        return {name: (i, end[name]) for name, i in at.items()}


def _reach(start: str, edges: Mapping[str, Sequence[str]]) -> set[str]:
    """The nodes reachable from `start` along `edges` (not `start` itself, as it has no cycle)."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    return seen
