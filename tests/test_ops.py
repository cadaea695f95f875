"""The operator contract over the rows of tests/op_cases.py (every op in REGISTRY): .net call,
input shapes -> output shape, parameters, buffers and MACs; each op documents itself and shows a
generated signature; the output-size rule, bad arguments, and the generated references.
(The rows' torch references are compared in test_torch_equivalence.py.)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import netdsl
from conftest import check_text, errors_of, rendered
from netdsl.ops import ALIASES, MODULES, REGISTRY, foreign_name, load_all
from netdsl.ops.base import Op
from netdsl.ops.signature import argument, axis_argument, network_option, tensor_input
from netdsl.ops.types import Tensor
from op_cases import CASES, IDS, ROWS, program


def test_every_registered_operator_has_a_row():
    assert set(REGISTRY) == set(CASES)


def test_the_table_of_op_modules_is_what_the_modules_register():
    """REGISTRY answers membership from ops.MODULES and imports a module on a lookup: the table
    must name exactly the operators that importing every module of ops/ registers, each with
    the module that defines it."""
    registered = load_all()
    assert {n: c.__module__.rpartition(".")[2] for n, c in registered.items()} == MODULES
    assert all(REGISTRY[n] is c for n, c in registered.items())


def test_every_alias_names_an_operator_and_is_reached_as_written():
    for key, op in ALIASES.items():
        assert op in REGISTRY, key
        assert key == key.lower().replace("_", "").removesuffix("2d"), key  # as looked up
        assert foreign_name(key) == op
        assert key not in {name.replace("_", "") for name in REGISTRY}, key  # needs no alias


@pytest.mark.parametrize("spelling,op", [
    ("batchnorm", "bn"), ("BatchNorm2d", "bn"), ("BatchNormalization", "bn"), ("Conv2d", "conv"),
    ("Conv2D", "conv"), ("ConvTranspose2d", "conv_transpose"), ("ReLU", "relu"),
    ("LeakyReLU", "leaky_relu"), ("GELU", "gelu"), ("MaxPool2d", "maxpool"),
    ("AvgPool2d", "avgpool"), ("Linear", "dense"), ("Dense", "dense"), ("Dropout", "dropout"),
    ("AdaptiveAvgPool2d", "adaptive_avgpool"), ("LayerNorm", "layer_norm"),
    ("Upsample", "upsample"), ("MultiheadAttention", "attention"), ("Flatten", "flatten"),
    ("cat", "concat"), ("ZeroPad2d", "pad"), ("GlobalAveragePooling2D", "globalavgpool"),
    ("Sigmoid", "sigmoid"), ("Softmax", "softmax"), ("Identity", "identity"),
])
def test_pytorch_and_keras_spellings_name_the_netdsl_operator(spelling, op):
    assert foreign_name(spelling) == op


@pytest.mark.parametrize("spelling", ["Conv1d", "Conv3d", "LSTM", "Embedding", "block", "x"])
def test_spellings_of_what_netdsl_lacks_name_no_operator(spelling):
    assert foreign_name(spelling) is None


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_operator_documents_itself(name):
    cls = REGISTRY[name]
    owner = next(c for c in cls.__mro__ if "mac_rule" in vars(c))
    assert owner is not Op and cls.mac_rule.strip(), f"{name} states no MAC rule"
    assert cls.summary.strip() and cls.__doc__ and cls.__doc__.strip()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_operator_with_arguments_shows_its_generated_call(name):
    """The one-line signature is generated from the fields: every keyword is in it, the
    positional ones in their order, and nothing written by hand can drift."""
    sig = REGISTRY[name].signature()
    if not sig.fields:
        return
    assert "{call}" in REGISTRY[name].summary and sig.call in sig.summary
    at = {f: re.search(rf"[(,|] {f}\b|\({f}\b", sig.call) for f in sig.fields}
    assert all(at.values()), f"{name}: {sig.call} misses {[f for f, m in at.items() if not m]}"
    starts = [at[f].start() for f in sig.positional]  # type: ignore[union-attr]
    assert starts == sorted(starts)


@dataclass(frozen=True, slots=True)
class _Blend(Op):  # not registered: every kind of declaration, as an op author writes them
    """x blended with the tensor `other` along `axis`."""

    name = "blend"
    summary = "blend: {call}"
    positional = ("weight", "axis")
    weight: float
    axis: int = axis_argument(1)
    other: Tensor | None = tensor_input()
    floor: bool | None = network_option("floor", shown="false")
    eps: float = argument(1e-5, shown="1e-5")


def test_an_operator_declares_what_its_fields_mean():
    sig = _Blend.signature()
    assert sig.fields == {"weight": "float", "axis": "int", "other": "Tensor | None",
                          "floor": "bool | None", "eps": "float"}
    assert (sig.positional, sig.required, sig.tensors, sig.axes) == (
        ("weight", "axis"), ("weight",), ("other",), ("axis",))
    assert sig.options == {"floor": "floor"}
    assert sig.summary == "blend: blend(weight, axis: 1, other: t, floor: false, eps: 1e-5)"
    assert _Blend(0.5, axis=-1).axes_from_front(4) == _Blend(0.5, axis=3)
    assert REGISTRY["avgpool"].signature().call == (
        "avgpool(kernel, stride: kernel, pad: 0, dilation: 1, ceil: false, floor: false, "
        "count_include_pad: true)")


@pytest.mark.parametrize("op,i,case", ROWS, ids=IDS)
def test_operator_row(op, i, case):
    net = check_text(program(case))
    stats = net.stats
    layers = [lay for lay in stats.layers if lay.op != "input"]  # the call, and what it uses
    out = stats.by_name()[net.graph.outputs["y"]]
    if case.made:  # a call that yields several values: its values are nodes of other ops
        assert out.op == case.made
    else:
        assert [lay.op for lay in layers if lay.op == op] == [op]
    assert out.shape == ("N", *case.shape)
    # the measures: the whole network's where a setup adds what the call uses (a `param`), else
    # the output's own (maxunpool's row also pools, to make the indices it is given)
    measured = stats if case.setup else out
    assert (measured.params, measured.buffers, measured.macs) == (case.params, case.buffers,
                                                                   case.macs)


# ------------------------------------------------------------------------------ the shape rule

def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    return f"network n {{\n  input x: {inp}\n  {body}\n}}\n"


def out_shape(text: str) -> tuple[Any, ...]:
    checked = check_text(text)
    return checked.graph.node(checked.graph.outputs["y"]).shape


def test_floor_on_one_layer_matches_torch(torch):
    nn = torch.nn
    ref = nn.Conv2d(3, 8, 3, stride=2, padding=1)(torch.zeros(1, 3, 64, 64)).shape
    assert out_shape(net("x -> conv(8, 3, stride: 2, pad: 1, floor: true) -> output y",
                         "[N, 3, 64, 64]")) == ("N", *ref[1:])


def test_floor_for_the_whole_network_matches_torch(torch):
    nn = torch.nn
    ref = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.MaxPool2d(3, 2))(
        torch.zeros(1, 3, 112, 112)).shape
    text = net("option floor: true\n  x -> conv(4, 3, stride: 2) -> maxpool(3, stride: 2) "
               "-> output y", "[N, 3, 112, 112]")
    assert out_shape(text) == ("N", *ref[1:])


def test_a_layer_can_ask_for_strictness_under_option_floor():
    text = net("option floor: true\n  x -> conv(4, 3, stride: 2, floor: false) -> output y",
               "[N, 3, 112, 112]")
    assert [d.code for d in errors_of(text)] == ["E302"]


def _ort_same_upper(x: np.ndarray, w: np.ndarray, s: int) -> np.ndarray:
    """onnxruntime's own SAME_UPPER convolution, from a hand-built ONNX graph."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    node = helper.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER",
                            strides=[s, s])
    graph = helper.make_graph([node], "same", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, list(x.shape))], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [None] * 4)], [numpy_helper.from_array(w, "w")])
    model = helper.make_model_gen_version(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3, 12), k=st.integers(1, 5), s=st.integers(1, 3))
def test_same_padding_is_onnx_same_upper(n, k, s):
    """`pad: same` = ONNX SAME_UPPER = TensorFlow's SAME: output ceil(n / s), and an odd total
    padding puts its extra row at the end. onnxruntime's auto_pad is the reference (it has no
    dilation with SAME; the torch row `pad: same, dilation: 2` covers that)."""
    assume(k <= n + s)
    text = net(f"output y = conv(x, 2, {k}, stride: {s}, pad: same, bias: false)",
               f"[N, 1, {n}, {n}]")
    assert out_shape(text) == ("N", 2, -(-n // s), -(-n // s))
    rng = np.random.default_rng(n * 100 + k * 10 + s)
    x = rng.standard_normal((1, 1, n, n)).astype(np.float32)
    w = rng.standard_normal((2, 1, k, k)).astype(np.float32)
    model = netdsl.compile(netdsl.loads(text), weights={"y.weight": w})
    ours = netdsl.run(model, {"x": x}, provider="cpu")
    np.testing.assert_allclose(ours["y"], _ort_same_upper(x, w, s), rtol=1e-5, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3))
def test_output_size_rule_against_torch(n, k, s, p, d, torch):
    """floor((N + 2P - D(F - 1) - 1)/S) + 1 under `floor: true`; strict mode accepts exactly
    the sizes where the division is whole, and rejects the rest with E302."""
    nn = torch.nn
    span = d * (k - 1) + 1
    assume(n + 2 * p >= span)
    ref = nn.Conv1d(1, 1, k, s, p, d)(torch.zeros(1, 1, n)).shape[-1]
    body = f"x -> conv(1, {k}, stride: {s}, pad: {p}, dilation: {d}{{}}) -> output y"
    assert out_shape(net(body.format(", floor: true"), f"[N, 1, {n}]"))[-1] == ref
    if (n + 2 * p - span) % s == 0:
        assert out_shape(net(body.format(""), f"[N, 1, {n}]"))[-1] == ref
    else:
        assert [e.code for e in errors_of(net(body.format(""), f"[N, 1, {n}]"))] == ["E302"]


# --------------------------------------------------------------------------------- bad input

# (id, input shape, body, code, the source text under the caret, words the message must hold)
ERRORS = [
    ("window-larger-than-input", "[N, 3, 5, 5]", "x -> conv(8, 7) -> output y", "E301", "7",
     ["input height 5", "window 7", "(5 - 7 + 2*0)/1 + 1 = -1"]),
    ("add-channels", "[N, 3, 8, 8]", "a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3, pad: 1)"
     "\n  output y = a + b", "E303", "b", ["[N, 8, 8, 8]", "[N, 4, 8, 8]"]),
    ("concat-spatial", "[N, 3, 8, 8]", "a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3)"
     "\n  output y = concat(a, b)", "E303", "b", ["[N, 8, 8, 8]", "[N, 4, 6, 6]"]),
    ("groups-do-not-divide", "[N, 3, 8, 8]", "x -> conv(8, 3, groups: 2) -> output y", "E301",
     "groups: 2", ["[N, 3, 8, 8]", "3 channels", "2 groups"]),
    ("kernel-0", "[N, 3, 8, 8]", "x -> conv(8, 0) -> output y", "E206", "0",
     ["kernel must be positive, not 0"]),
    ("negative-stride", "[N, 3, 8, 8]", "x -> maxpool(2, stride: -1) -> output y", "E206",
     "stride: -1", ["stride must be positive, not -1"]),
    ("groups-0", "[N, 3, 8, 8]", "x -> conv(8, 3, groups: 0) -> output y", "E206",
     "groups: 0", ["groups must be positive, not 0"]),
    ("multiplier-0", "[N, 3, 8, 8]", "x -> depthwise(3, multiplier: 0) -> output y", "E206",
     "multiplier: 0", ["multiplier must be positive"]),
    ("unknown-upsample-mode", "[N, 3, 8, 8]", 'x -> upsample(scale: 2, mode: "cubic2") '
     "-> output y", "E206", 'mode: "cubic2"', ['unknown upsample mode "cubic2"']),
    ("unknown-pad-mode", "[N, 3, 8, 8]", 'x -> pad(1, mode: "mirror") -> output y', "E206",
     'mode: "mirror"', ['unknown pad mode "mirror"']),
    ("fixed-kernel-size", "[N, 1, 8, 8]", "x -> conv(1, 5, weights: [[1, 2, 1], [2, 4, 2], "
     "[1, 2, 1]]) -> output y", "E206", "weights: [[1, 2, 1], [2, 4, 2], [1, 2, 1]]",
     ["fixed weights are 3x3", "kernel is 5x5"]),
    ("output-pad-too-large", "[N, 3, 8, 8]", "x -> conv_transpose(4, 3, stride: 2, "
     "output_pad: 2) -> output y", "E206", "output_pad: 2", ["smaller than the stride 2"]),
    ("pool-pad-over-half", "[N, 3, 8, 8]", "x -> maxpool(2, pad: 2) -> output y", "E206",
     "pad: 2", ["more than half the kernel 2"]),
    ("crop-larger", "[N, 3, 8, 8]", "x -> crop(size: [9, 9]) -> output y", "E303",
     "size: [9, 9]", ["[N, 3, 8, 8]", "[9, 9]"]),
    ("crop-like-larger", "[N, 3, 8, 8]", "z = x -> pad(1)\n  output y = crop(x, like: z)",
     "E303", "like: z", ["[N, 3, 8, 8]", "[10, 10]"]),
    ("crop-offset-past-the-end", "[N, 3, 8, 8]", "x -> crop(size: [4, 4], offset: [5, 0]) "
     "-> output y", "E303", "offset: [5, 0]", ["runs past the end of [N, 3, 8, 8]"]),
    ("upsample-two-sizes", "[N, 3, 8, 8]", "x -> upsample(scale: 2, size: [4, 4]) "
     "-> output y", "E206", "size: [4, 4]", ["exactly one of"]),
    ("mul-not-broadcastable", "[N, 3, 8, 8]", "g = x -> conv(2, 1) -> globalavgpool\n"
     "  output y = x * g", "E303", "g", ["[N, 3, 8, 8]", "[N, 2, 1, 1]"]),
    ("reshape-count", "[N, 3, 8, 8]", "x -> reshape([5, -1]) -> output y", "E301",
     "[5, -1]", ["[N, 3, 8, 8]", "192 per example"]),
    ("concat-axis", "[N, 3, 8, 8]", "output y = concat(x, x, axis: 4)", "E206", "axis: 4",
     ["axis 4"]),
    ("reflect-too-wide", "[N, 3, 4, 4]", 'x -> pad(4, mode: "reflect") -> output y', "E301",
     "4", ["reflect padding 4", "it is 4"]),
    ("transposed-pad-eats-all", "[N, 3, 1, 1]", "x -> conv_transpose(2, 1, pad: 1) "
     "-> output y", "E301", "pad: 1", ["(1 - 1)*1 - 2*1 + (1 - 1) + 0 + 1 = -1"]),
    ("dropout-p", "[N, 3, 8, 8]", "x -> dropout(1.5) -> output y", "E206", "1.5",
     ["p must be in [0, 1)"]),
    ("bn-eps", "[N, 3, 8, 8]", "x -> bn(eps: 0) -> output y", "E206", "eps: 0",
     ["eps must be positive"]),
    ("softmax-axis", "[N, 10]", "x -> softmax(axis: 2) -> output y", "E206", "axis: 2",
     ["out of range for a 2-D input"]),
    ("rank", "[N, 10]", "x -> maxpool(2) -> output y", "E301", "x",
     ["3-D, 4-D or 5-D input", "[N, 10]"]),
]


@pytest.mark.parametrize("inp,body,code,under,words", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_bad_input_is_a_clear_error_at_its_span(inp, body, code, under, words):
    (d,) = errors_of(net(body, inp))
    assert d.code == code
    assert d.primary is not None and d.primary.span.text() == under
    for w in words:
        assert w in d.message
    assert "Traceback" not in rendered(net(body, inp))


def test_add_mismatch_renders_both_operands():
    text = net("a = x -> conv(8, 3, pad: 1)\n  b = x -> conv(4, 3, pad: 1)\n  output y = a + b")
    assert rendered(text) == """\
test.net:5:18: error[E303]: add: cannot add [N, 8, 8, 8] and [N, 4, 8, 8]: the shapes must match, \
or one broadcast to the other
  |
5 |   output y = a + b
  |              - [N, 8, 8, 8]
  |                  ^
  |
  = hint: project the shortcut with a 1x1 conv to 8 channels, or zero-pad its channels with \
pad(channels: ...)"""


def test_window_larger_than_input_renders_kernel_and_input():
    assert rendered(net("x -> conv(8, 7) -> output y", "[N, 3, 5, 5]")) == """\
test.net:3:16: error[E301]: conv: the input height 5 is smaller than the window 7: \
(5 - 7 + 2*0)/1 + 1 = -1, not a positive size
  |
3 |   x -> conv(8, 7) -> output y
  |   - [N, 3, 5, 5]
  |                ^
  |
  = hint: use a smaller kernel, more padding, or a larger input"""


def test_a_window_far_larger_than_the_input_gives_its_size_in_digits():
    """(8 - 8000)/1 + 1 is -7991: it was written -7.99e+03; a fraction keeps two places."""
    assert errors_of(net("x -> conv(8, 8000) -> output y", "[N, 3, 8, 8]"))[0].message.endswith(
        "(8 - 8000 + 2*0)/1 + 1 = -7991, not a positive size")
    assert errors_of(net("x -> conv(8, 10, stride: 2) -> output y", "[N, 3, 5, 5]"))[0].message \
        .endswith("(5 - 10 + 2*0)/2 + 1 = -1.50, not a positive size")


# ------------------------------------------------------------------------------ the references

@pytest.mark.parametrize("name", ["costs.md", "ops.md"])
def test_generated_docs_are_up_to_date(name):
    """docs/costs.md and docs/ops.md are generated from the registry; regenerate them with
    `python tools/gendocs.py ops costs` after changing an op."""
    import gendocs_ops
    committed = (gendocs_ops.DOCS / name).read_text(encoding="utf-8")
    assert committed == gendocs_ops.FILES[name](), f"docs/{name} is stale"


def test_costs_md_states_every_rule_and_the_flop_convention():
    import gendocs_ops
    text = gendocs_ops.costs_markdown()
    assert "FLOPs = 2 x MACs" in text
    for name, cls in REGISTRY.items():
        assert f"| `{name}` | {cls.mac_rule} |" in text


@pytest.mark.parametrize("call,n", [("conv(x, 2, 1, stride: 2, pad: same)", 74),
                                    ("maxpool(x, 1, stride: 2, pad: same)", 7)])
def test_same_with_a_kernel_smaller_than_the_stride_is_ceil_n_over_s(call, n, torch):
    """TensorFlow's SAME: ceil(N / S) outputs even when the window (1) is narrower than the
    stride, where (N - 1)/S is fractional and no padding is needed."""
    nn = torch.nn
    assert out_shape(net(f"output y = {call}", f"[N, 2, {n}, {n}]"))[2:] == (-(-n // 2),) * 2
    ref = nn.MaxPool2d(1, 2)(torch.zeros(1, 1, n, n)).shape[2:]
    assert tuple(ref) == (-(-n // 2),) * 2


def test_fraction_hints_suggest_only_padding_a_pool_accepts():
    # maxpool(3, stride: 3) on 32: pad 2 would tile, but a pool may pad at most half its kernel
    (d,) = errors_of(net("x -> maxpool(3, stride: 3) -> output y", "[N, 3, 32, 32]"))
    assert d.code == "E302" and "(32 - 3 + 2*0)/3 + 1 = 10.67" in d.message
    assert d.hints[0].startswith("stride 1 gives a whole size;") and "pad 2" not in d.hints[0]
    (d,) = errors_of(net("x -> conv(8, 3, stride: 3) -> output y", "[N, 3, 32, 32]"))
    assert d.hints[0].startswith("pad 2 or stride 1 gives a whole size")
