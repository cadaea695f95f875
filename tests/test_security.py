"""Hostile input (issue 12): nothing written outside its place, no pickle loaded, `use` kept inside
the root, control characters escaped, exit codes that survive a closed pipe, no temp file left
by SIGTERM, NaN/inf weights and arguments refused, and reproducible compiled bytes."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import netdsl
from conftest import ROOT, ZOO, cli

LENET = str(ZOO / "lenet.net")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
NET = "network n {\n  input x: [N, 3, 8, 8]\n  x -> conv(4, 3) -> output y\n}\n"


def _identity_model(path, output: str, input_name: str = "x") -> None:
    """An .onnx file whose one output has the given (hostile) name."""
    node = helper.make_node("Identity", [input_name], [output])
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 2])],
                          [helper.make_tensor_value_info(output, TensorProto.FLOAT, [1, 2])])
    model = helper.make_model_gen_version(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


# ------------------------------------------------------------------- 1. run --save stays in DIR

@pytest.mark.parametrize("name", ["../escaped", "/tmp/netdsl-abs-escape", "..", ".hidden",
                                  "a/../../b"])
def test_save_keeps_every_output_inside_the_directory(tmp_path, name):
    model, out = tmp_path / "m.onnx", tmp_path / "work" / "out"
    _identity_model(model, name)
    code, stdout, err = cli("run", str(model), "--random", "--save", str(out))
    assert code == 0, err
    written = list(out.iterdir())
    assert len(written) == 1 and written[0].suffix == ".npy"
    assert not written[0].name.startswith(".")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["m.onnx", "work", "out",
                                                                  written[0].name])
    assert not os.path.exists("/tmp/netdsl-abs-escape.npy")
    assert f"saved {written[0]}" in stdout


def test_save_names_stay_unique_after_sanitising():
    from netdsl.runtime import output_file_names
    assert output_file_names(["a/b", "a_b", "A_B", "../x", "", "."]) == [
        "a_b.npy", "a_b-2.npy", "A_B-3.npy", "_x.npy", "output.npy", "output-2.npy"]


def test_save_never_overwrites_an_input(tmp_path):
    model, out = tmp_path / "m.onnx", tmp_path / "out"
    out.mkdir()
    _identity_model(model, "feed", input_name="x")
    np.save(out / "feed.npy", np.ones((1, 2), np.float32))
    code, _, err = cli("run", str(model), "--input", f"x={out / 'feed.npy'}", "--save", str(out),
                       "--provider", "cpu")
    assert code == 1
    assert err == (f"error[E402]: --save {out / 'feed.npy'} is an input of this command; "
                   "writing it would destroy it\n  = hint: choose another output file\n\n")
    assert np.load(out / "feed.npy").tolist() == [[1.0, 1.0]]


# ------------------------------------------------------------------------- 2. no pickle cache

def test_a_planted_parser_cache_is_never_loaded(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    cache = tmp_path / "cache" / "netdsl"
    cache.mkdir(parents=True)
    for name in ("grammar-a6ce50154b69ea39.lark", "anything.lark"):
        (cache / name).write_bytes(pickle.dumps(Payload()))
    r = subprocess.run([sys.executable, "-m", "netdsl", "check", LENET], capture_output=True,
                       text=True, env={**ENV, "XDG_CACHE_HOME": str(tmp_path / "cache"),
                                       "HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    assert sorted(p.name for p in cache.iterdir()) == ["anything.lark",
                                                        "grammar-a6ce50154b69ea39.lark"]


def test_the_shipped_parser_is_current_and_used():
    from netdsl import parse
    shipped = json.loads(parse.PARSER_FILE.read_text(encoding="utf-8"))
    assert shipped["key"] == parse.grammar_key(parse.load_grammar()), (
        "run `python tools/gendocs.py parser` and commit netdsl/parser.json")
    lark, _ = parse._parser()
    assert lark.source_path == "<deserialized>"  # loaded from the JSON, not rebuilt


def test_the_shipped_parser_parses_as_the_grammar_does():
    from lark import Lark

    from netdsl import parse
    built = Lark(parse.load_grammar(), **parse._OPTIONS)
    for path in sorted(ZOO.glob("*.net")):
        text = path.read_text(encoding="utf-8")
        assert (parse._parser()[0].parse(text, start="start")
                == built.parse(text, start="start")), path.name


def test_a_freshly_written_parser_file_parses_as_the_grammar_does():
    # what `python tools/gendocs.py parser` writes after a grammar change: a new analysis (new
    # LALR state numbers), loaded from its JSON, parses every zoo file as Lark's own parser does
    from lark import Lark

    from netdsl.parse import loading
    fresh = loading._loaded(json.loads(loading.serialized_parser()))
    built = Lark(loading.load_grammar(), **loading._OPTIONS)
    for path in sorted(ZOO.glob("*.net")):
        text = path.read_text(encoding="utf-8")
        assert fresh.parse(text, start="start") == built.parse(text, start="start"), path.name


def test_a_damaged_parser_file_is_not_loaded(tmp_path, monkeypatch):
    # netdsl/parser.json, cut short, not JSON, with data after it or with the key right and the
    # data wrong: the parser is built from the grammar instead
    from netdsl.parse import loading
    text = loading.PARSER_FILE.read_text(encoding="utf-8")
    shipped = json.loads(text)
    assert loading._json_loads(text) == shipped  # the json package's C scanner, not imported
    broken = {**shipped, "symbols": shipped["symbols"][:-1]}  # a rule names a missing symbol
    damaged = tmp_path / "parser.json"
    monkeypatch.setattr(loading, "PARSER_FILE", damaged)
    grammar = loading.load_grammar()
    assert loading._shipped(grammar) is None  # no file
    for bad in (text[:len(text) // 2], "", "[]", text + "{}", "\ufeff" + text,
                json.dumps({**shipped, "terminals": None}), json.dumps(broken)):
        damaged.write_text(bad, encoding="utf-8")
        assert loading._shipped(grammar) is None, bad[:40]
    damaged.write_text(" " + text + "\n\n", encoding="utf-8")
    assert loading._shipped(grammar) is not None


# ------------------------------------------------------ 3. compile -o onto a FIFO or a used file

def test_compile_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, _, err = cli("compile", LENET, "-o", str(fifo))
    assert code == 1
    assert err == (f"error[E402]: {fifo} is not a regular file (a FIFO); netdsl writes only "
                   "regular files\n  = hint: give the path of a new or ordinary file\n\n")
    assert not fifo.is_file() and fifo.exists()


def test_compile_refuses_to_overwrite_a_used_file(tmp_path):
    (tmp_path / "lib.net").write_text("block b(x) {\n  return x -> relu\n}\n")
    main = tmp_path / "main.net"
    main.write_text('use "lib.net"\n' + NET.replace("conv(4, 3)", "conv(4, 3) -> b"))
    code, _, err = cli("compile", str(main), "-o", str(tmp_path / "lib.net"))
    assert code == 1
    assert err == (f"error[E402]: {tmp_path / 'lib.net'} is an input of this command; writing "
                   "it would destroy it\n  = hint: choose another output file\n\n")
    assert (tmp_path / "lib.net").read_text().startswith("block b")


def test_a_device_is_refused_without_touching_it():
    from pathlib import Path

    from netdsl import files
    with pytest.raises(netdsl.NetdslError) as e:
        files.check_writable(Path("/dev/null"), what="-o")
    assert str(e.value) == ("error[E402]: -o /dev/null is not a regular file (a device); netdsl "
                            "writes only regular files\n  = hint: give the path of a new or "
                            "ordinary file")


# ------------------------------------------------------------------ 4. use stays inside the root

@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../../../etc/passwd", "../up.net"])
def test_use_outside_the_root_is_e210_without_the_content(tmp_path, target):
    (tmp_path / "up.net").write_text("SECRET first line\n")
    main = tmp_path / "proj" / "main.net"
    main.parent.mkdir()
    main.write_text(f'use "{target}"\n' + NET)
    code, _, err = cli("check", str(main))
    assert code == 1
    assert "SECRET" not in err and "root:" not in err
    assert err.startswith(f'{main}:1:5: error[E210]: cannot use "{target}": it is outside the '
                          f"root of this compilation, {main.parent}\n")
    assert err.endswith("  = hint: `use` reads files in the main file's folder and below; name "
                        "a wider root with --root DIR (root= in the API)\n\n")


def test_use_outside_the_root_pinned(tmp_path):
    main = tmp_path / "main.net"
    main.write_text('use "/etc/passwd"\n' + NET)
    code, _, err = cli("check", str(main))
    assert code == 1
    assert err == (f'{main}:1:5: error[E210]: cannot use "/etc/passwd": it is outside the root '
                   f"of this compilation, {tmp_path}\n"
                   "  |\n"
                   '1 | use "/etc/passwd"\n'
                   "  |     ^^^^^^^^^^^^^\n"
                   "  |\n"
                   "  = hint: `use` reads files in the main file's folder and below; name a wider "
                   "root with --root DIR (root= in the API)\n\n")
    code, _, err = cli("check", str(main), "--root", str(tmp_path / "nowhere"))
    assert (code, err) == (2, f"--root {tmp_path / 'nowhere'}: not a directory\n"
                              "usage: see `netdsl check --help`\n")


def test_a_symlink_out_of_the_root_is_refused(tmp_path):
    (tmp_path / "outside.net").write_text("SECRET\n")
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "lib.net").symlink_to(tmp_path / "outside.net")
    (proj / "main.net").write_text('use "lib.net"\n' + NET)
    code, _, err = cli("check", str(proj / "main.net"))
    assert code == 1 and "SECRET" not in err and "outside the root" in err


def test_root_widens_where_use_may_read(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "b.net").write_text("block b(x) {\n  return x -> relu\n}\n")
    main = tmp_path / "models" / "main.net"
    main.parent.mkdir()
    main.write_text('use "../lib/b.net"\n' + NET.replace("conv(4, 3)", "conv(4, 3) -> b"))
    assert cli("check", str(main))[0] == 1
    for command in (("check",), ("summary",), ("list",)):
        code, _, err = cli(*command, str(main), "--root", str(tmp_path))
        assert code == 0, err
    assert netdsl.load(main, root=tmp_path).stats.params == 3 * 4 * 9 + 4
    text = main.read_text()
    assert netdsl.loads(text, path=str(main), root=tmp_path).stats.params == 112
    with pytest.raises(netdsl.NetdslError, match="outside the root"):
        netdsl.loads(text, path=str(main), root=main.parent)


# ------------------------------------------------------------- 5. control characters escaped

def test_control_characters_are_escaped_in_rendered_diagnostics(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text("network n {\n  input x: [N, 3]\n  x -> relu(\x1b[2J\x07) -> output y\n}\n")
    code, _, err = cli("check", str(bad))
    assert code == 1
    assert "\x1b" not in err and "\x07" not in err
    assert "x -> relu(\\x1b[2J\\x07) -> output y" in err
    caret_line = err.splitlines()[err.splitlines().index(
        "3 |   x -> relu(\\x1b[2J\\x07) -> output y") + 1]
    assert caret_line.index("^") == len("3 |   x -> relu(")


def test_escaping_keeps_carets_aligned_and_spares_plain_text():
    from netdsl.diagnostics import printable
    assert printable("a\x1bb\u202ec\x9bd\x7f") == "a\\x1bb\\u202ec\\x9bd\\x7f"
    assert printable("conv(16, 3) → é 中") == "conv(16, 3) → é 中"


def test_formats_carry_control_characters_as_data(tmp_path):
    bad = tmp_path / "bad\x1b[31m.net"  # a hostile file name, as a pull request may add
    bad.write_text("network n {\n  input x: [N, 3]\n  x -> relu(\x07) -> output y\n}\n")
    for fmt in ("text", "json", "sarif", "github"):
        code, out, err = cli("check", str(bad), "--format", fmt)
        assert code == 1
        assert "\x1b" not in out + err and "\x07" not in out + err, fmt
    code, out, _ = cli("check", str(bad), "--format", "json")
    assert json.loads(out)["files"][0]["diagnostics"][0]["file"] == str(bad)  # data kept exact
    code, out, _ = cli("check", str(bad), "--format", "github")
    assert "bad\\x1b[31m.net" in out  # shown escaped, as in the text rendering


# ----------------------------------------------------------------- smaller: closed stdout, SIGTERM

@pytest.mark.slow
@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_exit_codes_survive_a_closed_pipe(tmp_path, closed):
    bad = tmp_path / "bad.net"
    bad.write_text(NET.replace("conv(4, 3)", "conv(4, 30)"))
    for path, want in ((bad, 1), (LENET, 0)):
        p = subprocess.Popen([sys.executable, "-m", "netdsl", "check", str(path)], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        getattr(p, closed).close()  # `| true`, `| head -0`: the reader is gone before any write
        other = p.stderr if closed == "stdout" else p.stdout
        text = other.read().decode()
        assert p.wait() == want, text
        assert "Traceback" not in text and "BrokenPipe" not in text


def test_sigterm_during_a_write_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.bin"
    script = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from netdsl import files
        def write(f):
            f.write(b"half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        files.write_bytes(Path({str(target)!r}), write)
    """)
    r = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True)
    assert r.returncode == -signal.SIGTERM, r.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------- smaller: NaN and inf weights

def _weights(tmp_path, value: float):
    net = netdsl.load(LENET)
    arrays = {k: np.zeros(s, np.float64) for k, s in net.stats.tensors().items()}
    arrays["c1.weight"][0, 0, 0, 0] = value
    path = tmp_path / "w.npz"
    np.savez(path, **arrays)
    return path


def test_nan_weights_are_an_error(tmp_path):
    w = _weights(tmp_path, float("nan"))
    code, _, err = cli("compile", LENET, "-o", str(tmp_path / "m.onnx"), "--weights", str(w))
    assert code == 1
    assert err == (f"error[E406]: {w}: `c1.weight` has 1 NaN value (not a number)\n"
                   "  = hint: a NaN weight makes every output NaN; check how the file was "
                   "written\n\n")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("value", [float("inf"), 1e300])
def test_infinite_weights_are_a_warning(tmp_path, value):
    w = _weights(tmp_path, value)
    code, _, err = cli("compile", LENET, "-o", str(tmp_path / "m.onnx"), "--weights", str(w))
    assert code == 0, err
    assert err == (f"warning[W401]: {w}: `c1.weight` has 1 value that is infinite in float32\n"
                   "  = hint: values beyond ±3.4e38 become inf in float32\n\n")
    assert "RuntimeWarning" not in err


def test_run_prints_infinite_outputs_without_numpy_warnings(tmp_path):
    model, feed = tmp_path / "m.onnx", tmp_path / "x.npy"
    _identity_model(model, "y")
    np.save(feed, np.array([[np.inf, 1.0]], np.float32))
    r = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "netdsl", "run",
                        str(model), "--input", str(feed), "--top", "1", "--provider", "cpu"],
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "y: shape [1, 2], mean inf, std nan, min 1, max inf" in r.stdout


# ------------------------------------------------------------ smaller: non-finite float arguments

@pytest.mark.parametrize(("call", "arg", "shown"), [
    ("bn(eps: 1e400)", "eps", "inf"), ("bn(eps: 0 * 1e400)", "eps", "nan"),
    ("leaky_relu(slope: 0 * 1e400)", "slope", "nan"),
])
def test_float_arguments_must_be_finite(net_file, call, arg, shown):
    """A literal beyond float range is refused where it is written (E215); the arguments' own
    check (ops/types.py) is the second line, for values from anywhere else."""
    path = net_file(f"network n {{\n  input x: [N, 3, 8, 8]\n  x -> {call} -> output y\n}}\n")
    code, _, err = cli("check", str(path))
    assert code == 1
    assert "error[E215]: the number is too large\n" in err
    from netdsl.ops.types import coerce
    with pytest.raises(ValueError, match=f"must be a finite number, not {shown}"):
        coerce("float", float(shown))


def test_a_non_finite_argument_is_pinned(net_file):
    path = net_file("network n {\n  input x: [N, 1, 8, 8]\n"
                    "  x -> conv(1, 1, weights: [[[[1e39]]]]) -> leaky_relu(slope: 1e30)"
                    " -> output y\n}\n")
    code, _, err = cli("check", str(path))
    assert code == 1
    assert err == (
        f"{path}:3:19: error[E206]: `weights` of `conv` must be a finite number in float32, "
        "not 1e+39\n"
        "  |\n"
        "3 |   x -> conv(1, 1, weights: [[[[1e39]]]]) -> leaky_relu(slope: 1e30) -> output y\n"
        "  |                   ^^^^^^^^^^^^^^^^^^^^^\n"
        "  |\n\n")  # NOTE: one error per chain: leaky_relu's is not reached


# ------------------------------------------------------ smaller: reproducible, portable bytes

def test_compiled_bytes_do_not_depend_on_how_the_path_is_spelled(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "m.net").write_text(NET.replace("conv(4, 3)", "conv(4, 3) -> separable(8, 3)"))
    monkeypatch.chdir(proj)
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    assert cli("compile", "m.net", "-o", str(a))[0] == 0
    assert cli("compile", str(proj / "m.net"), "-o", str(b))[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert str(tmp_path).encode() not in a.read_bytes()
    assert str(ROOT).encode() not in a.read_bytes()  # the prelude's folder neither
    model = onnx.load(str(a))
    assert {p.key: p.value for p in model.metadata_props}["source"] == "m.net"
    assert model.graph.doc_string == "netdsl network `n` from m.net"
    docs = [n.doc_string for n in model.graph.node]
    assert docs[0] == "m.net:3:8: x -> conv(4, 3) -> separable(8, 3) -> output y"
    assert docs[-1].startswith("netdsl/prelude.net:")


def test_source_lines_can_be_left_out(tmp_path):
    out = tmp_path / "m.onnx"
    assert cli("compile", LENET, "-o", str(out), "--no-source-lines")[0] == 0
    model = onnx.load(str(out))
    docs = [n.doc_string for n in model.graph.node if n.doc_string]
    assert docs and all(d.count(":") == 2 and " " not in d for d in docs), docs[:3]
    full = netdsl.compile(LENET)
    assert any("conv(" in n.doc_string for n in full.graph.node)
    assert json.dumps(docs[0]).startswith('"lenet.net:')
