"""The ops that split and rearrange tensors (split, chunk, slice, permute, transpose,
channel_shuffle, matmul, maxpool indices and maxunpool) beyond their op_cases rows: calls that
yield several values, their names, what they do to the receptive field, the argument errors
(pinned as rendered) and the ONNX lowering of a max pool's indices."""

from __future__ import annotations

import json

import numpy as np
import pytest

import netdsl
from conftest import check_text, rendered
from netdsl.report import summary


def net(body: str, inp: str = "[N, 8, 6, 6]") -> str:
    return f"network t {{\n  input x: {inp}\n  {body}\n}}\n"


# ------------------------------------------------------------------ calls with several values

def test_split_is_a_list_of_slices_named_after_the_variable():
    stats = check_text(net("parts = x -> split([2, 6])\n  output y = parts[1]")).stats
    rows = [(lay.name, lay.op, lay.shape) for lay in stats.layers[1:]]
    assert rows == [("parts.0", "slice", ("N", 2, 6, 6)), ("parts.1", "slice", ("N", 6, 6, 6))]


def test_unpacking_binds_each_value():
    g = check_text(net("a, b = x -> chunk(2)\n  output y = a\n  output z = b")).graph
    assert g.outputs == {"y": "chunk.0", "z": "chunk.1"}


def test_unpacking_the_wrong_number_is_one_clear_error():
    assert rendered(net("a, b, c = x -> split([2, 6])\n  output y = a")) == """\
test.net:3:13: error[E212]: cannot unpack a list of 2 into 3 names
  |
3 |   a, b, c = x -> split([2, 6])
  |             ^^^^^^^^^^^^^^^^^^
  |
  = hint: `a, b = x -> split([...])` takes a list of exactly as many values"""


def test_maxpool_indices_export_as_the_second_output_of_a_max_pool():
    text = net("p, idx = x -> maxpool(2, indices: true)\n"
               "  output y = p -> relu -> maxunpool(2, indices: idx)\n  output i = idx")
    model = netdsl.compile(netdsl.loads(text))
    pools = [n for n in model.graph.node if n.op_type == "MaxPool"]
    assert [list(n.output)[1] for n in pools if len(n.output) == 2] == ["i"]
    assert {o.name: o.type.tensor_type.elem_type for o in model.graph.output} == {"y": 1, "i": 7}
    x = np.random.default_rng(0).standard_normal((1, 8, 6, 6)).astype(np.float32)
    out = netdsl.run(model, {"x": x}, provider="cpu")
    pooled = x.reshape(1, 8, 3, 2, 3, 2).max(axis=(3, 5))
    kept = np.where(out["y"] != 0, x, 0)  # the unpooled values sit where the maxima were
    np.testing.assert_array_equal(kept, out["y"])
    np.testing.assert_array_equal(out["y"].reshape(1, 8, 3, 2, 3, 2).max(axis=(3, 5)),
                                  np.maximum(pooled, 0))


# -------------------------------------------------------------------------- receptive fields

UNIT = """
  a{i}, b{i} = {x} -> chunk(2)
  m{i} = b{i} -> conv(4, 1) -> relu -> conv(4, 3, pad: 1, groups: 4) -> conv(4, 1) -> relu
  s{i} = concat(a{i}, m{i}) -> {shuffle}"""
BY_RESHAPE = "reshape([2, 4, 6, 6]) -> transpose(1, 2) -> reshape([8, 6, 6])"


def _shufflenet(shuffle: str) -> str:
    units = "".join(UNIT.format(i=i, x="x" if i == 0 else f"s{i - 1}", shuffle=shuffle)
                    for i in range(3))
    return f"network t {{\n  input x: [N, 8, 6, 6]{units}\n  output y = s2\n}}\n"


@pytest.mark.parametrize("shuffle", ["channel_shuffle(2)", BY_RESHAPE])
def test_shufflenet_units_raise_no_misalignment_and_keep_their_fields(shuffle):
    """The issue's ShuffleNet: a reshape that keeps the spatial axes keeps the field; three
    units of one 3x3 depthwise conv see 7x7, jump 1, centred on the first pixel."""
    stats = check_text(_shufflenet(shuffle)).stats
    assert stats.warnings == []
    rf = stats.by_name()["s2.1" if "channel" in shuffle else "s2.3"].rf
    assert rf is not None and (rf.size, rf.jump, rf.start, rf.unknown) == (
        (7.0, 7.0), (1.0, 1.0), (0.5, 0.5), False)


def test_reshape_that_mixes_the_spatial_axes_makes_the_field_unknown():
    text = net("output y = x -> conv(8, 3, pad: 1) -> reshape([8, 36]) -> reshape([8, 6, 6]) "
               "-> conv(8, 3, pad: 1) -> globalavgpool")
    layers = check_text(text).stats.by_name()
    assert [layers[f"y.{i}"].rf.unknown for i in range(4)] == [False, True, True, True]
    assert layers["y.4"].rf.is_global  # every output still sees the whole input


def test_channels_last_blocks_keep_an_exact_field():
    """ConvNeXt's block: dw conv 7x7, permute to channels-last, layer norm and dense layers
    position by position, permute back, add the shortcut: the field is the conv's."""
    text = net("b = x -> conv(8, 7, pad: 3, groups: 8) -> permute([0, 2, 3, 1]) -> layer_norm "
               "-> dense(32) -> gelu -> dense(8) -> permute([0, 3, 1, 2])\n  output y = x + b")
    stats = check_text(text).stats
    y = stats.by_name()["y"].rf
    assert stats.warnings == [] and (y.size, y.jump, y.start) == ((7.0, 7.0), (1.0, 1.0),
                                                                 (0.5, 0.5))
    assert stats.by_name()["b.2"].rf.axes == (1, 2)  # channels-last: H, W on axes 1, 2


def test_a_window_over_moved_axes_is_unknown_and_dense_over_a_spatial_axis_too():
    layers = check_text(net("a = x -> transpose(1, 3) -> maxpool(2)\n"
                            "  b = x -> dense(4)\n  output y = a\n  output z = b")).stats.by_name()
    assert layers["a.0"].rf.axes == (2, 1) and layers["a.1"].rf.unknown  # W on axis 1
    assert layers["b"].rf.unknown


def test_a_softmax_over_a_spatial_axis_mixes_it():
    layers = check_text(net("a = x -> softmax\n  b = x -> softmax(axis: -1)\n"
                            "  output y = a\n  output z = b")).stats.by_name()
    assert not layers["a"].rf.unknown and layers["b"].rf.unknown


def test_a_spatial_slice_shifts_and_strides_the_field():
    rf = check_text(net("output y = x -> slice(3, 1, step: 2)")).stats.by_name()["y"].rf
    assert (rf.size, rf.jump, rf.start) == ((1.0, 1.0), (1.0, 2.0), (0.5, 1.5))


def test_summary_shows_an_unknown_field_as_such():
    n = netdsl.loads(net("output y = x -> conv(2, 3) -> flatten"))
    table = summary(n.graph, n.stats).splitlines()
    assert table[-3].split()[-2:] == ["unknown", "-"]  # RF, jump of the flatten
    assert json.loads(summary(n.graph, n.stats, "json"))["layers"][-1]["rf"] == {
        "size": None, "jump": None, "start": None, "global": False, "unknown": True}


# ------------------------------------------------------------------------ argument errors

@pytest.mark.parametrize("body,text", [
    ("output y = split(x, [2, 5])[0]", """\
test.net:3:23: error[E301]: split: sizes [2, 5] add up to 7, but axis 1 of [N, 8, 6, 6] is 8
  |
3 |   output y = split(x, [2, 5])[0]
  |                    - [N, 8, 6, 6]
  |                       ^^^^^^
  |"""),
    ("output y = chunk(x, 3)[0]", """\
test.net:3:23: error[E301]: chunk: axis 1 of size 8 does not split into 3 equal parts
  |
3 |   output y = chunk(x, 3)[0]
  |                    - [N, 8, 6, 6]
  |                       ^
  |
  = hint: give the sizes instead: split([...], axis: ...)"""),
    ("output y = x -> permute([0, 1, 1, 3])", """\
test.net:3:27: error[E206]: permute: dims [0, 1, 1, 3] is not a permutation of 0 to 3
  |
3 |   output y = x -> permute([0, 1, 1, 3])
  |                           ^^^^^^^^^^^^
  |
  = hint: name every axis once, the batch axis 0 first"""),
    ("output y = x -> permute([1, 0, 2, 3])", """\
test.net:3:27: error[E206]: permute: dims [1, 0, 2, 3] moves the batch axis
  |
3 |   output y = x -> permute([1, 0, 2, 3])
  |                           ^^^^^^^^^^^^
  |
  = hint: keep 0 first: the batch stays the first axis"""),
    ("output y = x -> slice(4, 0, 2)", """\
test.net:3:25: error[E206]: slice: axis 4 is not a non-batch axis of the 4-D input [N, 8, 6, 6]
  |
3 |   output y = x -> slice(4, 0, 2)
  |                         ^
  |
  = hint: the axes are 1 to 3 (or -1 to -3 from the end); axis 0 is the batch"""),
    ("output y = x -> transpose(0, 1)", """\
test.net:3:29: error[E206]: transpose: axis 0 is not a non-batch axis of the 4-D input \
[N, 8, 6, 6]
  |
3 |   output y = x -> transpose(0, 1)
  |                             ^
  |
  = hint: the axes are 1 to 3 (or -1 to -3 from the end); axis 0 is the batch"""),
    ("output y = x -> slice(2, 5, 5)", """\
test.net:3:28: error[E301]: slice: slice 5:5:1 of axis 2 (size 6) is empty
  |
3 |   output y = x -> slice(2, 5, 5)
  |              - [N, 8, 6, 6]
  |                            ^
  |"""),
    ("output y = x -> maxunpool(2)", """\
test.net:3:19: error[E204]: maxunpool: needs the indices of its max pool: `indices: idx`
  |
3 |   output y = x -> maxunpool(2)
  |                   ^^^^^^^^^^^^
  |
  = hint: `p, idx = x -> maxpool(2, indices: true)`, then `p -> ... -> maxunpool(2, indices: \
idx)`"""),
    ("output y = matmul(x -> slice(3, 0, 5), x)", """\
test.net:3:42: error[E303]: matmul: cannot multiply [N, 8, 6, 5] by [N, 8, 6, 6]: 5 columns \
against 6 rows
  |
3 |   output y = matmul(x -> slice(3, 0, 5), x)
  |                     ------------------- [N, 8, 6, 5]
  |                                          ^
  |"""),
    ("output y = x -> layer_norm(axis: 0)", """\
test.net:3:30: error[E206]: layer_norm: axis 0 is not a non-batch axis of the 4-D input \
[N, 8, 6, 6]
  |
3 |   output y = x -> layer_norm(axis: 0)
  |                              ^^^^^^^
  |
  = hint: the axes are 1 to 3 (or -1 to -3 from the end); axis 0 is the batch"""),
], ids=["split-sizes", "chunk-unequal", "not-a-permutation", "permute-batch", "bad-axis",
        "transpose-batch", "empty-slice", "unpool-without-indices", "matmul-inner",
        "layer-norm-batch"])
def test_bad_arguments_are_clear_errors(body, text):
    assert rendered(net(body)) == text
