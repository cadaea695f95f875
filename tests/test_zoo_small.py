"""The lecture's small networks: its four image filters (zoo/lecture_filters.net) against a
correlation loop written here, and the CNN prototype (zoo/cnn_prototype.net) against a torch
model built here from the same description."""

from __future__ import annotations

import numpy as np
import pytest

import netdsl
from conftest import ZOO

FILTERS = ZOO / "lecture_filters.net"
PROTOTYPE = ZOO / "cnn_prototype.net"

# The lecture's kernels, as printed on its "Image Filters" slide.
LECTURE_KERNELS = {
    "edges": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "box_mean": [[1 / 9] * 3] * 3,
    "gaussian_blur": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
}


def _correlate_same(image: np.ndarray, kernel: list[list[float]]) -> np.ndarray:
    """Zero-padded 3x3 cross-correlation, one output pixel at a time (what a CNN calls conv)."""
    h, w = image.shape
    padded = [[0.0] * (w + 2)] + [[0.0, *map(float, row), 0.0] for row in image] \
        + [[0.0] * (w + 2)]
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            out[i, j] = sum(kernel[a][b] * padded[i + a][j + b]
                            for a in range(3) for b in range(3))
    return out


def test_lecture_filters_match_a_correlation_loop():
    image = np.random.default_rng(0).uniform(0, 255, (12, 12)).astype(np.float32)
    outs = netdsl.run(FILTERS, {"image": image[None, None]}, params={"size": 12})
    assert set(outs) == set(LECTURE_KERNELS)
    for name, kernel in LECTURE_KERNELS.items():
        np.testing.assert_allclose(outs[name][0, 0], _correlate_same(image, kernel),
                                   rtol=1e-5, atol=1e-3, err_msg=name)


def test_lecture_filters_on_a_flat_image():
    # On a constant image the edge filter answers 0 inside (its weights sum to 0) and the
    # three others return the constant (their weights sum to 1): the slide's intuition.
    outs = netdsl.run(FILTERS, {"image": np.full((1, 1, 8, 8), 7.0, np.float32)},
                      params={"size": 8})
    inner = (0, 0, slice(1, -1), slice(1, -1))
    np.testing.assert_allclose(outs["edges"][inner], 0.0, atol=1e-5)
    for name in ("sharpen", "box_mean", "gaussian_blur"):
        np.testing.assert_allclose(outs[name][inner], 7.0, rtol=1e-6)


# ------------------------------------------------------------------------------ CNN prototype

def _torch_prototype(classes: int = 10):
    """[conv-relu-conv-relu-pool] x 3 -> fc, written in torch with our layer names."""
    from torch import nn

    def stage(cin: int, cout: int) -> nn.Module:
        m = nn.Module()
        m.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        m.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        m.forward = lambda x: nn.functional.max_pool2d(
            m.conv2(m.conv1(x).relu()).relu(), 2)
        return m

    net = nn.Module()
    net.stage1, net.stage2, net.stage3 = stage(3, 16), stage(16, 32), stage(32, 64)
    net.fc = nn.Linear(64 * 4 * 4, classes)
    net.forward = lambda x: net.fc(net.stage3(net.stage2(net.stage1(x))).flatten(1)).softmax(1)
    return net


def _torch_convnetjs(classes: int = 10):
    from torch import nn
    net = nn.Module()
    net.conv1, net.conv2, net.conv3 = (nn.Conv2d(3, 16, 5, padding=2),
                                       nn.Conv2d(16, 20, 5, padding=2),
                                       nn.Conv2d(20, 20, 5, padding=2))
    net.fc = nn.Linear(20 * 4 * 4, classes)

    def forward(x):
        for conv in (net.conv1, net.conv2, net.conv3):
            x = nn.functional.max_pool2d(conv(x).relu(), 2)
        return net.fc(x.flatten(1)).softmax(1)
    net.forward = forward
    return net


@pytest.mark.parametrize("network, build", [("cnn_prototype", _torch_prototype),
                                            ("convnetjs_cifar10", _torch_convnetjs)],
                         ids=["cnn_prototype", "convnetjs_cifar10"])
def test_prototype_matches_torch(network, build, torch):
    torch.manual_seed(0)
    ref = build()
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    g = netdsl.load(PROTOTYPE, network)
    assert g.stats.tensors() == {k: v.shape for k, v in state.items()}
    assert g.stats.params == sum(p.numel() for p in ref.parameters())
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ours = netdsl.run(netdsl.compile(PROTOTYPE, network, weights=state), {"image": x})["probs"]
    with torch.no_grad():
        np.testing.assert_allclose(ours, ref(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-6)


def test_prototype_parameter_count_by_hand():
    # conv k x k: (cin * k * k + 1) * cout; fc: (c * h * w + 1) * classes
    conv = [(3, 16), (16, 16), (16, 32), (32, 32), (32, 64), (64, 64)]
    expected = sum((cin * 9 + 1) * cout for cin, cout in conv) + (64 * 4 * 4 + 1) * 10
    assert netdsl.load(PROTOTYPE, "cnn_prototype").stats.params == expected == 82_330


def test_prototype_classes_is_a_parameter():
    g = netdsl.load(PROTOTYPE, "cnn_prototype", params={"classes": 100})
    assert g.stats.params == 82_330 + 64 * 4 * 4 * 90 + 90
    assert g.stats.by_name()[g.graph.outputs["probs"]].shape == ("N", 100)
