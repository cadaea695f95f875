"""docs/ci.md and .pre-commit-hooks.yaml: the GitHub Actions workflow validates against the
workflow schema (check-jsonschema's vendored copy, offline), the GitLab job has its reports and
its Code Quality conversion works on real `netdsl check --format json` output, and the pre-commit
hook, run by `pre-commit try-repo` against this checkout, passes a good file and stops a bad one
(slow: pre-commit builds a virtual environment from the package registry)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT
from netdsl.cli import main

DOC = (ROOT / "docs" / "ci.md").read_text()

GOOD = """\
network tiny {
  input x: [N, 1, 8, 8]
  x -> conv(4, 3) -> relu -> flatten -> dense(10) -> output y
  expect params == 40 + 1450
}
"""

BAD = """\
network fine {
  input x: [N, 1, 8, 8]
  x -> conv(4, 3) -> output y
  expect params == 41
}
"""

BAD_TEXT = """\
bad.net:4:10: error[E305]: expectation failed: params is 40, expected == 41
  |
4 |   expect params == 41
  |          ^^^^^^^^^^^^ does not hold
  |"""


def yaml_block(heading: str) -> str:
    """The first ```yaml block of the docs/ci.md section whose heading starts with `heading`."""
    (section,) = [s for s in DOC.split("\n## ") if s.startswith(heading)]
    match = re.search(r"^```yaml\n(.*?)^```$", section, re.S | re.M)
    assert match, f"no yaml block under ## {heading}"
    return match.group(1)


def check_workflow(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_the_github_workflow_validates(tmp_path):
    path = tmp_path / "netdsl.yml"
    path.write_text(yaml_block("GitHub Actions"))
    r = check_workflow(path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok -- validation done" in r.stdout
    (job,) = yaml.safe_load(path.read_text())["jobs"].values()
    assert [s.get("uses", s.get("run")) for s in job["steps"]] == [
        "actions/checkout@v5",
        "actions/setup-python@v6",
        "pip install netdsl pytest",
        "netdsl check --format github .",
        "netdsl check --format sarif . > netdsl.sarif || [ $? -eq 1 ]",
        "github/codeql-action/upload-sarif@v4",
        "pytest --netdsl-run --junitxml=netdsl-junit.xml models/",
        "actions/upload-artifact@v4",
    ]
    assert job["steps"][5]["with"]["sarif_file"] == "netdsl.sarif"


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(yaml_block("GitHub Actions").replace("runs-on:", "runs_on:"))
    r = check_workflow(path)
    assert r.returncode == 1 and "Schema validation errors were encountered" in r.stdout + r.stderr


def test_the_gitlab_job_has_its_reports():
    config = yaml.safe_load(yaml_block("GitLab CI"))
    assert list(config) == ["netdsl"]
    job = config["netdsl"]
    assert set(job) == {"stage", "image", "script", "artifacts"}
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"] == {"junit": "netdsl-junit.xml",
                                           "codequality": "gl-code-quality-report.json"}
    assert job["script"][0] == "pip install netdsl pytest"
    assert job["script"][1] == "netdsl check --format json . > netdsl.json || [ $? -eq 1 ]"
    assert job["script"][-1] == "pytest --netdsl-run --junitxml=netdsl-junit.xml models/"


def test_the_gitlab_code_quality_conversion(tmp_path):
    """The job's Python snippet, run on what `netdsl check --format json` prints."""
    (tmp_path / "good.net").write_text(GOOD)
    (tmp_path / "bad.net").write_text(BAD)
    out = io.StringIO()
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        with contextlib.redirect_stdout(out):
            assert main(["check", "--format", "json", "good.net", "bad.net"]) == 1
    finally:
        os.chdir(cwd)
    (tmp_path / "netdsl.json").write_text(out.getvalue())
    (script,) = [s for s in yaml.safe_load(yaml_block("GitLab CI"))["netdsl"]["script"]
                 if "<<'EOF'" in s]
    snippet = script.split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    r = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "gl-code-quality-report.json").read_text()) == [{
        "description": "E305 expectation: expectation failed: params is 40, expected == 41",
        "check_name": "E305",
        # md5 of "E305:bad.net:4:10:expectation failed: params is 40, expected == 41"
        "fingerprint": "888b458a5356400057dfff5cf440127e",
        "severity": "major",
        "location": {"path": "bad.net", "lines": {"begin": 4}},
    }]


def test_the_pre_commit_hooks_are_declared():
    check, fmt = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {k: check[k] for k in ("id", "entry", "language", "files")} == {
        "id": "netdsl-check", "entry": "netdsl check", "language": "python", "files": r"\.net$"}
    assert {k: fmt[k] for k in ("id", "entry", "language", "files")} == {
        "id": "netdsl-fmt", "entry": "netdsl fmt", "language": "python", "files": r"\.net$"}
    hook = check
    assert [bool(re.search(hook["files"], f)) for f in ("zoo/a.net", "a.net.bak", "net.py")] == [
        True, False, False]


def test_the_readme_links_the_ci_doc():
    readme = (ROOT / "README.md").read_text()
    (section,) = [s for s in readme.split("\n## ") if s.startswith("Use in CI")]
    assert "(docs/ci.md)" in section


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="pre-commit needs git")
def test_pre_commit_try_repo(tmp_path):
    """`pre-commit try-repo` installs this checkout (its HEAD, plus uncommitted changes to
    tracked files) into a fresh virtual environment and runs the hook in a project."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "good.net").write_text(GOOD)
    (project / "bad.net").write_text(BAD)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the hook's own install
    env["PRE_COMMIT_HOME"] = str(tmp_path / "cache")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), cwd=project, env=env, capture_output=True, text=True,
                              timeout=900)

    assert run("git", "init", "-q").returncode == 0
    assert run("git", "add", "good.net", "bad.net").returncode == 0
    try_repo = [sys.executable, "-m", "pre_commit", "try-repo", str(ROOT), "netdsl-check"]
    r = run(*try_repo, "--all-files")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^netdsl check\.+Failed\n- hook id: netdsl-check\n- exit code: 1\n\n",
                     r.stdout, re.M), r.stdout
    assert BAD_TEXT in r.stdout and not re.search(r"good\.net:\d", r.stdout)  # no diagnostic
    r = run(*try_repo, "--files", "good.net")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^netdsl check\.+Passed$", r.stdout, re.M), r.stdout
