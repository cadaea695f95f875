"""`netdsl summary` and `netdsl explain` through the CLI, on a ResNet-50 written inline with
torchvision's layer names; torchvision's resnet50, built in the test, is the reference for every
layer's output shape and parameter count (those tests skip without torch)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import RESNET50, ROOT, ZOO, cli

if TYPE_CHECKING:
    from torch import nn


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("summary") / "resnet.net"
    p.write_text(RESNET50, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def torch_resnet50(torch, torchvision) -> tuple[nn.Module, dict[str, tuple[int, ...]]]:
    """torchvision's resnet50 and the output shape of each of its leaf modules that runs once.
    NOTE: on the meta device: shapes and counts without initialising or computing anything."""
    with torch.device("meta"):
        model = torchvision.models.resnet50().eval()
    seen: dict[str, list[tuple[int, ...]]] = {}
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            mod.register_forward_hook(
                lambda m, i, o, name=name: seen.setdefault(name, []).append(tuple(o.shape)))
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    return model, {k: v[0] for k, v in seen.items() if len(v) == 1}


def summary_json(path: Path, *args: str) -> dict:
    code, out, err = cli("summary", str(path), "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def test_every_layer_matches_torchvision_resnet50(resnet50_file, torch_resnet50):
    model, shapes = torch_resnet50
    data = summary_json(resnet50_file)
    rows = {r["name"]: r for r in data["layers"]}
    modules = dict(model.named_modules())
    compared = 0
    for name, shape in shapes.items():
        if name in rows:  # every conv, bn, pool and fc; relu runs several times in torch
            assert rows[name]["shape"] == ["N", *shape[1:]], name
            own = sum(p.numel() for p in modules[name].parameters(recurse=False))
            assert rows[name]["params"] == own, name
            compared += 1
    assert compared == 53 + 53 + 3  # convs, batch norms; maxpool, avgpool, fc
    assert data["totals"]["params"] == sum(p.numel() for p in model.parameters())
    running = [b for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")]
    assert data["totals"]["buffers"] == sum(b.numel() for b in running)
    assert data["tensors"] == {k: list(v.shape) for k, v in model.state_dict().items()
                               if not k.endswith("num_batches_tracked")}


def test_text_summary_has_every_column_and_the_totals(resnet50_file, torch_resnet50):
    model, _ = torch_resnet50
    code, out, _ = cli("summary", str(resnet50_file))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"network resnet50 ({resnet50_file})"
    assert lines[1].split() == ["name", "op", "output", "shape", "params", "MACs", "RF", "jump"]
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert conv1.split()[:2] == ["conv1", "conv"]
    assert "[N, 64, 112, 112]" in conv1
    assert f"{model.conv1.weight.numel():,}" in conv1
    assert conv1.split()[-2:] == ["7", "2"]  # a 7x7 field, jump 2
    total = sum(p.numel() for p in model.parameters())
    assert f"params {total:,}" in out and "peak activations" in out and "at batch 1" in out
    assert all(len(line) <= 100 for line in lines)


def test_depth_folds_blocks_into_torchvisions_stages(resnet50_file, torch_resnet50):
    model, _ = torch_resnet50
    data = summary_json(resnet50_file, "--depth", "1")
    rows = {r["name"]: r for r in data["layers"]}
    assert data["depth"] == 1
    for stage, blocks in (("layer1", 3), ("layer2", 4), ("layer3", 6), ("layer4", 3)):
        mod = getattr(model, stage)
        assert rows[stage]["params"] == sum(p.numel() for p in mod.parameters())
        assert rows[stage]["op"].endswith("layers")
        assert len(mod) == blocks
    assert rows["layer4"]["shape"] == ["N", 2048, 7, 7]
    assert sum(r["params"] for r in data["layers"]) == data["totals"]["params"]
    code, out, _ = cli("summary", str(resnet50_file), "--depth", "2")
    assert code == 0 and re.search(r"^layer3\.5 +\d+ layers +\[N, 1024, 14, 14\]", out, re.M)


def test_text_fits_100_columns_with_long_names(net_file):
    long = RESNET50.replace("layer", "an_unusually_long_stage_name_for_layer").replace(
        "downsample", "projection_shortcut_with_a_long_name")
    code, out, _ = cli("summary", str(net_file(long)))
    assert code == 0
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any("…" in line for line in lines)  # long names keep their ends
    conv1 = next(line for line in lines if line.startswith("conv1 "))
    assert conv1.split()[-2:] == ["7", "2"]


def test_markdown_has_one_row_per_layer(resnet50_file):
    code, out, _ = cli("summary", str(resnet50_file), "--format", "markdown")
    data = summary_json(resnet50_file)
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| `")]
    assert len(rows) == len(data["layers"])
    assert out.startswith("### resnet50\n\n| name | op | output shape | params | MACs | RF |")


# --------------------------------------------------------------------------------------- JSON

def _documented(section: str) -> list[str]:
    text = (ROOT / "docs" / "summary-json.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", body, re.M)


def test_json_keys_are_the_documented_ones(resnet50_file):
    data = summary_json(resnet50_file)
    assert list(data) == _documented("Top level")
    assert all(list(r) == _documented("A row of `layers`") for r in data["layers"])
    assert list(data["layers"][1]["rf"]) == _documented("`rf`")
    assert list(data["totals"]) == _documented("`totals`")
    assert data["schema"] == 1


def test_json_named_sizes_keys_are_the_documented_ones():
    data = summary_json(ROOT / "zoo" / "unet.net", "--network", "unet")
    assert list(data["named_sizes"]) == _documented("`named_sizes`")
    assert summary_json(ROOT / "zoo" / "lenet.net")["named_sizes"] is None


def test_json_is_stable(resnet50_file):
    assert cli("summary", str(resnet50_file), "--format", "json")[1] == \
        cli("summary", str(resnet50_file), "--format", "json")[1]


def test_the_documented_example_is_what_netdsl_prints(net_file):
    doc = (ROOT / "docs" / "summary-json.md").read_text(encoding="utf-8")
    source = re.search(r"```\n(network tiny.*?)```", doc, re.S).group(1)
    example = json.loads(re.search(r"```json\n(.*?)```", doc, re.S).group(1))
    data = summary_json(net_file(source, "tiny.net"))
    data["source"] = Path(data["source"]).name
    data["layers"] = data["layers"][:2]
    assert data == example


# ------------------------------------------------------------------------------------ explain

def test_explain_shows_the_lectures_arithmetic(resnet50_file, torch_resnet50, torch):
    from torch.utils.flop_counter import FlopCounterMode
    model, shapes = torch_resnet50
    code, out, _ = cli("explain", str(resnet50_file), "conv1")
    assert code == 0
    assert shapes["conv1"][2:] == (112, 112)
    assert "height: floor((224 - 7 + 2*3)/2) + 1 = 112" in out
    assert "width:  floor((224 - 7 + 2*3)/2) + 1 = 112" in out
    w = model.conv1.weight
    assert f"weight {' x '.join(map(str, w.shape))} = {w.numel():,}" in out
    with FlopCounterMode(display=False) as counter:
        model.conv1(torch.zeros(1, 3, 224, 224, device="meta"))
    macs = counter.get_total_flops() // 2
    assert f"MACs: 64 x 112 x 112 x 3 x 7 x 7 = {macs:,}" in out
    assert "rule: Cout x Hout x Wout x (Cin / groups) x Kh x Kw" in out
    assert "height: r = 1 + (7 - 1)*1 = 7;  j = 1*2 = 2;  u = 0.5 + 0*1 = 0.5" in out


def test_explain_says_which_named_sizes_its_numbers_are_at(net_file):
    text = ("network t {\n  input x: [N, 1, H, W]\n  x -> c: conv(2, 3) -> output y\n"
            "  expect y: [N, 2, 6, 8] at H = 8, W = 10\n}\n")
    path = net_file(text)
    code, out, _ = cli("explain", str(path), "c")
    assert code == 0 and out.startswith(f"c: conv, defined at {path}:3:8 (numbers at H = 8, "
                                        "W = 10)\n  [N, 1, 8, 10] -> [N, 2, 6, 8]\n")
    code, out, _ = cli("explain", str(path), "c", "--set", "H=9", "--set", "W=9")
    assert code == 0 and "(numbers at H = 9, W = 9)\n  [N, 1, 9, 9] -> [N, 2, 7, 7]\n" in out


def test_explain_of_an_output_s_name_names_its_layer():
    code, _, err = cli("explain", str(ZOO / "lenet.net"), "probs")
    assert (code, err) == (1, """\
error[E201]: network `lenet5` has no layer `probs`
  = hint: `probs` is an output of the network, made by the layer `softmax`: explain that

""")


def test_explain_a_floored_pool_and_a_block_layer(resnet50_file, torch_resnet50):
    _, shapes = torch_resnet50
    code, out, _ = cli("explain", str(resnet50_file), "maxpool")
    assert code == 0 and shapes["maxpool"][2:] == (56, 56)
    assert "height: floor((112 - 3 + 2*1)/2) + 1 = 56" in out
    assert "height: r = 7 + (3 - 1)*2 = 11;  j = 2*2 = 4" in out
    code, out, _ = cli("explain", str(resnet50_file), "layer2.0.downsample.1")
    assert code == 0 and "buffers: running_mean 512; running_var 512" in out
    assert "params: weight 512; bias 512  -> 1,024" in out


def test_explain_transposed_conv_and_upsampling(net_file, torch):
    nn = torch.nn
    text = """
network up {
  input x: [N, 4, 7, 7]
  t = x -> conv_transpose(2, 3, stride: 2, pad: 1, output_pad: 1)
  u = t -> upsample(scale: 1.5, mode: "bilinear")
  output y = u
}
"""
    path = str(net_file(text))
    ref = nn.ConvTranspose2d(4, 2, 3, 2, 1, output_padding=1)(torch.zeros(1, 4, 7, 7))
    code, out, _ = cli("explain", path, "t")
    assert code == 0
    assert f"height: (7 - 1)*2 - 2*1 + (3 - 1) + 1 + 1 = {ref.shape[2]}" in out
    up = nn.Upsample(scale_factor=1.5, mode="bilinear")(ref)
    code, out, _ = cli("explain", path, "u")
    assert code == 0 and f"height: floor(14 * 1.5) = {up.shape[2]}" in out


def test_explain_unknown_layer_suggests_names(resnet50_file):
    code, _, err = cli("explain", str(resnet50_file), "layer1.0.conv4")
    assert code == 1
    assert "error[E201]: network `resnet50` has no layer `layer1.0.conv4`" in err
    hint = next(line for line in err.splitlines() if "= hint: did you mean" in line)
    assert "`layer1.0.conv1`" in hint and "`layer1.0.conv3`" in hint


def test_explain_of_a_block_name_lists_its_layers(resnet50_file):
    """`layer1` is a block, not a layer: the hint says so and names its first layers, rather
    than suggesting the unrelated `layer4.2.y.2` that merely spells alike."""
    code, out, err = cli("explain", str(resnet50_file), "layer1")
    assert (code, out) == (1, "")
    assert err == (
        "error[E201]: network `resnet50` has no layer `layer1`\n"
        "  = hint: `layer1` is a block of 32 layers: `layer1.0.conv1`, `layer1.0.bn1`, "
        "`layer1.0.y.2`, ...; explain one of them, or fold blocks with "
        "`netdsl summary --depth 1`\n\n")


def test_explain_attention_states_its_features_as_an_output_size(net_file):
    """Under "output size per axis" each line is an axis: attention's heads split its D axis,
    so the line is that axis (torch's MultiheadAttention: head_dim = embed_dim // num_heads)."""
    path = net_file("network t {\n  input x: [N, 5, 16]\n  x -> a: attention(4) -> output y\n}\n")
    code, out, _ = cli("explain", str(path), "a")
    assert code == 0
    assert out.splitlines()[1:4] == [
        "  [N, 5, 16] -> [N, 5, 16]", "  output size per axis:",
        "    features: 16 = 4 heads x 4 features each (16 / 4)"]


def test_summary_of_a_broken_file_shows_the_diagnostic(net_file):
    path = net_file("network n {\n  input x: [N, 1, 7, 7]\n  x -> conv(1, 3, stride: 3) "
                    "-> output y\n}\n")
    code, out, err = cli("summary", str(path))
    assert code == 1 and out == ""
    assert "error[E302]" in err and "fractions are illegal" in err


def test_summary_prints_receptive_field_warnings(net_file):
    path = net_file("network n {\n  input x: [N, 1, 8, 8]\n  a = x -> conv(4, 3)\n"
                    "  b = x -> crop(size: [7, 7]) -> conv(4, 2)\n  output y = concat(a, b)\n}\n")
    code, out, err = cli("summary", str(path))
    assert code == 0 and "warning[W301]" in err and "network n" in out


def test_depth_must_be_positive(resnet50_file):
    code, _, err = cli("summary", str(resnet50_file), "--depth", "0")
    assert code == 2 and "--depth takes a positive number" in err


def test_explain_crop_and_pad(net_file, torch, torchvision):
    nn = torch.nn
    text = """
network cp {
  input x: [N, 3, 64, 64]
  input s: [N, 3, 56, 56]
  c = crop(x, like: s)
  p = pad(s, [1, 2, 0, 3], channels: [0, 5])
  output y = c
  output z = p
}
"""
    path = str(net_file(text))
    code, out, _ = cli("explain", path, "c")
    x = torch.arange(64.0).reshape(1, 1, 1, 64).expand(1, 1, 64, 64)
    first = int(torchvision.transforms.functional.center_crop(x, [56, 56])[0, 0, 0, 0])
    assert code == 0 and f"width:  56 of 64, from {first} = (64 - 56)//2" in out
    assert "u = 0.5 + 4*1 = 4.5" in out  # the crop moves the first output's centre
    code, out, _ = cli("explain", path, "p")
    ref = nn.functional.pad(torch.zeros(1, 3, 56, 56), (2, 3, 1, 0, 0, 5)).shape
    assert code == 0
    assert f"channels: 0 + 3 + 5 = {ref[1]}" in out
    assert f"height:   1 + 56 + 0 = {ref[2]}" in out and f"width:    2 + 56 + 3 = {ref[3]}" in out
