"""Bad files, through the Python API and the CLI: a clear diagnostic (or it works), never a
traceback or a hang."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

import netdsl
from conftest import cli
from netdsl import NetdslError

LENET_TEXT = (pathlib.Path(__file__).resolve().parent.parent / "zoo" / "lenet.net").read_text()


def api_error(path) -> tuple[str, str]:
    with pytest.raises(NetdslError) as e:
        netdsl.load(path)
    d = e.value.diagnostics[0]
    return d.code, d.message


def test_missing_file(tmp_path):
    p = tmp_path / "nope.net"
    assert api_error(p) == ("E001", f"{p}: no such file")
    code, out, err = cli("check", str(p))
    assert (code, out) == (2, "")
    assert f"error[E001]: {p}: no such file" in err and "Traceback" not in err


def test_directory(tmp_path):
    assert api_error(tmp_path) == ("E001", f"{tmp_path}: is a directory, not a .net file")
    code, _, err = cli("check", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_unreadable_file(tmp_path, monkeypatch):
    # NOTE: the tests run as root, for whom chmod 000 still reads: refuse the read itself.
    p = tmp_path / "secret.net"
    p.write_text(LENET_TEXT)
    real = os.open

    def refuse(path, *args, **kwargs):
        if pathlib.Path(path) == p:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)  # read_text opens with os.open (no FIFO waits)
    assert api_error(p) == ("E001", f"{p}: permission denied")
    code, _, err = cli("check", str(p))
    assert code == 2 and f"error[E001]: {p}: permission denied" in err


def test_path_through_a_file_is_unreadable(tmp_path):
    f = tmp_path / "plain.txt"
    f.write_text("x")
    assert api_error(f / "model.net")[0] == "E001"
    code, _, err = cli("check", str(f / "model.net"))
    assert code == 2 and "E001" in err and "Traceback" not in err


def test_binary_content(tmp_path):
    p = tmp_path / "weights.net"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert api_error(p) == ("E001", f"{p}: binary content, not a .net text file")
    assert cli("check", str(p))[0] == 2


def test_latin1_text_is_not_utf8(tmp_path):
    p = tmp_path / "latin.net"
    p.write_bytes("# caf\xe9\n".encode("latin-1"))
    assert api_error(p) == ("E001", f"{p}: not UTF-8 text (byte 5)")


def test_empty_file(net_file):
    p = net_file("")
    assert api_error(p) == ("E213", f"{p} defines no network")
    code, _, err = cli("check", str(p))
    assert code == 1 and "E213" in err


def test_utf8_bom_is_ignored_and_positions_hold(net_file):
    p = net_file("")
    p.write_bytes("\ufeff".encode() + LENET_TEXT.encode())
    assert netdsl.load(p).stats.params == 61_706
    p.write_bytes("\ufeffnetwork n {\n  input x: [N, 3, 8, 8]\n  x -> cnov -> output y\n}\n"
                  .encode())
    with pytest.raises(NetdslError) as e:
        netdsl.load(p)
    assert e.value.diagnostics[0].location() == (str(p), 3, 8)


def test_crlf_line_endings_keep_positions(net_file):
    p = net_file("")
    p.write_bytes(b"network n {\r\n  input x: [N, 3, 8, 8]\r\n  x -> conv(4, 3, strid: 2)"
                  b" -> output y\r\n}\r\n")
    code, _, err = cli("check", str(p))
    assert code == 1
    assert f"{p}:3:19: error[E203]" in err
    assert "3 |   x -> conv(4, 3, strid: 2) -> output y\n  |                   ^^^^^" in err
    p.write_bytes(LENET_TEXT.replace("\n", "\r\n").encode())
    assert cli("check", str(p))[0] == 0


def test_deep_parentheses_work(net_file):
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n  k = " + "(" * 5000 + "2" + ")" * 5000
                 + "\n  x -> conv(k, 1) -> output y\n}\n")
    assert netdsl.load(p).stats.params == 2 * 3 + 2


@pytest.mark.parametrize("line", [
    "k = 1" + " + 1" * 2999 + "\n  expect k == 3000",
    "k = 2" + " * 3 // 3 - 1 + 1" * 3000 + "\n  expect k == 2",
    "k = false" + " or false" * 3000 + " or 1 > 0 and true" + " and true" * 3000 + "\n  expect k",
    "expect params == 0" + " + 0" * 3000,
    "expect params + x.channels" + " + 1" * 3000 + " == 3003",
    "expect macs == 0" + " and params == 0" * 3000 + " or true",
    "z = x" + " + x" * 300 + " -> output z",
], ids=["sum", "mixed", "and-or", "expect", "expect-measure", "expect-and", "tensors"])
def test_a_long_flat_chain_of_operators_works(net_file, line):
    """`1 + 1 + ... + 1` nests to the left in the syntax tree, yet nothing nests: it was E102
    from 149 operators on."""
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n  " + line + "\n  x -> output y\n}\n")
    assert cli("check", str(p))[0] == 0


@pytest.mark.parametrize("where", ["H >= 1" + " + 1" * 3000, "H > 1" + " and H > 1" * 3000])
def test_a_long_flat_chain_in_a_where_condition_works(net_file, where):
    p = net_file(f"network n {{\n  input x: [N, 3, H, W] where {where}\n  x -> output y\n"
                 "  expect y: [N, 3, 3001, 8] at H = 3001, W = 8\n}\n")
    assert netdsl.load(p).graph.sizes == {"H": 3001, "W": 8}


@pytest.mark.parametrize("nest", [
    lambda n: "k = " + "[" * n + "1" + "]" * n,
    lambda n: "k = " + "-" * n + "1",
    lambda n: "k = " + "1 + (" * n + "1" + ")" * n,
    lambda n: "if true {\n" * n + "k = 1\n" + "}\n" * n,
    lambda n: "expect params == " + "-" * n + "params",
], ids=["lists", "unary", "sum", "blocks", "expect"])
def test_very_deep_nesting_is_a_located_error(net_file, nest):
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n" + nest(3000) + "\n  x -> output y\n}\n")
    code, _, err = cli("check", str(p))
    assert code == 1 and "error[E102]: the program nests more than 150 levels deep" in err
    assert "Traceback" not in err and f"{p}:" in err


def test_deep_block_call_chain_is_a_located_error(net_file):
    blocks = "".join(f"block b{i}(x) {{ return x -> b{i + 1} }}\n" for i in range(400))
    p = net_file(blocks + "block b400(x) { return x }\nnetwork n {\n  input x: [N, 3, 8, 8]\n"
                 "  x -> b0 -> output y\n}\n")
    code, _, err = cli("check", str(p))
    assert code == 1 and "E102" in err and "Traceback" not in err


def test_enormous_repeat_count(net_file):
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n  x -> relu * 10000000 -> output y\n}\n")
    code, _, err = cli("check", str(p))
    assert code == 1 and "error[E215]: repeating 10000000 times exceeds the limit of 10000" in err


def test_enormous_range(net_file):
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n  for i in range(10 ** 30) {\n"
                 "    x = x -> relu\n  }\n  x -> output y\n}\n")
    code, _, err = cli("check", str(p))
    # NOTE: 10 ** 30 is past netdsl's integers (limits.MAX_INT) before it reaches `range`
    assert code == 1 and "3:18: error[E215]: the number is too large" in err


@pytest.mark.slow
def test_repeats_within_limits_that_multiply_up_hit_the_layer_limit(net_file):
    p = net_file("network n {\n  input x: [N, 3, 8, 8]\n  for i in range(100) {\n"
                 "    x = x -> relu * 10000\n  }\n  x -> output y\n}\n")
    code, _, err = cli("check", str(p))
    assert code == 1 and "error[E215]: the network exceeds 100000 layers" in err


def test_several_files_one_bad(tmp_path, net_file):
    good = net_file(LENET_TEXT, "good.net")
    code, out, err = cli("check", str(tmp_path / "missing.net"), str(good))
    assert code == 2 and "lenet5: ok" in out and "E001" in err


def test_an_atomic_write_replaces_a_longer_file_whole(tmp_path):
    """files.write_bytes opens its new temporary file without truncating it (open_temp: ext4
    writes a truncated file back as it closes); what lands is exactly what was written, over a
    longer file of the same name and beside a leftover temporary file."""
    from netdsl import files
    target = tmp_path / "m.onnx"
    target.write_bytes(b"x" * 10_000)
    (tmp_path / ".m.onnx.leftover.tmp").write_bytes(b"y" * 10_000)
    files.write_bytes(target, lambda f: f.write(b"0123456789"))
    assert target.read_bytes() == b"0123456789"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.onnx.leftover.tmp", "m.onnx"]


def test_a_large_output_goes_to_the_disk_as_it_is_written(tmp_path, monkeypatch):
    """An output file's data is handed to the disk every files.WRITE_BEHIND bytes while it is
    written (sync_file_range on Linux), range after range with nothing skipped, holes included;
    a small file never starts it, and the bytes that land are exactly those written."""
    from netdsl import files
    started: list[tuple[int, int]] = []
    monkeypatch.setattr(files, "write_behind", lambda fd, off, n: started.append((off, n)))
    mib = 1 << 20
    block = bytes(range(256)) * (mib // 256)

    def write(f):
        for _ in range(20):
            f.write(block)
        f.write(b"head")
        f.seek(14 * mib, os.SEEK_CUR)  # a hole, as stream.py leaves for a large zero tensor
        f.write(b"tail")

    target = tmp_path / "big.onnx"
    files.write_bytes(target, write)
    step = files.WRITE_BEHIND
    assert step == 16 * mib
    assert started == [(0, step), (step, 34 * mib + 8 - step)]
    data = target.read_bytes()
    assert len(data) == 34 * mib + 8 and data[:20 * mib] == block * 20
    assert data[20 * mib:20 * mib + 4] == b"head" and data[-4:] == b"tail"
    assert data[20 * mib + 4:-4] == bytes(14 * mib)
    started.clear()
    files.write_bytes(tmp_path / "small.txt", lambda f: f.write(b"x" * 1000))
    assert started == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sync_file_range is Linux's")
def test_write_behind_calls_the_system(tmp_path):
    """The ctypes binding of sync_file_range is right: the call succeeds on a real file."""
    from netdsl import files
    p = tmp_path / "f"
    p.write_bytes(b"z" * 100_000)
    with open(p, "r+b") as f:
        assert files._sync_file_range()(f.fileno(), 0, 100_000, 2) == 0
        files.write_behind(f.fileno(), 0, 100_000)
    assert p.read_bytes() == b"z" * 100_000
