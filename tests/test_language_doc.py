"""docs/language.md: every ```net example names its layers (inputs aside) as the ```names block
after it says, in order."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, check_text, cli

DOC = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```net\n(.*?)```\n```names\n(.*?)```", DOC, re.S)


def test_the_doc_has_examples():
    assert len(EXAMPLES) >= 7
    assert DOC.count("```net") == len(EXAMPLES)  # none without its names


@pytest.mark.parametrize("code,names", EXAMPLES, ids=[f"example{i + 1}" for i in
                                                      range(len(EXAMPLES))])
def test_example_names_its_layers_as_shown(code, names):
    graph = check_text(code).graph
    assert [n.name for n in graph.nodes() if n.op.name != "input"] == names.split()


def test_readme_links_the_naming_rules():
    assert "docs/language.md#layer-names" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_summary_explains_a_name_that_moved_on(net_file):
    src = net_file("network t {\n  input image: [N, 3, 8, 8]\n  x = image -> conv(3, 1)\n"
                   "  x = x -> relu\n  x -> output y\n}\n")
    code, out, _ = cli("summary", str(src))
    assert code == 0
    assert out.rstrip().splitlines()[-2:] == [
        "names moved on: x_1 (x was taken). A reassigned variable continues its numbering only "
        "if it is a", "sequence; label a layer to choose its name (docs/language.md#layer-names)"]


def test_summary_has_no_note_when_no_name_moved(net_file):
    src = net_file("network t {\n  input image: [N, 3, 8, 8]\n"
                   "  x = image -> conv(3, 1) -> relu\n  x = x -> relu\n  x -> output y\n}\n")
    _, out, _ = cli("summary", str(src))
    assert "moved" not in out and out.rstrip().splitlines()[-1].startswith("params")
