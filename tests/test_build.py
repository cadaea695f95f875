"""Elaboration: `use` across files, blocks with several tensors, conditionals on shapes, loops,
network variants and parameters, options; each against a count or shape computed by hand or by
torch."""

from __future__ import annotations

import netdsl
from conftest import check_text, cli, errors_of, net_file, rendered  # noqa: F401  (fixture)
from netdsl.source import Source

LIB = """\
block conv_bn(x, out, stride = 1) {
  return x -> conv(out, 3, stride: stride, pad: 1, bias: false) -> bn -> relu
}
"""


def test_use_is_relative_to_the_using_file(tmp_path, monkeypatch):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "blocks.net").write_text(LIB)
    (tmp_path / "lib" / "stem.net").write_text(
        'use "blocks.net"\nblock stem(x) {\n  return x -> conv_bn(8, stride: 2)\n}\n')
    main = tmp_path / "models" / "main.net"
    main.parent.mkdir()
    main.write_text('use "../lib/stem.net"\nuse "../lib/blocks.net"\nnetwork m {\n'
                    "  input x: [N, 3, 15, 15]\n  x -> s: stem -> c: conv_bn(16) -> output y\n}\n")
    monkeypatch.chdir(tmp_path / "lib")  # the working directory must not matter
    net = netdsl.load(main, root=tmp_path)  # NOTE: ../lib is outside main.net's own folder
    g = net.graph
    # a block that returns a chain numbers it, like torch's nn.Sequential
    assert [n.name for n in g.nodes()] == ["x", "s.conv_bn.0", "s.conv_bn.1", "s.conv_bn.2",
                                           "c.0", "c.1", "c.2"]
    assert g.node("c.2").shape == ("N", 16, 8, 8)
    # 3*3*3*8 + 2*8 (bn weight, bias) + 3*3*8*16 + 2*16
    assert net.stats.params == 216 + 16 + 1152 + 32


def test_import_cycle_is_e210_with_the_chain(tmp_path):
    (tmp_path / "a.net").write_text('use "b.net"\nnetwork a {\n  input x: [N, 3, 8, 8]\n'
                                    "  x -> blk -> output y\n}\n")
    (tmp_path / "b.net").write_text('use "a.net"\nblock blk(x) {\n  return x\n}\n')
    code, _, err = cli("check", str(tmp_path / "a.net"))
    assert code == 1
    assert (f'{tmp_path}/b.net:1:1: error[E210]: `use "a.net"` makes an import cycle: '
            "a.net -> b.net -> a.net") in err


def test_diamond_use_is_fine_but_two_definitions_are_not(tmp_path):
    (tmp_path / "d.net").write_text(LIB)
    (tmp_path / "b.net").write_text('use "d.net"\n')
    (tmp_path / "c.net").write_text('use "d.net"\n')
    (tmp_path / "a.net").write_text('use "b.net"\nuse "c.net"\nnetwork a {\n'
                                    "  input x: [N, 3, 8, 8]\n  x -> conv_bn(4) -> output y\n}\n")
    assert netdsl.load(tmp_path / "a.net").graph.node("conv_bn.0").shape == ("N", 4, 8, 8)
    (tmp_path / "c.net").write_text("block conv_bn(x, out) {\n  return x\n}\n")
    code, _, err = cli("check", str(tmp_path / "a.net"))
    assert code == 1 and "error[E211]: block `conv_bn` is defined in two files" in err
    assert f"::: {tmp_path}/d.net:1:7" in err or f"::: {tmp_path}/c.net:1:7" in err


def test_errors_in_a_used_file_name_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the root of inline text: the current directory
    (tmp_path / "lib.net").write_text("block bad(x) {\n  return x -> conv(4, 3, strid: 1)\n}\n")
    (tmp_path / "m.net").write_text('use "lib.net"\nnetwork m {\n  input x: [N, 3, 8, 8]\n'
                                    "  x -> bad -> output y\n}\n")
    d = errors_of((tmp_path / "m.net").read_text().replace('"lib.net"',
                                                           f'"{tmp_path}/lib.net"'))[0]
    assert d.location() == (f"{tmp_path}/lib.net", 2, 26)
    assert d.notes == ("in block `bad` called at test.net:4:8",)


def test_block_with_two_tensors_and_shape_conditionals():
    g = netdsl.loads("""block merge(a, b) {
  if a.channels == b.channels {
    return a + b
  } elif a.height == b.height {
    return concat(a, b, axis: 1)
  } else {
    return a
  }
}
network n {
  input x: [N, 3, 8, 8]
  p = x -> conv(5, 1)
  q = x -> conv(5, 1)
  r = x -> conv(2, 3)
  merge(p, q) -> output same
  merge(p, x) -> output joined
  merge(p, r) -> output first
}""").graph
    shapes = {o: g.node(n).shape for o, n in g.outputs.items()}
    assert shapes == {"same": ("N", 5, 8, 8), "joined": ("N", 8, 8, 8), "first": ("N", 5, 8, 8)}
    assert g.node(g.outputs["same"]).op.name == "add"


def test_for_loop_builds_layers():
    g = netdsl.loads("""network n(depth = 3) {
  input x: [N, 4, 8, 8]
  for i in range(depth) {
    x = x -> conv(4 * (i + 2), 1)
  }
  x -> output y
}""", params={"depth": 4}).graph
    assert g.node(g.outputs["y"]).shape == ("N", 20, 8, 8)
    assert len([n for n in g.nodes() if n.op.name == "conv"]) == 4


def test_network_variant_and_parameters():
    text = """network mlp(width = 16, depth = 1) {
  input x: [N, 8]
  for i in range(depth) {
    x = x -> dense(width) -> relu
  }
  x -> dense(2) -> output y
}
network deep = mlp(depth: 2)
"""
    assert netdsl.loads(text, "mlp").stats.params == 8 * 16 + 16 + 16 * 2 + 2
    assert netdsl.loads(text, "deep").stats.params == 8 * 16 + 16 + 16 * 16 + 16 + 16 * 2 + 2
    narrow = netdsl.loads(text, "deep", params={"width": 4})
    assert narrow.stats.params == 8 * 4 + 4 + 4 * 4 + 4 + 4 * 2 + 2


def test_option_floor_rounds_down_in_the_whole_network():
    text = ("network n {\n  input x: [N, 1, 7, 7]\n  OPT\n"
            "  x -> conv(1, 3, stride: 3) -> output y\n}\n")
    assert errors_of(text.replace("OPT", ""))[0].code == "E302"
    g = netdsl.loads(text.replace("OPT", "option floor: true")).graph
    assert g.node("conv").shape == ("N", 1, 2, 2)  # floor((7 - 3)/3) + 1, the lecture's rule


def test_an_option_after_a_layer_is_an_error_not_a_change_to_the_rest_of_the_network():
    # it set `floor` for the layers after it alone, `init` for the whole network
    text = ("network n {\n  input x: [N, 1, 7, 7]\n  y = x -> relu\n  option floor: true\n"
            "  y -> conv(1, 3, stride: 3) -> output z\n}\n")
    assert rendered(text) == (
        "test.net:4:3: error[E203]: `option floor` comes after the network's first layer: "
        "an option sets a choice for the whole network\n") + """\
  |
3 |   y = x -> relu
  |            ---- the first layer
4 |   option floor: true
  |   ^^^^^^^^^^^^^^^^^^ after a layer
  |
  = hint: move `option floor: true` to the top of the network's body, before its first layer"""


def test_an_option_after_a_block_call_points_at_the_call():
    text = ("block b(x) {\n  return x -> relu\n}\n"
            "network n {\n  input x: [N, 1, 7, 7]\n  for i in [1] {\n    y = x -> b\n"
            "    option init: \"xavier\"\n  }\n  y -> output z\n}\n")
    (d,) = errors_of(text)
    assert (d.code, d.location()) == ("E203", ("test.net", 8, 5))
    assert [(lb.span.where(), lb.message) for lb in d.labels if not lb.primary] == [
        ("test.net:7:14", "the first layer")]


def test_an_option_in_a_block_is_an_error_not_a_change_to_the_rest_of_the_network():
    # it set `floor` for every layer after the block's first call, outside the block too
    text = ("block b(x) {\n  option floor: true\n  return x -> relu\n}\n"
            "network n {\n  input x: [N, 1, 7, 7]\n  y = x -> b\n"
            "  y -> conv(1, 3, stride: 3) -> output z\n}\n")
    d = errors_of(text)[0]
    assert (d.code, d.message, d.hints) == (
        "E203", "`option` belongs in a network: it sets a choice for the whole network",
        ("write `option floor: ...` at the top of the network's body",))
    assert d.location() == ("test.net", 2, 3)


def test_a_where_condition_s_mistake_is_one_diagnostic():
    text = ("network n {\n  input x: [N, 1, H, W] where COND\n  x -> output y\n"
            "  expect y: [N, 1, 8, 8] at H = 8, W = 8\n}\n")
    # `/` is not among the operations on sizes: not "`H` is not defined" before it
    (d,) = errors_of(text.replace("COND", "H / 2 == 4"))
    assert (d.code, d.message) == ("E219", "a `where` condition of input `x` compares its named "
                                           "sizes (+ - * // % of sizes and integers)")
    (d,) = errors_of(text.replace("COND", "H == Q"))  # the undefined name, and no E219 after it
    assert (d.code, d.message) == ("E201", "`Q` is not defined")


def test_an_example_that_binds_a_size_twice_is_e219():
    # the second binding made the example hold at no build: it was never checked
    text = ("network n {\n  input x: [N, 1, H, W]\n  x -> output y\n"
            "  expect y: [N, 1, 8, 8] at H = 8, W = 8\n"
            "  expect y: [N, 1, 5, 9] at H = 9, W = 9, H = 5\n}\n")
    (d,) = errors_of(text)
    assert (d.code, d.message, d.location()) == ("E219", "`at` binds `H` twice",
                                                 ("test.net", 5, 43))


def test_a_variant_s_argument_of_the_wrong_kind_is_reported_where_it_is_written():
    """It was reported at the parameter, with a hint of `--set c=3`."""
    text = ('network m(c = 3) {\n  input x: [N, c, 8]\n  x -> output y\n}\n'
            'network n = m(c: "a")\n')
    assert rendered(text, "n") == (
        "test.net:5:18: error[E214]: parameter `c` of network `m` takes an integer, not the "
        "string \"a\"\n"
        "  |\n"
        "1 | network m(c = 3) {\n"
        "  |           ----- default 3\n"
        "5 | network n = m(c: \"a\")\n"
        "  |                  ^^^ not an integer\n"
        "  |\n"
        "  = hint: give it like its default, `c: 3`")
    # given from outside, it would be another network under the variant's name (s14): E214
    assert [d.message for d in errors_of(text, "n", c=4)] == [
        "the variant `n` fixes `c` as \"a\": a value given from outside cannot change it"]


def test_a_variant_of_a_variant_says_so():
    text = ("network a(depth = 3, width = 1) {\n  input x: [N, 3, 8, 8]\n  x -> output y\n}\n"
            "network b = a(4)\nnetwork c = b(width: 5)\nnetwork d = d(1)\n")
    (d,) = errors_of(text, "c")  # it said "`b` is not a network defined in this file"
    assert (d.code, d.message, d.hints) == (
        "E213", "`b` is a variant of `a`, and a variant names a network with a body",
        ("write `network c = a(...)` with the arguments of both",))
    (d,) = errors_of(text, "d")
    assert (d.code, d.message) == ("E213", "the variant `d` names itself")
    (d,) = errors_of(text.replace("a(4)", "a(4, 5, 6)"), "b")
    assert d.message == "network `a` takes 2 parameters, 3 given"
    (d,) = errors_of(text.replace("depth = 3, width = 1", "depth = 3").replace("a(4)", "a(4, 5)"),
                     "b")
    assert d.message == "network `a` takes 1 parameter, 2 given"


def test_a_bad_input_size_from_outside_is_named_once():
    text = "network n {\n  input x: [N, 3, H, H]\n  x -> output y\n}\n"
    (d,) = errors_of(text, H=2.5)  # it read "not the number 2.5 2.5", and "... "a" 'a'"
    assert (d.code, d.message) == ("E214", "the input size `H` of network `n` takes a positive "
                                           "integer, not the number 2.5")
    (d,) = errors_of(text, H="a")
    assert d.message.endswith('not the string "a"')


def test_unknown_option_and_bad_value():
    text = "network n {\n  input x: [N, 1, 7, 7]\n  option OPT\n  x -> output y\n}\n"
    d = errors_of(text.replace("OPT", "flor: true"))[0]
    assert (d.code, d.message, d.hints) == ("E203", "unknown option `flor`",
                                            ("did you mean `floor`?",))
    d = errors_of(text.replace("OPT", 'init: "glorot"'))[0]
    assert (d.code, d.message) == ("E206", 'unknown initialisation "glorot"')


def test_prelude_separable_block():
    net = netdsl.loads("network n {\n  input x: [N, 32, 8, 8]\n"
                       "  x -> sep: separable(64, 3) -> output y\n}\n")
    # the lecture's count: 3*3*32 depthwise + 32*64 pointwise, no biases
    assert net.stats.params == 3 * 3 * 32 + 32 * 64
    assert [n.name for n in net.graph.nodes()] == ["x", "sep.depthwise", "sep.pointwise"]


def test_an_unchanged_source_is_parsed_once_and_the_cache_stays_small():
    from netdsl.elaborator import modules
    text = "network n {\n  input x: [N, 3]\n  output y = relu(x)\n}\n"
    first = modules.load_module(Source("cached.net", text))[0]
    assert modules.load_module(Source("cached.net", text))[0] is first
    assert modules.load_module(Source("cached.net", text + "# edited\n"))[0] is not first
    assert modules.load_module(Source("other.net", text))[0] is not first
    for i in range(modules._PARSED_KEPT + 1):
        modules.load_module(Source(f"many{i}.net", text))
    assert len(modules._PARSED) == modules._PARSED_KEPT


def test_checking_leaves_garbage_collection_as_it_was():
    import gc
    check_text("network n {\n  input x: [N, 3]\n  output y = relu(x)\n}\n")
    assert gc.isenabled()
    gc.disable()
    try:
        check_text("network n {\n  input x: [N, 3]\n  output y = relu(x)\n}\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_checked_graph_is_freed_when_dropped_without_a_garbage_collection():
    # NOTE: the builder's parts refer to each other; were the graph in that cycle, every graph
    # built would stay alive until a full collection, which would then scan them all
    import gc
    import weakref
    gc.disable()
    try:
        net = check_text("block b(x) {\n  return x -> relu\n}\nnetwork n {\n  input x: [N, 3]\n"
                         "  expect params == 0\n  output y = x -> b\n}\n")
        graph = weakref.ref(net.graph)
        del net
        assert graph() is None
    finally:
        gc.enable()


def test_equal_layers_on_equal_shapes_get_the_same_answers_as_built_alone():
    # the elaborator and analysis remember an op's shape and costs for its values and input
    # shapes: a repeated layer must get what it would get on its own, and a different one not
    many = check_text("network n {\n  input x: [N, 3, 15, 15]\n"
                      "  y = x -> conv(4, 3, pad: 1) -> conv(4, 3, pad: 1) -> conv(4, 3, stride: 2)"
                      " -> conv(4, 3, pad: 1) -> conv(4, 1)\n  output o = y\n}\n")
    shapes = [n.shape for n in many.graph.nodes()]
    assert shapes == [("N", 3, 15, 15), ("N", 4, 15, 15), ("N", 4, 15, 15), ("N", 4, 7, 7),
                      ("N", 4, 7, 7), ("N", 4, 7, 7)]
    params = [lay.params for lay in many.stats.layers]
    assert params == [0, 3 * 4 * 9 + 4, 4 * 4 * 9 + 4, 4 * 4 * 9 + 4, 4 * 4 * 9 + 4, 4 * 4 + 4]
    rfs = [lay.rf.size for lay in many.stats.layers if lay.rf]
    assert rfs == [(1.0, 1.0), (3.0, 3.0), (5.0, 5.0), (7.0, 7.0), (11.0, 11.0), (11.0, 11.0)]


def test_layers_of_equal_arguments_share_their_op_but_a_fixed_kernel_keeps_its_numbers():
    # NOTE: the elaborator infers a repeated layer once and its nodes share the (frozen) op;
    # a fixed kernel's 1 and 1.0 compare equal, so those ops must stay their own
    g = netdsl.loads("network m {\n  input x: [N, 1, 4, 4]\n"
                     "  y = x -> a: conv(1, 1, bias: false) -> b: conv(1, 1, bias: false)\n"
                     "  z = y -> c: conv(1, 1, weights: [[2]], bias: false)"
                     " -> d: conv(1, 1, weights: [[2.0]], bias: false)\n"
                     "  z -> output out\n}\n", "m").graph
    assert g.node("a").op is g.node("b").op
    assert g.node("c").op == g.node("d").op  # equal as values, yet made apart:
    assert isinstance(g.node("c").op.weights[0][0], int)
    assert isinstance(g.node("d").op.weights[0][0], float)
