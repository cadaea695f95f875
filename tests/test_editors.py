"""editors/: the TextMate grammar, tokenised by the reference engine (vscode-textmate with
vscode-oniguruma, run by editors/tokenize.js under node), against netdsl's own lexer (Lark's,
over grammars/netdsl.lark): every keyword, operator, label, number, string and comment of every
zoo file gets its scope. Skips with a reason without node or the npm packages
(`npm install --prefix editors`); the VS Code extension's manifest is checked always."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from netdsl.ops import REGISTRY

ROOT = Path(__file__).parent.parent
EDITORS = ROOT / "editors"
GRAMMAR = EDITORS / "netdsl.tmLanguage.json"
# the zoo, and a file with what the zoo lacks: quoted labels with {interpolation}, K/M/G numbers
ZOO = sorted((ROOT / "zoo").glob("*.net")) + [ROOT / "tests" / "data" / "highlight.net"]
KEYWORDS = {"network", "block", "input", "output", "param", "use", "option", "expect", "if",
            "elif", "else", "for", "in", "return", "and", "or", "not"}
Tokens = dict[str, list[list[tuple[int, int, list[str]]]]]  # file -> lines -> (start, end, scopes)
OPERATORS = {"->", ":", "*", "+", "-", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=",
             "="}


def test_the_grammar_names_every_operator_of_the_registry() -> None:
    grammar = json.loads(GRAMMAR.read_text(encoding="utf-8"))
    (rule,) = [p for p in grammar["repository"]["expression"]["patterns"]
               if p.get("name") == "support.function.netdsl"]
    listed = re.fullmatch(r"\\b\((.*)\)\\b.*", rule["match"])
    assert listed is not None
    assert sorted(listed.group(1).split("|")) == sorted(REGISTRY), (
        "regenerate the support.function list of editors/netdsl.tmLanguage.json")


def test_the_vscode_extension_contributes_the_language_grammar_and_client() -> None:
    manifest = json.loads((EDITORS / "vscode" / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "netdsl" and language["extensions"] == [".net"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["scopeName"] == "source.netdsl"
    assert (EDITORS / "vscode" / grammar["path"]).resolve() == GRAMMAR.resolve()
    assert "vscode-languageclient" in manifest["dependencies"]
    client = (EDITORS / "vscode" / manifest["main"]).read_text(encoding="utf-8")
    assert '"lsp"' in client and "LanguageClient" in client


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the reference TextMate engine runs on node")
    if not (EDITORS / "node_modules" / "vscode-textmate").is_dir():
        pytest.skip("vscode-textmate is not installed: npm install --prefix editors")
    done = subprocess.run([node, str(EDITORS / "tokenize.js"), str(GRAMMAR), *map(str, ZOO)],
                          capture_output=True, text=True, timeout=120, check=True)
    return {Path(k).name: v for k, v in json.loads(done.stdout).items()}


def _expected(text: str) -> list[tuple[int, int, str, str]]:
    """(line, column, text, scope prefix) from netdsl's own lexer and comment rule."""
    from lark import Lark

    from netdsl.parse import load_grammar
    lexer = Lark(load_grammar(), parser="lalr", lexer="basic", propagate_positions=True)
    out: list[tuple[int, int, str, str]] = []
    toks = list(lexer.lex(text))
    for i, tok in enumerate(toks):
        value = str(tok)
        previous = str(toks[i - 1]) if i else ""
        following = str(toks[i + 1]) if i + 1 < len(toks) else ""
        if tok.type == "NAME" and previous == "->" and following == ":":
            scope = "entity.name.tag.label"
        elif tok.type == "NUMBER":
            scope = "constant.numeric"
        elif tok.type == "STRING":
            scope = "entity.name.tag.label" if previous == "->" else "string.quoted"
        elif value in KEYWORDS or tok.type in ("BLOCK", "PARAM"):
            scope = "keyword"
        elif value in ("true", "false"):
            scope = "constant.language"
        elif value in OPERATORS:
            scope = "keyword.operator"
        elif tok.type == "NAME" and value in REGISTRY and (
                previous == "->" or following == "(" or (previous == ":" and i > 2
                and str(toks[i - 3]) == "->")):  # `-> relu`, `relu(x)`, `-> c1: conv`
            scope = "support.function"
        else:
            scope = ""
        if scope:
            quoted = tok.type == "STRING" and scope.startswith("entity")  # inside the quotes
            out.append((tok.line - 1, tok.column - 1 + quoted, value, scope))
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*', text):  # the grammar's STRING, COMMENT
        if m.group().startswith("#"):
            line = text.count("\n", 0, m.start())
            out.append((line, m.start() - text.rfind("\n", 0, m.start()) - 1, m.group(),
                        "comment.line"))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.name)
def test_the_zoo_gets_its_scopes(path: Path, tokens: Tokens) -> None:
    lines = tokens[path.name]
    wrong = []
    seen: set[str] = set()
    for line, col, value, scope in _expected(path.read_text(encoding="utf-8")):
        scopes = next(s for start, end, s in lines[line] if start <= col < end)
        if not any(s.startswith(scope) for s in scopes):
            wrong.append(f"{path.name}:{line + 1}:{col + 1}: {value!r} wants {scope}, "
                         f"has {scopes}")
        seen.add(scope)
    assert not wrong, "\n".join(wrong[:20])
    assert {"keyword", "keyword.operator", "constant.numeric", "comment.line"} <= seen
