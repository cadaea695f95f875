"""Analyses checked by hand, without torch: activation memory and its peak (a hand-computed
schedule), the receptive field of global layers, and the W301 warning where joined branches
disagree on their receptive fields' centres or jumps. tests/test_analysis.py checks the
analyses against torch."""

from __future__ import annotations

from itertools import pairwise

from conftest import check_text, floored_net, rf_of
from netdsl.diagnostics import render

UNET_LIKE = """
network u {
  input x: [N, 1, 8, 8]
  a = x -> conv(4, 3, pad: 1)
  b = a -> maxpool(2)
  c = b -> conv(4, 3, pad: 1)
  d = c -> upsample(scale: 2)
  output y = concat(a, d)
}
"""


def test_peak_memory_keeps_the_skip_alive_until_its_concat():
    # Elements per tensor at batch 1: x 64, a 256, b 64, c 64, d 256, y 512. Running the layers
    # in order, a tensor lives from its layer until its last reader has run:
    #   x: 64 | a: 64 + 256 = 320, x dies -> 256 | b: 256 + 64 = 320 (a waits for the concat)
    #   c: 320 + 64 = 384, b dies -> 320 | d: 320 + 256 = 576, c dies -> 512
    #   y: 512 + 512 = 1024 (a and d are read by it; y is the output)
    stats = check_text(UNET_LIKE).stats
    assert stats.peak_bytes == 1024 * 4
    # were `a` freed after its first reader (b), the peak would be the concat alone: 768
    assert stats.peak_bytes > (256 + 512) * 4


def test_peak_memory_of_a_chain_is_the_largest_neighbouring_pair():
    text = ("network c {\n  input x: [N, 1, 8, 8]\n  x -> conv(8, 3, pad: 1) -> relu -> "
            "maxpool(2) -> conv(2, 1) -> output y\n}\n")
    sizes = [64, 512, 512, 128, 32]  # x, conv, relu, maxpool, conv
    assert check_text(text).stats.peak_bytes == max(map(sum, pairwise(sizes))) * 4


# ---------------------------------------------------------------------------- receptive fields

def test_global_layers_see_the_whole_input():
    rf = rf_of(floored_net("x -> conv(2, 3) -> globalavgpool -> flatten -> output y"))
    assert rf.is_global


def _warnings(text: str) -> list:
    return check_text(text).stats.warnings


def test_misaligned_centres_warn():
    text = floored_net("a = x -> conv(4, 3)\n  b = x -> crop(size: [7, 7]) -> conv(4, 2)\n"
                       "  output y = concat(a, b)", "[N, 1, 8, 8]")
    (w,) = _warnings(text)
    assert w.code == "W301" and w.severity.value == "warning"
    assert "jumps 1 vs 1" in w.message and "centres 1.5 vs 1" in w.message
    assert render(w).startswith("test.net:6:14: warning[W301]: concat `y` joins branches")


def test_misaligned_jumps_warn():
    text = floored_net("a = x -> avgpool(2)\n  b = x -> crop(size: [4, 4])\n  output y = a + b",
                       "[N, 1, 8, 8]")
    (w,) = _warnings(text)
    assert w.code == "W301" and "jumps 2 vs 1" in w.message


UNET_LEVEL = """
network unet_level {
  input x: [N, 1, 28, 28]
  skip = x -> conv(4, 3) -> relu -> conv(4, 3) -> relu            # 24, the copy
  down = skip -> maxpool(2) -> conv(8, 3) -> relu -> conv(8, 3)   # 12 -> 8
  up = down -> conv_transpose(4, 2, stride: 2)                    # 16
  output y = concat(crop(skip, like: up), up) -> conv(4, 3)
}
"""


def test_a_cropped_unet_skip_is_aligned():
    assert _warnings(UNET_LEVEL) == []


def test_an_uncentred_crop_of_the_skip_warns():
    text = UNET_LEVEL.replace("crop(skip, like: up)", "crop(pad(skip, [0, 0, 2, 2]), like: up)")
    assert [w.code for w in _warnings(text)] == ["W301"]


def test_padded_unet_with_bilinear_upsampling_is_aligned():
    text = """
network padded {
  input x: [N, 1, 32, 32]
  skip = x -> conv(4, 3, pad: 1) -> conv(4, 3, pad: 1)
  down = skip -> maxpool(2) -> conv(8, 3, pad: 1) -> upsample(scale: 2, mode: "bilinear")
  output y = concat(skip, down)
}
"""
    assert _warnings(text) == []
