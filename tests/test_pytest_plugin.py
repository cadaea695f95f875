"""The pytest plugin (netdsl/pytest_plugin.py), run by pytest's own `pytester` in this process:
off by default, switched on by --netdsl or the ini, one item per network with the rendered
diagnostics as the failure text, warnings, --netdsl-strict, --netdsl-run, --junitxml, and the
`pytest11` entry point in the metadata a build of this checkout installs."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import pkgutil
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

# NOTE: onnx is imported here too: a pytester run that imports it first drops it from sys.modules
# at its end, and onnx's C extension cannot be loaded again (the next run fails in onnx.checker)
import onnx  # noqa: F401
import pytest

import netdsl.export
import netdsl.pytest_plugin
import netdsl.runtime  # NOTE: imported here, so that pytester's runs do not import them anew
from conftest import ROOT, ZOO
from netdsl.diagnostics import NetdslError, error
from netdsl.pipeline import network_names, read_source

pytest_plugins = ["pytester"]

# NOTE: every netdsl module is imported here, before any pytester run: a run drops from
# sys.modules the modules that it imported first, and importing one of them again breaks (ops:
# "operator 'relu' registered twice"), in this file's later tests or another file's
for _module in pkgutil.walk_packages(netdsl.__path__, "netdsl."):
    if not _module.name.endswith("__main__"):  # NOTE: which would run the command line
        importlib.import_module(_module.name)


def _entry_point_installed() -> bool:
    return any(ep.value == "netdsl.pytest_plugin"
               for ep in importlib.metadata.entry_points(group="pytest11"))


# NOTE: once netdsl is (re)installed with its entry point, pytest loads the plugin by itself, and
# giving it to a run as well would register it twice (an error)
PLUGINS = [] if _entry_point_installed() else [netdsl.pytest_plugin]

GOOD = """\
network tiny {
  input x: [N, 1, 8, 8]
  x -> conv(4, 3) -> relu -> flatten -> dense(10) -> output y
  expect params == 40 + 1450
}
"""

BAD = """\
network strided {
  input x: [N, 1, 8, 8]
  x -> conv(4, 3, stride: 2) -> output y
}
network fine {
  input x: [N, 1, 8, 8]
  x -> conv(4, 3) -> output y
  expect params == 41
}
"""

STRIDED_TEXT = """\
bad.net:3:19: error[E302]: conv: stride 2 does not tile the input height 8: (8 - 3 + 2*0)/2 + 1 \
= 3.50: fractions are illegal
  |
3 |   x -> conv(4, 3, stride: 2) -> output y
  |   - [N, 1, 8, 8]
  |                   ^^^^^^^^^
  |
  = hint: stride 1 gives a whole size; `pad: same` gives ceil(8/2) = 4; or pass `floor: true` \
to round down to 3
  = hint: input sizes 7 and 9 fit"""

EXPECT_TEXT = """\
bad.net:8:10: error[E305]: expectation failed: params is 40, expected == 41
  |
8 |   expect params == 41
  |          ^^^^^^^^^^^^ does not hold
  |"""

SYNTAX = "network broken {\n  input x: [N, 1, 8, 8\n}\n"

SYNTAX_TEXT = """\
syntax.net:3:1: error[E101]: unexpected `}`
  |
2 |   input x: [N, 1, 8, 8
  |            - this `[` is not closed
3 | }
  | ^ expected `,` or `]`
  |"""

BLOCKS = "block twice(x) {\n  return x -> relu -> relu\n}\n"

WARNS = """\
network misaligned {
  input x: [N, 1, 8, 8]
  a = x -> conv(4, 3)
  b = x -> crop(size: [7, 7]) -> conv(4, 2)
  output y = concat(a, b)
}
"""

W301_TEXT = """\
warn.net:5:14: warning[W301]: concat `y` joins branches whose receptive fields are misaligned: \
jumps 1 vs 1, centres 1.5 vs 1 (input pixels)
  |
5 |   output y = concat(a, b)
  |              ^^^^^^^^^^^^
  |
  = hint: crop or pad one branch so that both see the same place of the input; the summary \
reports the union of the fields"""


def failures(reprec: pytest.HookRecorder) -> dict[str, str]:
    """nodeid -> the failure text pytest shows for it."""
    return {r.nodeid: r.longreprtext for r in reprec.getfailures()}


def passed(reprec: pytest.HookRecorder) -> list[str]:
    return [r.nodeid for r in reprec.getreports("pytest_runtest_logreport")
            if r.when == "call" and r.passed]


def test_off_by_default(pytester):
    pytester.makefile(".net", good=GOOD, bad=BAD, syntax=SYNTAX)
    pytester.makepyfile(test_unrelated="def test_it():\n    pass\n")
    result = pytester.runpytest(plugins=PLUGINS)
    result.assert_outcomes(passed=1)
    assert "bad.net" not in result.stdout.str()


def test_one_item_per_network_and_the_rendered_diagnostics(pytester):
    pytester.makefile(".net", good=GOOD, bad=BAD)
    reprec = pytester.inline_run("--netdsl", plugins=PLUGINS)
    assert passed(reprec) == ["good.net::tiny"]
    assert failures(reprec) == {"bad.net::strided": STRIDED_TEXT, "bad.net::fine": EXPECT_TEXT}


def test_the_terminal_shows_diagnostics_not_tracebacks(pytester):
    pytester.makefile(".net", bad=BAD)
    result = pytester.runpytest("--netdsl", "-p", "no:cacheprovider", plugins=PLUGINS)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    after = out.split(" bad.net::fine _")[1].split("\n", 1)[1]  # below the header line
    assert after.startswith(EXPECT_TEXT + "\n=")
    assert "Traceback" not in out and "pytest_plugin.py" not in out
    assert "FAILED bad.net::fine - bad.net:8:10: error[E305]: expectation failed" in out


def test_a_file_that_does_not_parse_is_one_failing_item(pytester):
    pytester.makefile(".net", syntax=SYNTAX, blocks=BLOCKS, empty="")
    reprec = pytester.inline_run("--netdsl", plugins=PLUGINS)
    assert failures(reprec) == {
        "syntax.net::<file>": SYNTAX_TEXT,
        "empty.net::<file>": "empty.net:1:1: error[E213]: empty.net defines no network\n"
                             "  |\n1 | \n  | ^\n  |\n"
                             "  = hint: a file needs `network NAME { ... }` to check or compile"}
    assert passed(reprec) == []  # and blocks.net, a file of blocks only, has no item


def test_a_file_that_cannot_be_read_is_one_failing_item(pytester):
    (pytester.path / "latin1.net").write_bytes(b"# caf\xe9\n")
    (text,) = failures(pytester.inline_run("--netdsl", plugins=PLUGINS)).values()
    assert text.startswith("error[E001]: latin1.net: not UTF-8 text")


@pytest.mark.parametrize("ini", [
    ("pyproject.toml", "[tool.pytest.ini_options]\nnetdsl = true\n"),
    ("pytest.ini", "[pytest]\nnetdsl = true\n"),
    ("tox.ini", "[pytest]\nnetdsl = false\n"),
], ids=["pyproject", "pytest.ini", "false"])
def test_the_ini_switch(pytester, ini):
    name, text = ini
    (pytester.path / name).write_text(text)
    pytester.makefile(".net", good=GOOD)
    reprec = pytester.inline_run(plugins=PLUGINS)
    assert passed(reprec) == (["good.net::tiny"] if "true" in text else [])


def test_warnings_are_shown_and_pass(pytester):
    pytester.makefile(".net", warn=WARNS)
    result = pytester.runpytest("--netdsl", "-p", "no:cacheprovider", plugins=PLUGINS)
    result.assert_outcomes(passed=1, warnings=1)
    out = result.stdout.str()
    summary = out[out.index("warnings summary"):out.index("-- Docs:")]
    shown = W301_TEXT.replace("warn.net:5:14: warning", "warning").replace("\n", "\n  ")
    assert summary.split("\n", 1)[1] == (
        f"warn.net::misaligned\n  warn.net:5: NetdslWarning: {shown}\n"
        "    output y = concat(a, b)\n\n")


def test_strict_makes_warnings_fail(pytester):
    pytester.makefile(".net", warn=WARNS, good=GOOD)
    reprec = pytester.inline_run("--netdsl-strict", plugins=PLUGINS)
    assert failures(reprec) == {"warn.net::misaligned": W301_TEXT}
    assert passed(reprec) == ["good.net::tiny"]


@pytest.mark.parametrize("how", [["-W", "error"], ["-o", "filterwarnings=error"]])
def test_warnings_made_errors_by_pytest_show_the_diagnostic(pytester, how):
    """`filterwarnings = error` (many projects' ini) turns a netdsl warning into an exception:
    the failure shows the rendered diagnostic, as --netdsl-strict does, not a traceback
    through the plugin."""
    pytester.makefile(".net", warn=WARNS, good=GOOD)
    reprec = pytester.inline_run("--netdsl", *how, plugins=PLUGINS)
    assert failures(reprec) == {"warn.net::misaligned": W301_TEXT}
    assert passed(reprec) == ["good.net::tiny"]


def test_suppression_comments_hold_as_in_netdsl_check(pytester):
    """`# netdsl: ignore[...]` drops a diagnostic here as it does in `netdsl check`: a network
    whose every error is ignored passes (not measured, not run), an ignored warning is neither
    shown nor, with --netdsl-strict, a failure; a diagnostic not named still fails."""
    ignored = BAD.replace("stride: 2) -> output y",
                          "stride: 2) -> output y  # netdsl: ignore[E302]")
    pytester.makefile(".net", bad=ignored,
                      warn=WARNS.replace("concat(a, b)", "concat(a, b)  # netdsl: ignore[W301]"))
    result = pytester.runpytest("--netdsl-strict", "-p", "no:cacheprovider", plugins=PLUGINS)
    result.assert_outcomes(passed=2, failed=1)
    reprec = pytester.inline_run("--netdsl-run", plugins=PLUGINS)
    assert failures(reprec) == {"bad.net::fine": EXPECT_TEXT}
    assert passed(reprec) == ["bad.net::strided", "warn.net::misaligned"]


def test_a_suppression_that_drops_nothing_is_w001_as_in_netdsl_check(pytester):
    """The file's last network to run reports its comments that dropped nothing, as `netdsl
    check` does (W001): a warning, a failure with --netdsl-strict; not under `-k`, where the
    file's other networks did not run, nor where a network has errors (which stop its checking
    before what a comment may drop), as in `netdsl check`."""
    unused = BAD.replace("conv(4, 3, stride: 2)", "conv(4, 3)").replace(
        "expect params == 41", "expect params == 40  # netdsl: ignore[E302]")
    pytester.makefile(".net", bad=unused)
    reprec = pytester.inline_run("--netdsl-strict", plugins=PLUGINS)
    assert failures(reprec) == {"bad.net::fine": """\
bad.net:8:41: warning[W001]: `# netdsl: ignore[E302]` suppressed nothing: no E302 is reported \
on line 8
  |
8 |   expect params == 40  # netdsl: ignore[E302]
  |                                         ^^^^ unused
  |
  = hint: remove it, or move it to the line that E302's carets point at"""}
    assert passed(reprec) == ["bad.net::strided"]
    reprec = pytester.inline_run("--netdsl-strict", "-k", "fine", plugins=PLUGINS)
    assert passed(reprec) == ["bad.net::fine"]
    pytester.makefile(".net", bad=unused.replace("expect params == 40", "expect params == 41"))
    reprec = pytester.inline_run("--netdsl-strict", plugins=PLUGINS)
    assert list(failures(reprec)) == ["bad.net::fine"]  # E305 alone: not judged
    assert "W001" not in failures(reprec)["bad.net::fine"]


def test_run_compiles_and_runs_each_network_once(pytester, monkeypatch):
    fed = []
    real = netdsl.runtime.Session.run

    def spy(self, feeds):
        fed.append({name: arr.shape for name, arr in feeds.items()})
        return real(self, feeds)

    monkeypatch.setattr(netdsl.runtime.Session, "run", spy)
    pytester.makefile(".net", good=GOOD, bad=BAD)
    reprec = pytester.inline_run("--netdsl-run", plugins=PLUGINS)
    assert passed(reprec) == ["good.net::tiny"]
    assert fed == [{"x": (1, 1, 8, 8)}]  # the failing networks are not run
    fed.clear()
    assert passed(pytester.inline_run("--netdsl", plugins=PLUGINS)) == ["good.net::tiny"]
    assert fed == []  # without --netdsl-run, nothing runs


def test_a_run_that_fails_shows_its_diagnostic(pytester, monkeypatch):
    def broken(self, feeds):
        raise NetdslError([error("E403", "onnxruntime failed: out of memory")])

    monkeypatch.setattr(netdsl.runtime.Session, "run", broken)
    pytester.makefile(".net", good=GOOD)
    reprec = pytester.inline_run("--netdsl-run", plugins=PLUGINS)
    assert failures(reprec) == {"good.net::tiny": "error[E403]: onnxruntime failed: out of memory"}


def test_junitxml(pytester):
    pytester.makefile(".net", good=GOOD, bad=BAD, syntax=SYNTAX)
    pytester.inline_run("--netdsl", "--junitxml=report.xml", plugins=PLUGINS)
    suite = ET.parse(pytester.path / "report.xml").getroot().find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors")} == {
        "tests": "4", "failures": "3", "errors": "0"}
    cases = {(c.get("classname"), c.get("name")): c.find("failure") for c in suite}
    assert list(cases) == [("bad.net", "strided"), ("bad.net", "fine"),
                           ("good.net", "tiny"), ("syntax.net", "<file>")]
    assert cases["good.net", "tiny"] is None
    for key, text in [(("bad.net", "strided"), STRIDED_TEXT), (("bad.net", "fine"), EXPECT_TEXT),
                      (("syntax.net", "<file>"), SYNTAX_TEXT)]:
        failure = cases[key]
        assert failure is not None
        assert failure.get("message") == failure.text == text


def test_the_zoo_is_not_collected_unless_asked(pytester):
    """This repository's own test run: the zoo's .net files are not test items by default."""
    result = pytester.runpytest("--collect-only", "-q", str(ZOO), plugins=PLUGINS)
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    result = pytester.runpytest("--netdsl", "--collect-only", "-q", str(ZOO),
                                plugins=PLUGINS)
    expected = [f"zoo/{f.name}::{n}" for f in sorted(ZOO.glob("*.net"))
                for n in network_names(read_source(f))]
    assert "zoo/lenet.net::lenet5" in expected and len(expected) > 20
    assert result.stdout.lines[:len(expected)] == expected


def test_the_entry_point_is_declared(tmp_path):
    """The metadata a build of this checkout installs declares `pytest11: netdsl`, and pytest
    loads the plugin from it (no -p) without reinstalling the shared editable install."""
    meta = tmp_path / "meta"
    made = subprocess.run([sys.executable, "-c", "import sys, hatchling.build as b; "
                           "print(b.build_wheel(sys.argv[1]))", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    with zipfile.ZipFile(tmp_path / made.stdout.strip()) as wheel:
        wheel.extractall(meta, [n for n in wheel.namelist() if ".dist-info/" in n])
    (info,) = meta.glob("netdsl-*.dist-info")
    dist = importlib.metadata.PathDistribution(info)
    (ep,) = dist.entry_points.select(group="pytest11")
    assert (ep.name, ep.value) == ("netdsl", "netdsl.pytest_plugin")
    assert ep.load() is netdsl.pytest_plugin
    (tmp_path / "good.net").write_text(GOOD)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(meta)])}
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--netdsl",
                        "-q", "good.net"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "1 passed" in r.stdout, r.stdout + r.stderr


def test_a_failing_shape_expectation_shows_the_other_expect_lines_as_check_does(pytester):
    text = ("network t {\n  input x: [N, 3, 8, 8]\n  x -> conv(4, 3) -> output y\n"
            "  expect y: [N, 4, 9, 8]\n  expect params == 1\n}\n")
    pytester.makefile(".net", shape=text)
    (shown,) = failures(pytester.inline_run("--netdsl", plugins=PLUGINS)).values()
    assert [line for line in shown.splitlines() if "error[" in line] == [
        "shape.net:4:13: error[E305]: `y` has shape [N, 4, 6, 6], but the expectation says "
        "[N, 4, 9, 8]",
        "shape.net:5:10: error[E305]: expectation failed: params is 112, expected == 1"]
