"""`netdsl check`, `netdsl list`, `netdsl --version`: output, exit codes 0/1/2, JSON schema, and
that checking never imports onnx or onnxruntime."""

from __future__ import annotations

import ast
import gc
import io
import json
import os
import re
import subprocess
import sys

import pytest

import netdsl
from conftest import ROOT, ZOO, cli

TWO = """\
block unit(x, width = 8) {
  return x -> conv(width, 3, pad: 1) -> relu
}

network small(classes = 10) {
  input image: [N, 3, 16, 16]
  image -> unit -> flatten -> dense(classes) -> output logits
}

network broken {
  input image: [N, 3, 16, 16]
  image -> unit(wide: 4) -> output y
}

network tiny = small(classes: 2)
"""


def test_check_zoo_file_passes():
    code, out, err = cli("check", str(ZOO / "lenet.net"))
    assert (code, err) == (0, "")
    assert out == f"{ZOO / 'lenet.net'}: lenet5: ok (61,706 params, 429.36K MACs)\n"


def test_check_every_network_of_a_file_on_its_own(net_file):
    p = net_file(TWO)
    code, out, err = cli("check", str(p))
    assert code == 1
    assert f"{p}: small: ok" in out and f"{p}: tiny: ok" in out and "broken" not in out
    assert f"{p}:12:17: error[E203]: block `unit` has no argument `wide`" in err


def test_check_network_flag(net_file):
    p = net_file(TWO)
    code, out, _ = cli("check", str(p), "--network", "small")
    assert code == 0 and out.count(": ok") == 1
    code, out, err = cli("check", str(p), "--network", "smal")
    assert code == 1 and out == ""
    assert f"error[E213]: {p} defines no network `smal`\n  = hint: did you mean `small`?" in err


def test_check_network_flag_naming_no_network_lists_none(net_file):
    """--network NAME of a network the file does not define: the file's E213, and no network of
    that name in the JSON (nor in the summary's count), as for a file that does not parse."""
    p = net_file(TWO)
    doc = json.loads(cli("check", str(p), "--network", "smal", "--format", "json")[1])
    assert [(f["networks"], [d["code"] for d in f["diagnostics"]]) for f in doc["files"]] == [
        ([], ["E213"])]
    err = cli("check", str(p), str(net_file(TWO, "copy.net")), "--network", "smal")[2]
    assert re.sub(r"\(\d+\.\d\d s\)", "(T s)", err.splitlines()[-1]) == (
        "checked 2 files, 0 networks: 2 errors, 0 warnings (T s)")


def test_check_set_overrides_a_parameter(net_file):
    p = net_file(TWO)
    small = netdsl.load(p, "small")
    wide = netdsl.load(p, "small", params={"classes": 100})
    code, out, _ = cli("check", str(p), "--network", "small", "--set", "classes=100")
    assert code == 0 and f"{wide.stats.params:,} params" in out
    # dense(classes) on 8*16*16 features: the difference is 90 more rows of weights and bias
    assert wide.stats.params - small.stats.params == 90 * (8 * 16 * 16 + 1)


@pytest.mark.parametrize("setting", ['config="D"', "config=D", 'config="\\u0044"'])
def test_check_set_reads_a_string_bare_or_quoted_as_a_net_file_writes_it(net_file, setting):
    """`--set 'config="D"'` gave the string `"D"`, quotes and all."""
    p = net_file('network n(config = "A") {\n  input x: [N, 3]\n  x -> output y\n'
                 '  expect config == "D"\n}\n')
    assert cli("check", str(p), "--set", setting)[0] == 0


@pytest.mark.parametrize("setting", ["k=1K", "k=1_000", "k=+1e3", "k=0.001M"])
def test_check_set_reads_a_number_as_a_net_file_writes_it(net_file, setting):
    """`--set k=1K` was the string "1K" (E214), though a .net file reads 1K as 1000."""
    p = net_file("network n(k = 1.0) {\n  input x: [N, 3]\n  x -> output y\n"
                 "  expect k == 1000\n}\n")
    assert cli("check", str(p), "--set", setting)[0] == 0


@pytest.mark.parametrize("setting,message", [
    ("k=1__0", "--set k=1__0: a `_` in a number must stand between two digits (write `1_0`)"),
    ("k=08", "--set k=08: a whole number cannot start with `0` (write `8`: netdsl reads numbers "
             "in decimal)"),
])
def test_check_set_refuses_a_malformed_number_as_a_net_file_does(net_file, setting, message):
    p = net_file("network n(k = 1) {\n  input x: [N, 3]\n  x -> output y\n}\n")
    code, out, err = cli("check", str(p), "--set", setting)
    assert (code, out, err.splitlines()[0]) == (2, "", message)


@pytest.mark.parametrize("setting,message", [
    ("clases=3", "network `small` has no parameter `clases`"),
    ("classes=abc", 'parameter `classes` of network `small` takes an integer, not the string '
                    '"abc"'),
    ("classes=2.5", "parameter `classes` of network `small` takes an integer, not the number "
                    "2.5"),
])
def test_check_bad_set_value_is_e214(net_file, setting, message):
    code, _, err = cli("check", str(net_file(TWO)), "--network", "small", "--set", setting)
    assert code == 1 and f"error[E214]: {message}" in err


def test_check_malformed_set_is_a_usage_error(net_file):
    code, out, err = cli("check", str(net_file(TWO)), "--set", "classes")
    assert (code, out) == (2, "") and "--set takes NAME=VALUE, not 'classes'" in err


def test_unknown_flag_and_no_command_are_usage_errors():
    assert cli("check", "--frobnicate", str(ZOO / "lenet.net"))[0] == 2
    assert cli()[0] == 2
    assert cli("check")[0] == 2


@pytest.mark.parametrize(("args", "first"), [
    (["compile", str(ZOO / "lenet.net"), "--rename", "x=y"],
     "--rename needs --weights"),
    (["check", "--frobnicate", str(ZOO / "lenet.net")],
     "netdsl: unrecognized arguments: --frobnicate"),
    (["summary"], "netdsl summary: the following arguments are required: FILE"),
    (["--verbose", "list", "nope.net"], "netdsl: unrecognized arguments: --verbose"),
])
def test_a_usage_error_of_a_command_points_to_that_command_s_help(args, first):
    command = next(a for a in args if not a.startswith("-"))
    assert cli(*args) == (2, "", f"{first}\nusage: see `netdsl {command} --help`\n")


@pytest.mark.parametrize("args", [["comple", "f.net"], ["--frobnicate"]])
def test_a_usage_error_without_a_known_command_points_to_netdsl_s_help(args):
    code, out, err = cli(*args)
    assert (code, out) == (2, "") and err.endswith("\nusage: see `netdsl --help`\n")


def test_check_blocks_only_file_passes(net_file):
    p = net_file("block unit(x) {\n  return x -> relu\n}\n")
    code, out, _ = cli("check", str(p))
    assert (code, out) == (0, f"{p}: ok (blocks only, no network)\n")


def test_quiet_prints_only_diagnostics(net_file):
    assert cli("check", "-q", str(ZOO / "lenet.net")) == (0, "", "")


def test_json_schema(net_file, tmp_path):
    p = net_file(TWO)
    code, out, err = cli("check", "--format", "json", str(p), str(tmp_path / "none.net"))
    assert code == 2 and err == ""
    doc = json.loads(out)
    assert doc["schema"] == "netdsl-check/1" and doc["ok"] is False
    first, missing = doc["files"]
    assert first["path"] == str(p) and first["ok"] is False
    assert [(n["name"], n["ok"]) for n in first["networks"]] == [
        ("small", True), ("broken", False), ("tiny", True)]
    small = first["networks"][0]
    assert small["outputs"] == {"logits": ["N", 10]}
    assert small["params"] == netdsl.load(p, "small").stats.params
    (d,) = first["diagnostics"]
    assert {k: d[k] for k in ("code", "slug", "severity", "file", "line", "column")} == {
        "code": "E203", "slug": "unknown-argument", "severity": "error", "file": str(p),
        "line": 12, "column": 17}
    assert d["labels"][0] == {"file": str(p), "line": 12, "column": 17, "end_line": 12,
                              "end_column": 20, "start": TWO.index("wide"),
                              "end": TWO.index("wide") + 4, "message": "unknown argument",
                              "primary": True}
    assert d["hints"] == ["did you mean `width`?"] and d["notes"] == []
    assert missing == {"path": str(tmp_path / "none.net"), "ok": False, "networks": [],
                       "diagnostics": [missing["diagnostics"][0]]}
    assert missing["diagnostics"][0]["code"] == "E001"


def test_json_is_documented():
    doc = (ROOT / "docs" / "errors.md").read_text()
    for key in ("netdsl-check/1", '"path"', '"networks"', '"diagnostics"', '"labels"',
                '"end_column"', '"hints"', '"notes"', '"outputs"', '"sizes"', '"valid"',
                '"progressions"', '"conditions"', '"output_formulas"', '"pin"'):
        assert key in doc


def test_json_carries_the_valid_sizes_and_output_formulas():
    # the U-Net paper's tiles: 572 -> 388, and any 188 + 16k (issue 16); fixed-size networks
    # carry none of these fields
    code, out, _ = cli("check", "--format", "json", "--network", "unet", str(ZOO / "unet.net"))
    assert code == 0
    (unet,) = json.loads(out)["files"][0]["networks"]
    assert unet["sizes"] == {"H": 572, "W": 572}
    assert unet["valid"] == [
        {"symbols": ["H"], "text": "H = 188 + 16k", "progressions": [[188, 16]]},
        {"symbols": ["W"], "text": "W = 188 + 16k", "progressions": [[188, 16]]}]
    assert unet["conditions"] == [] and unet["pin"] is None
    assert unet["output_formulas"] == {"scores": ["N", 2, "H - 184", "W - 184"]}
    code, out, _ = cli("check", "--format", "json", str(ZOO / "lenet.net"))
    assert "valid" not in json.loads(out)["files"][0]["networks"][0]


def test_list_shows_networks_and_blocks(net_file):
    code, out, err = cli("list", str(net_file(TWO)))
    assert (code, err) == (0, "")
    assert out == ("block unit(x, width = 8)\nnetwork small(classes = 10)\nnetwork broken()\n"
                   "network tiny = small(classes: 2)\n")


def test_list_of_a_broken_file_reports_it(net_file):
    code, out, err = cli("list", str(net_file("block b x) {}")))
    assert code == 1 and out == "" and "E101" in err


def test_list_missing_file_is_usage_error(tmp_path):
    assert cli("list", str(tmp_path / "x.net"))[0] == 2


def test_version():
    code, out, _ = cli("--version")
    assert (code, out) == (0, f"netdsl {netdsl.__version__}\n")


COMMANDS = ["check", "list", "summary", "explain", "diff", "sizes", "compile", "import", "run",
            "lsp", "graph", "fmt"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_help_explains_itself_its_arguments_and_the_exit_codes(command):
    import argparse

    from netdsl.cli import _parser
    code, out, _ = cli(command, "--help")
    assert code == 0
    description = out.split("\n\n")[1]
    assert description.strip() and not description.startswith(("positional", "options"))
    (sub,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert sorted(sub.choices) == sorted(COMMANDS)
    for action in sub.choices[command]._actions:
        assert action.help, f"{command}: {action.dest} has no help"
        assert (action.option_strings or [action.metavar])[-1] in out
    assert "exit codes:" in out
    for code, meaning in [(0, "ok"), (1, "errors"), (2, "usage"), (3, "internal")]:
        assert re.search(rf"^  {code}  .*{meaning}", out, re.MULTILINE), (code, out)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_command_built_alone_has_the_full_parser_s_help(command):
    """A process builds only the arguments of the command it runs (cli/arguments._parser(only)):
    that command's help, and the top level's, are the full parser's."""
    import argparse

    from netdsl.cli import _parser

    def sub(p: argparse.ArgumentParser) -> argparse._SubParsersAction:
        (s,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        return s

    full, alone = _parser(), _parser(command)
    assert sub(alone).choices[command].format_help() == sub(full).choices[command].format_help()
    assert alone.format_help() == full.format_help()


def _run(*args: str, code: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def test_a_process_ends_with_its_output_whole_and_the_commands_exit_code(tmp_path):
    """`python -m netdsl` ends without the interpreter's teardown (cli/entry.py, _hard_exit):
    what it printed arrives whole through a pipe, stdout and stderr, with the command's code."""
    args = ["summary", str(ZOO / "resnet.net"), "--network", "resnet152"]
    code, expected, _ = cli(*args)
    assert code == 0
    r = _run("-m", "netdsl", *args)
    assert (r.returncode, r.stdout) == (0, expected) and len(expected) > 40_000  # many buffers
    bad = tmp_path / "bad.net"
    bad.write_text("network n {\n  input x: [1, 3, 8, 8]\n" + "  x -> relu -> y\n" * 400
                   + "  x -> conv(8, 9) -> output z\n}\n")
    code, _, expected = cli("check", str(bad))
    assert code == 1
    r = _run("-m", "netdsl", "check", str(bad))
    assert (r.returncode, r.stderr) == (1, expected) and "E3" in expected


@pytest.mark.parametrize("chosen", [None, "4"])
def test_a_process_gives_openblas_one_thread_unless_the_user_chose(monkeypatch, chosen):
    """console() (the process's entry, not main()) sets OPENBLAS_NUM_THREADS before any command
    can import numpy: no command calls BLAS, and its default threads spin beside the drawing."""
    from netdsl.cli import entry
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "-")  # NOTE: recorded, so restored afterwards
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    if chosen:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", chosen)
    seen = []
    monkeypatch.setattr(entry, "main", lambda: seen.append(os.environ["OPENBLAS_NUM_THREADS"]) or 0)
    monkeypatch.setattr(entry, "_alone", lambda: False)  # NOTE: sys.exit, not os._exit
    with pytest.raises(SystemExit) as e:
        entry.console()
    assert (e.value.code, seen) == (0, [chosen or "1"])


def test_check_does_not_import_onnx_or_onnxruntime():
    """Nor numpy: a cold check costs about what importing lark and networkx does
    (bench/check.py). (networkx reads the package metadata for its backends, so netdsl's own
    version is read only when printed, but importlib.metadata is loaded all the same.)"""
    probe = ("import sys\nfrom netdsl.cli import main\n"
             f"code = main(['check', {str(ZOO / 'lenet.net')!r}])\n"
             "assert code == 0, code\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in "
             "('onnx', 'onnxruntime', 'torch', 'numpy')))\n")
    r = _run("-c", probe)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"


# What a check of resnet152 must not import: the modules of other commands and stages, symbolic
# sizes (it names none), the ops modules of operators it does not use (ops.REGISTRY imports a
# module on the first lookup of one of its operators), the tables of `summary` (report.py), and
# difflib (only a mistake needs it), fractions (an integral `~=` line holds in integers),
# decimal (1.814G is read in integers) and json (parser.json is read by json's C scanner).
NOT_FOR_CHECK = (
    "netdsl.anysize", "netdsl.sizes", "netdsl.symbolic", "netdsl.solve", "netdsl.export",
    "netdsl.draw", "netdsl.protowire", "netdsl.weights", "netdsl.checkpoint", "netdsl.rewrite",
    "netdsl.runtime", "netdsl.serving", "netdsl.importer", "netdsl.diff", "netdsl.diff_report",
    "netdsl.fmt", "netdsl.graph", "netdsl.editor", "netdsl.lsp", "netdsl.pytest_plugin",
    "netdsl.ops.attention", "netdsl.ops.layout", "netdsl.ops.learned", "netdsl.ops.resize",
    "netdsl.ops.sigmoid", "netdsl.ops.border", "netdsl.ops.unpool", "netdsl.ops.adaptive",
    "netdsl.ops.conv_transpose", "netdsl.ops.passthrough", "netdsl.ops.softmax", "netdsl.report",
    "difflib", "fractions", "decimal", "json",
)


def test_check_imports_only_what_the_network_needs():
    """The modules a check imports, as a process: creating each frozen dataclass of a module
    costs about 0.2 ms (netdsl/record.py), so a module a check does not need is time lost at every
    start (bench/check.py); and `import netdsl.cli` alone (for --help) imports neither the
    parser nor the compiler."""
    probe = ("import sys\nimport netdsl.cli\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lark', 'networkx') "
             "or m.startswith(('netdsl.ops', 'netdsl.elaborator', 'netdsl.pipeline'))))\n"
             f"code = netdsl.cli.main(['check', {str(ZOO / 'resnet.net')!r}, '--network', "
             "'resnet152'])\n"
             "assert code == 0, code\n"
             f"print(sorted(m for m in sys.modules if m in {NOT_FOR_CHECK!r}))\n")
    r = _run("-c", probe)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[0] == "[]"
    # NOTE: less what lark and networkx import themselves (networkx 3.7 imports json)
    floor = _run("-c", "import sys, lark, networkx; print(sorted(sys.modules))")
    imported = ast.literal_eval(r.stdout.strip().splitlines()[-1])
    assert set(imported) - set(ast.literal_eval(floor.stdout)) == set()


# What a check imports for `expect` lines alone: their trees, their pass and their compiler in the
# elaborator; fractions for an approximate line (`~=`), decimal for a fractional literal (`1.8G`:
# exact bounds). A source with none of them (TWO's `small`) imports none of these.
FOR_EXPECT_LINES = ("netdsl.expectations", "netdsl.expect_check", "netdsl.elaborator.expect")


def test_check_imports_the_expectation_pass_only_for_expect_lines(tmp_path):
    """resnet.net states five `expect` lines, one `~= 11.514G within 1%`: its check imports all
    of FOR_EXPECT_LINES; a source without one, none (the 17 tree classes alone cost ~3.5 ms)."""
    plain = tmp_path / "plain.net"
    plain.write_text(TWO, encoding="utf-8")
    for path, network, want in ((plain, "small", []), (ZOO / "resnet.net", "resnet152",
                                                        sorted(FOR_EXPECT_LINES))):
        probe = ("import sys\nimport netdsl.cli\n"
                 f"code = netdsl.cli.main(['check', {str(path)!r}, '--network', {network!r}])\n"
                 "assert code == 0, code\n"
                 f"print(sorted(m for m in sys.modules if m in {FOR_EXPECT_LINES!r}))\n")
        r = _run("-c", probe)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().splitlines()[-1] == str(want), path


def test_a_command_in_process_leaves_the_collector_as_it_was():
    """main() turns the cyclic collector off while a command runs and freezes what is left only
    as a process's entry (no argv); called with argv, it restores the collector's state."""
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    assert cli("check", str(ZOO / "lenet.net"))[0] == 0
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    gc.disable()
    try:
        assert cli("check", str(ZOO / "lenet.net"))[0] == 0
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_cli_as_a_process_exit_codes_and_streams(net_file):
    bad = net_file("network n {\n  input x: [N, 3, 8, 8]\n  x -> cnov -> output y\n}\n")
    ok = _run("-m", "netdsl", "check", str(ZOO / "lenet.net"))
    assert (ok.returncode, ok.stderr) == (0, "") and "lenet5: ok" in ok.stdout
    err = _run("-m", "netdsl", "check", str(bad))
    assert err.returncode == 1 and err.stdout == ""
    assert err.stderr.startswith(f"{bad}:3:8: error[E202]: `cnov` is not an operator")
    usage = _run("-m", "netdsl", "check", "--nope")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_python_api_load_text_path_and_params(net_file):
    p = net_file(TWO)
    g = netdsl.loads(TWO, network="small", params={"classes": 3}).graph
    assert g.outputs == {"logits": "dense"} and g.node("dense").shape == ("N", 3)
    assert netdsl.load(str(p), "tiny").graph.node("dense").shape == ("N", 2)
    assert netdsl.load(p, network="small").graph.params == {"classes": 10}
    with pytest.raises(netdsl.NetdslError):
        netdsl.loads(TWO)  # three networks: choose one
    with pytest.raises(TypeError, match=r"netdsl\.loads"):
        netdsl.load(TWO)  # a str is a path, never text: a clear word instead of "no such file"


# ------------------------------------------------------------------------------ closed streams

WARNS = """\
network joined {
  input image: [N, 3, 32, 32]
  a = image -> conv(16, 2, stride: 2)
  b = image -> conv(16, 1, stride: 2, floor: true)
  a + b -> output features
}
"""


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_stream_loses_its_output_not_the_exit_code(tmp_path, monkeypatch, closed):
    """`netdsl check FILE >&-` (or `2>&-`): Python gives the process no sys.stdout (None); what
    would go there is lost, and the exit code is the check's, without a traceback."""
    from netdsl.cli import main
    (tmp_path / "warn.net").write_text(WARNS)
    (tmp_path / "bad.net").write_text(WARNS.replace("floor: true", "pad: 9"))
    for name, want in (("warn.net", 0), ("bad.net", 1)):
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setattr(sys, "stderr", err)
        monkeypatch.setattr(sys, closed, None)
        assert main(["check", str(tmp_path / name)]) == want
        assert "Traceback" not in out.getvalue() + err.getvalue()
    shown = out.getvalue() if closed == "stderr" else err.getvalue()
    assert ("error[E3" in shown) == (closed == "stdout")


def test_a_process_with_both_streams_closed_ends_with_the_checks_exit_code(tmp_path):
    """console()'s own end (_hard_exit) as well: `netdsl check FILE >&- 2>&-`."""
    (tmp_path / "warn.net").write_text(WARNS)
    (tmp_path / "bad.net").write_text(WARNS.replace("floor: true", "pad: 9"))
    for name, want in (("warn.net", 0), ("bad.net", 1)):
        r = subprocess.run([sys.executable, "-m", "netdsl", "check", name], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                           preexec_fn=lambda: (os.close(1), os.close(2)))
        assert r.returncode == want


class _GoneReader(io.StringIO):
    """A stdout whose reader went away (`| head -0`): every write raises EPIPE."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def writelines(self, lines: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")


def test_fmt_diff_into_a_gone_reader_keeps_its_exit_code(tmp_path, monkeypatch):
    """`netdsl fmt --diff FILE | head -0`: the diff (written with writelines) is lost, and the
    exit code still says the file would change."""
    from netdsl.cli import main
    path = tmp_path / "ugly.net"
    path.write_text("network  n {\n  input x: [N, 3]\n  x ->   relu -> output y\n}\n")
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", _GoneReader())
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["fmt", "--diff", str(path)]) == 1
    assert err.getvalue() == f"would reformat {path}\n"


class _FullDisk(io.StringIO):
    """A stream on a full disk: every write raises ENOSPC."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("fmt", ["text", "sarif"])
def test_output_that_cannot_be_written_is_no_internal_error(tmp_path, monkeypatch, fmt):
    """`netdsl check --format sarif . > netdsl.sarif` on a full disk: the report is lost, which
    the message says, with exit 2 (a step that accepts exit 1, errors found, still fails); not
    a traceback asking to report a bug in netdsl."""
    from netdsl.cli import main
    (tmp_path / "warn.net").write_text(WARNS)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", _FullDisk())
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["check", "--format", fmt, str(tmp_path / "warn.net")]) == 2
    assert err.getvalue().endswith("netdsl: cannot write to stdout: No space left on device\n")
    assert "Traceback" not in err.getvalue()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="/dev/full is Linux's")
def test_a_process_writing_to_a_full_disk_ends_with_exit_2(tmp_path):
    (tmp_path / "warn.net").write_text(WARNS)
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "netdsl", "check", "warn.net"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120,
                           stdout=full, stderr=subprocess.PIPE, text=True)
    assert (r.returncode, r.stderr.splitlines()[-1]) == (
        2, "netdsl: cannot write to stdout: No space left on device")
