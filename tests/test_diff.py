"""`netdsl diff`: two versions of a zoo file, edited here as a user would (a widened layer, an
inserted block, a changed stride, a renamed layer), compared file to file and against a git
revision; the exact output of every format; exit codes and error messages."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, ZOO, cli

LENET = (ZOO / "lenet.net").read_text(encoding="utf-8")
RESNET = (ZOO / "resnet.net").read_text(encoding="utf-8")


def edit(text: str, *replacements: tuple[str, str]) -> str:
    """The text with each (old, new) replaced once; every old must be there."""
    for old, new in replacements:
        assert text.count(old) == 1, f"{old!r} is not in the text exactly once"
        text = text.replace(old, new)
    return text


# ResNet without its pinned parameter counts: an edit changes them, and `expect` would fail
RESNET_FREE = RESNET.replace(
    RESNET[RESNET.index("  expect params =="):RESNET.index("  expect logits")], "")

# LeNet-5 with f6 widened from 84 to 100 units and f7 renamed `out`, its expectation updated
LENET_EDITED = edit(LENET, ("f6: dense(84)", "f6: dense(100)"),
                    ("f7: dense(classes)", "out: dense(classes)"),
                    ("expect params == 61_706 + 85", "expect params == 63_802 + 101"))


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Work in tmp_path, so that outputs name the files as given (old.net, new.net)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    return tmp_path


def write(where: Path, **files: str) -> None:
    for name, text in files.items():
        (where / f"{name}.net").write_text(text, encoding="utf-8")


def diff_json(*args: str) -> dict:
    code, out, err = cli("diff", *args, "--format", "json")
    assert (code, err) == (0, ""), err
    return json.loads(out)


# ------------------------------------------------------------------------ exact output, identical

def test_identical_pair_text(here):
    write(here, old=LENET, new=LENET)
    assert cli("diff", "old.net", "new.net") == (0, """\
--- old.net
+++ new.net
network lenet5: identical (61,706 params, 429,362 MACs, 37,632 bytes peak memory)
""", "")


def test_identical_pair_markdown(here):
    write(here, old=LENET, new=LENET)
    assert cli("diff", "old.net", "new.net", "--format", "markdown") == (0, """\
### netdsl diff: `old.net` &rarr; `new.net`

#### `lenet5`: identical

61,706 params, 429,362 MACs, 37,632 bytes peak memory.
""", "")


def test_identical_pair_json(here):
    write(here, old=LENET, new=LENET)
    same = [{"old": v, "new": v, "delta": 0, "percent": 0.0} for v in (61706, 429362, 37632)]
    expected = {"schema": "netdsl-diff/1", "old": "old.net", "new": "new.net", "differs": False,
                "networks": [{"name": "lenet5", "status": "identical",
                              "totals": dict(zip(("params", "macs", "peak_bytes"), same)),
                              "blocks": [], "layers": [], "shapes": [], "outputs": [],
                              "sizes": {"old": {}, "new": {}}}]}
    assert cli("diff", "old.net", "new.net", "--format", "json") == (
        0, json.dumps(expected, indent=2) + "\n", "")


# ------------------------------------------------------------------------ exact output, differing

def test_differing_pair_text(here):
    write(here, old=LENET, new=LENET_EDITED)
    assert cli("diff", "old.net", "new.net") == (0, """\
--- old.net
+++ new.net
network lenet5: changed
  metric                   old      new  change      %
  params                61,706   63,802  +2,096  +3.4%
  MACs                 429,362  431,458  +2,096  +0.5%
  peak memory (bytes)   37,632   37,632       0     0%
  per block:
  block   metric                  old     new  change       %
  f6      params               10,164  12,100  +1,936  +19.0%
          MACs                 10,080  12,000  +1,920  +19.0%
          peak memory (bytes)     816     880     +64   +7.8%
  tanh_3  MACs                     84     100     +16  +19.0%
          peak memory (bytes)     672     800    +128  +19.0%
  out     params                  850   1,010    +160  +18.8%
          MACs                    840   1,000    +160  +19.0%
          peak memory (bytes)     376     440     +64  +17.0%
  layers: 1 changed, 1 renamed
    ~  f6         dense  out: 84 -> 100
    >  f7 -> out  dense
  output shapes: 2 changed
    f6      [N, 84] -> [N, 100]
    tanh_3  [N, 84] -> [N, 100]
""", "")


def test_differing_pair_markdown(here):
    write(here, old=LENET, new=LENET_EDITED)
    assert cli("diff", "old.net", "new.net", "--format", "markdown") == (0, """\
### netdsl diff: `old.net` &rarr; `new.net`

#### `lenet5`: changed

| metric | old | new | change | % |
|---|---:|---:|---:|---:|
| params | 61,706 | 63,802 | +2,096 | +3.4% |
| MACs | 429,362 | 431,458 | +2,096 | +0.5% |
| peak memory (bytes) | 37,632 | 37,632 | 0 | 0% |

| block | metric | old | new | change | % |
|---|---|---:|---:|---:|---:|
| `f6` | params | 10,164 | 12,100 | +1,936 | +19.0% |
| `f6` | MACs | 10,080 | 12,000 | +1,920 | +19.0% |
| `f6` | peak memory (bytes) | 816 | 880 | +64 | +7.8% |
| `tanh_3` | MACs | 84 | 100 | +16 | +19.0% |
| `tanh_3` | peak memory (bytes) | 672 | 800 | +128 | +19.0% |
| `out` | params | 850 | 1,010 | +160 | +18.8% |
| `out` | MACs | 840 | 1,000 | +160 | +19.0% |
| `out` | peak memory (bytes) | 376 | 440 | +64 | +17.0% |

**Layers:** 1 changed, 1 renamed

| change | layer | op | details |
|---|---|---|---|
| changed | `f6` | dense | out: 84 &rarr; 100 |
| renamed | `f7` &rarr; `out` | dense |  |

<details><summary>Output shapes: 2 changed</summary>

| layer | old | new |
|---|---|---|
| `f6` | `[N, 84]` | `[N, 100]` |
| `tanh_3` | `[N, 84]` | `[N, 100]` |

</details>
""", "")


def _delta(old: int, new: int, percent: float | None) -> dict:
    return {"old": old, "new": new, "delta": new - old, "percent": percent}


def _layer(name: str, op: str, args: dict, inputs: list, shape: list) -> dict:
    return {"name": name, "op": op, "args": args, "inputs": inputs, "shape": shape}


def test_differing_pair_json(here):
    write(here, old=LENET, new=LENET_EDITED)
    dense = {"out": 10, "bias": True}
    expected = {
        "schema": "netdsl-diff/1", "old": "old.net", "new": "new.net", "differs": True,
        "networks": [{
            "name": "lenet5", "status": "changed",
            "totals": {"params": _delta(61706, 63802, 3.3968),
                       "macs": _delta(429362, 431458, 0.4882),
                       "peak_bytes": _delta(37632, 37632, 0.0)},
            "blocks": [
                {"name": "f6", "params": _delta(10164, 12100, 19.0476),
                 "macs": _delta(10080, 12000, 19.0476), "peak_bytes": _delta(816, 880, 7.8431)},
                {"name": "tanh_3", "params": _delta(0, 0, None),
                 "macs": _delta(84, 100, 19.0476), "peak_bytes": _delta(672, 800, 19.0476)},
                {"name": "out", "params": _delta(850, 1010, 18.8235),
                 "macs": _delta(840, 1000, 19.0476), "peak_bytes": _delta(376, 440, 17.0213)}],
            "layers": [
                {"change": "changed",
                 "old": _layer("f6", "dense", {"out": 84, "bias": True}, ["flatten"], ["N", 84]),
                 "new": _layer("f6", "dense", {"out": 100, "bias": True}, ["flatten"],
                               ["N", 100]),
                 "differences": {"out": [84, 100]}},
                {"change": "renamed",
                 "old": _layer("f7", "dense", dense, ["tanh_3"], ["N", 10]),
                 "new": _layer("out", "dense", dense, ["tanh_3"], ["N", 10]),
                 "differences": {}}],
            "shapes": [{"layer": "f6", "old": ["N", 84], "new": ["N", 100]},
                       {"layer": "tanh_3", "old": ["N", 84], "new": ["N", 100]}],
            "outputs": [], "sizes": {"old": {}, "new": {}}}]}
    assert cli("diff", "old.net", "new.net", "--format", "json") == (
        0, json.dumps(expected, indent=2) + "\n", "")


def _documented(section: str) -> list[str]:
    text = (ROOT / "docs" / "diff.md").read_text(encoding="utf-8")
    body = text.split(f"### {section}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", body, re.M)


def test_json_keys_are_the_documented_ones(here):
    write(here, old=LENET, new=LENET_EDITED)
    data = diff_json("old.net", "new.net")
    net = data["networks"][0]
    assert list(data) == _documented("Top level")
    assert list(net) == _documented("A network")
    assert all(list(d) == _documented("A change") for d in net["totals"].values())
    assert all(list(c) == _documented("A layer change") for c in net["layers"])
    write(here, renamed=edit(LENET, ("output probs", "output p"), ("expect probs", "expect p")))
    (change,) = diff_json("old.net", "renamed.net")["networks"][0]["outputs"]
    assert list(change) == _documented("An output change")


# ----------------------------------------------------------------------------- real zoo edits

def resnet18(here: Path, *replacements: tuple[str, str]) -> dict:
    """The diff of resnet18 before and after the edits, as JSON (one network)."""
    write(here, old=RESNET_FREE, new=edit(RESNET_FREE, *replacements))
    data = diff_json("old.net", "new.net", "--network", "resnet18")
    assert [n["name"] for n in data["networks"]] == ["resnet18"]
    return data["networks"][0]


SIZED = ("network a {\n  input x: [N, 1, H, W]\n  x -> conv(2, 3) -> output y\n"
         "  expect y: [N, 2, 6, 6] at H = 8, W = 8\n}\n")


def test_named_sizes_are_compared_at_the_same_sizes(here):
    """A new example size (the network the same) was a changed input shape and 25 times the
    MACs: the old version is built at the new one's sizes."""
    write(here, old=SIZED, new=edit(SIZED, ("[N, 2, 6, 6] at H = 8, W = 8",
                                            "[N, 2, 30, 30] at H = 32, W = 32")))
    assert cli("diff", "old.net", "new.net") == (0, """\
--- old.net
+++ new.net
network a: identical (20 params, 16,200 MACs, 11,296 bytes peak memory)
""", "")
    write(here, new=edit(SIZED, ("[N, 2, 6, 6] at H = 8, W", "[N, 2, 32, 32] at H = 32, W"),
                         ("W = 8", "W = 32"), ("conv(2, 3)", "conv(2, 3, pad: 1)")))
    (net,) = diff_json("old.net", "new.net")["networks"]
    assert _changes(net) == [("changed", "conv", {"pad": [0, 1]})]
    assert _shapes(net) == {"conv": (["N", 2, 30, 30], ["N", 2, 32, 32])}


def test_numbers_at_different_sizes_say_so(here):
    """Where the old version does not build at the new one's sizes (a maxpool(2) of 7), or the
    versions name other sizes, the numbers are at different sizes: a line says which and why
    (the output compared 8 x 8 with 9 x 9 without a word)."""
    old = edit(SIZED, ("conv(2, 3)", "conv(2, 3) -> maxpool(2)"), ("2, 6, 6]", "2, 3, 3]"))
    write(here, old=old, new=edit(SIZED, ("[N, 2, 6, 6] at H = 8, W = 8",
                                          "[N, 2, 7, 7] at H = 9, W = 9")))
    code, out, err = cli("diff", "old.net", "new.net")
    assert (code, out.splitlines()[2:4], err) == (0, [
        "network a: changed",
        "  old numbers at H = 8, W = 8: it does not build at the new H = 9, W = 9"], "")
    code, out, _ = cli("diff", "old.net", "new.net", "--format", "markdown")
    assert "\nOld numbers at H = 8, W = 8: it does not build at the new H = 9, W = 9.\n\n" in out
    (net,) = diff_json("old.net", "new.net")["networks"]
    assert net["sizes"] == {"old": {"H": 8, "W": 8}, "new": {"H": 9, "W": 9}}
    write(here, new=edit(SIZED, ("H, W]", "S, S]"), ("H = 8, W = 8", "S = 9"),
                         ("2, 6, 6]", "2, 7, 7]")))
    code, out, _ = cli("diff", "old.net", "new.net")
    assert out.splitlines()[3] == ("  old numbers at H = 8, W = 8, new at S = 9: the versions "
                                   "name different sizes")
    write(here, new=edit(SIZED, ("H, W]", "9, 9]"), (" at H = 8, W = 8", ""),
                         ("2, 6, 6]", "2, 7, 7]")))
    assert cli("diff", "old.net", "new.net")[1].splitlines()[3] == (
        "  old numbers at H = 8, W = 8, new at its fixed sizes: the versions name different "
        "sizes")
    write(here, old=SIZED, new=edit(SIZED, ("conv(2, 3)", "conv(4, 3)"), ("N, 2, 6", "N, 4, 6")))
    (net,) = diff_json("old.net", "new.net")["networks"]
    assert net["sizes"] == {"old": {"H": 8, "W": 8}, "new": {"H": 8, "W": 8}}
    assert "numbers at" not in cli("diff", "old.net", "new.net")[1]


def _changes(net: dict) -> list[tuple[str, str, dict]]:
    return [(c["change"], (c["new"] or c["old"])["name"], c["differences"])
            for c in net["layers"]]


def _shapes(net: dict) -> dict[str, tuple[list, list]]:
    return {s["layer"]: (s["old"], s["new"]) for s in net["shapes"]}


def test_widened_stem_conv(here):
    """conv1 64 -> 96 channels: layer1.0's input no longer matches its output, so the unit gains
    a projection shortcut (two added layers) that its add now reads."""
    net = resnet18(here, ("conv1: conv(64, 7", "conv1: conv(96, 7"),
                   ("x: [N, 64, 56, 56]", "x: [N, 96, 56, 56]"))
    assert _changes(net) == [
        ("changed", "conv1", {"out": [64, 96]}),
        ("added", "layer1.0.downsample.0", {}),
        ("added", "layer1.0.downsample.1", {}),
        ("changed", "layer1.0.add", {"inputs": [["layer1.0.bn2", "maxpool"],
                                                ["layer1.0.bn2", "layer1.0.downsample.1"]]})]
    assert _shapes(net) == {
        "conv1": (["N", 64, 112, 112], ["N", 96, 112, 112]),
        "bn1": (["N", 64, 112, 112], ["N", 96, 112, 112]),
        "relu": (["N", 64, 112, 112], ["N", 96, 112, 112]),
        "maxpool": (["N", 64, 56, 56], ["N", 96, 56, 56])}
    # conv1: 32 more filters of 3x7x7; bn1: 32 more scales and shifts; layer1.0.conv1 reads 32
    # more channels (32 x 64 x 3 x 3) and the projection is 96 x 64 plus 2 x 64 for its bn
    assert net["totals"]["params"] == _delta(11_689_512, 11_718_984, 0.2521)
    assert 29_472 == 32 * 3 * 49 + 2 * 32 + 32 * 64 * 9 + 96 * 64 + 2 * 64
    blocks = {b["name"]: b["params"]["delta"] for b in net["blocks"]}
    assert blocks == {"conv1": 4_704, "bn1": 64, "relu": 0, "maxpool": 0, "layer1": 24_704}


def test_inserted_unit(here):
    """A third unit in layer4: seven added layers, and the pooling reads the new last one."""
    net = resnet18(here, ("unit(512, 1, b) * (n[3] - 1)", "unit(512, 1, b) * n[3]"))
    added = [name for change, name, _ in _changes(net) if change == "added"]
    assert added == [f"layer4.2.{x}" for x in ("conv1", "bn1", "y.2", "conv2", "bn2", "add",
                                               "relu")]
    assert _changes(net)[-1] == ("changed", "avgpool",
                                 {"inputs": [["layer4.1.relu"], ["layer4.2.relu"]]})
    assert net["shapes"] == []
    unit = 2 * 512 * 512 * 9 + 2 * 2 * 512  # two 3x3 convs and their batch norms
    assert net["totals"]["params"]["delta"] == unit
    assert [b["name"] for b in net["blocks"]] == ["layer4"]
    assert net["blocks"][0]["params"]["delta"] == unit


def test_changed_stride(here):
    """layer2 without its stride: two convs change, and every shape after them doubles."""
    net = resnet18(here, ("layer2 = layer1 -> unit(128, 2, b)",
                          "layer2 = layer1 -> unit(128, 1, b)"))
    assert _changes(net) == [("changed", "layer2.0.conv1", {"stride": [2, 1]}),
                             ("changed", "layer2.0.downsample.0", {"stride": [2, 1]})]
    shapes = _shapes(net)
    assert len(shapes) == 48
    assert shapes["layer2.0.conv1"] == (["N", 128, 28, 28], ["N", 128, 56, 56])
    assert shapes["layer4.1.relu"] == (["N", 512, 7, 7], ["N", 512, 14, 14])
    assert "avgpool" not in shapes and "fc" not in shapes
    assert net["totals"]["params"]["delta"] == 0
    assert net["totals"]["macs"] == _delta(1_821_449_216, 5_526_695_936, 203.423)
    assert [b["name"] for b in net["blocks"]] == ["layer2", "layer3", "layer4", "avgpool"]
    assert net["blocks"][1]["macs"]["percent"] == 300.0  # four times the positions


def test_changed_stride_text_lists_the_changes(here):
    write(here, old=RESNET_FREE, new=edit(RESNET_FREE, ("layer2 = layer1 -> unit(128, 2, b)",
                                                        "layer2 = layer1 -> unit(128, 1, b)")))
    code, out, _ = cli("diff", "old.net", "new.net", "--network", "resnet18")
    assert code == 0
    assert "  layers: 2 changed\n    ~  layer2.0.conv1         conv  stride: 2 -> 1\n" in out
    assert "    layer4.1.relu          [N, 512, 7, 7] -> [N, 512, 14, 14]\n" in out


def test_renamed_layer(here):
    net = resnet18(here, ("fc: dense(classes)", "classifier: dense(classes)"))
    assert net["status"] == "changed"
    assert _changes(net) == [("renamed", "classifier", {})]
    assert net["layers"][0]["old"]["name"] == "fc"
    assert net["blocks"] == [] and net["shapes"] == []
    assert all(d["delta"] == 0 for d in net["totals"].values())


def test_renamed_stage_is_sixteen_renames_and_no_block_change(here):
    net = resnet18(here, ("layer4 = layer3", "stage4 = layer3"),
                   ("layer4 -> avgpool", "stage4 -> avgpool"), ("c = layer4.", "c = stage4."))
    assert {c for c, _, _ in _changes(net)} == {"renamed"}
    assert len(net["layers"]) == 16
    assert all(c["old"]["name"].replace("layer4", "stage4") == c["new"]["name"]
               for c in net["layers"])
    assert net["blocks"] == []  # layer4's numbers are stage4's


def test_totals_are_the_summaries(here):
    """The totals are what `summary` reports for each side (its JSON)."""
    write(here, old=RESNET_FREE,
          new=edit(RESNET_FREE, ("unit(512, 1, b) * (n[3] - 1)", "unit(512, 1, b) * n[3]")))
    totals = diff_json("old.net", "new.net", "--network", "resnet34")["networks"][0]["totals"]
    for side in ("old", "new"):
        code, out, _ = cli("summary", f"{side}.net", "--network", "resnet34", "--format", "json")
        assert code == 0
        summary = json.loads(out)["totals"]
        assert (totals["params"][side], totals["macs"][side], totals["peak_bytes"][side]) == (
            summary["params"], summary["macs"], summary["peak_activation_bytes"])


def test_every_network_of_the_files_and_one_sided_networks(here):
    write(here, old=RESNET_FREE.replace("network resnet152 = resnet(depth: 152)\n", ""),
          new=edit(RESNET_FREE, ("network resnet18 = resnet(depth: 18)\n", "")))
    code, out, _ = cli("diff", "old.net", "new.net")
    assert code == 0
    assert out.splitlines()[2:] == [
        "network resnet: identical (25,557,032 params, 4,117,332,992 MACs, 9,633,792 bytes "
        "peak memory)",
        "network resnet34: identical (21,797,672 params, 3,674,273,280 MACs, 6,422,528 bytes "
        "peak memory)",
        "network resnet50: identical (25,557,032 params, 4,117,332,992 MACs, 9,633,792 bytes "
        "peak memory)",
        "network resnet101: identical (44,549,160 params, 7,843,202,048 MACs, 9,633,792 bytes "
        "peak memory)",
        "network resnet152: added (only in new.net; 60,192,808 params, 11,572,282,368 MACs, "
        "9,633,792 bytes peak memory)",
        "network resnet18: removed (only in old.net; 11,689,512 params, 1,821,449,216 MACs, "
        "6,422,528 bytes peak memory)"]
    assert cli("diff", "old.net", "new.net", "--exit-code")[0] == 1


def test_network_named_that_only_one_file_defines_is_added_or_removed(here):
    """--network pairs one network by name: in only one file, it is reported removed (or
    added), as it is without --network; in neither, both files' E213 stand."""
    write(here, old=LENET, new=LENET.replace("network lenet5(", "network lenet(", 1))
    code, out, err = cli("diff", "old.net", "new.net", "--network", "lenet5")
    assert (code, err) == (0, "")
    assert out == ("--- old.net\n+++ new.net\nnetwork lenet5: removed (only in old.net; 61,706 "
                   "params, 429,362 MACs, 37,632 bytes peak memory)\n")
    code, out, _ = cli("diff", "old.net", "new.net", "--network", "lenet", "--exit-code")
    assert (code, out.splitlines()[2]) == (1, "network lenet: added (only in new.net; 61,706 "
                                              "params, 429,362 MACs, 37,632 bytes peak memory)")
    code, out, err = cli("diff", "old.net", "new.net", "--network", "zzz")
    assert (code, out) == (1, "")
    assert err == ("error[E213]: old.net defines no network `zzz`\n"
                   "  = hint: this file defines: lenet5\n\n"
                   "error[E213]: new.net defines no network `zzz`\n"
                   "  = hint: this file defines: lenet\n\n")


def test_a_renamed_or_added_output_is_a_difference(here):
    """An output's name is the model's interface (the ONNX output a caller reads): renaming
    `probs` breaks every caller, so it differs (--exit-code 1), in every format."""
    renamed = edit(LENET, ("output probs", "output scores"), ("expect probs:", "expect scores:"))
    write(here, old=LENET, new=renamed,
          more=edit(LENET, ("-> output probs", "-> output probs\n  image -> output features")))
    code, out, _ = cli("diff", "old.net", "new.net", "--exit-code")
    assert (code, out.splitlines()[2:]) == (1, [
        "network lenet5: changed",
        "  metric                   old      new  change   %",
        "  params                61,706   61,706       0  0%",
        "  MACs                 429,362  429,362       0  0%",
        "  peak memory (bytes)   37,632   37,632       0  0%",
        "  outputs: 1 renamed",
        "    >  probs -> scores  softmax"])
    net = diff_json("old.net", "new.net")["networks"][0]
    assert (net["status"], net["outputs"]) == ("changed", [
        {"change": "renamed", "old": {"name": "probs", "layer": "softmax"},
         "new": {"name": "scores", "layer": "softmax"}}])
    net = diff_json("old.net", "more.net")["networks"][0]
    assert net["outputs"] == [{"change": "added", "old": None,
                               "new": {"name": "features", "layer": "image"}}]
    code, out, _ = cli("diff", "more.net", "old.net", "--format", "markdown")
    assert "\n**Outputs:** 1 removed\n\n| change | output | layer |\n|---|---|---|\n" \
           "| removed | `features` | `image` |" in out


def test_set_reaches_both_files(here):
    write(here, old=LENET, new=LENET_EDITED)
    net = diff_json("old.net", "new.net", "--set", "classes=7")["networks"][0]
    assert net["totals"]["params"] == _delta(61_706 - 3 * 85, 63_802 - 3 * 101, 3.3327)


# ---------------------------------------------------------------------------------- exit codes

def test_exit_code_is_1_only_when_asked_and_different(here):
    write(here, old=LENET, new=LENET_EDITED, same=LENET)
    assert cli("diff", "old.net", "new.net", "--exit-code")[0] == 1
    assert cli("diff", "old.net", "same.net", "--exit-code")[0] == 0
    assert cli("diff", "old.net", "new.net")[0] == 0
    assert cli("diff", "old.net", "new.net", "--exit-code", "--format", "json")[0] == 1


def test_a_rename_alone_is_a_difference(here):
    write(here, old=LENET, new=edit(LENET, ("c1: conv", "first: conv")))
    assert cli("diff", "old.net", "new.net", "--exit-code")[0] == 1


def test_comments_and_formatting_are_no_difference(here):
    write(here, old=LENET, new="# reformatted\n" + LENET.replace("-> s2:", "->   s2:"))
    assert cli("diff", "old.net", "new.net", "--exit-code")[0] == 0


def test_errors_in_either_file_are_rendered_and_exit_1(here):
    broken = edit(LENET, ("c3: conv(16, 5)", "c3: conv(16, 50)"))
    write(here, old=LENET, new=broken, bad=edit(LENET, ("s2: avgpool", "s2: avgpol")))
    code, out, err = cli("diff", "old.net", "new.net")
    assert (code, out) == (1, "")
    assert err.startswith("new.net:7:25: error[E301]: ")
    assert "Traceback" not in err
    code, out, err = cli("diff", "bad.net", "new.net")
    assert (code, out) == (1, "")
    assert err.startswith("bad.net:6:42: error[E202]: `avgpol` is not an operator")
    assert "\nnew.net:7:25: error[E301]: " in err  # both files' errors, old first


def test_missing_file_is_a_usage_error(here):
    write(here, old=LENET)
    assert cli("diff", "old.net", "nope.net") == (2, "", "error[E001]: nope.net: no such file\n\n")


@pytest.mark.parametrize("args", [("old.net",), ("old.net", "old.net", "--against", "HEAD")],
                         ids=["one-file", "two-files-and-against"])
def test_one_file_needs_against_and_two_do_not_take_it(here, args):
    write(here, old=LENET)
    assert cli("diff", *args) == (2, "", "give two files (netdsl diff OLD NEW), or one and "
                                  "--against REV\nusage: see `netdsl diff --help`\n")


def test_help_says_where_used_files_come_from():
    code, out, _ = cli("diff", "--help")
    assert code == 0
    assert "files it `use`s are read from the working tree" in " ".join(out.split())


# ----------------------------------------------------------------------------------- --against

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(where: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                   cwd=where, check=True, capture_output=True)


@pytest.fixture
def repo(here):
    """A git repository with lenet committed as model/lenet.net (and a block file it uses)."""
    (here / "model").mkdir()
    write(here / "model", lenet=LENET)
    git(here, "init", "-q")
    git(here, "add", ".")
    git(here, "commit", "-q", "-m", "lenet")
    return here


@needs_git
def test_against_a_revision(repo):
    write(repo / "model", lenet=LENET_EDITED)
    code, out, err = cli("diff", "model/lenet.net", "--against", "HEAD")
    assert (code, err) == (0, "")
    assert out.startswith("--- HEAD:model/lenet.net\n+++ model/lenet.net\nnetwork lenet5: "
                          "changed\n")
    assert "    >  f7 -> out  dense\n" in out
    assert cli("diff", "model/lenet.net", "--against", "HEAD", "--exit-code")[0] == 1
    git(repo, "commit", "-q", "-am", "wider f6")
    assert cli("diff", "model/lenet.net", "--against", "HEAD", "--exit-code")[0] == 0
    assert cli("diff", "model/lenet.net", "--against", "HEAD~1", "--exit-code")[0] == 1


@needs_git
def test_against_runs_git_in_the_files_repository(repo, monkeypatch):
    monkeypatch.chdir(repo / "model")
    write(repo / "model", lenet=LENET_EDITED)
    code, out, _ = cli("diff", "lenet.net", "--against", "main", "--format", "json")
    assert code == 0 and json.loads(out)["old"] == "main:lenet.net"


@needs_git
def test_against_reads_used_files_from_the_working_tree(repo):
    write(repo / "model", blocks="block head(x, n) {\n  return x -> dense(n)\n}\n",
          net='use "blocks.net"\n\nnetwork tiny {\n  input x: [N, 8]\n'
              "  x -> head(4) -> output y\n}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "tiny")
    write(repo / "model", blocks="block head(x, n) {\n  return x -> dense(n * 2)\n}\n")
    # both sides use the working tree's blocks.net, so the uncommitted change shows on neither
    assert cli("diff", "model/net.net", "--against", "HEAD", "--exit-code")[0] == 0


@needs_git
def test_errors_of_the_old_revision_name_it(repo):
    broken = edit(LENET, ("c3: conv(16, 5)", "c3: conv(16, 50)"))
    write(repo / "model", lenet=broken)
    git(repo, "commit", "-q", "-am", "broken")
    write(repo / "model", lenet=LENET)
    code, out, err = cli("diff", "model/lenet.net", "--against", "HEAD")
    assert (code, out) == (1, "")
    assert err.startswith("HEAD:model/lenet.net:7:25: error[E301]: ")


@needs_git
def test_against_an_unknown_revision(repo):
    assert cli("diff", "model/lenet.net", "--against", "no-such-branch") == (2, "", """\
error[E001]: --against no-such-branch: no such revision in the repository of model/lenet.net
  = hint: give a branch, a tag or a commit, e.g. main or HEAD~1

""")


@needs_git
def test_against_a_revision_without_the_file(repo):
    write(repo / "model", new=LENET)
    assert cli("diff", "model/new.net", "--against", "HEAD") == (2, "", """\
error[E001]: model/new.net: no such file in revision HEAD (not committed there, or under another \
name)

""")


@needs_git
def test_against_outside_a_repository(here):
    write(here, old=LENET)
    code, out, err = cli("diff", "old.net", "--against", "HEAD")
    assert (code, out) == (2, "")
    assert err.startswith("error[E001]: old.net: not in a git repository, so --against HEAD has "
                          "nothing to read\n  = note: git: fatal: not a git repository")


@needs_git
def test_against_an_option_like_revision(repo):
    assert cli("diff", "model/lenet.net", "--against=--all") == (
        2, "", "error[E001]: --against '--all': not a git revision\n\n")


@needs_git
def test_against_a_missing_file(repo):
    assert cli("diff", "model/gone.net", "--against", "HEAD") == (
        2, "", "error[E001]: model/gone.net: no such file\n\n")


def test_changed_op_shows_the_op_and_the_arguments_only_one_takes(here):
    write(here, old=LENET, new=edit(LENET, ("s2: avgpool(2)", "s2: maxpool(2)")))
    code, out, _ = cli("diff", "old.net", "new.net")
    assert code == 0
    assert ("  layers: 1 changed\n"
            "    ~  s2  maxpool  op: avgpool -> maxpool, count_include_pad: true -> -, "
            "indices: - -> false\n") in out
