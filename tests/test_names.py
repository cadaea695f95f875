"""Layer names: labels, chains indexed by position, repetitions indexed by instance, block scopes,
reassignment; checked against torchvision's state_dict keys where a reference exists."""

from __future__ import annotations

import netdsl
from conftest import BOTTLENECK, RESNET50, errors_of


def names(text: str, **params) -> list[str]:
    return [n.name for n in netdsl.loads(text, params=params).graph.nodes()]


def test_resnet50_parameter_names_equal_torchvision_state_dict(torchvision):
    theirs = [(k, tuple(v.shape)) for k, v in torchvision.models.resnet50().state_dict().items()
              if not k.endswith("num_batches_tracked")]
    ours = list(netdsl.loads(RESNET50).stats.tensors().items())
    assert ours == theirs


def test_resnet_like_names_exactly():
    text = BOTTLENECK + """
network r {
  option floor: true
  input image: [N, 3, 32, 32]
  x = image -> conv1: conv(16, 3, pad: 1) -> bn1: bn -> relu
  layer1 = x -> bottleneck(4) * 2
  layer2 = layer1 -> bottleneck(8, stride: 2)
  layer2 -> globalavgpool -> flatten -> fc: dense(10) -> output logits
}
"""
    block = ["conv1", "bn1", "y.2", "conv2", "bn2", "y.5", "conv3", "bn3"]
    assert names(text) == (
        ["image", "conv1", "bn1", "x.2"]
        + [f"layer1.{i}.{n}" for i in (0, 1) for n in block + ["add", "relu"]]
        + [f"layer2.{n}" for n in block + ["downsample.0", "downsample.1", "add", "relu"]]
        + ["globalavgpool", "flatten", "fc"])


def test_single_stage_assignment_names_the_layer_and_soft_names_count_up():
    text = """network n {
  input x: [N, 3, 8, 8]
  a = x -> conv(4, 1)
  x -> relu -> relu -> conv(2, 1) -> output y
}"""
    assert names(text) == ["x", "a", "relu", "relu_1", "conv"]


def test_reassigning_a_variable_gives_distinct_names():
    text = """network n {
  input x: [N, 3, 8, 8]
  y = x -> relu
  y = y -> tanh
  z = x -> relu -> tanh
  z = z -> relu -> sigmoid
  w = x -> relu -> tanh
  w = x -> relu
  z + w -> output out
}"""
    assert names(text) == ["x", "y", "y_1", "z.0", "z.1", "z.2", "z.3", "w.0", "w.1", "w_1",
                           "add"]


def test_head_call_of_a_chain_is_index_zero():
    text = """network n {
  input x: [N, 3, 8, 8]
  f = conv(x, 4, 1) -> relu
  f -> output y
}"""
    assert names(text) == ["x", "f.0", "f.1"]


def test_labels_with_repetition_are_indexed_and_blocks_nest():
    text = """block inner(x) {
  return x -> c: conv(x.channels, 1)
}
block outer(x) {
  a = x -> inner
  return a -> inner
}
network n {
  input x: [N, 3, 8, 8]
  x -> rep: relu * 2 -> o: outer -> output y
}"""
    assert names(text) == ["x", "rep.0", "rep.1", "o.a.c", "o.inner.c"]


def test_block_returning_a_chain_numbers_it_like_a_sequential():
    text = """block features(x) {
  return x -> conv(4, 3, pad: 1) -> relu -> conv(4, 3, pad: 1)
}
network n {
  input x: [N, 3, 8, 8]
  x -> features: features -> output y
}"""
    assert names(text) == ["x", "features.0", "features.1", "features.2"]


def test_same_label_twice_is_e211():
    d = errors_of("network n {\n  input x: [N, 3, 8, 8]\n  x -> c: relu -> output a\n"
                  "  x -> c: tanh -> output b\n}\n")[0]
    assert (d.code, d.message, d.location()[1:]) == ("E211", "two layers are named `c`", (4, 8))


def test_label_equal_to_an_automatic_name_is_e211_that_says_so():
    d = errors_of("network n {\n  input x: [N, 3, 8, 8]\n  x -> relu -> relu: tanh -> output a\n"
                  "}\n")[0]
    assert (d.code, d.message) == ("E211", "`relu` is already the automatic name of an "
                                           "earlier layer")


def test_a_name_is_a_layer_or_a_group_never_both():
    d = errors_of("network n {\n  input x: [N, 3, 8, 8]\n  y = x -> relu -> tanh\n"
                  "  x -> y: relu -> output a\n}\n")[0]
    assert (d.code, d.message) == ("E211", "`y` already names a group of layers (`y.0`, ...)")
    # an automatic name steps aside instead
    assert names("network n {\n  input x: [N, 3, 8, 8]\n  y = x -> relu -> tanh\n"
                 "  y = x -> relu\n  y -> output a\n}\n")[-1] == "y_1"
