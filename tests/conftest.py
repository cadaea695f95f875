"""Shared helpers: compile .net text the way a user would, run the CLI in-process, and the
fixtures through which a test asks for torch or torchvision."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZOO = ROOT / "zoo"

# Tiers (README, "Quick start"): torch and torchvision are the references that some tests
# compare with. The `test` extra installs neither, and those tests then skip with this reason. A
# module that needs them at import (a table of torch modules, a class deriving from nn.Module)
# calls `pytest.importorskip("torch", reason=NEEDS_TORCH)` above its torch imports
# ("torchvision" where it needs that too); any other test that needs them takes the `torch` or
# `torchvision` fixture. Nothing here imports torch. Tests over about a second are marked `slow`.
NEEDS_TORCH = "needs torch and torchvision, the references: pip install -e '.[dev]'"


@pytest.fixture(scope="session")
def torch() -> ModuleType:
    """The torch module; a test that takes it skips where torch is not installed."""
    return pytest.importorskip("torch", reason=NEEDS_TORCH)


@pytest.fixture(scope="session")
def torchvision(torch: ModuleType) -> ModuleType:
    """The torchvision module; a test that takes it skips where torchvision is not installed."""
    return pytest.importorskip("torchvision", reason=NEEDS_TORCH)


# ResNet-50 [He et al. CVPR'16] labelled so that its layer names are torchvision's module names
# (and so its parameters are torchvision's state_dict keys); used by several test files.
BOTTLENECK = """\
block bottleneck(x, width, stride = 1) {
  y = x -> conv1: conv(width, 1, bias: false) -> bn1: bn -> relu
        -> conv2: conv(width, 3, stride: stride, pad: 1, bias: false) -> bn2: bn -> relu
        -> conv3: conv(width * 4, 1, bias: false) -> bn3: bn
  skip = x
  if stride != 1 or x.channels != width * 4 {
    downsample = x -> conv(width * 4, 1, stride: stride, bias: false) -> bn
    skip = downsample
  }
  return relu(y + skip)
}
"""

RESNET50 = BOTTLENECK + """
network resnet50(classes = 1000) {
  input image: [N, 3, 224, 224]
  option floor: true
  x = image -> conv1: conv(64, 7, stride: 2, pad: 3, bias: false) -> bn1: bn -> relu
            -> maxpool: maxpool(3, stride: 2, pad: 1)
  layer1 = x -> bottleneck(64) * 3
  layer2 = layer1 -> bottleneck(128, stride: 2) -> bottleneck(128) * 3
  layer3 = layer2 -> bottleneck(256, stride: 2) -> bottleneck(256) * 5
  layer4 = layer3 -> bottleneck(512, stride: 2) -> bottleneck(512) * 2
  layer4 -> avgpool: globalavgpool -> flatten -> fc: dense(classes) -> output logits
}
"""


def check_text(text: str, network: str | None = None, **params):
    """Parse + elaborate + analyse inline .net text; returns a pipeline.Network."""
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    return check_source(Source("test.net", text), network, params)


def errors_of(text: str, network: str | None = None, **params) -> list:
    """The diagnostics a program produces (asserts that it fails)."""
    from netdsl import NetdslError
    with pytest.raises(NetdslError) as e:
        check_text(text, network, **params)
    return list(e.value.diagnostics)


def rendered(text: str, network: str | None = None, **params) -> str:
    from netdsl.diagnostics import render_all
    return render_all(errors_of(text, network, **params))


def floored_net(body: str, inp: str = "[N, 1, 40, 40]") -> str:
    """A network `n` of one input `x` that rounds sizes down, as torch does."""
    return f"network n {{\n  input x: {inp}\n  option floor: true\n  {body}\n}}\n"


def rf_of(text: str):
    """The receptive field of the output `y`."""
    checked = check_text(text)
    return checked.stats.by_name()[checked.graph.outputs["y"]].rf


def cli(*args: str) -> tuple[int, str, str]:
    """Run `netdsl ARGS` in-process; returns (exit code, stdout, stderr)."""
    from netdsl.cli import main
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def net_file(tmp_path):
    """Write .net text to a file in tmp_path; returns its Path."""
    def write(text: str, name: str = "model.net") -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p
    return write


sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tools"))  # the docs generator: tools/gendocs.py
