"""Hostile input (issue #12): every limit is a diagnostic, reached before the work it guards.

How a regression fails instead of hanging: each bomb runs under `deadline` (a few seconds of CPU
time, SIGPROF, or six times that of wall-clock time: far more than the limit needs, far less
than the unguarded work), which raises
TimeoutError into the test; no test asserts a timing. Sources that must not be read (a FIFO,
/dev/zero) are read only through netdsl.load, which stats them first."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import check_text, errors_of, rendered
from netdsl import NetdslError, compile, compile_to, load, loads, run
from netdsl.diagnostics import render


@contextmanager
def deadline(seconds: float = 5.0) -> Iterator[None]:
    """TimeoutError once the block has used `seconds` of CPU time (so that a loaded machine does
    not fail it), or six times that of wall-clock time (a read that blocks uses no CPU)."""
    def alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: a limit is not enforced")
    timers = [(signal.SIGPROF, signal.ITIMER_PROF, seconds),
              (signal.SIGALRM, signal.ITIMER_REAL, 6 * seconds)]
    old = [signal.signal(sig, alarm) for sig, _, _ in timers]
    for _, which, after in timers:
        signal.setitimer(which, after)
    try:
        yield
    finally:
        for (sig, which, _), handler in zip(timers, old):
            signal.setitimer(which, 0)
            signal.signal(sig, handler)


def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    lines = "\n".join("  " + line for line in body.splitlines())
    return f"network n {{\n  input x: {inp}\n{lines}\n}}\n"


def codes(text: str) -> list[tuple[str, str]]:
    with deadline():
        return [(d.code, d.message) for d in errors_of(text)]


# --------------------------------------------------------------------------------- numbers

def test_integer_literal_beyond_int64_is_e215_not_an_overflow():
    assert rendered(net("y = x -> conv(1" + "0" * 30 + ", 3) -> output y")) == (
        "test.net:3:17: error[E215]: the number is too large\n"
        "  |\n"
        "3 |   y = x -> conv(1000000000000000000000000000000, 3) -> output y\n"
        "  |                 ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ too large\n"
        "  |\n"
        "  = hint: netdsl's integers go up to 2**63 - 1 = 9223372036854775807, its numbers to "
        "about 1.8e308")


def test_literal_over_pythons_4300_digit_limit_is_e215():
    assert codes(net("k = " + "9" * 5000 + "\nx -> output y")) == [
        ("E215", "the number is too large")]


def test_float_literal_beyond_float_range_is_e215():
    assert codes(net("y = x -> upsample(scale: 1e400) -> output y")) == [
        ("E215", "the number is too large")]


@pytest.mark.parametrize("expr,value", [
    ("10000000 ** 0.5", 10000000 ** 0.5), ("10000000 ** 1", 10000000), ("0.5 ** 100", 0.5 ** 100),
    ("(-1) ** 101", -1), ("1 ** 1000", 1), ("2 ** 62", 2 ** 62), ("(-1) ** 10 ** 12", 1),
])
def test_a_power_within_the_limits_is_computed(expr, value):
    """`** b` was refused as too large wherever |b| > 64 or |a| > 1e6: `10000000 ** 0.5`."""
    text = (f"network n(v) {{\n  input x: [N, 3]\n  k = {expr}\n  x -> output y\n"
            "  expect k == v\n}\n")
    assert check_text(text, v=value).graph.name == "n"


@pytest.mark.parametrize("expr,message", [
    ("2 ** 63", ("E215", "the number is too large")),
    ("2 ** 10 ** 15", ("E215", "the number is too large")),  # refused before it is computed
    ("2.0 ** 10 ** 15", ("E215", "the number is too large")),
    ("(-8) ** 0.5", ("E212", "a negative number to a fractional power has no real value: "
                            "(-8) ** 0.5")),
])
def test_a_power_beyond_the_limits_or_the_real_numbers_is_an_error(expr, message):
    """`(-8) ** 0.5` was a complex number: `summary --format json` failed on it (exit 3)."""
    assert codes(net(f"k = {expr}\nx -> output y")) == [message]


@pytest.mark.parametrize("line,col", [("k = [k]", 9), ("k = {1: k}", 10), ("k = [{1: k}]", 9)])
def test_lists_and_tables_nested_by_a_loop_stop_at_e215(line, col):
    """`k = [k]` 5,000 times, then `expect k == [1]`: a traceback (exit 3) from the recursion
    of the functions on values (show, ==)."""
    text = net(f"k = []\nfor i in range(5000) {{\n  {line}\n}}\nx -> output y\nexpect k == [1]")
    with deadline():
        (d,) = errors_of(text)
    assert (d.code, d.message, d.location()) == (
        "E215", "lists and tables would nest more than 150 deep", ("test.net", 5, col))
    assert check_text(net("k = []\nfor i in range(149) {\n  k = [k]\n}\nx -> output y\n"
                          "expect len(k) == 1")).graph.name == "n"


def test_growing_integer_stops_at_e215():
    assert codes(net("k = 3\nfor i in range(100) {\n  k = k * k\n}\ny = x -> output y")) == [
        ("E215", "the number is too large")]


def test_nan_from_a_builtin_is_e212():
    assert codes(net('k = float("nan")\ny = x -> output y')) == [
        ("E212", "the result is not a number (NaN)")]


def test_doubling_string_stops_at_e215():
    assert codes(net('s = "ab"\nfor i in range(100) {\n  s = s + s\n}\ny = x -> output y')) == [
        ("E215", "the string would be 131,072 characters long, over the limit of 100,000")]


def test_doubling_list_stops_at_e215():
    assert codes(net("l = [1]\nfor i in range(100) {\n  l = l + l\n}\ny = x -> output y")) == [
        ("E215", "the list would hold 1,048,577 values, over the limit of 1,000,000")]


def test_shared_nested_list_counts_every_item():
    assert codes(net("l = [1]\nfor i in range(100) {\n  l = [l, l]\n}\ny = x -> output y")) == [
        ("E215", "the list would hold 1,572,863 values, over the limit of 1,000,000")]


# ------------------------------------------------------------------------- sizes of things

def test_huge_conv_is_e215_at_check_time():
    assert codes(net("y = x -> conv(10**12, 3) -> output y".replace("10**12", "1T"))) == [
        ("E215", "conv: the output [N, 1000000000000, 6, 6] would hold 36,000,000,000,000 "
                 "elements, over the limit of 2,147,483,648 per tensor")]


def test_huge_input_is_e215_at_check_time():
    assert codes(net("y = x -> relu -> output y", "[N, 3, 1G, 1G]")) == [
        ("E215", "input `x` [N, 3, 1000000000, 1000000000] would hold "
                 "3,000,000,000,000,000,000 elements, over the limit of 2,147,483,648 per "
                 "tensor")]


def test_total_parameters_are_capped():
    text = net("y = x -> flatten -> dense(100K) -> dense(10K) -> output y")
    assert codes(text) == [("E215", "dense: the network would have 1,019,310,000 parameters, "
                                    "over the limit of 500,000,000")]


@pytest.mark.parametrize("batch", ["0", "-7"])
def test_batch_dim_must_be_positive(batch):
    assert codes(net("y = x -> relu -> output y", f"[{batch}, 3, 8, 8]")) == [
        ("E217", f"input `x` needs a positive batch size or a name such as N, not {batch}")]


def test_e302_hint_for_a_huge_stride_ends():
    with deadline():
        d, = errors_of(net("y = x -> conv(4, 3, stride: 1T) -> output y"))
    assert d.hints == ("stride 5 gives a whole size; `pad: same` gives ceil(8/1000000000000) = 1; "
                       "or pass `floor: true` to round down to 1", "input size 3 fits")


def test_adaptive_pool_to_a_billion_outputs_is_e215():
    assert codes(net("y = x -> adaptive_avgpool(1G) -> output y")) == [
        ("E215", "adaptive_avgpool: adaptive pooling of 8 inputs to 1000000000 outputs needs an "
                 "averaging matrix of 8,000,000,000 elements, over the limit of 1,048,576")]


def test_adaptive_pool_of_a_long_input_to_a_divisor_counts_in_closed_form():
    with deadline():
        n = loads(net("y = x -> adaptive_avgpool(500M) -> output y", "[N, 1, 1G]"))
    assert n.stats.macs == 1_000_000_000


def test_automatic_names_are_linear():
    with deadline(10):  # quadratic: 75 s
        n = loads(net("x -> relu * 10000 -> output z"))
    assert len(n.graph) == 10001
    assert "relu_9999" in n.graph


def test_reassigned_chain_names_are_linear():
    with deadline(10):  # quadratic: 19 s
        n = loads(net("y = x\nfor i in range(3000) {\n  y = y -> relu -> relu\n}\n"
                      "z = y -> output z"))
    assert len(n.graph) == 6001


# ---------------------------------------------------------------------------------- sources

def test_source_size_is_capped_before_parsing():
    assert codes("# " + "x" * 1_000_000 + "\n") == [
        ("E215", "the source is 1,000,003 bytes, over the limit of 1,000,000")]


def test_huge_weights_literal_is_capped_before_parsing():
    row = "[" + ",".join(["1"] * 300) + "]"
    text = net(f"y = x -> conv(1, 300, weights: [[[{','.join([row] * 300)}]]]) -> output y")
    assert codes(text) == [("E215", "the source holds 90,005 numbers, over the limit of 50,000")]


def test_a_source_of_too_many_tokens_is_capped_before_parsing():
    # the mutate run's one hang: 500,000 nested brackets in 512 kB, 14 s in Lark
    text = net("y = x -> conv(" + "[" * 60_000 + "1" + "]" * 60_000 + ", 3) -> output y")
    assert codes(text) == [("E215", "the source holds 120,031 tokens (words and symbols), "
                                    "over the limit of 100,000")]
    commented = "# " + "( " * 200_000 + "\n" + net("y = x -> relu -> output y")
    with deadline():
        check_text(commented)  # comments do not count: it checks


def test_fifo_is_not_read(tmp_path):
    fifo = tmp_path / "f.net"
    os.mkfifo(fifo)
    with deadline(), pytest.raises(NetdslError) as e:
        load(fifo)
    assert e.value.diagnostics[0].message == f"{fifo}: not a regular file"


def test_dev_zero_is_not_read():
    with deadline(), pytest.raises(NetdslError) as e:
        load("/dev/zero")
    assert e.value.diagnostics[0].message == "/dev/zero: not a regular file"


def _main(tmp_path: Path, use: str) -> Path:
    main = tmp_path / "main.net"
    main.write_text(f'use "{use}"\n' + net("y = x -> relu -> output y"))
    return main


def test_use_of_a_symlink_loop_is_e210(tmp_path):
    (tmp_path / "a.net").symlink_to(tmp_path / "b.net")
    (tmp_path / "b.net").symlink_to(tmp_path / "a.net")
    with pytest.raises(NetdslError) as e:
        load(_main(tmp_path, "a.net"))
    assert [d.message for d in e.value.diagnostics] == [
        'cannot use "a.net": a symbolic link loop']


def test_use_of_a_path_with_nul_is_e210(tmp_path):
    with pytest.raises(NetdslError) as e:
        load(_main(tmp_path, "a\\0b.net"))
    assert [d.message for d in e.value.diagnostics] == [
        'cannot use "a\x00b.net": an invalid path']
    assert 'cannot use "a\\x00b.net"' in render(e.value.diagnostics[0])  # shown escaped


def test_long_use_chain_is_e210_not_recursion(tmp_path):
    for i in range(2000):
        (tmp_path / f"c{i}.net").write_text(f'use "c{i + 1}.net"\n')
    (tmp_path / "c2000.net").write_text("\n")
    with deadline(20), pytest.raises(NetdslError) as e:
        load(_main(tmp_path, "c0.net"))
    assert [(d.code, d.message) for d in e.value.diagnostics] == [
        ("E210", "`use` files nest more than 100 deep")]


def test_use_diamond_parses_each_file_once(tmp_path):
    for i in range(16):
        for side in "ab":
            (tmp_path / f"{side}{i}.net").write_text(f'use "a{i + 1}.net"\nuse "b{i + 1}.net"\n')
    (tmp_path / "a16.net").write_text("block blk(x) {\n  return x -> relu\n}\n")
    (tmp_path / "b16.net").write_text("\n")
    main = tmp_path / "main.net"
    main.write_text('use "a0.net"\n' + net("y = x -> blk -> output y"))
    with deadline():
        assert len(load(main).graph) == 2


# ------------------------------------------------------------------------------ the public API

NET = net("y = x -> conv(4, 3, pad: 1) -> output y")


@pytest.mark.parametrize(("call", "message"), [
    (lambda n: loads(NET, network=5), "network= takes a str, not int 5"),
    (lambda n: compile(n, weights={"k": "abc"}),
     "weights['k']= takes a numeric array, not str 'abc'"),
    (lambda n: compile(n, opset="17"), "opset= takes an integer, not str '17'"),
    (lambda n: compile(n, seed=0.5), "seed= takes an integer, not float 0.5"),
    (lambda n: run(5), "netdsl.run takes a model (onnx.ModelProto, a Network or a path), not int"),
    (lambda n: run(n, [[0.5]]), "inputs= takes a mapping of input names to arrays, not list "
                                "[[0.5]]"),
    (lambda n: compile(n, weights={}, rename="a=b"),
     "rename= takes a sequence of 'PATTERN=REPLACEMENT' strings, not str 'a=b'"),
    (lambda n: compile(n, weights={}, rename=[3]),
     "rename= takes a sequence of 'PATTERN=REPLACEMENT' strings, not int 3"),
    (lambda n: compile_to(3, n), "path= takes a path (str or os.PathLike), not int 3"),
    (lambda n: loads(NET, root=3), "root= takes a path (str or os.PathLike), not int 3"),
])
def test_api_argument_of_the_wrong_type_is_a_clear_typeerror(call, message):
    with pytest.raises(TypeError) as e:
        call(loads(NET))
    assert str(e.value) == message


@pytest.mark.parametrize(("call", "message"), [
    (lambda n: compile(n, init="ones"), "init='ones': must be one of he, xavier, zeros"),
    (lambda n: run(n, provider="tpu"), "provider='tpu': must be one of auto, cpu, cuda"),
    (lambda n: run(n, batch=0), "batch=0: must be 1 to 65536"),
    (lambda n: run(n, batch=100_000_000), "batch=100000000: must be 1 to 65536"),
    (lambda n: run(n, seed=-1), "seed=-1: must be 0 to 4294967295"),
    (lambda n: loads("network \ud800"), "text: not text: a lone surrogate at character 8"),
    (lambda n: loads(NET, root="/no/such/dir"), "root='/no/such/dir': not a directory"),
    (lambda n: loads(NET.replace("(N", "(s").replace("network n", "network n(s = 1)"),
                     params={"s": float("inf")}),
     "parameter `s` of network `n`: the number is too large"),
])
def test_api_argument_out_of_range_is_e214(call, message):
    with pytest.raises(NetdslError) as e:
        call(loads(NET))
    assert [(d.code, d.message) for d in e.value.diagnostics] == [("E214", message)]


def test_api_weights_as_nested_lists_are_numeric_arrays():
    """check_weights accepts a numeric nested list; compile then asked it for .shape (exit 3)."""
    import numpy as np
    dense = loads(net("x -> y: dense(2) -> output z", "[N, 2]"))
    model = compile(dense, weights={"y.weight": [[1, 2], [3, 4]], "y.bias": [0.5, 0]})
    out = run(model, {"x": np.array([[1, 1]], np.float32)})["z"]
    np.testing.assert_array_equal(out, [[3.5, 7]])  # x W^T + b, as torch.nn.Linear

def test_run_on_an_empty_batch_is_e404():
    import numpy as np
    with pytest.raises(NetdslError) as e:
        run(loads(NET), {"x": np.zeros((0, 3, 8, 8), np.float32)})
    assert e.value.diagnostics[0].message == (
        "input `x` is empty (shape [0, 3, 8, 8]); the model expects float32 [N, 3, 8, 8]")


@pytest.mark.parametrize(("args", "message"), [
    (["--seed", "-1"], "--seed must be 0 to 2**32 - 1 = 4294967295"),
    (["--batch", "100000000"], "--batch must be at most 65536"),
])
def test_cli_seed_and_batch_out_of_range_are_usage_errors(args, message, tmp_path, capsys):
    from netdsl.cli import main
    src = tmp_path / "n.net"
    src.write_text(NET)
    assert main(["run", str(src), "--random", *args]) == 2
    assert message in capsys.readouterr().err


# ------------------------------------------------------------------------------------ weights

def test_ragged_fixed_weights_are_e205_at_check_time():
    assert codes(net("y = x -> conv(1, 2, bias: false, weights: [[[[1, 2], [3]]]]) -> output y",
                     "[N, 1, 8, 8]")) == [
        ("E205", "`weights` of `conv` takes a (nested) list of numbers whose rows all have the "
                 "same length, not a list")]


def test_npz_zip_bomb_is_not_inflated(tmp_path, monkeypatch):
    import zipfile

    import numpy as np

    from netdsl.weights import read
    bomb = tmp_path / "bomb.npz"  # 64 MiB of zeros in 64 kB: the names are wrong, nothing is read
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, z.open("huge.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (2**24,)})
        f.write(bytes(2**26))
    assert bomb.stat().st_size < 2**17

    def inflate(*args: object, **kwargs: object) -> None:
        raise AssertionError("an array was read before its name and shape were checked")
    monkeypatch.setattr(np, "load", inflate)
    assert read(bomb).headers == {"huge": ((2**24,), np.dtype("<f4"))}  # type: ignore[attr-defined]
    with pytest.raises(NetdslError) as e:
        compile(loads(NET), weights=bomb)
    assert [d.message for d in e.value.diagnostics] == [
        f"{bomb}: 2 missing: `y.weight`, `y.bias`", f"{bomb}: 1 unexpected: `huge`"]


@pytest.mark.parametrize("member,options", [
    ("module.huge", {"rename": [r"^module\.="]}),
    ("huge", {"fully_convolutional": True}),
], ids=["rename", "fully-convolutional"])
def test_names_are_checked_before_a_member_is_inflated(tmp_path, monkeypatch, member, options):
    """`--rename` inflated every member to rename it, and `--fully-convolutional` to reshape
    dense kernels, before any name was checked."""
    import zipfile

    import numpy as np
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open(f"{member}.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (2**24,)})
        f.write(bytes(2**26))

    def inflate(*args: object, **kwargs: object) -> None:
        raise AssertionError("an array was read before its name and shape were checked")
    monkeypatch.setattr(np, "load", inflate)
    head = loads(net("x -> c: conv(2, 3) -> flatten -> f: dense(2) -> output y",
                     "[N, 1, 4, 4]"))
    with pytest.raises(NetdslError) as e:
        compile(head, weights=bomb, **options)
    assert [d.message for d in e.value.diagnostics] == [
        f"{bomb}: 4 missing: `c.weight`, `c.bias`, `f.weight`, `f.bias`",
        f"{bomb}: 1 unexpected: `huge`"]


def test_a_dense_kernel_read_from_a_file_is_reshaped_to_the_conv(tmp_path):
    import numpy as np
    head = net("x -> c: conv(2, 3) -> flatten -> f: dense(2) -> output y", "[N, 1, 4, 4]")
    rng = np.random.default_rng(0)
    arrays = {"c.weight": rng.standard_normal((2, 1, 3, 3)), "c.bias": np.zeros(2),
              "f.weight": rng.standard_normal((2, 8)), "f.bias": np.ones(2)}
    np.savez(tmp_path / "w.npz", **arrays)
    x = {"x": rng.standard_normal((1, 1, 4, 4)).astype(np.float32)}
    plain = run(compile(loads(head), weights=arrays), x)["y"]
    fc = run(compile(loads(head), weights=tmp_path / "w.npz", fully_convolutional=True), x)["y"]
    np.testing.assert_allclose(fc.reshape(plain.shape), plain, rtol=1e-5, atol=1e-6)


def test_npz_headers_declaring_too_much_are_e401(tmp_path):
    import zipfile

    import numpy as np

    from netdsl.weights import read
    big = tmp_path / "big.npz"
    with zipfile.ZipFile(big, "w") as z, z.open("w.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (2**29,)})  # 4 GiB declared, no data
    with pytest.raises(NetdslError) as e:
        read(big)
    assert [d.message for d in e.value.diagnostics] == [
        f"weight file {big}: its arrays hold more than the limit of 2,147,483,648 bytes"]


def _safetensors(path: Path, header: dict[str, object], data_bytes: int) -> Path:
    """A .safetensors file of this header and `data_bytes` of data, a hole that takes no disk
    space (the format: a little-endian u64 header length, the JSON header, then the data)."""
    import json
    import struct
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
    os.truncate(path, 8 + len(text) + data_bytes)
    return path


def test_safetensors_declaring_too_much_is_e401_before_any_read(tmp_path):
    from netdsl.weights import read
    big = _safetensors(tmp_path / "big.safetensors", {"w": {  # 8 GiB, in a file with a hole
        "dtype": "F32", "shape": [2**31], "data_offsets": [0, 2**33]}}, 2**33)
    with deadline(), pytest.raises(NetdslError) as e:  # NOTE: it used to read the whole file
        read(big)
    assert [d.message for d in e.value.diagnostics] == [
        f"weight file {big}: its arrays hold more than the limit of 2,147,483,648 bytes"]


def test_safetensors_names_are_checked_before_any_array_is_read(tmp_path, monkeypatch):
    from netdsl import weights
    huge = _safetensors(tmp_path / "huge.safetensors", {"huge": {
        "dtype": "F32", "shape": [2**24], "data_offsets": [0, 2**26]}}, 2**26)

    def read_array(*args: object) -> None:
        raise AssertionError("an array was read before its name and shape were checked")
    monkeypatch.setattr(weights.SafetensorsArrays, "__getitem__", read_array)
    with pytest.raises(NetdslError) as e:
        compile(loads(NET), weights=huge)
    assert [d.message for d in e.value.diagnostics] == [
        f"{huge}: 2 missing: `y.weight`, `y.bias`", f"{huge}: 1 unexpected: `huge`"]


def test_safetensors_of_a_type_numpy_lacks_is_e401(tmp_path):
    from netdsl.weights import read
    f8 = _safetensors(tmp_path / "f8.safetensors", {"w": {  # NOTE: BF16 is read (as float32)
        "dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, 4)
    with pytest.raises(NetdslError) as e:
        read(f8)
    assert [(d.message, d.hints) for d in e.value.diagnostics] == [
        (f"weight file {f8}: `w` is F8_E4M3, which numpy cannot hold",
         ("save it as float32 (or float16)",))]


# ------------------------------------------------------------------ what check accepts runs

def test_even_lrn_size_is_e206():
    assert codes(net("y = x -> lrn(4) -> output y")) == [
        ("E206", "lrn: the size must be odd, not 4: onnxruntime takes odd sizes only, and ONNX "
                 "and torch place an even window differently")]


def test_output_pad_not_below_the_stride_is_e206_with_the_padding_that_does_the_same():
    """onnxruntime refuses output_pad >= stride (torch allows it below the dilation too): its
    ConvTranspose recomputes the input size from the output and finds one more."""
    text = net("x -> conv_transpose(4, 2, stride: 1, pad: 1, output_pad: 1, dilation: 2) "
               "-> output y")
    assert rendered(text) == """\
test.net:3:48: error[E206]: conv_transpose: output_pad 1 must be smaller than the stride 1: \
onnxruntime refuses more
  |
3 |   x -> conv_transpose(4, 2, stride: 1, pad: 1, output_pad: 1, dilation: 2) -> output y
  |                                                ^^^^^^^^^^^^^
  |
  = hint: the same output: `pad: [1, 1, 0, 0]` without output_pad"""
    assert codes(text.replace("pad: 1, output_pad", "output_pad")) == [
        ("E206", "conv_transpose: output_pad 1 must be smaller than the stride 1: onnxruntime "
                 "refuses more")]


def test_the_hinted_padding_gives_torchs_output_pad(torch):
    import numpy as np
    torch.manual_seed(0)
    ref = torch.nn.ConvTranspose2d(4, 3, 2, stride=1, padding=1, output_padding=1, dilation=2)
    x = torch.randn(2, 4, 5, 5)
    hinted = loads(net("x -> t: conv_transpose(3, 2, stride: 1, pad: [1, 1, 0, 0], "
                       "dilation: 2) -> output y", "[N, 4, 5, 5]"))
    weights = {k: v.detach().numpy() for k, v in zip(hinted.stats.tensors(),
                                                        ref.state_dict().values())}
    out = run(compile(hinted, weights=weights), {"x": x.numpy()}, provider="cpu")["y"]
    np.testing.assert_allclose(out, ref(x).detach().numpy(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ nesting outside a body

@pytest.mark.parametrize("network,where", [
    ("h", "network h = g(s: " + "[" * 200 + "1" + "]" * 200 + ")"),  # an alias's argument
    ("k", "network k(s = " + "not " * 200 + "1) {\n  input x: [N, 3]\n  x -> output y\n}"),
], ids=["alias-argument", "parameter-default"])
def test_nesting_before_the_body_is_e102(network, where):
    """Fuzzers' finds (exit 3, an uncaught TooDeep): the depth limit held inside a network's
    body only."""
    text = f"network g(s = 1) {{\n  input x: [N, 3]\n  x -> output y\n}}\n{where}\n"
    with deadline():
        diags = errors_of(text, network)
    assert [(d.code, d.message) for d in diags] == [
        ("E102", "the program nests more than 150 levels deep")]
