"""The lecture's worked numbers (I2DL, Niessner and Leal-Taixé: slides 3 to 5, 1x1 convolutions,
max pooling), written as .net programs with fixed weights and run on onnxruntime."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import netdsl

SIGNAL = [4, 3, 2, -5, 3, 5, 2, 5, 5, 6]
IMAGE = [[-5, 3, 2, -5, 3], [4, 3, 2, 1, -3], [1, 0, 3, 3, 5], [-2, 0, 1, 4, 4],
         [5, 6, 7, 9, -1]]


def run(body: str, **inputs: list) -> np.ndarray:
    """Run `network t { body }` on the given inputs (lists, batch 1, channel 1 added)."""
    model = netdsl.compile(netdsl.loads(f"network t {{\n{body}\n}}"))
    feeds = {k: np.asarray(v, np.float32)[None, None] for k, v in inputs.items()}
    return netdsl.run(model, feeds, provider="cpu")["y"][0, 0]


def exact(*values: Fraction | int) -> np.ndarray:
    return np.array([float(Fraction(v)) for v in values])


# slide 3: the 1-D box filter (1/3, 1/3, 1/3), shrinking or zero padding at the boundaries
BOX_1D = "input s: [N, 1, 10]\ns -> conv(1, 3, weights: [1, 1, 1] / 3, bias: false{}) -> output y"


def test_box_filter_1d_shrinks_without_padding():
    y = run(BOX_1D.format(""), s=SIGNAL)
    expected = exact(3, 0, 0, 1, Fraction(10, 3), 4, 4, Fraction(16, 3))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pad", ["1", "same"])
def test_box_filter_1d_with_zero_padding(pad):
    y = run(BOX_1D.format(f", pad: {pad}"), s=SIGNAL)
    expected = exact(Fraction(7, 3), 3, 0, 0, 1, Fraction(10, 3), 4, 4, Fraction(16, 3),
                      Fraction(11, 3))
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


# slide 4: a 5x5 image and a 3x3 (sharpen) kernel give a 3x3 output; all integers: exact
def test_convolution_on_the_5x5_image():
    y = run("input image: [N, 1, 5, 5]\n"
            "image -> conv(1, 3, weights: [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], bias: false)"
            " -> output y", image=IMAGE)
    np.testing.assert_array_equal(y, [[6, 1, 8], [-7, 9, 2], [-5, -9, 3]])


def test_max_pooling_2x2_stride_2():
    y = run("input x: [N, 1, 4, 4]\nx -> maxpool(2, stride: 2) -> output y",
            x=[[3, 1, 3, 5], [6, 0, 7, 9], [3, 2, 1, 4], [0, 2, 4, 3]])
    np.testing.assert_array_equal(y, [[6, 9], [3, 4]])


def test_1x1_convolution_of_weight_2_doubles_the_image():
    y = run("input image: [N, 1, 5, 5]\n"
            "image -> conv(1, 1, weights: [[2]], bias: false) -> output y", image=IMAGE)
    np.testing.assert_array_equal(y, 2 * np.array(IMAGE))


# slide 5: image filters, compared with a numpy reference (cross-correlation, as CNNs compute)
FILTERS = {
    "edge": ("[[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]",
             np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])),
    "sharpen": ("[[0, -1, 0], [-1, 5, -1], [0, -1, 0]]",
                np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
    "box mean": ("[[1, 1, 1], [1, 1, 1], [1, 1, 1]] / 9", np.ones((3, 3)) / 9),
    "gaussian blur": ("[[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16",
                      np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
}


def correlate(image: np.ndarray, kernel: np.ndarray, pad: int) -> np.ndarray:
    padded = np.pad(image, pad)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)
    return np.einsum("hwij,ij->hw", windows, kernel)


@pytest.mark.parametrize("name", FILTERS)
@pytest.mark.parametrize("pad", [0, 1])
def test_image_filters_equal_numpy(name, pad):
    rng = np.random.default_rng(42)
    # a test image with structure: a bright square, a gradient and noise
    image = np.add.outer(np.arange(24.0), np.arange(20.0)) / 4 + rng.normal(0, 1, (24, 20))
    image[6:14, 5:12] += 10
    literal, kernel = FILTERS[name]
    y = run("input image: [N, 1, 24, 20]\n"
            f"image -> conv(1, 3, weights: {literal}, pad: {pad}, bias: false) -> output y",
            image=image.astype(np.float32).tolist())
    ref = correlate(image.astype(np.float32).astype(np.float64), kernel, pad)
    assert y.shape == ref.shape == (22 + 2 * pad, 18 + 2 * pad)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-4)
