"""The graph IR that elaboration builds and every later stage reads: a Node is one use of an op;
Graph keeps them in a networkx graph, the one store of the network's structure. The only module
that imports networkx."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any, ClassVar

from netdsl.ops.base import Op, Shape
from netdsl.record import MutableRecord, record
from netdsl.source import Source, Span

if TYPE_CHECKING:  # NOTE: the elaborator makes them, from a source's `expect` lines only
    from netdsl.expectations import Example, Expectation


@record
class InputOp(Op):
    """A graph input; not callable from .net (declared with `input NAME: [dims]`)."""

    name: ClassVar[str] = "input"
    mac_rule: ClassVar[str] = "0: no computation"
    shape: tuple[Any, ...] = ()

    def output_shape(self, *xs: Shape) -> Shape:
        return self.shape


@record(frozen=False)
class Node(MutableRecord):
    """One use of an op. Its inputs are edges of the Graph (Graph.inputs_of), not a field."""

    name: str  # hierarchical layer name, also the name of the value it defines
    op: Op
    span: Span  # the whole call in the source
    arg_spans: dict[str, Span] = field(default_factory=dict)  # "x0", "kernel", ...: carets
    shape: Shape | None = None
    trace: tuple[Span, ...] = ()  # the block calls that led here, outermost first


class Graph:
    """A network's layers. A networkx MultiDiGraph keyed by node name holds the structure: each
    graph node carries its Node (op, shape, span, ...) as `node`, each edge producer -> consumer
    passes the producer's tensor and is keyed by its index among the consumer's inputs. (A
    multigraph, since `add(x, x)` reads one tensor twice.) Nodes are added in elaboration order,
    which is a topological order, and nodes() gives them back in that order."""

    def __init__(self, name: str, source: Source, params: dict[str, Any]):
        self.name = name
        self.source = source
        self.params = params  # the network's parameters as elaborated (defaults + overrides)
        self.options: dict[str, Any] = {}
        self.outputs: dict[str, str] = {}  # output name -> node name
        self.expectations: list[Expectation] = []
        self.scopes: set[str] = set()  # names taken by block instances (prefixes)
        self.moved: dict[str, str] = {}  # `x_1`: `x`, a name that moved on because it was taken
        # named input sizes (issue 16): the binding this graph was built at, each input's dims as
        # declared (names kept), and the inputs' `where` conditions (symbolic.Cond, with spans)
        self.sizes: dict[str, int] = {}
        self.declared: dict[str, tuple[Any, ...]] = {}
        self.conditions: list[tuple[Any, Span]] = []
        self.examples: list[Example] = []  # at other sizes: pipeline.py checks them after
        self.reads: list[tuple[str, str]] = []  # the tensor attributes it read: (node, `height`)
        self._g = _nx().MultiDiGraph()
        self._sorted: list[str] | None = None  # nodes() order, until the next add
        self._prefixes: set[str] = set()  # "layer1", "layer1.0" for a node "layer1.0.conv1"

    def add(self, node: Node, inputs: Sequence[str]) -> Node:
        """Add `node`, reading the values of the nodes named in `inputs`, in argument order."""
        g, name = self._g, node.name
        assert name not in g._node, f"node {name} added twice"
        assert all(map(g._node.__contains__, inputs)), f"{name} reads an unknown node: {inputs}"
        g.add_node(name, node=node)
        for i, src in enumerate(inputs):
            g.add_edge(src, name, i)  # NOTE: keyed by its index; no attributes to store
        self._sorted = None
        dot = name.rfind(".")
        while dot > 0 and name[:dot] not in self._prefixes:
            self._prefixes.add(name[:dot])
            dot = name.rfind(".", 0, dot)
        return node

    def taken(self, name: str) -> bool:
        """Whether a new layer may not be called `name`: a layer, an output, a block instance or
        a group of layers (`layer1` while `layer1.0.conv1` exists) already has it. PyTorch has
        the same rule: a module is a leaf with parameters or a container, never both."""
        return (name in self._g._node or name in self.scopes or name in self._prefixes
                or name in self.outputs)

    def __contains__(self, name: str) -> bool:
        return name in self._g

    def __len__(self) -> int:
        return len(self._g._node)  # NOTE: as node(): asked once per node added (MAX_NODES)

    def node(self, name: str) -> Node:
        return self._g._node[name]["node"]  # type: ignore[no-any-return]  # NOTE: as inputs_of

    def nodes(self) -> Iterator[Node]:
        """Every node, producers before consumers, in the order the source defines them."""
        data = self._g._node  # NOTE: as node(), without a call per node
        return (data[name]["node"] for name in self._names())

    def _names(self) -> list[str]:
        # NOTE: Graph.add takes a node only after its inputs, so the order added (networkx keeps
        # it) is a topological order, the source's: ONNX files and diagnostics are stable. (It is
        # the lexicographical topological sort keyed by that order, without sorting.)
        if self._sorted is None:
            self._sorted = list(self._g)
        return self._sorted

    def inputs_of(self, node: Node | str) -> tuple[str, ...]:
        """The names of the nodes `node` takes as inputs, in argument order (Graph.add)."""
        # NOTE: read from networkx's predecessor dicts ({producer: {key: data}}), as its own
        # algorithms do: the views (in_edges, pred) cost 5-20x more, and analysis asks per node
        pred = self._g._pred[node if isinstance(node, str) else node.name]
        if len(pred) == 1:  # one producer: no ordering to do
            ((src, edges),) = pred.items()
            if len(edges) == 1:
                return (src,)
        return tuple(src for _, src in sorted((i, src) for src, edges in pred.items()
                                              for i in edges))

    def producers(self, node: Node | str) -> list[Node]:
        """The nodes `node` reads, in argument order (one per input)."""
        return [self.node(i) for i in self.inputs_of(node)]

    def value_inputs_of(self, node: Node | str,
                        inputs: Sequence[str] | None = None) -> tuple[str, ...]:
        """The inputs whose values `node` reads (Op.value_inputs): not those, like a `like:`
        tensor, that give it only their shape. `inputs`: its inputs_of, where known already."""
        n = node if isinstance(node, Node) else self.node(node)
        ins = self.inputs_of(n) if inputs is None else tuple(inputs)
        reads = n.op.value_inputs(len(ins))
        return ins if reads == range(len(ins)) else tuple(ins[i] for i in reads)

    @property
    def inputs(self) -> list[Node]:
        """The network's inputs (InputOp nodes), in order."""
        return [n for n in self.nodes() if isinstance(n.op, InputOp)]

    def ancestors(self, name: str) -> set[str]:
        """Every node that `name` depends on, directly or through others (not `name` itself)."""
        return set(_nx().ancestors(self._g, name))

    def descendants(self, name: str) -> set[str]:
        """Every node that depends on `name`, directly or through others (not `name` itself)."""
        return set(_nx().descendants(self._g, name))

    def between(self, start: str, end: str) -> list[str]:
        """The nodes on some path from `start` to `end`, both included, in nodes() order; empty
        when `end` does not depend on `start`. (`start == end` gives just that node.)"""
        upstream = self.ancestors(end) | {end}
        if start not in upstream:
            return []
        inside = upstream & (self.descendants(start) | {start})
        return [n for n in self._names() if n in inside]

    def lifetimes(self, reads: Mapping[str, Sequence[str]] | None = None
                  ) -> dict[str, tuple[int, int]]:
        """Each value's live range, as positions in nodes(): from its producer to the last node
        that reads its values (value_inputs_of), or to len(self) for an output, which lives to
        the end. A value nobody reads dies where it is made. `reads`: every node's
        value_inputs_of by name, where known already."""
        at = {name: i for i, name in enumerate(self._names())}
        end = dict(at)
        for name, i in at.items():  # NOTE: in order: a later reader always ends it later
            for src in self.value_inputs_of(name) if reads is None else reads[name]:
                end[src] = i
        for out in self.outputs.values():
            end[out] = len(at)
        return {name: (i, end[name]) for name, i in at.items()}


def _nx() -> Any:
    # NOTE: imported on first use, not with the module: networkx costs ~70 ms of import time,
    # which `netdsl list`, `--version` and files with syntax errors need not pay.
    import networkx
    return networkx
