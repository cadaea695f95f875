"""`netdsl compile` and `netdsl run` as a user meets them: what they print, what they write, and
the clear error (exit 1, nothing written, no traceback) for every bad path and input."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

import netdsl
from conftest import ROOT, ZOO, cli

LENET = str(ZOO / "lenet.net")
TWO_INPUTS = """network two {
  input a: [N, 3, 4, 4]
  input b: [N, 3, 4, 4]
  output s = a + b
}"""


def fails(code: int, err: str, message: str) -> None:
    assert code == 1, err
    assert message in err, err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def lenet_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "lenet.onnx"
    assert cli("compile", LENET, "-o", str(path))[0] == 0
    return path


# ------------------------------------------------------------------------------ compile

def test_compile_reports_and_writes_a_valid_model(tmp_path):
    out = tmp_path / "lenet.onnx"
    code, stdout, _ = cli("compile", LENET, "-o", str(out))
    model = onnx.load(str(out))
    onnx.checker.check_model(model, full_check=True)
    assert code == 0
    assert stdout == (f"{out}: lenet5, opset {model.opset_import[0].version}, 61,706 params, "
                      f"{len(model.graph.node)} ONNX nodes\n")


def test_compile_opset_batch_network_and_set(tmp_path, net_file):
    src = net_file("network a(c = 4) {\n  input x: [N, 3, 8, 8]\n  x -> conv(c, 3) -> output y\n}"
                   "\nnetwork b {\n  input x: [N, 2]\n  x -> relu -> output y\n}\n")
    out = tmp_path / "a.onnx"
    code, _, err = cli("compile", str(src), "--network", "a", "--set", "c=5", "--opset", "17",
                       "--batch", "2", "-o", str(out))
    assert code == 0, err
    model = onnx.load(str(out))
    assert model.opset_import[0].version == 17
    y = model.graph.output[0].type.tensor_type.shape
    assert [d.dim_value for d in y.dim] == [2, 5, 6, 6]


@pytest.mark.parametrize("opset", ["16", "999"])
def test_compile_rejects_an_unsupported_opset(tmp_path, opset):
    out = tmp_path / "m.onnx"
    code, _, err = cli("compile", LENET, "--opset", opset, "-o", str(out))
    fails(code, err, f"error[E214]: opset {opset} is not supported: netdsl lowers to opsets 17 "
                     f"to {onnx.defs.onnx_opset_version()}")
    assert not out.exists()


def test_output_that_is_a_directory(tmp_path):
    code, _, err = cli("compile", LENET, "-o", str(tmp_path))
    fails(code, err, f"error[E402]: {tmp_path} is a directory; give a file name such as "
                     f"{tmp_path / 'model.onnx'}")


def test_output_that_is_the_input_itself(tmp_path):
    src = tmp_path / "lenet.net"
    shutil.copy(LENET, src)
    before = src.read_bytes()
    code, _, err = cli("compile", str(src), "-o", str(tmp_path / "." / "lenet.net"))
    fails(code, err, "is an input of this command; writing it would destroy it")
    assert src.read_bytes() == before


def test_output_that_is_the_weight_file(tmp_path):
    w = tmp_path / "w.npz"
    np.savez(w, x=np.zeros(1))
    code, _, err = cli("compile", LENET, "--weights", str(w), "-o", str(w))
    fails(code, err, f"error[E402]: {w} is an input of this command")


@pytest.mark.parametrize("command", ["compile", "import"])
def test_output_dash_is_not_stdout(tmp_path, monkeypatch, lenet_onnx, command):
    """`-o -` wrote a file named `-` in the current directory, where stdout was meant."""
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(command, LENET if command == "compile" else str(lenet_onnx), "-o", "-")
    suffix = ".onnx" if command == "compile" else ".net"
    assert (code, out, err) == (2, "", f"-o -: {command} writes a file, not stdout; give a file "
                                f"name such as model{suffix}\n"
                                f"usage: see `netdsl {command} --help`\n")
    assert list(tmp_path.iterdir()) == []


def test_output_in_a_missing_directory(tmp_path):
    out = tmp_path / "no" / "m.onnx"
    code, _, err = cli("compile", LENET, "-o", str(out))
    fails(code, err, f"error[E402]: {out}: the directory {out.parent} does not exist")


def _as_unprivileged(args: list[str]) -> list[str]:
    """The netdsl command line, run so that file permissions apply: as root, with the
    capability that lets root write anywhere (CAP_DAC_OVERRIDE) dropped by capsh."""
    cmd = [sys.executable, "-m", "netdsl", *args]
    if os.geteuid() != 0:
        return cmd
    capsh = shutil.which("capsh")
    if capsh is None:
        pytest.skip("running as root without capsh: root may write into read-only directories")
    return [capsh, "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(cmd)]


@pytest.mark.parametrize("command", ["compile", pytest.param("run", marks=pytest.mark.slow)])
def test_output_in_an_unwritable_directory(tmp_path, command):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        args = (["compile", LENET, "-o", str(ro / "m.onnx")] if command == "compile"
                else ["run", LENET, "--random", "--save", str(ro / "out")])
        r = subprocess.run(_as_unprivileged(args), capture_output=True, text=True, cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        where = f"{ro / 'm.onnx'}" if command == "compile" else f"--save {ro / 'out'}"
        fails(r.returncode, r.stderr, f"error[E402]: {where}: the directory {ro} is not writable")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------------------------- run

def test_run_a_net_file_compiled_in_memory(tmp_path):
    code, out, err = cli("run", LENET, "--random", "--batch", "3")
    assert code == 0, err
    assert "input image: shape [3, 1, 32, 32]" in out and "probs: shape [3, 10]" in out
    assert list(tmp_path.iterdir()) == []


def test_run_batch_that_cannot_apply_is_a_usage_error(tmp_path, lenet_onnx):
    """--batch sizes --random inputs of a model whose batch is not fixed; it was ignored
    silently with --input, and on a model compiled with --batch (which then ran its own)."""
    fixed = tmp_path / "b2.onnx"
    assert cli("compile", LENET, "--batch", "2", "-o", str(fixed))[0] == 0
    assert cli("run", str(fixed), "--random", "--batch", "5") == (
        2, "", "--batch 5: the model's batch is fixed at 2 (compiled with --batch); "
               "compile it without --batch for a batch of your choice\n"
               "usage: see `netdsl run --help`\n")
    code, out, _ = cli("run", str(fixed), "--random", "--batch", "2")
    assert code == 0 and "input image: shape [2, 1, 32, 32]" in out
    code, out, _ = cli("run", str(fixed), "--random")
    assert code == 0 and "input image: shape [2, 1, 32, 32]" in out
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 32, 32), np.float32))
    assert cli("run", str(lenet_onnx), "--input", str(tmp_path / "x.npy"), "--batch", "4") == (
        2, "", "--batch is the batch of --random inputs; --input arrays bring their own"
               "\nusage: see `netdsl run --help`\n")


def test_run_prints_statistics_and_top_k_of_what_it_saves(tmp_path, lenet_onnx):
    save = tmp_path / "outs"
    code, out, err = cli("run", str(lenet_onnx), "--random", "--batch", "2", "--top", "3",
                         "--save", str(save))
    assert code == 0, err
    probs = np.load(save / "probs.npy")
    assert probs.shape == (2, 10)
    assert (f"probs: shape [2, 10], mean {probs.mean():.6g}, std {probs.std():.6g}, "
            f"min {probs.min():.6g}, max {probs.max():.6g}") in out
    for b in range(2):
        best = np.argsort(-probs[b], kind="stable")[:3]
        assert f"[{b}] top-3: " + ", ".join(f"{i} ({probs[b, i]:.4f})" for i in best) in out


def test_run_top_k_of_logits_applies_softmax(net_file, tmp_path):
    src = net_file("network t {\n  input x: [N, 6]\n  x -> dense(5) -> output logits\n}")
    code, out, err = cli("run", str(src), "--random", "--top", "2", "--save", str(tmp_path))
    assert code == 0, err
    logits = np.load(tmp_path / "logits.npy")[0]
    p = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    best = np.argsort(-p)[:2]
    assert "[0] top-2: " + ", ".join(f"{i} ({p[i]:.4f})" for i in best) in out


def test_run_with_input_files(tmp_path, lenet_onnx):
    x = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    expected = netdsl.run(netdsl.compile(LENET), {"image": x})["probs"]
    for spec in (f"image={tmp_path / 'x.npy'}", str(tmp_path / "x.npy")):
        save = tmp_path / spec[:5]
        code, _, err = cli("run", str(lenet_onnx), "--input", spec, "--save", str(save))
        assert code == 0, err
        np.testing.assert_array_equal(np.load(save / "probs.npy"), expected)


@pytest.mark.parametrize("case", ["shape", "dtype", "name", "npz", "missing file", "bare", "text",
                                  "twice"])
def test_run_bad_inputs_name_the_expected_shape(tmp_path, net_file, case):
    model = str(ZOO / "lenet.net") if case != "bare" else str(net_file(TWO_INPUTS))
    arr = {"shape": np.zeros((1, 1, 28, 28), np.float32),
           "dtype": np.zeros((1, 1, 32, 32), np.int64)}.get(case, np.zeros((1, 1, 32, 32)))
    path = tmp_path / ("x.npz" if case == "npz" else "x.npy")
    if case == "npz":
        np.savez(path, image=arr)
    elif case == "text":
        path.write_text("hello\n")
    elif case != "missing file":
        np.save(path, arr)
    spec = {"name": f"img={path}", "bare": str(path)}.get(case, f"image={path}")
    given = ["--input", spec] * (2 if case == "twice" else 1)
    code, _, err = cli("run", model, *given, "--save", str(tmp_path / "o"))
    fails(code, err, {
        "shape": "error[E404]: input `image` has shape [1, 1, 28, 28]; the model expects "
                 "float32 [N, 1, 32, 32]",
        "dtype": "error[E404]: input `image` has dtype int64; the model expects float32 "
                 "[N, 1, 32, 32]",
        "name": "error[E404]: the model has no input `img`\n  = hint: its inputs: image "
                "[N, 1, 32, 32]",
        "npz": f"error[E404]: input file {path}: an .npz archive, not one .npy array",
        "missing file": f"error[E404]: input file {path}: no such file",
        "bare": f"error[E404]: --input {path}: the model has 2 inputs; write NAME=FILE.npy",
        "text": f"error[E404]: input file {path}: not a .npy array (it does not begin as one "
                "does, with \\x93NUMPY)\n  = hint: save each input with numpy.save\n",
        "twice": f"error[E404]: --input {spec}: input `image` is given twice\n",
    }[case])
    assert not (tmp_path / "o").exists()


def test_run_a_missing_input_of_two(tmp_path, net_file):
    np.save(tmp_path / "a.npy", np.zeros((1, 3, 4, 4), np.float32))
    code, _, err = cli("run", str(net_file(TWO_INPUTS)), "--input", f"a={tmp_path / 'a.npy'}")
    fails(code, err, "error[E404]: input `b` is missing: the model expects float32 [N, 3, 4, 4]")


@pytest.mark.parametrize("case", ["truncated", "text", "empty", "missing", "directory"])
def test_run_a_bad_onnx_file(tmp_path, lenet_onnx, case):
    path = tmp_path / "m.onnx"
    if case == "truncated":
        path.write_bytes(lenet_onnx.read_bytes()[:5000])
    elif case == "text":
        path.write_text("network t { }")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "directory":
        path.mkdir()
    code, out, err = cli("run", str(path), "--random", "--save", str(tmp_path / "o"))
    if case == "missing":  # exit 2, as for a missing .net (it was 1)
        assert (code, err) == (2, f"{path}: no such file\nusage: see `netdsl run --help`\n")
    else:
        fails(code, err, f"error[E403]: {path}: not a file" if case == "directory"
              else f"error[E403]: {path}: not a valid ONNX model")
    assert not (tmp_path / "o").exists() and out == ""


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "classes=3"], "--set classes=...: the model has no size classes that varies; "
                             "every size of its inputs but the batch is fixed"),
    (["--network", "lenet5"], "--network lenet5: an .onnx model has no networks to choose from"),
])
def test_run_onnx_with_a_choice_it_does_not_have(lenet_onnx, args, message):
    """Both were ignored: `--set classes=3` ran the 10-class model and said nothing."""
    code, out, err = cli("run", str(lenet_onnx), "--random", *args)
    assert (code, out, err) == (2, "", f"{message}\nusage: see `netdsl run --help`\n")


def _adder(tmp_path, dtype):
    """An ONNX model not made by netdsl, y = x + x, on `dtype` (an onnx.TensorProto type)."""
    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Add", ["x", "x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", dtype, ["N", 3])],
        [onnx.helper.make_tensor_value_info("y", dtype, ["N", 3])])
    path = tmp_path / "add.onnx"
    onnx.save(onnx.helper.make_model_gen_version(
        g, opset_imports=[onnx.helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize(("dtype", "arr"), [(onnx.TensorProto.INT64, np.arange(6).reshape(2, 3)),
                                            (onnx.TensorProto.DOUBLE, np.ones((2, 3)) / 3)])
def test_run_a_model_whose_inputs_are_not_float32(tmp_path, dtype, arr):
    """Every input was taken as float32: an int64 array was refused ('the model expects
    float32', hint astype(numpy.float32)), and --random or a float64 file failed in
    onnxruntime (E403 'Unexpected input data type')."""
    model = _adder(tmp_path, dtype)
    np.save(tmp_path / "x.npy", arr)
    code, _, err = cli("run", str(model), "--input", str(tmp_path / "x.npy"), "--save",
                       str(tmp_path / "o"), "--provider", "cpu")
    assert code == 0, err
    saved = np.load(tmp_path / "o" / "y.npy")
    assert saved.dtype == arr.dtype and (saved == arr + arr).all()
    code, _, err = cli("run", str(model), "--random", "--provider", "cpu")
    assert code == 0, err


def test_run_an_int64_input_given_floats(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 3)))
    code, _, err = cli("run", str(_adder(tmp_path, onnx.TensorProto.INT64)), "--input",
                       str(tmp_path / "x.npy"))
    fails(code, err, "error[E404]: input `x` has dtype float64; the model expects int64 [N, 3]\n"
                     "  = hint: convert it with array.astype(numpy.int64)\n")


def test_run_save_into_a_file(tmp_path, lenet_onnx):
    f = tmp_path / "f"
    f.write_text("keep")
    code, out, err = cli("run", str(lenet_onnx), "--random", "--save", str(f / "sub"))
    fails(code, err, f"error[E402]: --save {f / 'sub'}: {f} is a file, not a directory")
    assert f.read_text() == "keep" and out == ""


def test_run_needs_input_or_random(lenet_onnx):
    code, _, err = cli("run", str(lenet_onnx))
    assert code == 2 and "give --input NAME=FILE.npy or --random" in err


def test_provider_cuda_says_clearly_when_it_is_missing(lenet_onnx):
    import onnxruntime as ort
    code, out, err = cli("run", str(lenet_onnx), "--random", "--provider", "cuda")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert code == 0 and "provider: CUDAExecutionProvider" in out, err
    else:
        fails(code, err, "error[E405]: --provider cuda: this onnxruntime has no CUDA execution "
                         "provider")
        assert "install onnxruntime-gpu" in err


def test_provider_auto_notes_the_cpu_fallback(lenet_onnx):
    import onnxruntime as ort
    code, out, err = cli("run", str(lenet_onnx), "--random")
    assert code == 0
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert "provider: CUDAExecutionProvider" in out
    else:
        assert "note: CUDA is not available in this onnxruntime; running on the CPU" in err
        assert "provider: CPUExecutionProvider" in out
    code, out, err = cli("run", str(lenet_onnx), "--random", "--provider", "cpu")
    assert code == 0 and err == "" and "provider: CPUExecutionProvider" in out


def test_a_failing_disk_is_a_clear_error_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from netdsl import files

    def full(*_):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(files.os, "replace", full)
    out = tmp_path / "m.onnx"
    code, _, err = cli("compile", LENET, "-o", str(out))
    fails(code, err, f"error[E402]: {out}: cannot write: No space left on device")
    assert list(tmp_path.iterdir()) == []


def _hand_made(tmp_path, node, inputs=("x",)):
    """An .onnx file onnx's checker accepts, written with onnx.helper."""
    from onnx import TensorProto, helper
    x = [helper.make_tensor_value_info(i, TensorProto.FLOAT, ["N", 4]) for i in inputs]
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])
    g = helper.make_graph([node], "g", x, [y], [helper.make_tensor(
        "shape", TensorProto.INT64, [2], [2, 2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17),
                                            helper.make_opsetid("my.ops", 1)])
    m.ir_version = 8
    path = tmp_path / "hand.onnx"
    onnx.save(m, str(path))
    return path


def test_run_a_model_onnxruntime_cannot_load(tmp_path):
    from onnx import helper
    path = _hand_made(tmp_path, helper.make_node("Frobnicate", ["x"], ["y"], domain="my.ops"))
    code, _, err = cli("run", str(path), "--random")
    fails(code, err, "error[E403]: onnxruntime cannot load the model: ")
    assert "Frobnicate" in err and "[ONNXRuntimeError]" not in err


def test_run_a_model_that_fails_while_running(tmp_path):
    from onnx import helper
    path = _hand_made(tmp_path, helper.make_node("Reshape", ["x", "shape"], ["y"]))
    code, _, err = cli("run", str(path), "--random", "--batch", "3")  # 12 values into 2x2
    fails(code, err, "error[E403]: onnxruntime failed: ")
    # onnxruntime's own words, without its C++ source locations
    assert "Reshape node" in err and "Input shape:{3,4}" in err and "onnxruntime_src" not in err


@pytest.mark.parametrize("args,message", [
    (["compile", LENET, "-o", "m.onnx", "--batch", "0"], "--batch must be at least 1"),
    (["run", LENET, "--random", "--batch", "0"], "--batch must be at least 1"),
    (["run", LENET, "--random", "--top", "-1"], "--top at least 0"),
    (["run", LENET, "--random", "--input", "x.npy"], "give either --input or --random"),
    (["run", LENET, "--random", "--provider", "gpu"], "invalid choice: 'gpu'"),
])
def test_usage_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli(*args)
    assert code == 2 and message in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
