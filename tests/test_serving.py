"""`netdsl compile --triton-repo` (netdsl/serving.py): the model repository entry, its
config.pbtxt parsed with Triton's own model-config schema (tritonclient's model_config_pb2)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from netdsl.cli import main

ZOO = Path(__file__).resolve().parent.parent / "zoo"


def _config(path: Path):
    pb2 = pytest.importorskip(
        "tritonclient.grpc.model_config_pb2",
        reason="needs tritonclient's model-config schema: pip install 'tritonclient[grpc]'")
    from google.protobuf import text_format
    return text_format.Parse(path.read_text(), pb2.ModelConfig()), pb2


def test_triton_repository_entry(tmp_path, capsys):
    repo = tmp_path / "models"
    assert main(["compile", str(ZOO / "lenet.net"), "--triton-repo", str(repo),
                 "--dynamic-batching", "--max-batch", "16"]) == 0
    onnx.checker.check_model(str(repo / "lenet5" / "1" / "model.onnx"))
    config, pb2 = _config(repo / "lenet5" / "config.pbtxt")
    assert config.name == "lenet5" and config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 16 and config.HasField("dynamic_batching")
    assert [(i.name, i.data_type, list(i.dims)) for i in config.input] == [
        ("image", pb2.TYPE_FP32, [1, 32, 32])]
    assert [(o.name, o.data_type, list(o.dims)) for o in config.output] == [
        ("probs", pb2.TYPE_FP32, [10])]


def test_a_fixed_batch_stays_in_the_dims(tmp_path, capsys):
    repo = tmp_path / "models"
    out = tmp_path / "lenet.onnx"
    assert main(["compile", str(ZOO / "lenet.net"), "-o", str(out), "--batch", "4",
                 "--triton-repo", str(repo)]) == 0
    assert out.exists()
    config, _ = _config(repo / "lenet5" / "config.pbtxt")
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [4, 1, 32, 32]


def test_compile_needs_an_output(capsys):
    assert main(["compile", str(ZOO / "lenet.net")]) == 2
    assert "give -o OUT.onnx, --triton-repo DIR, or both" in capsys.readouterr().err


def test_a_model_for_every_size_has_variable_dims(tmp_path, capsys):
    """Sizes that vary are -1 in Triton's dims (its model_configuration.md, "Inputs and
    Outputs"); they were E214 'Triton needs the others fixed', with the entry's empty folders
    left behind."""
    src = tmp_path / "tiles.net"
    src.write_text("network tiles {\n  input image: [N, 1, H, W]\n"
                   "  image -> conv(2, 3, pad: 1) -> output scores\n"
                   "  expect scores: [N, 2, 32, 32] at H = 32, W = 32\n}\n")
    repo = tmp_path / "models"
    assert main(["compile", str(src), "--triton-repo", str(repo)]) == 0, capsys.readouterr().err
    config, _ = _config(repo / "tiles" / "config.pbtxt")
    assert [list(p.dims) for p in (*config.input, *config.output)] == [[1, -1, -1], [2, -1, -1]]
    assert config.max_batch_size == 8


def test_dynamic_batching_with_a_fixed_batch_is_a_usage_error(tmp_path, capsys):
    """Triton batches requests only for a model whose first axis varies: with --batch 4 the
    entry had max_batch_size 0 and no dynamic_batching, and nothing said the flag was dropped."""
    repo = tmp_path / "models"
    assert main(["compile", str(ZOO / "lenet.net"), "--batch", "4", "--dynamic-batching",
                 "--triton-repo", str(repo)]) == 2
    assert capsys.readouterr().err == (
        "--dynamic-batching needs a batch that varies: Triton joins requests "
        "only for a model whose first axis is N; drop --batch\n"
        "usage: see `netdsl compile --help`\n")
    assert not repo.exists()


@pytest.mark.parametrize("args,message", [
    (["--max-batch", "4", "-o", "m.onnx"],
     "--max-batch applies to the Triton entry: add --triton-repo DIR"),
    (["--dynamic-batching", "-o", "m.onnx"],
     "--dynamic-batching applies to the Triton entry: add --triton-repo DIR"),
    (["--max-batch", "4", "--batch", "2", "--triton-repo", "models"],
     "--max-batch needs a batch that varies: Triton joins requests only for a model whose first "
     "axis is N; drop --batch"),
])
def test_triton_flags_that_would_be_dropped_are_usage_errors(tmp_path, monkeypatch, capsys, args,
                                                              message):
    """--max-batch and --dynamic-batching shape the Triton entry of a model whose batch varies:
    without --triton-repo, or with --batch, they were ignored without a word."""
    monkeypatch.chdir(tmp_path)
    assert main(["compile", str(ZOO / "lenet.net"), *args]) == 2
    assert capsys.readouterr().err == f"{message}\nusage: see `netdsl compile --help`\n"
    assert list(tmp_path.iterdir()) == []


def test_dynamic_batching_of_a_batch_fixed_in_the_net_is_a_usage_error(tmp_path, capsys):
    """`input x: [1, ...]` fixes the batch in the .net itself: the flag was dropped silently; now
    nothing is written, -o included."""
    src = tmp_path / "one.net"
    src.write_text("network one {\n  input x: [1, 3, 8, 8]\n  x -> relu -> output y\n}\n")
    repo, out = tmp_path / "models", tmp_path / "one.onnx"
    assert main(["compile", str(src), "-o", str(out), "--triton-repo", str(repo),
                 "--dynamic-batching"]) == 2
    assert capsys.readouterr().err == (
        "--dynamic-batching needs a batch that varies: the model's first axis is fixed in the "
        ".net (declare it N)\nusage: see `netdsl compile --help`\n")
    assert not repo.exists() and not out.exists()
