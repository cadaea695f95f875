"""The classic families against their references, computed inside the tests: AlexNet, VGG 11 to
19 with and without batch norm, and ResNet 18 to 152 against torchvision; the paper's AlexNet
against a torch model written here from the paper's equations.

- Every torchvision model: our parameter and buffer names, shapes and order equal its
  state_dict, and the parameter counts are equal (models built on torch's "meta" device: shapes
  without memory or init time).
- Outputs: torchvision's model, seeded, in eval mode and with random batch-norm statistics, and
  our compiled ONNX with its weights loaded by name, on the same random input: max relative
  error <= 1e-4. A VGG costs about 10 s on two cores (530 MB of weights are serialised and
  loaded by onnxruntime), so by default one member of each family and of each ResNet block
  kind is compared: alexnet (also at 256, where its adaptive pooling is not the identity),
  vgg11_bn, resnet18 (basic units), resnet50 (bottlenecks). NETDSL_ZOO_ALL=1 compares all.
- ResNet-50: the output shape of every torchvision module (forward hooks) equals ours.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import pytest

import netdsl
from conftest import ZOO, check_text, cli, rendered
from torchvision_ref import assert_same_tensors, compare_outputs, randomize_bn

if TYPE_CHECKING:
    from torch import nn

ALEXNET, VGG, RESNET = ZOO / "alexnet.net", ZOO / "vgg.net", ZOO / "resnet.net"
TORCHVISION = {
    "alexnet": ALEXNET,
    **{f"vgg{d}{bn}": VGG for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": RESNET for d in (18, 34, 50, 101, 152)},
}
ALL = os.environ.get("NETDSL_ZOO_ALL") == "1"
COMPARED = list(TORCHVISION) if ALL else ["alexnet", "vgg11_bn", "resnet18", "resnet50"]
TOLERANCE = 1e-4


def _torchvision(name: str, seed: int = 0) -> nn.Module:
    import torch
    import torchvision
    torch.manual_seed(seed)
    return randomize_bn(getattr(torchvision.models, name)(weights=None), seed).eval()


@pytest.mark.parametrize("name", TORCHVISION)
def test_state_dict_equals_torchvision(name, torch, torchvision):
    with torch.device("meta"):
        model = getattr(torchvision.models, name)(weights=None)
    assert_same_tensors(TORCHVISION[name], name, model, ordered=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", COMPARED)
def test_outputs_equal_torchvision(name, torchvision):
    err = compare_outputs(TORCHVISION[name], name, _torchvision(name), (2, 3, 224, 224))
    assert err <= TOLERANCE


@pytest.mark.slow
def test_alexnet_at_256_pools_adaptively_as_torchvision(torchvision):
    """At 256 the features are 7x7 and the adaptive pool to 6x6 has windows of 2 (overlapping):
    the averaging-matrix lowering, not the identity."""
    graph = netdsl.load(ALEXNET, "alexnet", params={"size": 256}).graph
    assert graph.node("avgpool").shape == ("N", 256, 6, 6)
    assert graph.node(graph.inputs_of("avgpool")[0]).shape == ("N", 256, 7, 7)
    err = compare_outputs(ALEXNET, "alexnet", _torchvision("alexnet"), (2, 3, 256, 256), size=256)
    assert err <= TOLERANCE


def test_resnet50_layer_shapes_equal_torchvision(torch, torchvision):
    """Every torchvision module's output (the last call of a reused module such as a block's
    relu) has our shape: a module named like one of our layers, or a container (layer2,
    layer2.0, layer2.0.downsample) against the last layer of our scope of that name."""
    with torch.device("meta"):
        model = torchvision.models.resnet50(weights=None).eval()
    theirs: dict[str, tuple[int, ...]] = {}
    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(
                lambda m, i, o, name=name: theirs.__setitem__(name, tuple(o.shape)))
    with torch.no_grad():
        model(torch.empty(2, 3, 224, 224, device="meta"))

    graph = netdsl.load(RESNET, "resnet50").graph
    ours: dict[str, tuple[int, ...]] = {}
    for node in graph.nodes():
        shape = tuple(2 if isinstance(d, str) else d for d in node.shape)
        parts = node.name.split(".")
        for k in range(1, len(parts) + 1):  # a layer, and the scopes it ends (last wins)
            ours[".".join(parts[:k])] = shape
    assert len(theirs) == len(list(model.modules())) - 1 == 150
    differ = {k: (ours.get(k), v) for k, v in theirs.items() if ours.get(k) != v}
    assert not differ, f"(ours, torchvision): {differ}"


# ------------------------------------------------------------------- the paper's AlexNet

def paper_alexnet() -> nn.Module:
    """Section 3 and Figure 2: the layer sizes, groups (one per GPU) and the order
    conv -> ReLU -> response norm -> overlapping max pool."""
    import torch
    from torch import nn

    class PaperLRN(nn.Module):
        """Section 3.3: b_i = a_i / (k + alpha * sum_j a_j^2)^beta, j over the n channels
        around i (within 0 .. N-1), with k = 2, n = 5, alpha = 1e-4, beta = 0.75. alpha
        multiplies the plain sum here (torch's LocalResponseNorm would divide it by n)."""

        def __init__(self, k: float = 2.0, n: int = 5, alpha: float = 1e-4, beta: float = 0.75):
            super().__init__()
            self.k, self.n, self.alpha, self.beta = k, n, alpha, beta

        def forward(self, a: torch.Tensor) -> torch.Tensor:
            c, half = a.shape[1], self.n // 2
            sq = nn.functional.pad(a * a, (0, 0, 0, 0, half, half))  # zero channels at the ends
            total = sum(sq[:, j:j + c] for j in range(self.n))
            return a / (self.k + self.alpha * total) ** self.beta

    torch.manual_seed(0)
    pool = lambda: nn.MaxPool2d(3, 2)  # noqa: E731
    layers = OrderedDict([
        ("conv1", nn.Conv2d(3, 96, 11, 4)), ("relu1", nn.ReLU()), ("norm1", PaperLRN()),
        ("pool1", pool()),
        ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=2)), ("relu2", nn.ReLU()),
        ("norm2", PaperLRN()), ("pool2", pool()),
        ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
        ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=2)), ("relu4", nn.ReLU()),
        ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=2)), ("relu5", nn.ReLU()),
        ("pool5", pool()), ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(9216, 4096)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout()),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout()),
        ("fc8", nn.Linear(4096, 1000)), ("softmax", nn.Softmax(dim=1)),
    ])
    model = nn.Sequential(layers).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.uniform_(m.bias, -0.1, 0.1)
        model.conv1.weight.mul_(50)  # as if the input were pixels: the norms' sums matter
        model.fc8.weight.mul_(0.1)  # logits of std ~3: a softmax neither flat nor one-hot
    return model


@pytest.mark.slow
def test_paper_alexnet_names_and_count(torch):
    assert_same_tensors(ALEXNET, "alexnet_paper", paper_alexnet(), ordered=True)
    assert netdsl.load(ALEXNET, "alexnet_paper").stats.params == 60_965_224  # "60 million"


@pytest.mark.slow
def test_paper_alexnet_outputs_equal_the_papers_equations(torch):
    model = paper_alexnet()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 227, 227))).float()
    with torch.no_grad():
        relu1, norm1, probs = model[:2](x), model[:3](x), model(x)
    # this means something only if the sum in the norm matters (beside k) and the softmax is
    # neither flat nor one-hot; compare_outputs draws this same input (seed 0)
    plain = relu1 / 2 ** 0.75
    assert ((plain - norm1).abs() / plain.clamp_min(1e-6)).max() > 0.2
    assert 10 / 1000 < probs.max() < 0.9
    err = compare_outputs(ALEXNET, "alexnet_paper", model, (2, 3, 227, 227))
    assert err <= TOLERANCE


def test_paper_alexnet_neurons_per_layer():
    """Section 3: "the number of neurons in the network's remaining layers is given by
    253,440-186,624-64,896-64,896-43,264-4096-4096-1000". The first figure is the paper's own
    inconsistency: its 55x55x96 conv1 output (Figure 2) is 290,400 neurons; the rest agree."""
    stats = netdsl.load(ALEXNET, "alexnet_paper").stats
    sizes = [int(np.prod(lay.shape[1:])) for lay in stats.layers if lay.op in ("conv", "dense")]
    assert sizes == [55 * 55 * 96, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert sizes[0] == 290_400 != 253_440


def test_paper_alexnet_at_224_shows_the_fraction():
    code, _, err = cli("check", str(ALEXNET), "--network", "alexnet_paper", "--set", "size=224")
    assert code == 1
    assert "alexnet.net:36:32: error[E302]: conv: stride 4 does not tile the input height 224: " \
           "(224 - 11 + 2*0)/4 + 1 = 54.25: fractions are illegal" in err


# --------------------------------------------------------------------- choosing a member

@pytest.mark.parametrize(("path", "network", "setting", "message", "keys"), [
    (RESNET, "resnet", "depth=20", "the table has no entry 20", "18, 34, 50, 101, 152"),
    (VGG, "vgg", "config=C", 'the table has no entry "C"', '"A", "B", "D", "E"'),
], ids=["resnet-depth", "vgg-config"])
def test_a_member_outside_the_table_is_a_located_error(path, network, setting, message, keys):
    code, _, err = cli("check", str(path), "--network", network, "--set", setting)
    assert code == 1
    assert f"error[E212]: {message}" in err and f"= hint: its keys: {keys}" in err


@pytest.mark.parametrize(("name", "depth"), [("resnet18", 18), ("resnet152", 152)])
def test_family_parameter_and_alias_are_one_network(name, depth):
    via_alias = netdsl.load(RESNET, name).stats
    via_set = netdsl.load(RESNET, "resnet", params={"depth": depth}).stats
    assert via_alias.tensors() == via_set.tensors() and via_alias.macs == via_set.macs


def test_compile_a_member_from_the_command_line(tmp_path):
    out = tmp_path / "r18.onnx"
    code, stdout, err = cli("compile", str(RESNET), "--network", "resnet18", "-o", str(out))
    assert code == 0, err
    assert "11,689,512 params" in stdout and out.stat().st_size > 11_689_512 * 4


# ------------------------------------------- what the language gained for these families

def test_a_table_key_given_twice_or_of_the_wrong_kind_is_located():
    text = ('network t(d = 1) {\n  input x: [N, 3, 8, 8]\n  n = {1: 2, 1: 3}[d]\n'
            '  m = {[1]: 2}\n  x -> output y\n}\n')
    assert rendered(text) == (
        "test.net:3:14: error[E211]: table key 1 is given twice\n"
        "  |\n"
        "3 |   n = {1: 2, 1: 3}[d]\n"
        "  |        - first entry\n"
        "  |              ^ second entry\n"
        "  |\n\n"
        "test.net:4:8: error[E212]: a table key must be a number, a string or a boolean, not a "
        "list\n"
        "  |\n"
        "4 |   m = {[1]: 2}\n"
        "  |        ^^^\n"
        "  |")


def test_reassigning_a_chain_from_itself_appends_like_sequential(torch):
    """`f = f -> ...` in a loop numbers layers on, as VGG's features.N; torch's nn.Sequential
    built by appending the same layers gives the same state_dict keys."""
    nn = torch.nn
    checked = check_text("""network t {
      input x: [N, 3, 8, 8]
      f = x
      for w in [4, 8] { f = f -> conv(w, 3, pad: 1) -> relu }
      f = f -> maxpool(2)
      g = f -> conv(2, 1) -> relu
      g -> output y
    }""")
    layers = [nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(),
              nn.MaxPool2d(2)]
    torch_keys = [f"f.{k}" for k in nn.Sequential(*layers).state_dict()]
    torch_keys += [f"g.{k}" for k in nn.Sequential(nn.Conv2d(8, 2, 1), nn.ReLU()).state_dict()]
    assert list(checked.stats.tensors()) == torch_keys
    assert [n.name for n in checked.graph.nodes()][1:] == ["f.0", "f.1", "f.2", "f.3", "f.4",
                                                           "g.0", "g.1"]
