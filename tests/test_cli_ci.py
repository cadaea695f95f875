"""`netdsl check` in CI (issue #8, items 1-3): `--format github|sarif` (exact output, escaping, the
official SARIF 2.1.0 schema), directories (order, the summary line), `--warnings-as-errors`,
`--ignore`, `# netdsl: ignore[...]` comments (W001 when unused) and `-q`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import netdsl
from conftest import ROOT, cli
from netdsl.diagnostics import Diagnostic, Label, Severity, error
from netdsl.formats import github, sarif
from netdsl.source import Source

# the examples: E302 (with a secondary label and a hint) and W301
BAD = """\
network lecture {
  input image: [N, 1, 7, 7]
  image -> conv(1, 3, stride: 3) -> output features
}
"""
WARN = """\
network joined {
  input image: [N, 3, 32, 32]
  a = image -> conv(16, 2, stride: 2)
  b = image -> conv(16, 1, stride: 2, floor: true)
  a + b -> output features
}
"""
GOOD = """\
network tiny {
  input image: [N, 3, 8, 8]
  image -> conv(4, 3, pad: 1) -> output features
}
"""
E302 = ("conv: stride 3 does not tile the input height 7: (7 - 3 + 2*0)/3 + 1 = 2.33: fractions "
        "are illegal")
E302_HINT = ("pad 1 or stride 2 gives a whole size; `pad: same` gives ceil(7/3) = 3; or pass "
             "`floor: true` to round down to 2")
E302_SIZES = "input sizes 6 and 9 fit"  # 7 does not tile; (6 - 3)/3 + 1 = 2 and (9 - 3)/3 + 1 = 3
W301 = ("add `add` joins branches whose receptive fields are misaligned: jumps 2 vs 2, centres 1 "
        "vs 0.5 (input pixels)")
W301_HINT = ("crop or pad one branch so that both see the same place of the input; the summary "
             "reports the union of the fields")
W301_TEXT = f"""\
warn.net:5:3: warning[W301]: {W301}
  |
5 |   a + b -> output features
  |   ^^^^^
  |
  = hint: {W301_HINT}

"""
SUMMARY = re.compile(r"\(\d+\.\d\d s\)\n$")


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A working directory with bad.net, warn.net and good.net; paths are given relative to it."""
    monkeypatch.chdir(tmp_path)
    for name, text in (("bad.net", BAD), ("warn.net", WARN), ("good.net", GOOD)):
        (tmp_path / name).write_text(text)
    return tmp_path


def masked(err: str) -> str:
    return SUMMARY.sub("(T s)\n", err)


# ------------------------------------------------------------------------ --format text, json

BAD_TEXT = f"""\
bad.net:3:23: error[E302]: {E302}
  |
3 |   image -> conv(1, 3, stride: 3) -> output features
  |   ----- [N, 1, 7, 7]
  |                       ^^^^^^^^^
  |
  = hint: {E302_HINT}
  = hint: {E302_SIZES}

"""


def test_text_failing_passing_and_warning_files(here):
    assert cli("check", "bad.net") == (1, "", BAD_TEXT)
    assert cli("check", "good.net") == (0, "good.net: tiny: ok (112 params, 6.91K MACs)\n", "")
    assert cli("check", "warn.net") == (
        0, "warn.net: joined: ok (272 params, 65.54K MACs)\n", W301_TEXT)


def test_json_failing_and_passing_files(here):
    code, out, err = cli("check", "--format", "json", "bad.net", "good.net")
    assert (code, err) == (1, "")
    assert out == json.dumps({"schema": "netdsl-check/1", "ok": False, "files": [
        {"path": "bad.net", "ok": False, "networks": [{"name": "lecture", "ok": False}],
         "diagnostics": [{
             "code": "E302", "slug": "fractional-size", "severity": "error", "message": E302,
             "file": "bad.net", "line": 3, "column": 23,
             "labels": [{"file": "bad.net", "line": 3, "column": 23, "end_line": 3,
                         "end_column": 31, "start": 68, "end": 77, "message": "",
                         "primary": True},
                        {"file": "bad.net", "line": 3, "column": 3, "end_line": 3,
                         "end_column": 7, "start": 48, "end": 53, "message": "[N, 1, 7, 7]",
                         "primary": False}],
             "hints": [E302_HINT, E302_SIZES], "notes": []}]},
        {"path": "good.net", "ok": True, "networks": [
            {"name": "tiny", "ok": True, "params": 112, "macs": 6912,
             "outputs": {"features": ["N", 4, 8, 8]}}], "diagnostics": []}]}, indent=2) + "\n"


# ---------------------------------------------------------------------------- --format github

def test_github_failing_file(here):
    code, out, err = cli("check", "--format", "github", "bad.net")
    assert (code, err) == (1, "")
    assert out == ("::error file=bad.net,line=3,col=23,endLine=3,endColumn=32,"
                   f"title=E302 fractional-size::{E302}%0Abad.net:3:3: [N, 1, 7, 7]%0A"
                   f"hint: {E302_HINT}%0Ahint: {E302_SIZES}\n")


def test_github_warning_and_passing_file(here):
    code, out, err = cli("check", "--format", "github", "warn.net", "good.net")
    assert (code, err) == (0, "")
    assert out == ("::warning file=warn.net,line=5,col=3,endLine=5,endColumn=8,"
                   f"title=W301 receptive-field::{W301}%0Ahint: {W301_HINT}\n")
    assert cli("check", "--format", "github", "good.net") == (0, "", "")


def test_github_escapes_as_the_toolkit_does_and_shows_notes(here):
    # data: % \r \n; property values: those and : ,
    (here / "a,b:c%d.net").write_text(BAD)
    out = cli("check", "--format", "github", "a,b:c%d.net")[1]
    assert out.startswith("::error file=a%2Cb%3Ac%25d.net,line=3,col=23,")
    assert "%0Aa,b:c%25d.net:3:3: [N, 1, 7, 7]%0A" in out  # the message keeps : and ,
    src = Source("x.net", "network n {}\n")
    d = Diagnostic("E101", "100% wrong,\r\nsee: here", (Label(src.span(0, 7)),),
                   hints=("a: b, c",), severity=Severity.NOTE, notes=("in block `b`",))
    assert github([("x.net", d)]) == ("::notice file=x.net,line=1,col=1,endLine=1,endColumn=8,"
                                      "title=E101 syntax::100%25 wrong,%0D%0Asee: here%0A"
                                      "note: in block `b`%0Ahint: a: b, c\n")
    (result,) = json.loads(sarif([("x.net", d)]))["runs"][0]["results"]
    assert result["level"] == "note"
    assert result["message"] == {"text": "100% wrong,\r\nsee: here\nnote: in block `b`\n"
                                         "hint: a: b, c"}


def test_github_place_over_several_lines_has_no_columns():
    # the runner drops a command whose col/endColumn span lines
    src = Source("x.net", "network n {\n  input x: [N]\n}\n")
    d = error("E216", "a network declares no output", src.span(0, len(src.text)))
    assert github([("x.net", d)]) == ("::error file=x.net,line=1,endLine=3,"
                                      "title=E216 no-output::a network declares no output\n")


def test_github_diagnostic_without_a_place_names_the_file(here):
    code, out, err = cli("check", "--format", "github", "missing.net")
    assert (code, err) == (2, "")
    assert out == "::error file=missing.net,title=E001 file::missing.net: no such file\n"


def test_github_names_files_outside_the_working_directory_absolutely(here, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere") / "bad.net"
    other.write_text(BAD)
    out = cli("check", "--format", "github", str(other))[1]
    assert out.startswith(f"::error file={other.as_posix()},line=3,col=23,")


# ----------------------------------------------------------------------------- --format sarif

def _rule(code, slug, text, level):
    anchor = f"{code.lower()}-{slug}"
    return {"id": code, "name": slug, "shortDescription": {"text": text},
            "helpUri": f"https://netdsl.invalid/docs/errors.md#{anchor}",
            "help": {"text": f"{text}; see docs/errors.md#{anchor}"},
            "defaultConfiguration": {"level": level}}


def _log(rules, results):
    return {
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                   "sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "netdsl", "version": netdsl.__version__,
                                      "informationUri": "https://netdsl.invalid",
                                      "rules": rules}},
                  "columnKind": "unicodeCodePoints", "results": results}]}


def _region(line, col, end_line, end_col):
    return {"startLine": line, "startColumn": col, "endLine": end_line, "endColumn": end_col}


def _physical(uri, region):
    return {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}, "region": region}


EXPECTED_BAD = _log(
    [_rule("E302", "fractional-size",
           "a stride does not tile its input: the output size is not whole", "error")],
    [{"ruleId": "E302", "ruleIndex": 0, "level": "error",
      "message": {"text": f"{E302}\nhint: {E302_HINT}\nhint: {E302_SIZES}"},
      "locations": [{"physicalLocation": _physical("bad.net", _region(3, 23, 3, 32))}],
      "relatedLocations": [{"id": 1,
                            "physicalLocation": _physical("bad.net", _region(3, 3, 3, 8)),
                            "message": {"text": "[N, 1, 7, 7]"}}]}])


def test_sarif_failing_file(here):
    code, out, err = cli("check", "--format", "sarif", "bad.net")
    assert (code, err) == (1, "")
    assert out == json.dumps(EXPECTED_BAD, indent=2) + "\n"


def test_sarif_passing_file_and_warning(here):
    code, out, _ = cli("check", "--format", "sarif", "good.net")
    assert (code, out) == (0, json.dumps(_log([], []), indent=2) + "\n")
    code, out, _ = cli("check", "--format", "sarif", "warn.net")
    assert code == 0
    assert out == json.dumps(_log(
        [_rule("W301", "receptive-field",
               "a join whose branches disagree in jump or centre offset", "warning")],
        [{"ruleId": "W301", "ruleIndex": 0, "level": "warning",
          "message": {"text": f"{W301}\nhint: {W301_HINT}"},
          "locations": [{"physicalLocation": _physical("warn.net", _region(5, 3, 5, 8))}]}]),
        indent=2) + "\n"


def _validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    checker = jsonschema.FormatChecker()
    # GitHub's upload checks the "uri" formats; without rfc3986-validator jsonschema cannot
    assert {"uri", "uri-reference"} <= set(checker.checkers), "pip install rfc3986-validator"
    return jsonschema.Draft4Validator(schema, format_checker=checker)


def test_sarif_rule_of_a_misplaced_option_describes_it(here):
    """E203's rule, shown beside a misplaced `option`, named only an operator's keyword."""
    (here / "late.net").write_text("network late {\n  input image: [N, 1, 8, 8]\n"
                                   "  x = image -> relu\n  option floor: true\n"
                                   "  x -> output y\n}\n")
    code, out, _ = cli("check", "--format", "sarif", "late.net")
    assert code == 1
    assert json.loads(out)["runs"][0]["tool"]["driver"]["rules"] == [_rule(
        "E203", "unknown-argument", "a keyword or `option` that is not taken there: an argument "
        "the operator, block or network does not take, or an unknown or misplaced option",
        "error")]


def test_sarif_validates_against_the_official_schema(here):
    (here / "sub").mkdir()
    (here / "sub" / "a b,c.net").write_text(BAD)  # a URI that needs escaping
    code, out, _ = cli("check", "--format", "sarif", ".", "missing.net")
    assert code == 2
    log = json.loads(out)
    _validator().validate(log)
    results = log["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["E302", "E302", "W301", "E001"]
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "sub/a%20b%2Cc.net")
    assert results[3]["locations"] == [
        {"physicalLocation": {"artifactLocation": {"uri": "missing.net",
                                                   "uriBaseId": "%SRCROOT%"}}}]
    assert [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == [
        "E001", "E302", "W301"]


def test_sarif_of_a_file_name_that_is_not_utf8(here):
    """A pull request may add `b\\xfe.net` (Linux allows any bytes but `/` and NUL): its URI
    percent-encodes the name's bytes; it was a UnicodeEncodeError, exit 3 for the whole step."""
    try:
        (here / os.fsdecode(b"b\xfe.net")).write_text(BAD)
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    code, out, _ = cli("check", "--format", "sarif", ".")
    assert code == 1
    log = json.loads(out)
    _validator().validate(log)
    assert [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            for r in log["runs"][0]["results"]] == ["bad.net", "b%FE.net", "warn.net"]


def test_sarif_schema_catches_what_github_rejects(here):
    log = json.loads(cli("check", "--format", "sarif", "bad.net")[1])
    log["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "docs/errors.md#e302"
    with pytest.raises(Exception, match="is not a 'uri'"):
        _validator().validate(log)


def _anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.+)$", markdown, re.M)}


def test_sarif_help_links_name_real_headings_of_errors_md():
    anchors = _anchors((ROOT / "docs" / "errors.md").read_text())
    log = json.loads(sarif([("x.net", error(code, "m")) for code in netdsl.diagnostics.CODES]))
    uris = [r["helpUri"] for r in log["runs"][0]["tool"]["driver"]["rules"]]
    assert len(uris) == len(netdsl.diagnostics.CODES)
    for uri in uris:
        assert uri.split("#")[1] in anchors, uri


def test_readme_links_to_the_documented_flags():
    readme = (ROOT / "README.md").read_text()
    (anchor,) = re.findall(r"docs/errors\.md#([a-z0-9-]+)", readme)
    assert anchor in _anchors((ROOT / "docs" / "errors.md").read_text())


def test_sarif_is_deterministic(here):
    first = cli("check", "--format", "sarif", ".")[1]
    assert first == cli("check", "--format", "sarif", ".")[1]
    assert str(here) not in first


# ------------------------------------------------------------------------ directories, summary

def test_directory_is_every_net_file_below_it_sorted(here):
    (here / "sub" / "deep").mkdir(parents=True)
    (here / "sub" / "deep" / "z.net").write_text(GOOD)
    (here / "sub" / "a.net").write_text(GOOD)
    (here / "sub-b.net").write_text(GOOD)
    (here / "notes.txt").write_text("not a .net file")
    code, out, err = cli("check", ".")
    assert code == 1
    assert out == ("good.net: tiny: ok (112 params, 6.91K MACs)\n"
                   "sub/a.net: tiny: ok (112 params, 6.91K MACs)\n"
                   "sub/deep/z.net: tiny: ok (112 params, 6.91K MACs)\n"
                   "sub-b.net: tiny: ok (112 params, 6.91K MACs)\n"
                   "warn.net: joined: ok (272 params, 65.54K MACs)\n")
    assert masked(err) == (BAD_TEXT + W301_TEXT
                           + "checked 6 files, 6 networks: 1 error, 1 warning (T s)\n")


def test_ok_lines_show_a_file_name_escaped_as_diagnostics_do(here):
    """A pull request may add a file named with an ESC sequence: the ok lines on stdout escape
    it as the rendering does (`\\x1b`), so that it cannot recolour a terminal or a CI log."""
    (here / "sub").mkdir()
    for name, text in (("a\x1b[31m.net", GOOD), ("b\x1b[31m.net", BAD.replace("stride: 3) -> "
                       "output features", "stride: 3) -> output features  # netdsl: "
                       "ignore[E302]")), ("c\x1b[31m.net", "block b(x) {\n  return x\n}\n")):
        (here / "sub" / name).write_text(text)
    code, out, _ = cli("check", "sub")
    assert (code, out) == (0, "sub/a\\x1b[31m.net: tiny: ok (112 params, 6.91K MACs)\n"
                              "sub/b\\x1b[31m.net: lecture: not measured (its errors are ignored)\n"
                              "sub/c\\x1b[31m.net: ok (blocks only, no network)\n")


@pytest.mark.parametrize("fmt", ["text", "github"])
def test_a_file_name_that_is_not_utf8_is_shown_escaped(here, fmt):
    """Its undecodable bytes are lone surrogates in Python: printed as they are, a stdout that
    encodes strictly (a UTF-8 locale other than C.UTF-8, macOS) raised UnicodeEncodeError, an
    internal error (exit 3); they are shown as `\\udcfe`, as the rendering shows control
    characters."""
    try:
        (here / os.fsdecode(b"a\xfe.net")).write_text(GOOD)
        (here / os.fsdecode(b"b\xfe.net")).write_text(BAD)
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    code, out, err = cli("check", "--format", fmt, "a\udcfe.net", "b\udcfe.net")
    assert code == 1
    (out + err).encode("utf-8")  # NOTE: strictly: no lone surrogate is left
    assert ("a\\udcfe.net: tiny: ok" in out) == (fmt == "text")
    assert "b\\udcfe.net:3:23: error[E302]" in err if fmt == "text" else (
        out.startswith("::error file=b\\udcfe.net,line=3,"))


def test_directory_given_as_a_path_keeps_its_spelling(here):
    (here / "sub").mkdir()
    (here / "sub" / "a.net").write_text(GOOD)
    assert cli("check", "-q", "--format", "github", "sub/")[0] == 0
    _, out, err = cli("check", "sub/")
    assert out == "sub/a.net: tiny: ok (112 params, 6.91K MACs)\n"
    assert masked(err) == "checked 1 file, 1 network: 0 errors, 0 warnings (T s)\n"


def test_json_of_a_directory_holds_every_file(here):
    code, out, _ = cli("check", "--format", "json", ".")
    doc = json.loads(out)
    assert code == 1 and doc["ok"] is False
    assert [(f["path"], f["ok"], [n["name"] for n in f["networks"]],
             [d["code"] for d in f["diagnostics"]]) for f in doc["files"]] == [
        ("bad.net", False, ["lecture"], ["E302"]), ("good.net", True, ["tiny"], []),
        ("warn.net", True, ["joined"], ["W301"])]


def test_summary_only_for_several_files_or_a_directory(here):
    assert cli("check", "good.net") == (0, "good.net: tiny: ok (112 params, 6.91K MACs)\n", "")
    err = cli("check", "good.net", "warn.net")[2]
    assert masked(err).endswith("\nchecked 2 files, 2 networks: 0 errors, 1 warning (T s)\n")


GOOD_OK = "good.net: tiny: ok (112 params, 6.91K MACs)\n"


@pytest.mark.parametrize("paths", [("good.net", "good.net"), ("good.net", "./good.net"),
                                   ("good.net", str(Path("..") / "*" / "good.net"))])
def test_a_file_given_twice_is_checked_once(here, paths):
    """By its real path: the same file under two spellings is one file (no summary line, which
    is for several files)."""
    paths = tuple(p.replace("*", here.name) for p in paths)
    assert cli("check", *paths) == (0, GOOD_OK, "")


def test_a_file_and_its_directory_are_checked_once_in_the_order_given(here):
    code, out, _ = cli("check", "--format", "github", "warn.net", "bad.net", ".")
    assert code == 1
    assert [line.split(",")[0] for line in out.splitlines()] == [
        "::warning file=warn.net", "::error file=bad.net"]
    code, out, err = cli("check", "warn.net", ".", "good.net")
    assert out == ("warn.net: joined: ok (272 params, 65.54K MACs)\n" + GOOD_OK)
    assert masked(err) == (W301_TEXT + BAD_TEXT
                           + "checked 3 files, 3 networks: 1 error, 1 warning (T s)\n")
    doc = json.loads(cli("check", "--format", "json", "good.net", ".", "good.net")[1])
    assert [f["path"] for f in doc["files"]] == ["good.net", "bad.net", "warn.net"]


def test_a_link_to_a_file_given_with_it_is_checked_once_under_the_first_name(here):
    os.symlink("bad.net", here / "link.net")
    out = cli("check", "--format", "github", "link.net", "bad.net")[1]
    assert [line.split(",")[0] for line in out.splitlines()] == ["::error file=link.net"]


def test_a_link_back_up_is_walked_once(here):
    (here / "sub").mkdir()
    (here / "sub" / "a.net").write_text(GOOD)
    os.symlink("..", here / "sub" / "up")
    out = cli("check", "sub")[1]
    assert out.count("sub/a.net") == 1


@pytest.mark.parametrize("backwards", [False, True])
def test_a_directory_reached_twice_is_named_the_same_whatever_the_listing_order(
        here, monkeypatch, backwards):
    """A directory and a link to it: its files are checked once, under the path first in sorted
    order, whatever order the file system lists a directory in (ext4 lists by a hash that
    differs from one file system to the next: another machine's checkout, another order)."""
    (here / "sub" / "a").mkdir(parents=True)
    (here / "sub" / "a" / "m.net").write_text(GOOD)
    os.symlink("a", here / "sub" / "z")
    real = os.scandir

    class Listing:
        """os.scandir's iterator, its entries in (reversed) order of name."""

        def __init__(self, path="."):
            with real(path) as it:
                self.entries = iter(sorted(it, key=lambda e: e.name, reverse=backwards))

        def __iter__(self):
            return self

        def __next__(self):
            return next(self.entries)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return None

    monkeypatch.setattr(os, "scandir", Listing)
    assert cli("check", "sub")[1] == "sub/a/m.net: tiny: ok (112 params, 6.91K MACs)\n"


SKIPPED = (".venv", "venv", "build", "dist", "node_modules", ".git", "__pycache__",
           "site-packages", ".tox", ".nox", ".mypy_cache", ".hidden", "_build", "buck-out",
           "__pypackages__")


def test_a_walk_skips_hidden_and_tool_directories(here):
    """`netdsl check .` at a repository's root, as docs/ci.md's workflow runs it: the files of a
    virtual environment, a build, node_modules or git's own are not the project's (ruff's and
    pytest's walks skip them too); a directory of those names deeper down is skipped as well,
    and a name that only starts like one is not."""
    for name in SKIPPED:
        (here / name / "sub").mkdir(parents=True)
        (here / name / "sub" / "x.net").write_text(BAD)
    (here / "models" / "dist").mkdir(parents=True)
    (here / "models" / "dist" / "x.net").write_text(BAD)
    (here / "models" / "builder").mkdir()
    (here / "models" / "builder" / "a.net").write_text(GOOD)
    (here / ".top.net").write_text(GOOD)  # NOTE: a hidden file is no directory: it is checked
    code, out, err = cli("check", "--format", "github", ".")
    assert (code, err) == (1, "")
    assert [line.split(",")[0] for line in out.splitlines()] == [
        "::error file=bad.net", "::warning file=warn.net"]
    assert cli("check", ".")[1] == (".top.net: tiny: ok (112 params, 6.91K MACs)\n"
                                    "good.net: tiny: ok (112 params, 6.91K MACs)\n"
                                    "models/builder/a.net: tiny: ok (112 params, 6.91K MACs)\n"
                                    "warn.net: joined: ok (272 params, 65.54K MACs)\n")
    shown = " ".join(cli("check", "--help")[1].split())
    assert ("a directory means every *.net below it, hidden directories and build, dist, venv, "
            "node_modules, site-packages, __pycache__ below it skipped (docs/ci.md)") in shown


@pytest.mark.parametrize(("given", "shown"), [
    (".venv", ".venv/sub/x.net"), (".venv/sub", ".venv/sub/x.net"), ("build/", "build/sub/x.net"),
    (".venv/sub/x.net", ".venv/sub/x.net"), ("./node_modules/sub/x.net", "node_modules/sub/x.net")])
def test_a_skipped_directory_or_file_given_by_name_is_checked(here, given, shown):
    for name in (".venv", "build", "node_modules"):
        (here / name / "sub").mkdir(parents=True)
        (here / name / "sub" / "x.net").write_text(BAD)
    code, out, err = cli("check", "--format", "github", given)
    assert (code, err) == (1, "")
    assert out.startswith(f"::error file={shown},line=3,")


def test_a_directory_with_net_files_only_where_a_walk_skips_says_so(here):
    (here / "empty" / ".venv").mkdir(parents=True)
    (here / "empty" / ".venv" / "x.net").write_text(GOOD)
    code, out, err = cli("check", "empty")
    assert (code, out) == (2, "")
    assert err == ("empty: is a directory with no .net file in it or below it, outside the "
                   "directories a walk skips (hidden ones, build, dist, venv, node_modules...: "
                   "docs/ci.md): give such a directory by name to check it\n"
                   "usage: see `netdsl check --help`\n")


def test_directory_without_net_files_is_a_usage_error(here):
    (here / "empty").mkdir()
    code, out, err = cli("check", "empty")
    assert (code, out) == (2, "")
    assert err == ("empty: is a directory with no .net file in it or below it\n"
                   "usage: see `netdsl check --help`\n")


def test_unreadable_directory_is_a_usage_error_not_a_skip(here, monkeypatch):
    (here / "sub").mkdir()
    (here / "sub" / "a.net").write_text(GOOD)
    real = os.scandir

    def scandir(path="."):
        if os.path.basename(os.fspath(path)) == "sub":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real(path)
    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = cli("check", ".")
    assert (code, out) == (2, "")
    assert err.startswith("./sub: cannot read this directory: Permission denied\n")


# ----------------------------------------------------------- --warnings-as-errors, --ignore, -q

def test_warnings_as_errors(here):
    assert cli("check", "warn.net")[0] == 0
    code, out, err = cli("check", "--warnings-as-errors", "warn.net")
    assert (code, out, err) == (1, "", W301_TEXT)
    doc = json.loads(cli("check", "--warnings-as-errors", "--format", "json", "warn.net")[1])
    assert doc["ok"] is False and doc["files"][0]["networks"][0]["ok"] is False


def test_ignore_drops_a_code(here):
    code, out, err = cli("check", "--ignore", "W301", "--warnings-as-errors", "warn.net")
    assert (code, out, err) == (0, "warn.net: joined: ok (272 params, 65.54K MACs)\n", "")
    code, out, err = cli("check", "--ignore", "W301", "--ignore", "E302", "bad.net", "warn.net")
    assert code == 0
    assert out == ("bad.net: lecture: not measured (its errors are ignored)\n"
                   "warn.net: joined: ok (272 params, 65.54K MACs)\n")
    assert masked(err) == "checked 2 files, 2 networks: 0 errors, 0 warnings (T s)\n"


@pytest.mark.parametrize("code,hint", [
    ("W999", "docs/errors.md lists the codes"), ("w301", "did you mean `W301`?"),
    ("nonsense", "docs/errors.md lists the codes")])
def test_ignore_of_an_unknown_code_is_a_usage_error(here, code, hint):
    rc, out, err = cli("check", "--ignore", code, "good.net")
    assert (rc, out) == (2, "")
    assert err == (f"--ignore takes a diagnostic code, not {code!r}: {hint}\n"
                   "usage: see `netdsl check --help`\n")


@pytest.mark.parametrize("codes", ["W301,E302", "W301, E302", "W301 E302"])
def test_ignore_of_a_list_says_to_repeat_the_flag(here, codes):
    """As ruff's `--ignore E501,W291` or the comment's `ignore[W301, E302]`: not `did you mean
    W301?`, which would drop E302 from what the user asked."""
    rc, out, err = cli("check", "--ignore", codes, "good.net")
    assert (rc, out) == (2, "")
    assert err == (f"--ignore takes one diagnostic code, not {codes!r}: repeat the flag, as in "
                   "--ignore W301 --ignore E302\n"
                   "usage: see `netdsl check --help`\n")


def test_quiet_prints_errors_only(here):
    code, out, err = cli("check", "-q", "bad.net", "warn.net", "good.net")
    assert (code, out) == (1, "")
    assert err.startswith("bad.net:3:23: error[E302]") and "W301" not in err
    assert "checked" not in err
    assert cli("check", "-q", "warn.net") == (0, "", "")
    assert cli("check", "-q", "--warnings-as-errors", "warn.net") == (1, "", W301_TEXT)
    assert cli("check", "-q", "--format", "github", "warn.net") == (0, "", "")


# ------------------------------------------------------------ # netdsl: ignore[...] comments

def test_comment_suppresses_on_its_line(here):
    (here / "w.net").write_text(WARN.replace("a + b -> output features",
                                             "a + b -> output features  # netdsl: ignore[W301]"))
    assert cli("check", "--warnings-as-errors", "w.net") == (
        0, "w.net: joined: ok (272 params, 65.54K MACs)\n", "")


def test_comment_names_several_codes_and_unused_ones_are_w001(here):
    line = "  a + b -> output features  # why: aligned later # netdsl: ignore[W301, E303]"
    (here / "w.net").write_text(WARN.replace("  a + b -> output features", line))
    code, out, err = cli("check", "w.net")
    assert (code, out) == (0, "w.net: joined: ok (272 params, 65.54K MACs)\n")
    assert err == ("w.net:5:73: warning[W001]: `# netdsl: ignore[E303]` suppressed nothing: "
                   "no E303 is reported on line 5\n") + f"""\
  |
5 | {line}
  |                                                                         ^^^^ unused
  |
  = hint: remove it, or move it to the line that E303's carets point at

"""
    assert cli("check", "--ignore", "W001", "w.net")[2] == ""
    assert cli("check", "--warnings-as-errors", "w.net")[0] == 1


def test_comment_on_another_line_suppresses_nothing(here):
    (here / "w.net").write_text(WARN.replace("  b = image",
                                             "  # netdsl: ignore[W301]\n  b = image"))
    err = cli("check", "w.net")[2]
    assert "warning[W301]" in err
    assert "w.net:4:20: warning[W001]: `# netdsl: ignore[W301]` suppressed nothing" in err


@pytest.mark.parametrize("comment,message,hint", [
    ("# netdsl: ignore[W3O1]", "`# netdsl: ignore` names `W3O1`, which is no diagnostic code",
     "did you mean `W301`?"),
    ("# netdsl: ignore", "`# netdsl: ignore` names no codes, so it suppresses nothing",
     "name the codes in brackets: `# netdsl: ignore[W301]`"),
    ("# netdsl: ignore[]", "`# netdsl: ignore` names no codes, so it suppresses nothing",
     "name the codes in brackets: `# netdsl: ignore[W301]`"),
])
def test_malformed_comment_is_w001(here, comment, message, hint):
    (here / "g.net").write_text(GOOD.replace("features\n", f"features  {comment}\n"))
    code, _, err = cli("check", "g.net")
    assert code == 0
    assert f"warning[W001]: {message}\n" in err and f"= hint: {hint}\n" in err


def test_comment_inside_a_string_is_text(here):
    (here / "blocks.net").write_text("block b(x) {\n  return x -> relu\n}\n")
    (here / "u.net").write_text('use "blocks.net"  # netdsl: ignore[W301]\n'
                                + GOOD.replace("conv(4, 3, pad: 1)", "b"))
    assert "W001" in cli("check", "u.net")[2]
    (here / "u.net").write_text('use "blocks.net#netdsl: ignore[W301]"\n' + GOOD)
    assert "W001" not in cli("check", "u.net")[2]


def test_comments_are_judged_only_when_every_network_checked_cleanly(here):
    text = BAD + WARN.replace("a + b -> output features",
                              "a + b -> output features  # netdsl: ignore[E303]")
    (here / "m.net").write_text(text)
    assert "W001" not in cli("check", "m.net")[2]  # lecture fails: nothing is judged
    (here / "m.net").write_text(GOOD + WARN.replace(
        "a + b -> output features", "a + b -> output features  # netdsl: ignore[W301]"))
    assert "W001" not in cli("check", "m.net", "--network", "tiny")[2]  # joined not checked
    assert cli("check", "m.net")[2] == ""


def test_a_comment_that_drops_a_diagnostic_of_a_file_checked_later_is_used(here, monkeypatch):
    """A comment in a file of blocks that also has a network drops an error that only another
    file's call raises: it is judged once every file was checked, whatever their order (it
    was W001 `suppressed nothing` when its own file came first, and removing it as told fails
    the other file)."""
    project = here / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / "lib.net").write_text(
        "block down(x, c) {\n"
        "  return x -> conv(c, 3, stride: 3)  # netdsl: ignore[E302]\n"
        "}\n" + GOOD.replace("input image: [N, 3, 8, 8]", "input image: [N, 3, 9, 9]")
        .replace("conv(4, 3, pad: 1)", "down(4)"))
    (project / "main.net").write_text(
        'use "lib.net"\n' + BAD.replace("conv(1, 3, stride: 3)", "down(1)"))
    for files in (["lib.net", "main.net"], ["main.net", "lib.net"], ["."]):
        code, out, err = cli("check", *files)
        assert (code, sorted(out.splitlines())) == (0, [
            "lib.net: tiny: ok (112 params, 972 MACs)",  # 3*3 places x 4 x 27
            "main.net: lecture: not measured (its errors are ignored)"]), files
        assert masked(err) == "checked 2 files, 2 networks: 0 errors, 0 warnings (T s)\n"
        assert cli("check", "--format", "github", *files)[1] == ""
    # the file given by another spelling than the `use` line reaches it by
    for files in (["main.net", str(project / "lib.net")], ["main.net", "../project/lib.net"]):
        assert cli("check", "--format", "github", *files) == (0, "", ""), files


@pytest.mark.parametrize("fmt", ["json", "github", "sarif"])
def test_help_says_where_the_diagnostics_of_each_format_go(here, fmt):
    """Exit 1's line in the exit codes of `check --help` and `netdsl --help`: the diagnostics of
    --format json, github and sarif are on stdout (a CI step redirects it to a file), not on
    stderr as the epilog said."""
    code, out, err = cli("check", "--format", fmt, "bad.net")
    assert (code, err) == (1, "") and "E302" in out
    assert "  1  the input has errors (diagnostics on stderr; with --format json, github or " \
           "sarif\n     on stdout)\n" in cli("check", "--help")[1]
    assert "  1  the input has errors (diagnostics on stderr; `check --format " \
           "json|github|sarif`\n     prints them on stdout)\n" in cli("--help")[1]
    assert cli("check", "--format", "text", "bad.net")[1:] == ("", BAD_TEXT)


def test_unknown_format_is_a_usage_error(here):
    code, out, err = cli("check", "--format", "junit", "good.net")
    assert (code, out) == (2, "")
    # NOTE: newer Pythons' argparse drops the quotes around the choices
    assert err.replace("'", "") == ("netdsl check: argument --format: invalid choice: junit "
                                    "(choose from text, json, github, sarif)\n"
                                    "usage: see `netdsl check --help`\n")


SEPARABLE = ("network s {\n  input x: [N, 3, 7, 7]\n"
             "  x -> separable(8, 3, stride: 3, pad: 0) -> output y\n}\n")


def test_a_mistake_inside_a_prelude_block_is_annotated_at_the_call(here):
    """The prelude's lines lie in netdsl's installed copy, which a pull request's diff does not
    show (GitHub drops such an annotation): it goes on the user's call, the prelude's place in
    its message (github) or a related location (SARIF)."""
    (here / "sep.net").write_text(SEPARABLE)
    prelude = Path(netdsl.__file__).parent / "prelude.net"
    code, out, _ = cli("check", "--format", "github", "sep.net")
    assert code == 1
    assert out.startswith("::error file=sep.net,line=3,col=8,endLine=3,endColumn=42,"
                          "title=E302 fractional-size::conv: stride 3 does not tile the input "
                          f"height 7: (7 - 3 + 2*0)/3 + 1 = 2.33: fractions are illegal%0A"
                          f"{prelude.as_posix()}:6:51: here, in the block%0A")
    assert "%0Anote: in block `separable` called at sep.net:3:8%0A" in out
    log = json.loads(cli("check", "--format", "sarif", "sep.net")[1])
    _validator().validate(log)
    (result,) = log["runs"][0]["results"]
    (at,) = result["locations"]
    assert at["physicalLocation"]["artifactLocation"] == {"uri": "sep.net",
                                                          "uriBaseId": "%SRCROOT%"}
    assert at["physicalLocation"]["region"]["startLine"] == 3
    assert at["message"] == {"text": "called here"}
    related = result["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"] == {"uri": prelude.as_uri()}
    assert related["region"]["startLine"] == 6


def test_a_mistake_in_a_block_of_the_file_itself_stays_where_it_is(here):
    """A block of a file inside the working directory is shown at its own line, as before."""
    text = SEPARABLE.replace("separable", "sep") + (
        "block sep(x, out, k, stride = 1, pad = 0) {\n"
        "  return x -> conv(out, k, stride: stride, pad: pad)\n}\n")
    (here / "own.net").write_text(text)
    out = cli("check", "--format", "github", "own.net")[1]
    assert out.startswith("::error file=own.net,line=6,col=")
    assert "here, in the block" not in out
