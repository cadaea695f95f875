"""Xception (zoo/xception.net) against Chollet 2017: the parameter count of Table 3 (and Keras's,
which adds the batch-norm statistics) and the feature-map sizes of Fig. 5."""

from __future__ import annotations

import netdsl
from conftest import ZOO

XCEPTION = ZOO / "xception.net"


def test_xception_parameter_count_equals_the_paper_and_keras():
    stats = netdsl.load(XCEPTION).stats
    assert stats.params == 22_855_952  # Table 3: trainable parameters
    # Keras's model.count_params() also counts each BN's moving mean and variance
    assert stats.params + stats.buffers == 22_910_480
    bn_channels = sum(lay.shape[1] for lay in stats.layers if lay.op == "bn")
    assert stats.buffers == 2 * bn_channels


def test_xception_flows_have_the_sizes_of_figure_5():
    g = netdsl.load(XCEPTION)
    layers = g.stats.by_name()
    fig5 = {  # layer: (channels, size)
        "conv1": (32, 149), "conv2": (64, 147),                       # entry flow
        "block1.add": (128, 74), "block2.add": (256, 37), "block3.add": (728, 19),
        **{f"middle.{i}.add": (728, 19) for i in range(8)},            # middle flow, 8 times
        "block4.add": (1024, 10), "conv3.bn": (1536, 10), "conv4.bn": (2048, 10),  # exit flow
    }
    for name, (channels, size) in fig5.items():
        assert layers[name].shape == ("N", channels, size, size), name
    assert layers[g.graph.outputs["logits"]].shape == ("N", 1000)
    assert "middle.8.add" not in layers


def test_xception_convolutions_have_no_bias():
    # Every convolution is followed by batch norm: no biases (Keras's use_bias=False); a
    # separable one is a depthwise conv then a pointwise 1x1, as the prelude's `separable`.
    stats = netdsl.load(XCEPTION).stats
    convs = [lay for lay in stats.layers if lay.op == "conv"]
    # the paper's 36 convolutional layers: 2 plain, 34 separable (3 * 2 entry, 8 * 3 middle,
    # 2 + 2 exit), each a depthwise and a pointwise node; and the 4 projections
    separable = 3 * 2 + 8 * 3 + 2 + 2
    assert 2 + separable == 36
    assert len(convs) == 2 + 2 * separable + 4
    assert all("bias" not in lay.param_shapes for lay in convs)
    tensors = stats.tensors()
    assert tensors["middle.0.rep.0.conv.depthwise.weight"] == (728, 1, 3, 3)
    assert tensors["middle.0.rep.0.conv.pointwise.weight"] == (728, 728, 1, 1)
