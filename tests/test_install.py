"""A non-editable install finds its grammar: build a wheel, install it into a fresh folder, and run
`netdsl check` from there, away from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT, ZOO


def run(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=180, **kw)


@pytest.mark.slow
def test_wheel_install_checks_a_zoo_file(tmp_path):
    wheels, site, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                "-q", "-w", str(wheels), str(ROOT))
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("netdsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "netdsl/grammars/netdsl.lark" in names
    assert "netdsl/parser.json" in names  # the pre-built parser (netdsl/parse/loading.py)
    assert "netdsl/py.typed" in names  # PEP 561: the package's type hints are for its users
    assert not any(n.startswith("tools/") or n.endswith("docs.py") for n in names)
    installed = run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel))
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    probe = ("import sys, netdsl, netdsl.parse\n"
             f"assert netdsl.__file__.startswith({str(site)!r}), netdsl.__file__\n"
             "assert netdsl.__version__ != '0+unknown', 'the version comes from the metadata'\n"
             "from netdsl.cli import main\n"
             f"sys.exit(main(['check', {str(ZOO / 'lenet.net')!r}]))\n")
    r = run(sys.executable, "-c", probe, cwd=work, env=env)
    assert r.returncode == 0, r.stderr
    assert "lenet5: ok (61,706 params" in r.stdout
    assert not (tmp_path / "cache").exists()  # NOTE: no parser cache (a pickle) is written
