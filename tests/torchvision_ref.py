"""Compare a zoo network with its torchvision reference: names and shapes of every parameter and
buffer (torch's state_dict), and outputs on random input with the same weights loaded by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import netdsl

# torch counts BN batches seen; inference never reads it, so ONNX has no use for it.
SKIP_SUFFIXES = ("num_batches_tracked",)


def torch_state(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()
            if not k.endswith(SKIP_SUFFIXES)}


def torch_param_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """state_dict names -> shapes, without reading values: works for a model built on the
    "meta" device (`with torch.device("meta"): ...`), which costs no memory and no init time."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()
            if not k.endswith(SKIP_SUFFIXES)}


def randomize_bn(model: Any, seed: int = 0) -> Any:
    """Give every BatchNorm non-trivial running statistics and affine parameters (a fresh model
    has mean 0, var 1, weight 1, bias 0, which would let a wrong BN lowering pass)."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 2.0),
                                  (m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5)):
                    t.copy_(torch.rand(t.shape, generator=gen) * (hi - lo) + lo)
    return model


def assert_same_tensors(path: Path | str, network: str, model: Any, ordered: bool = False,
                        **params: Any) -> None:
    """Our parameter/buffer names and shapes equal torchvision's state_dict (and, with ordered,
    in the same order); and the parameter count equals torchvision's."""
    net = netdsl.load(path, network, params=params)
    ours = net.stats.tensors()
    theirs = torch_shapes(model)
    missing = [k for k in theirs if k not in ours]
    extra = [k for k in ours if k not in theirs]
    assert not missing and not extra, f"missing {missing[:10]}, unexpected {extra[:10]}"
    wrong = {k: (ours[k], theirs[k]) for k in theirs if ours[k] != theirs[k]}
    assert not wrong, f"shapes differ (ours, torch): {wrong}"
    if ordered:
        moved = [(a, b) for a, b in zip(ours, theirs) if a != b]
        assert not moved, f"order differs from the first (ours, torch): {moved[:3]}"
    assert net.stats.params == torch_param_count(model)


def max_relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours - ref| / max |ref|: relative to the output's scale, so that outputs near zero
    do not blow the ratio up."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    return float(np.max(np.abs(ours - ref)) / max(float(np.max(np.abs(ref))), 1e-12))


def compare_outputs(path: Path | str, network: str, model: Any, input_shape: tuple[int, ...],
                    seed: int = 0, output: str | None = None, select: Any = None,
                    **params: Any) -> float:
    """Load torchvision's weights into our compiled ONNX by name; run both on the same random
    input; return the max relative error of the (first, or named) output. `select` picks the
    tensor out of the torch model's return value (e.g. lambda r: r["out"])."""
    import torch
    model.eval()
    x = np.random.default_rng(seed).standard_normal(input_shape).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    ref = (select(ref) if select else ref).numpy()
    onnx_model = netdsl.compile(path, network, params, weights=torch_state(model))
    outs = netdsl.run(onnx_model, {onnx_model.graph.input[0].name: x}, provider="cpu")
    ours = outs[output] if output else next(iter(outs.values()))
    return max_relative_error(ours, ref)
