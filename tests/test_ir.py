"""The graph IR (netdsl/ir.py): nodes in elaboration order, inputs as ordered edges, and the
reachability and liveness queries that analysis and later tools ask of a Graph."""

from __future__ import annotations

import pytest

from conftest import check_text
from netdsl.ir import Graph, InputOp, Node
from netdsl.ops.activation import Relu
from netdsl.ops.tensor import Add
from netdsl.source import Source, Span

SPAN = Span(0, 0)

# two branches from one stem, joined by a concat; `side` is computed but read by nobody
BRANCHES = """
network branches {
  input x: [N, 3, 8, 8]
  stem = x -> stem: conv(4, 3, pad: 1)
  a = stem -> a: conv(4, 1) -> a_act: relu
  b = stem -> b: conv(4, 1)
  side = x -> side: relu
  output y = a -> cat: concat(b) -> head: conv(2, 1)
}
"""


def _tiny() -> Graph:
    """x -> r = relu(x) -> s = add(r, r) -> t = add(s, x), built by hand."""
    g = Graph("tiny", Source("tiny.net", ""), {})
    g.add(Node("x", InputOp(shape=(1, 2)), SPAN, shape=(1, 2)), [])
    g.add(Node("r", Relu(), SPAN, shape=(1, 2)), ["x"])
    g.add(Node("s", Add(), SPAN, shape=(1, 2)), ["r", "r"])
    g.add(Node("t", Add(), SPAN, shape=(1, 2)), ["s", "x"])
    g.outputs["out"] = "t"
    return g


def test_nodes_come_back_in_the_order_they_were_added():
    g = _tiny()
    assert [n.name for n in g.nodes()] == ["x", "r", "s", "t"]
    assert len(g) == 4 and "s" in g and "nope" not in g
    assert [n.name for n in g.inputs] == ["x"]


def test_nodes_follow_the_source_not_the_alphabet():
    graph = check_text(BRANCHES).graph
    assert [n.name for n in graph.nodes()] == [
        "x", "stem", "a", "a_act", "b", "side", "cat", "head"]


def test_adding_a_node_updates_the_order():
    g = _tiny()
    assert [n.name for n in g.nodes()][-1] == "t"  # the order is cached here
    g.add(Node("u", Relu(), SPAN, shape=(1, 2)), ["t"])
    assert [n.name for n in g.nodes()] == ["x", "r", "s", "t", "u"]


def test_inputs_are_ordered_edges_and_may_repeat():
    g = _tiny()
    assert g.inputs_of("s") == ("r", "r")
    assert g.inputs_of(g.node("t")) == ("s", "x")
    assert g.inputs_of("x") == ()
    assert [p.name for p in g.producers("t")] == ["s", "x"]
    # one producer at several places, around another: the argument order, not the producers'
    g.add(Node("u", Add(), SPAN, shape=(1, 2)), ["t", "r", "t", "x", "r"])
    assert g.inputs_of("u") == ("t", "r", "t", "x", "r")


def test_a_node_is_added_once_and_reads_only_known_nodes():
    g = _tiny()
    with pytest.raises(AssertionError, match="added twice"):
        g.add(Node("r", Relu(), SPAN), ["x"])
    with pytest.raises(AssertionError, match="unknown node"):
        g.add(Node("v", Relu(), SPAN), ["later"])


def test_ancestors_and_descendants():
    graph = check_text(BRANCHES).graph
    assert graph.ancestors("head") == {"x", "stem", "a", "a_act", "b", "cat"}
    assert graph.ancestors("x") == set()
    assert graph.descendants("stem") == {"a", "a_act", "b", "cat", "head"}
    assert graph.descendants("x") == {"stem", "a", "a_act", "b", "side", "cat", "head"}
    assert graph.descendants("head") == set()


def test_between_gives_every_node_on_a_path_in_order():
    graph = check_text(BRANCHES).graph
    assert graph.between("stem", "cat") == ["stem", "a", "a_act", "b", "cat"]
    assert graph.between("a", "head") == ["a", "a_act", "cat", "head"]
    assert graph.between("x", "side") == ["x", "side"]
    assert graph.between("b", "b") == ["b"]
    assert graph.between("side", "head") == []  # head does not depend on side
    assert graph.between("head", "stem") == []  # nor the other way round


def test_lifetimes_end_at_the_last_reader_or_at_the_end_for_outputs():
    g = _tiny()
    # x is read last by t (position 3); s by t; t is an output: it lives to len(g)
    assert g.lifetimes() == {"x": (0, 3), "r": (1, 2), "s": (2, 3), "t": (3, 4)}
    graph = check_text(BRANCHES).graph
    life = graph.lifetimes()
    assert life["side"] == (5, 5)  # nobody reads it: it dies where it is made
    assert life["stem"] == (1, 4)  # read last by b
    assert life["head"] == (7, 8)


def test_a_like_input_gives_its_shape_and_does_not_keep_its_tensor_alive():
    graph = check_text("""
network crops {
  input x: [N, 1, 8, 8]
  small = x -> small: conv(1, 3)
  later = x -> later: relu
  output y = crop(later, like: small)
}
""").graph
    crop = graph.node(graph.outputs["y"])
    assert graph.inputs_of(crop) == ("later", "small")
    assert graph.value_inputs_of(crop) == ("later",)
    order = [n.name for n in graph.nodes()]
    assert graph.lifetimes()["small"] == (order.index("small"),) * 2
