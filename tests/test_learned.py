"""Learned tensors (`param` statements), broadcasting add/mul, `expand` and `attention`: names
as torchvision's state_dict keys, initialisation, weight loading by name, equivalence with a
torch module of the same names, and the pinned diagnostics."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import netdsl
from conftest import check_text, rendered
from netdsl.ops.base import broadcast

# ViT's front as torchvision names it (VisionTransformer: class_token, encoder.pos_embedding,
# encoder.layers.encoder_layer_K.self_attention), on an already embedded sequence [N, 4, 8].
VIT_PART = """
block encoder_layer(x, heads) {
  y = x -> self_attention: attention(heads)
  return y + x
}
block layers(x, heads) {
  return x -> encoder_layer_0: encoder_layer(heads) -> encoder_layer_1: encoder_layer(heads)
}
block encoder(x, heads) {
  param pos_embedding: [1, x.shape[1], x.shape[2]] = normal(0.02)
  return x + pos_embedding -> layers: layers(heads)
}
network vitpart {
  input x: [N, 4, 8]
  param class_token: [1, 1, 8] = zeros
  seq = concat(expand(class_token, like: x), x, axis: 1)
  seq -> encoder: encoder(2) -> output y
  expect params == 8 + 5 * 8 + 2 * (3 * 8 * 8 + 3 * 8 + 8 * 8 + 8)
}
"""

ATTN = ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")
VIT_KEYS = ["class_token", "encoder.pos_embedding",
            *(f"encoder.layers.encoder_layer_{k}.self_attention.{p}" for k in (0, 1)
              for p in ATTN)]


def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    return f"network n {{\n  input x: {inp}\n  {body}\n}}\n"


def test_params_are_named_by_scope_counted_and_ordered():
    stats = netdsl.loads(VIT_PART).stats
    assert list(stats.tensors()) == VIT_KEYS
    assert stats.tensors()["encoder.pos_embedding"] == (1, 5, 8)
    assert stats.params == 8 + 40 + 2 * 288
    layer = stats.by_name()["class_token"]
    assert (layer.op, layer.params, layer.macs, layer.activation_bytes) == ("param", 8, 0, 0)


def test_names_are_torchvision_vit_keys(torchvision):
    # the same naming code as vit_b_16, at a size that builds in milliseconds
    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2,
                                               num_heads=2, hidden_dim=8, mlp_dim=16)
    theirs = {k: tuple(v.shape) for k, v in vit.state_dict().items()}
    ours = netdsl.loads(VIT_PART).stats.tensors()
    assert {k: theirs.get(k) for k in ours} == ours


def test_layer_scale_is_torchvision_convnext_key(torchvision):
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    convnext = ConvNeXt([CNBlockConfig(8, None, 2)])
    theirs = {k: tuple(v.shape) for k, v in convnext.state_dict().items()}
    text = """
    block cnblock(x) {
      param layer_scale: [x.channels, 1, 1] = 1e-6
      return x * layer_scale + x
    }
    block stage(x) {
      return x -> cnblock -> cnblock
    }
    network n {
      input x: [N, 3, 32, 32]
      features = x -> conv(8, 4, stride: 4) -> stage
      features -> output y
    }"""
    ours = netdsl.loads(text).stats.tensors()
    for k in (0, 1):
        key = f"features.1.{k}.layer_scale"
        assert ours[key] == theirs[key] == (8, 1, 1)
    model = netdsl.compile(netdsl.loads(text))
    init = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(init["features.1.0.layer_scale"],
                                  np.full((8, 1, 1), 1e-6, np.float32))


def test_vit_part_equals_torch_with_the_same_weights_by_name(torch):
    nn = torch.nn

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.self_attention = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x):
            return self.self_attention(x, x, x, need_weights=False)[0] + x

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pos_embedding = nn.Parameter(torch.randn(1, 5, 8))
            self.layers = nn.Sequential()
            for k in range(2):
                self.layers.add_module(f"encoder_layer_{k}", Layer())

        def forward(self, x):
            return self.layers(x + self.pos_embedding)

    class Part(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.class_token = nn.Parameter(torch.randn(1, 1, 8))
            self.encoder = Encoder()

        def forward(self, x):
            return self.encoder(torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], 1))

    torch.manual_seed(0)
    ref = Part().eval()
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    assert sorted(state) == sorted(VIT_KEYS)
    x = torch.randn(3, 4, 8)
    with torch.no_grad():
        want = ref(x).numpy()
    model = netdsl.compile(netdsl.loads(VIT_PART), weights=state)  # by name, not by position
    got = netdsl.run(model, {"x": x.numpy()}, provider="cpu")["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_param_initialisations():
    text = net("""param a: [2, 3] = zeros
  param b: [2, 3] = ones
  param c: [2, 3] = -0.5
  param d: [400, 500] = normal(0.02)
  param e: [400, 500] = trunc_normal(1.5)
  param f: [2]
  output y = x""")
    model = netdsl.compile(netdsl.loads(text), seed=3)
    init = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(init["a"], np.zeros((2, 3), np.float32))
    np.testing.assert_array_equal(init["b"], np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(init["c"], np.full((2, 3), -0.5, np.float32))
    np.testing.assert_array_equal(init["f"], np.zeros(2, np.float32))
    assert abs(float(init["d"].std()) - 0.02) < 0.0005 and abs(float(init["d"].mean())) < 0.0005
    # torch's trunc_normal_(std=1.5) keeps values in its default bounds [-2, 2]
    assert float(np.abs(init["e"]).max()) <= 2 and float(init["e"].std()) > 1


def test_param_and_its_expansion_need_no_value_info_batch():
    graph = netdsl.loads(VIT_PART)
    model = netdsl.compile(graph, batch=3)
    onnx.checker.check_model(model, full_check=True)
    onnx.shape_inference.infer_shapes(model, strict_mode=True)
    out = netdsl.run(model, {"x": np.ones((3, 4, 8), np.float32)}, provider="cpu")["y"]
    assert out.shape == (3, 5, 8)


def test_missing_param_weight_is_reported_by_name():
    state = {k: np.zeros(v, np.float32)
             for k, v in netdsl.loads(VIT_PART).stats.tensors().items() if k != "class_token"}
    with pytest.raises(netdsl.NetdslError, match="1 missing: `class_token`"):
        netdsl.compile(netdsl.loads(VIT_PART), weights=state)


@pytest.mark.parametrize("a,b,want", [
    (("N", 3, 4, 4), (3, 1, 1), ("N", 3, 4, 4)),
    ((1, 197, 768), ("N", 197, 768), ("N", 197, 768)),
    (("N", 1, 5), ("N", 4, 1), ("N", 4, 5)),
    (("N", 3, 4, 4), (4, 1, 1), None),
    (("N", 8), ("M", 8), None),
])
def test_broadcast_is_numpy_rule(a, b, want):
    assert broadcast(a, b) == want
    if want is not None and all(isinstance(d, int) for d in (*a, *b)):
        assert np.broadcast_shapes(a, b) == want


def test_add_broadcasts_one_way_only():
    y = check_text(net("param bias: [3, 1, 1]\n  output y = bias + x")).graph
    assert y.node(y.outputs["y"]).shape == ("N", 3, 8, 8)
    # [N, 3, 1, 1] grows to [N, 3, 64, 1]; [N, 3, 1, 64] + [N, 3, 64, 1] would both grow
    assert check_text(net("a = x -> globalavgpool\n  b = x -> reshape([3, 64, 1])\n"
                          "  output y = a + b")).stats.layers[-1].shape == ("N", 3, 64, 1)
    assert rendered(net("a = x -> reshape([3, 1, 64])\n  b = x -> reshape([3, 64, 1])\n"
                        "  output y = a + b")) == """\
test.net:5:18: error[E303]: add: cannot add [N, 3, 1, 64] and [N, 3, 64, 1]: the shapes must \
match, or one broadcast to the other
  |
5 |   output y = a + b
  |              - [N, 3, 1, 64]
  |                  ^
  |
  = hint: the spatial sizes differ: give the shortcut the same stride as the main path"""


def test_mul_that_does_not_broadcast():
    assert rendered(net("param gamma: [4, 1, 1]\n  output y = x * gamma")) == """\
test.net:4:18: error[E303]: mul: cannot multiply [N, 3, 8, 8] by [4, 1, 1]: aligned at the last \
axis, every axis must match or be 1
  |
4 |   output y = x * gamma
  |              - [N, 3, 8, 8]
  |                  ^^^^^
  |"""


def test_param_shape_must_be_positive_sizes():
    assert rendered(net("param t: [N, 4]\n  output y = x")) == """\
test.net:3:12: error[E217]: param `t` needs a shape of positive sizes, not [N, 4]
  |
3 |   param t: [N, 4]
  |            ^^^^^^
  |
  = hint: a learned tensor has no batch axis: write its own sizes, e.g. [1, 1, 768] for a \
class token"""


def test_param_init_must_be_known():
    assert rendered(net('param t: [4] = "he"\n  output y = x')) == """\
test.net:3:18: error[E217]: a param is initialised with a number, zeros, ones, normal(std) or \
trunc_normal(std), not the string "he"
  |
3 |   param t: [4] = "he"
  |                  ^^^^
  |"""
    assert "normal(std) takes one positive number" in rendered(
        net("param t: [4] = normal(0)\n  output y = x"))


def test_heads_must_divide_the_features():
    assert rendered(net("x -> attention(3) -> output y", "[N, 5, 16]")) == """\
test.net:3:18: error[E301]: attention: 3 heads do not divide the 16 features of each token
  |
3 |   x -> attention(3) -> output y
  |   - [N, 5, 16]
  |                  ^
  |
  = hint: D must be a multiple of heads: each head gets D / heads of them"""


def test_expand_needs_a_batch_of_one():
    assert rendered(net("output y = expand(x, like: x)", "[N, 5, 16]")) == """\
test.net:3:21: error[E303]: expand: expand repeats a batch axis of size 1, but the input is \
[N, 5, 16]
  |
3 |   output y = expand(x, like: x)
  |                     ^ input is [N, 5, 16]
  |                        ------- [N, 5, 16]
  |
  = hint: declare the tensor with a leading 1: `param t: [1, ...]`"""


def test_param_is_still_an_ordinary_name():
    text = net("param = 2\n  x -> conv(param, 1) -> output y")
    graph = check_text(text).graph
    assert graph.node(graph.outputs["y"]).shape == ("N", 2, 8, 8)


def test_attention_field_is_global():
    layer = check_text(net("x -> attention(2) -> output y", "[N, 5, 16]")).stats.layers[-1]
    assert layer.rf is not None and layer.rf.is_global
