"""Language defects found by using netdsl as a user would (the s13 sweep): each pinned at the
user's level, the rendered message or the printed verdict."""

from __future__ import annotations

from conftest import cli, rendered


def net(body: str, inp: str = "[N, 3, 8, 8]") -> str:
    """A network `n` whose body starts on line 3 (line 2 declares x)."""
    lines = "\n".join("  " + line for line in body.splitlines())
    return f"network n {{\n  input x: {inp}\n{lines}\n}}\n"


def check(net_file, text: str, *args: str) -> str:
    code, out, err = cli("check", str(net_file(text)), *args)
    return f"{code}\n{out}{err}"


# ------------------------------------------------------------------------- valid sets of sizes

def test_a_chained_equality_in_where_solves_both_sizes(net_file):
    text = net("x -> conv(8, 3) -> output y\nexpect y: [N, 8, 6, 6] at H = 8, W = 8",
               "[N, 3, H, W] where H == W == 8")
    assert check(net_file, text).endswith("""\
n: ok (224 params, 7.78K MACs at H = 8, W = 8)
  H = W = 8
  y: [N, 8, H - 2, W - 2]
""")
