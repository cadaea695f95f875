"""PyTorch checkpoints as --weights (netdsl/checkpoint.py): state_dicts written by torch.save
read without torch's unpickler, and a pickle that would run code refused."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

import netdsl
from netdsl import weights
from netdsl.cli import main
from netdsl.diagnostics import NetdslError, render_all

ZOO = Path(__file__).resolve().parent.parent / "zoo"


@pytest.mark.slow
def test_state_dicts_of_every_dtype_and_layout(torch, tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    state = {"a": base, "t": base.transpose(0, 2), "s": base[1, 1:], "h": base.half(),
             "b": base.bfloat16(), "i": base.long(), "p": torch.nn.Parameter(base.double()),
             "scalar": torch.tensor(3.5), "bn.num_batches_tracked": torch.tensor(7)}
    path = tmp_path / "w.pt"
    torch.save(state, path)
    got = weights.read(path)
    assert set(got) == set(state) - {"bn.num_batches_tracked"}
    for k, v in got.items():
        want = state[k].detach().float().numpy() if k == "b" else state[k].detach().numpy()
        np.testing.assert_array_equal(v.astype(want.dtype), want)
        assert v.shape == tuple(state[k].shape)


@pytest.mark.slow
def test_compile_a_torchvision_checkpoint(torch, torchvision, tmp_path, capsys):
    model = torchvision.models.resnet18(weights=None).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(model.state_dict(), path)
    out = tmp_path / "r.onnx"
    assert main(["compile", str(ZOO / "resnet.net"), "--network", "resnet18", "--weights",
                 str(path), "-o", str(out)]) == 0
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    (got,) = netdsl.run(out, {"image": x}).values()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_hugging_face_pytorch_model_bin_is_a_checkpoint(torch, tmp_path):
    """Hugging Face names its torch.save'd state_dicts pytorch_model.bin: read as a .pt (it was
    'unknown format `.bin`')."""
    state = {"linear.weight": torch.ones(2, 3), "linear.bias": torch.zeros(2)}
    path = tmp_path / "pytorch_model.bin"
    torch.save(state, path)
    got = weights.read(path)
    assert {k: v.shape for k, v in got.items()} == {"linear.weight": (2, 3), "linear.bias": (2,)}


class _Evil:
    def __reduce__(self):
        return os.system, ("echo pwned > pwned.txt",)


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"w": _Evil()}, protocol=2))
    with pytest.raises(NetdslError) as e:
        weights.read(path)
    module = os.system.__module__
    assert render_all(e.value.diagnostics) == (
        f"error[E401]: weight file {path}: refused: the pickle asks for `{module}.system`, which "
        "a state_dict of tensors never needs (pickled code is not run)\n"
        "  = hint: save the state_dict (torch.save(model.state_dict(), f)), not the model, or "
        "convert it to .safetensors")
    assert not (tmp_path / "pwned.txt").exists()


def test_the_legacy_format_is_refused(tmp_path):
    path = tmp_path / "old.pt"
    path.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(NetdslError, match=r"not a torch\.save zip archive"):
        weights.read(path)



UNREAD = {  # what netdsl calls each, and how torch makes one
    "a float8 or unsigned 16, 32 or 64-bit tensor": lambda torch, x: x.to(torch.float8_e4m3fn),
    "a complex tensor": lambda torch, x: x.to(torch.complex64),
    "a sparse tensor": lambda torch, x: x.to_sparse(),
    "a quantized tensor": lambda torch, x: torch.quantize_per_tensor(x, 0.1, 0, torch.qint8),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", UNREAD)
def test_a_state_dict_of_tensors_netdsl_does_not_read_says_which(torch, tmp_path, kind):
    """A state_dict of tensors of a kind the reader lacks says so; it said that the pickle asks
    for what `a state_dict of tensors never needs`, and to save the state_dict, not the model."""
    state = {"c1.bias": torch.zeros(4), "c1.weight": UNREAD[kind](torch, torch.ones(4, 3))}
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(NetdslError) as e:
        weights.read(path)
    assert render_all(e.value.diagnostics) == (
        f"error[E401]: weight file {path}: holds {kind}, which netdsl does not read\n"
        "  = hint: save dense float32 tensors: "
        "{k: v.to_dense().float() for k, v in state_dict.items()}")


def test_a_state_dict_of_meta_tensors_says_they_hold_no_data(torch, tmp_path):
    """A model built on the meta device (no weights yet) saved as is: it was 'refused: the
    pickle asks for ... which a state_dict of tensors never needs'."""
    path = tmp_path / "w.pt"
    torch.save({"c1.weight": torch.empty(4, 3, device="meta")}, path)
    with pytest.raises(NetdslError) as e:
        weights.read(path)
    assert render_all(e.value.diagnostics) == (
        f"error[E401]: weight file {path}: holds a tensor on the meta device (no data), which "
        "netdsl does not read\n"
        "  = hint: save the state_dict of a model whose weights are loaded or initialised "
        "(model.to_empty() leaves them unset)")


@pytest.mark.slow
def test_tensors_that_share_one_storage_read_it_once(torch, tmp_path):
    """A state_dict whose 100 tensors are views of one flat storage (a flat-parameter
    checkpoint) reads that storage once: each view read all of it again, 100 times the file's
    size in memory (1.6 GB for a 16 MB file), as torch.load does not."""
    import tracemalloc
    flat = torch.randn(100 * 10_000)
    state = {f"l{i}.weight": flat[i * 10_000:(i + 1) * 10_000].view(100, 100) for i in range(100)}
    path = tmp_path / "flat.pt"
    torch.save(state, path)
    tracemalloc.start()
    try:
        got = weights.read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(got["l7.weight"], state["l7.weight"].numpy())
    assert peak < 3 * path.stat().st_size, peak


def test_a_checkpoint_whose_tensors_inflate_past_the_limit_is_refused_unread(tmp_path,
                                                                           monkeypatch):
    """The data records of a .pt archive may be deflated (a zip bomb: gigabytes of zeros in a
    few megabytes): their inflated sizes count against the limit an .npz's or .safetensors'
    arrays have, before any is read; a .pt was inflated whole, whatever its size."""
    from netdsl import checkpoint
    monkeypatch.setattr(checkpoint, "MAX_WEIGHTS_BYTES", 1000)
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/data.pkl", pickle.dumps({"w": 1}, protocol=2))
        z.writestr("bomb/data/0", bytes(4000))
    with pytest.raises(NetdslError) as e:
        weights.read(path)
    assert render_all(e.value.diagnostics) == (
        f"error[E401]: weight file {path}: its arrays hold more than the limit of 1,000 bytes")
