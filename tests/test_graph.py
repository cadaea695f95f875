"""netdsl graph: the DOT text (pinned exactly for LeNet-5), blocks as clusters and folded with
--depth, the README's pictures current, the formats `dot` draws, the diagnostic without `dot`,
and the .html page loaded in a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import subprocess

import pytest
from genpictures import IMAGES, PICTURES, arguments

from conftest import ROOT, ZOO, cli
from netdsl.graph import to_dot
from netdsl.pipeline import check_source, read_source

NEEDS_DOT = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="needs Graphviz's `dot`: apt-get install graphviz")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dot(file: str, network: str | None = None, depth: int | None = None) -> str:
    checked = check_source(read_source(ZOO / file), network)
    return to_dot(checked.graph, checked.stats, depth)


def test_lenet_dot_exactly():
    """LeNet-5 (LeCun et al. 1998): a chain of 14 boxes, input at the top, output at the
    bottom; its conv and dense boxes coloured as layers with weights."""
    assert _dot("lenet.net") == (IMAGES / "lenet5.dot").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", PICTURES)
def test_the_readme_pictures_are_current(name):
    file, network, depth = PICTURES[name]
    assert _dot(file, network, depth) == (IMAGES / f"{name}.dot").read_text(encoding="utf-8"), (
        "run `python tools/genpictures.py` and commit docs/images")
    assert f"(docs/images/{name}.png)" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_blocks_are_clusters_and_fold_at_depth():
    full = _dot("resnet.net", "resnet18")
    assert "subgraph cluster_layer1 {" in full and 'subgraph "cluster_layer1.0" {' in full
    assert '"layer1.0.conv1" [label=<<b>conv1</b><br/>conv(64, 3, pad: 1, bias: false)' in full
    assert re.search(r'"layer1\.0\.add" \[label=<add<br/>.*shape=ellipse', full)
    one = _dot("resnet.net", "resnet18", depth=1)
    assert "cluster" not in one and "layer1.0" not in one
    assert '\tlayer1 [label=<<b>layer1</b><br/>14 layers, 147.97K params<br/>' in one
    assert "\tlayer1 -> layer2\n" in one
    two = _dot("resnet.net", "resnet18", depth=2)
    assert "subgraph cluster_layer2 {" in two
    assert '"layer2.0" [label=<<b>layer2.0</b><br/>9 layers, 230.14K params<br/>' in two


def test_list_arguments_are_written_as_net_writes_them():
    """ViT's `reshape([hidden, -1])`, `permute([0, 2, 1])` and `param` shape: .net lists in
    brackets, not Python's tuples (`permute((0, 2, 1))` reads as a nested call)."""
    vit = _dot("vit.net", "vit_b_16", depth=2)
    assert "reshape([768, -1])<br/>" in vit and "permute([0, 2, 1])<br/>" in vit
    assert "param(shape: [1, 1, 768])<br/>" in vit
    assert "((" not in vit


def test_dot_output_needs_no_graphviz_program(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda _: None)
    out = tmp_path / "lenet.dot"
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(out)) == (0, "", "")
    assert out.read_text() == (IMAGES / "lenet5.dot").read_text()
    code, stdout, err = cli("graph", str(ZOO / "lenet.net"), "-o", str(tmp_path / "lenet.png"))
    assert (code, stdout) == (2, "")
    assert err.startswith("netdsl graph: writing .png needs Graphviz's `dot` program, which is "
                          "not on PATH: install Graphviz (Debian/Ubuntu: apt-get install graphviz")
    assert not (tmp_path / "lenet.png").exists()


def test_a_picture_through_a_symlink_is_written_to_its_target(tmp_path):
    """As fmt does: the link stays a link (pictures kept once, linked from docs), and its target
    gets the picture."""
    target = tmp_path / "pictures" / "lenet.dot"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "link.dot"
    link.symlink_to(target)
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(link)) == (0, "", "")
    assert link.is_symlink() and target.read_text() == (IMAGES / "lenet5.dot").read_text()
    assert sorted(p.name for p in target.parent.iterdir()) == ["lenet.dot"]
    (tmp_path / "a.dot").symlink_to(tmp_path / "b.dot")
    (tmp_path / "b.dot").symlink_to(tmp_path / "a.dot")
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(tmp_path / "a.dot")) == (
        1, "", f"error[E402]: {tmp_path / 'a.dot'}: cannot write: Too many levels of symbolic "
        "links\n\n")


def test_the_title_says_which_named_sizes_its_numbers_are_at(tmp_path):
    out = tmp_path / "unet.dot"
    assert cli("graph", str(ZOO / "unet.net"), "--network", "unet", "-o", str(out)) == (0, "", "")
    assert 'label="unet: 31.03M params, 150.58G MACs at H = 572, W = 572"' in out.read_text()


def test_a_picture_is_written_to_regular_files_only(tmp_path):
    """As compile: a FIFO (or a device) named by -o stays as it was; it was replaced."""
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(fifo)) == (1, "", f"""\
error[E402]: {fifo} is not a regular file (a FIFO); netdsl writes only regular files
  = hint: give the path of a new or ordinary file

""")
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    code, _, err = cli("graph", str(ZOO / "lenet.net"), "-o", str(tmp_path / "no" / "x.dot"))
    assert (code, err) == (1, f"error[E402]: {tmp_path / 'no' / 'x.dot'}: the directory "
                              f"{tmp_path / 'no'} does not exist\n\n")


def test_an_unknown_format_is_a_usage_error(tmp_path):
    code, _, err = cli("graph", str(ZOO / "lenet.net"), "-o", str(tmp_path / "x.jpg"))
    assert code == 2 and "-o " in err and ".svg, .png, .pdf, .dot, .html" in err


@NEEDS_DOT
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                           (".pdf", b"%PDF")])
def test_dot_draws_the_formats(tmp_path, suffix, magic):
    out = tmp_path / f"lenet{suffix}"
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(out)) == (0, "", "")
    assert out.read_bytes().startswith(magic)


@NEEDS_DOT
@pytest.mark.slow
@pytest.mark.parametrize("name", PICTURES)
def test_the_readme_pictures_redraw_the_same(tmp_path, name):
    """`dot` is deterministic: the picture drawn again has the committed one's size (the bytes,
    too, with the Graphviz that drew them)."""
    args = arguments(name, ".png")
    args[args.index("-o") + 1] = str(tmp_path / "again.png")
    assert cli(*args) == (0, "", "")

    def size(data: bytes) -> tuple[int, int]:
        return struct.unpack(">II", data[16:24])

    assert size((tmp_path / "again.png").read_bytes()) == size(
        (IMAGES / f"{name}.png").read_bytes())


@NEEDS_DOT
@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless browser: apt-get install chromium")
def test_the_html_page_in_a_headless_browser(tmp_path):
    """The page is self-contained (no URL but the SVG namespaces), its script runs in a real
    browser and finds a hover target per box, each with params, MACs and receptive field."""
    page = tmp_path / "resnet.html"
    args = ("graph", str(ZOO / "resnet.net"), "--network", "resnet18", "--depth", "2", "-o")
    assert cli(*args, str(page)) == (0, "", "")
    text = page.read_text()
    assert not re.search(r'(src|href)="(?!#)', text.replace('xlink:href="#', ""))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    boxes = 1 + 4 + 8 + 3 + 1  # input, stem, 8 units, pool/flatten/fc, output
    assert f'data-layers="{boxes}"' in dom
    (title,) = re.findall(r'<a xlink:title="(layer3\.1\n[^"]*)"', dom)
    # two 3x3 convs 256 -> 256 and two batch norms: 2 * 256 * 256 * 9 + 2 * 2 * 256
    assert title.startswith("layer3.1\n7 layers\noutput [N, 256, 14, 14]\nparams 1,180,672\n")
    assert re.search(r"\nMACs [\d,]+\nreceptive field \d+, jump 16$", title)


def test_a_picture_onto_a_directory_suggests_a_picture_file(tmp_path):
    folder = tmp_path / "out.svg"
    folder.mkdir()
    assert cli("graph", str(ZOO / "lenet.net"), "-o", str(folder)) == (1, "", f"""\
error[E402]: {folder} is a directory; give a file name such as {folder / 'network.svg'}

""")
