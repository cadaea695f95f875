"""Segmentation networks of the zoo (zoo/fcn.net, zoo/unet.net) against their references:
torchvision's fcn_resnet50 (names, shapes, parameter count, outputs), the FCN paper's VGG16
nets, and U-Net's feature-map sizes and parameter count from Ronneberger et al. 2015. The tests
that build a torch or torchvision model skip without torch."""

from __future__ import annotations

import numpy as np
import pytest

import netdsl
from conftest import ZOO, rendered
from torchvision_ref import assert_same_tensors, compare_outputs, max_relative_error

FCN = ZOO / "fcn.net"
UNET = ZOO / "unet.net"


def _randomise_bn_stats(model, seed: int = 0) -> None:
    """Fresh BNs hold mean 0, variance 1: an implementation that ignored the running statistics
    would still match. Random ones make the comparison see them."""
    import torch
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.fixture(scope="module")
def torch_fcn_resnet50(torch, torchvision):
    from torchvision.models.segmentation import fcn_resnet50
    torch.manual_seed(0)
    model = fcn_resnet50(weights=None, weights_backbone=None, aux_loss=False).eval()
    _randomise_bn_stats(model)
    return model


def test_fcn_resnet50_has_torchvisions_state_dict(torch_fcn_resnet50):
    assert_same_tensors(FCN, "fcn_resnet50", torch_fcn_resnet50)


@pytest.mark.slow
def test_fcn_resnet50_matches_torchvision_numerically(torch_fcn_resnet50):
    err = compare_outputs(FCN, "fcn_resnet50", torch_fcn_resnet50, (1, 3, 64, 64),
                          select=lambda r: r["out"], H=64, W=64)
    assert err <= 1e-4


def test_fcn_resnet50_has_output_stride_8_and_returns_the_input_size():
    g = netdsl.load(FCN, "fcn_resnet50", params={"H": 96, "W": 96})
    layers = g.stats.by_name()
    assert layers["backbone.layer4.2.conv3"].shape == ("N", 2048, 12, 12)  # 96 / 8
    assert layers["backbone.layer4.2.conv2"].op == "conv"
    assert layers[g.graph.outputs["out"]].shape == ("N", 21, 96, 96)


def test_fcn_resnet50_convolution_cost_matches_torchvisions_published_ops(torchvision):
    # torchvision's meta gives 152.717 G multiply-adds of convolutions at 520x520, for the model
    # its weights come with: aux_loss=True, an FCNHead(1024, 21) on layer3 (65x65) on top
    from torchvision.models.segmentation import FCN_ResNet50_Weights
    published = FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1.meta["_ops"]
    g = netdsl.load(FCN, "fcn_resnet50", params={"H": 520, "W": 520})
    convs = sum(lay.macs for lay in g.stats.layers if lay.op == "conv")
    aux = 65 * 65 * 256 * 1024 * 3 * 3 + 65 * 65 * 21 * 256
    assert round((convs + aux) / 1e9, 3) == published


# --------------------------------------------------------------------------------------- U-Net

# Ronneberger et al. 2015, Fig. 1: (size, channels) of every feature map, top to bottom of the
# contracting path, then up the expanding path; the concatenations (white + blue boxes) too.
UNET_FIG1 = [
    (572, 1), (570, 64), (568, 64),
    (284, 64), (282, 128), (280, 128),
    (140, 128), (138, 256), (136, 256),
    (68, 256), (66, 512), (64, 512),
    (32, 512), (30, 1024), (28, 1024),
    (56, 512), (56, 1024), (54, 512), (52, 512),
    (104, 256), (104, 512), (102, 256), (100, 256),
    (200, 128), (200, 256), (198, 128), (196, 128),
    (392, 64), (392, 128), (390, 64), (388, 64),
    (388, 2),
]


def _feature_maps(graph) -> list[tuple[int, int]]:
    """(size, channels) after every layer that changes them, in order: ReLUs and crops of the
    copied maps add nothing to the figure."""
    maps = []
    for lay in graph.stats.layers:
        if lay.op in ("input", "conv", "maxpool", "conv_transpose", "concat"):
            assert lay.shape[2] == lay.shape[3]
            maps.append((lay.shape[2], lay.shape[1]))
    return maps


def test_unet_feature_maps_equal_the_papers_figure():
    assert _feature_maps(netdsl.load(UNET, "unet")) == UNET_FIG1


def test_unet_crops_the_copied_maps_to_the_upsampled_size():
    layers = netdsl.load(UNET, "unet").stats.layers
    crops = [(lay.name, lay.shape[2]) for lay in layers if lay.op == "crop"]
    assert [size for _, size in crops] == [56, 104, 200, 392]  # from 64, 136, 280, 568


@pytest.mark.parametrize("size", [64, 256, 512])
def test_padded_unet_preserves_the_input_size(size):
    g = netdsl.load(UNET, "unet_padded", params={"H": size, "W": size})
    assert g.stats.by_name()[g.graph.outputs["scores"]].shape == ("N", 2, size, size)
    # every 3x3 convolution keeps its level's size: only the pools and up-convolutions change it
    assert {lay.shape[2] for lay in g.stats.layers} == {size >> k for k in range(5)}
    assert g.stats.params == netdsl.load(UNET, "unet").stats.params


def test_unet_rejects_a_size_its_pools_cannot_halve():
    from netdsl import NetdslError
    with pytest.raises(NetdslError) as e:
        # 570 -> 285 -> 283: an odd map under a 2x2 pool
        netdsl.load(UNET, "unet", params={"H": 574, "W": 574})
    assert e.value.diagnostics[0].code == "E302"


def _torch_unet(pad: int, classes: int = 2):
    """The paper's U-Net in torch, with our layer names; crop = centre crop."""
    import torch
    from torch import nn

    def double(cin: int, cout: int) -> nn.Module:
        m = nn.Module()
        m.conv1, m.conv2 = nn.Conv2d(cin, cout, 3, padding=pad), nn.Conv2d(cout, cout, 3,
                                                                            padding=pad)
        m.forward = lambda x: m.conv2(m.conv1(x).relu()).relu()
        return m

    def up(cin: int) -> nn.Module:
        m = nn.Module()
        m.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        m.conv = double(cin, cin // 2)

        def forward(x, skip):
            u = m.up(x)
            dy, dx = (skip.shape[2] - u.shape[2]) // 2, (skip.shape[3] - u.shape[3]) // 2
            skip = skip[:, :, dy:dy + u.shape[2], dx:dx + u.shape[3]]
            return m.conv(torch.cat([skip, u], 1))
        m.forward = forward
        return m

    net = nn.Module()
    net.down1 = double(1, 64)
    net.down2, net.down3, net.down4, net.bottom = (nn.Sequential(nn.MaxPool2d(2), double(c, 2 * c))
                                                   for c in (64, 128, 256, 512))
    net.up4, net.up3, net.up2, net.up1 = (up(c) for c in (1024, 512, 256, 128))
    net.head = nn.Conv2d(64, classes, 1)

    def forward(x):
        d1 = net.down1(x)
        d2 = net.down2(d1)
        d3 = net.down3(d2)
        d4 = net.down4(d3)
        u = net.up4(net.bottom(d4), d4)
        return net.head(net.up1(net.up2(net.up3(u, d3), d2), d1))
    net.forward = forward
    return net


@pytest.mark.slow
@pytest.mark.parametrize("network, pad, size", [("unet", 0, 188), ("unet_padded", 1, 32)],
                         ids=["original", "padded"])
def test_unet_matches_a_torch_unet(network, pad, size, torch):
    torch.manual_seed(0)
    ref = _torch_unet(pad).eval()
    assert sum(p.numel() for p in ref.parameters()) == 31_030_658  # the count the file expects
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    assert netdsl.load(UNET, network, params={"H": size, "W": size}).stats.tensors() == \
        {k: v.shape for k, v in state.items()}
    x = np.random.default_rng(0).standard_normal((1, 1, size, size)).astype(np.float32)
    model = netdsl.compile(UNET, network, {"H": size, "W": size}, weights=state)
    ours = netdsl.run(model, {"image": x})["scores"]
    with torch.no_grad():
        theirs = ref(torch.from_numpy(x)).numpy()
    assert max_relative_error(ours, theirs) <= 1e-4


# ----------------------------------------------------------------------------- FCN on VGG16

FCN_VGG = ["fcn32s", "fcn16s", "fcn8s"]


def _coordinate_maps(graph) -> dict[str, tuple[float, float]]:
    """For every layer, (a, b) such that output index y along an axis sits over input-image
    index a * y + b: the coordinate mapping by which the FCN authors' Caffe models place their
    crops. conv and pool: y_in = s * y + d * (k - 1) / 2 - p; transposed conv: its inverse;
    crop: y_in = y + offset. Where branches are added, they must already agree."""
    maps: dict[str, tuple[float, float]] = {}
    for node in graph.nodes():
        op, ins = node.op, [maps[i] for i in graph.inputs_of(node)]
        if not ins:
            maps[node.name] = (1.0, 0.0)
            continue
        a, b = ins[0]
        if op.name in ("conv", "maxpool"):
            k, s, p, d = op.kernel, op.stride or op.kernel, op.pad, op.dilation
            maps[node.name] = (a * s, a * (d * (k - 1) / 2 - p) + b)
        elif op.name == "conv_transpose":
            k, s, p = op.kernel, op.stride, op.pad
            maps[node.name] = (a / s, a * (p - (k - 1) / 2) / s + b)
        elif op.name == "crop":
            maps[node.name] = (a, a * op.offset + b)
        else:
            assert all(m == ins[0] for m in ins), f"{node.name} adds misaligned maps {ins}"
            maps[node.name] = ins[0]
    return maps


@pytest.mark.parametrize("network", FCN_VGG)
def test_fcn_crops_align_the_scores_with_the_image(network):
    g = netdsl.load(FCN, network).graph
    maps = _coordinate_maps(g)  # asserts that every skip is added where it lines up
    assert maps[g.outputs["score"]] == (1.0, 0.0)  # score pixel (i, j) is image pixel (i, j)
    assert maps["score_fr"] == (32.0, 12.5)  # fc6's window centre on the padded image


@pytest.mark.parametrize("network", FCN_VGG)
@pytest.mark.parametrize("size", [32, 100, 500])
def test_fcn_output_has_the_input_size(network, size):
    # conv1_1's pad of 100 lets any size through fc6's 7x7 window (500: PASCAL's largest)
    g = netdsl.load(FCN, network, params={"H": size, "W": size})
    assert g.stats.by_name()[g.graph.outputs["score"]].shape == ("N", 21, size, size)


def test_fcn_vgg16_is_vgg16_made_fully_convolutional(torch, torchvision):
    """The paper's recipe: VGG16's layers, fully connected ones as convolutions (the rewrite
    of zoo/vgg.net), then a new score layer; torchvision's vgg16 weights transplant by name."""
    from torchvision.models import vgg16

    from netdsl import rewrite
    from netdsl.analysis import analyze
    fcn = netdsl.load(FCN, "fcn32s").stats.tensors()
    vgg16_graph = netdsl.load(ZOO / "vgg.net", "vgg16").graph
    vgg = analyze(rewrite.fully_convolutional(vgg16_graph)).tensors()
    shared = [k for k in vgg if not k.startswith("classifier.6.")]
    assert {k: fcn[k] for k in shared} == {k: vgg[k] for k in shared}
    assert fcn["classifier.0.weight"] == (4096, 512, 7, 7)  # fc6
    assert fcn["classifier.3.weight"] == (4096, 4096, 1, 1)  # fc7
    with torch.device("meta"):
        state = {k: np.empty(v.shape, np.float32) for k, v in vgg16().state_dict().items()}
    moved = rewrite.convert_weights(state, fcn)
    assert all(moved[k].shape == fcn[k] for k in shared)


def test_fcn_parameter_counts_against_table_1(torch, torchvision):
    from torchvision.models import vgg16
    with torch.device("meta"):
        vgg_params = sum(p.numel() for p in vgg16().parameters())
    learned = vgg_params - (4096 + 1) * 1000 + (4096 + 1) * 21  # 1000 classes -> 21 scores
    assert round(learned / 1e6) == 134  # Table 1: FCN-VGG16, 134M parameters
    stats = {n: netdsl.load(FCN, n).stats for n in FCN_VGG}
    # FCN-32s: plus its 64x64 stride-32 upsampling, fixed bilinear in the paper
    assert stats["fcn32s"].params == learned + 21 * 21 * 64 * 64
    # FCN-8s: a 1x1 score layer per skip, two learned 2x upsamplings, a 16x16 final one
    assert stats["fcn8s"].params == learned + (512 + 1) * 21 + (256 + 1) * 21 \
        + 2 * 21 * 21 * 4 * 4 + 21 * 21 * 16 * 16


def test_crop_offset_starts_the_crop_there():
    # FCN's crops start at an offset instead of the centre: x[..., 1:4, 2:5]
    text = "network n {\n  input x: [N, 2, 6, 6]\n  x -> crop(size: [3, 3], offset: [1, 2]) " \
           "-> output y\n}\n"
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6)).astype(np.float32)
    np.testing.assert_array_equal(netdsl.run(netdsl.loads(text), {"x": x})["y"], x[:, :, 1:4, 2:5])


def test_crop_offset_past_the_end_is_an_error():
    assert rendered("""network n {
  input x: [N, 2, 6, 6]
  x -> crop(size: [4, 4], offset: [1, 3]) -> output y
}""") == """\
test.net:3:27: error[E303]: crop: a crop of [4, 4] from offset [1, 3] runs past the end of \
[N, 2, 6, 6]
  |
3 |   x -> crop(size: [4, 4], offset: [1, 3]) -> output y
  |   - [N, 2, 6, 6]
  |                           ^^^^^^^^^^^^^^
  |"""
