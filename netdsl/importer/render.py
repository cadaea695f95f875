"""Layers → .net text (netdsl import's second stage): unique labels from parameter prefixes
and torch's module paths, repeated runs of layers as blocks, then the network of pipes."""

from __future__ import annotations

import keyword
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from netdsl.diagnostics import printable
from netdsl.importer.calls import Layer
from netdsl.importer.reader import _Reader

_KEYWORDS = {"network", "use", "input", "output", "expect", "option", "if", "elif", "else", "for",
             "in", "return", "true", "false", "and", "or", "not", "block", "param"}


def _part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


def _from_hint(hint: str, op: str) -> str:
    """A layer name from a parameter prefix or a node name: torch's `/a/a.0/conv1/Conv` gives
    its module path `a.0.conv1`; netdsl's own node names are layer names already."""
    if "/" in hint:  # each scope is a full path (`layer1.0`) or a child's own name (`relu`)
        path = ""
        for part in [p for p in hint.split("/") if p][:-1]:
            path = _merge(path, part)
        hint = path
    if not hint:
        return op
    return ".".join(_part(p) for p in hint.split("."))


def _merge(path: str, part: str) -> str:
    """A torch scope `part` below `path`: its leading components may repeat path's last ones
    (`features.1.conv` then `conv.0` is `features.1.conv.0`; `layer1` then `layer1.0`)."""
    have, new = path.split(".") if path else [], part.split(".")
    for k in range(min(len(have), len(new)), 0, -1):
        if have[len(have) - k:] == new[:k]:
            return ".".join(have[:len(have) - k] + new)
    return ".".join(have + new)


def _label(layers: list[Layer]) -> None:
    """Unique labels; a name that is also a group of other layers (torch's `layer1.0`, whose
    Add has no module of its own) gets its op name appended: `layer1.0.add`."""
    for ly in layers:
        ly.label = _from_hint(ly.hint, ly.op)
    counts = Counter(ly.label for ly in layers)
    groups = {".".join(ly.label.split(".")[:i]) for ly in layers
              for i in range(1, ly.label.count(".") + 1)}
    owners = {ly.label for ly in layers if ly.params}  # NOTE: their labels name weights
    for ly in layers:
        if not ly.params and (counts[ly.label] > 1 or ly.label in groups) and ly.label != ly.op:
            # a layer's name is no group's: torchvision's LayerNorm2d `features.0.1` (its
            # weights) permutes before and after: `features.0.1_permute`
            ly.label = f"{ly.label}{'_' if ly.label in owners else '.'}{ly.op}"
    for ly in layers:  # NOTE: a param is a variable: `param features_1_0_layer_scale: [...]`
        if ly.op == "param":
            ly.label = _identifier(ly.label, "p")
    seen: Counter[str] = Counter()
    taken = {ly.label for ly in layers}
    for ly in layers:
        base = ly.label
        if seen[base]:
            while f"{base}_{seen[base]}" in taken:
                seen[base] += 1
            ly.label = f"{base}_{seen[base]}"
            taken.add(ly.label)
        seen[base] += 1


def _identifier(text: str, prefix: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", text)  # NOTE: .net names are ASCII; Python's \w is not
    if not s or s[0].isdigit() or s in _KEYWORDS or keyword.iskeyword(s):
        s = f"{prefix}_{s}"
    return s


Ports = tuple[dict[str, str], dict[str, str]]  # the inputs' and the outputs' .net names


def _ports(r: _Reader, layers: list[Layer]) -> Ports:
    """The .net names of the inputs and of the outputs, by ONNX name: identifiers (`x_`, `y_`
    before a keyword or a leading digit), distinct from one another and from the layers'
    labels (an output may have its own layer's), `_2` appended where not; names that are
    identifiers already are kept first (`y_1` stays, `y.1` becomes `y_1_2`)."""
    own = {ly.output: ly.label for ly in layers}
    labels = set(own.values())
    wanted = [(0, n, _identifier(n, "x"), "") for n, _ in r.inputs] + [
        (1, o, _identifier(o, "y"), own.get(r.src(o), "")) for o in r.outputs]
    ports: Ports = ({}, {})
    taken: set[str] = set()
    for side, onnx_name, name, mine in sorted(wanted, key=lambda w: w[1] != w[2]):
        k, base = 1, name
        while name in taken or (name in labels and name != mine):
            k += 1
            name = f"{base}_{k}"
        taken.add(name)
        ports[side][onnx_name] = name
    return ({n: ports[0][n] for n, _ in r.inputs}, {o: ports[1][o] for o in r.outputs})


def _render(name: str, r: _Reader, layers: list[Layer], source: str, ports: Ports) -> str:
    """The program: repeated sub-graphs as blocks, then the network of pipes."""
    outputs = [r.src(o) for o in r.outputs]  # the tensors, where an output is an Identity
    blocks, layers = _blocks(layers, outputs)
    lines = [f"# imported by `netdsl import` from {printable(source)}"] + blocks + [
        f"network {name} {{", "  option floor: true"]
    var: dict[str, str] = {}
    for i_name, shape in r.inputs:
        var[i_name] = ports[0][i_name]
        dims = [_dim(var[i_name], j, d) for j, d in enumerate(shape)]
        lines.append(f"  input {var[i_name]}: [{', '.join(dims)}]")
    for ly in layers:  # NOTE: a param's label is an identifier (_label), its own variable
        if ly.op == "param":
            var[ly.output] = ly.label
            lines.append(f"  param {ly.label}: {ly.call}")
    lines += _chains([ly for ly in layers if ly.op != "param"], var, outputs)
    for o, t in zip(r.outputs, outputs):
        lines.append(f"  {var[t]} -> output {ports[1][o]}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dim(var: str, j: int, d: int | str) -> str:
    """Input `var`'s dim j as the .net writes it: N (the batch), a size, or a size's name (one
    of its own, `x_2`, where the ONNX file names none: two unnamed sizes are not one), an
    identifier other than N (`h-1` is `h_1`, `in` and `N` are `s_in` and `s_N`)."""
    if j == 0:
        return "N"
    if isinstance(d, int):
        return str(d) if d > 0 else f"{var}_{j}"
    name = _identifier(d, "s") if d else f"{var}_{j}"
    return "s_N" if name == "N" else name


def _named_sizes(r: _Reader, ports: Ports) -> tuple[str, ...]:
    """The names of the inputs' sizes that vary (torch's dynamic axes), but for the batch."""
    dims = [_dim(ports[0][name], j, d) for name, shape in r.inputs
            for j, d in enumerate(shape) if j]
    return tuple(dict.fromkeys(d for d in dims if not d.isdigit()))


def _chains(layers: list[Layer], var: dict[str, str], outputs: Sequence[str]) -> list[str]:
    """Pipes along single-consumer chains, a variable wherever a tensor is used twice, as a
    later operand, or as an output; `var` (tensor -> variable) is filled in."""
    uses: Counter[str] = Counter()
    later: set[str] = set()
    for ly in layers:
        uses.update(ly.inputs)
        later.update(ly.inputs[1:])
    lines: list[str] = []
    needs_var = {t for t, c in uses.items() if c != 1} | later | set(outputs)
    chain: list[str] = []
    start, last, last_label = "", "", ""

    def close(more: Sequence[str] = ()) -> None:
        if chain:
            for k, t in enumerate((last, *more)):  # NOTE: `p, idx = x -> maxpool(...)`
                tail = ("_indices" if len(more) == 1 else f"_{k}") if k else ""
                v = base = _identifier("v_" + last_label + tail, "v")
                while v in var.values():
                    v = f"{base}_{len(var)}"
                var[t] = v
            names = ", ".join(var[t] for t in (last, *more))
            lines.append(f"  {names} = {start} -> " + "\n      -> ".join(chain))
            chain.clear()

    for ly in layers:
        first = ly.inputs[0]
        if not (chain and first == last and first not in needs_var):
            close()
            start = var[first]
        others = [var[t] for t in ly.inputs[1:]]
        chain.append(f'"{ly.label}": ' + ly.call.format(*others))
        last, last_label = ly.output, ly.label
        if ly.more:
            close(ly.more)
    close()
    return lines


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


def _blocks(layers: list[Layer], outputs: Sequence[str]) -> tuple[list[str], list[Layer]]:
    """Runs of layers under one module path (`layer1.0.*`: a label's first two parts) with one
    input and one output, alike but for numbers, used twice or more: each a `block` whose
    differing numbers are its parameters, called as `"layer1.0": unit0(64, 2)`."""
    runs: list[list[Layer]] = []
    for ly in layers:
        key = ".".join(ly.label.split(".")[:2]) if ly.label.count(".") >= 2 else ""
        if runs and key and ".".join(runs[-1][0].label.split(".")[:2]) == key:
            runs[-1].append(ly)
        else:
            runs.append([ly])
    users: Counter[str] = Counter(t for ly in layers for t in ly.inputs)
    users.update(outputs)
    kinds: dict[tuple[Any, ...], list[tuple[list[Layer], list[str]]]] = {}
    for run in runs:
        sig = _signature(run, users)
        if sig is not None:
            kinds.setdefault(sig[0], []).append((run, sig[1]))
    text: list[str] = []
    replace: dict[int, Layer] = {}
    for k, uses in enumerate(u for u in kinds.values() if len(u) >= 2):
        name = f"unit{k}"
        numbers = list(zip(*(nums for _, nums in uses)))
        varying = [i for i, col in enumerate(numbers) if len(set(col)) > 1]
        first = uses[0][0]
        prefix = ".".join(first[0].label.split(".")[:2]) + "."
        body, j = [], 0
        for ly in first:
            call = _NUMBER.sub(lambda m: "{N}", ly.call)
            parts = call.split("{N}")
            filled = parts[0]
            for piece in parts[1:]:
                filled += (f"p{varying.index(j)}" if j in varying else uses[0][1][j]) + piece
                j += 1
            body.append(Layer(ly.op, filled, ly.inputs, ly.output, "", label=ly.label[
                len(prefix):]))
        ext = next(t for t in first[0].inputs if t not in {ly.output for ly in first})
        var = {ext: "x"}
        lines = _chains(body, var, [first[-1].output])
        params = ", ".join(["x", *(f"p{i}" for i in range(len(varying)))])
        text += [f"block {name}({params}) {{", *lines, f"  return {var[first[-1].output]}",
                 "}", ""]
        for run, nums in uses:
            args = ", ".join(nums[i] for i in varying)
            ext = next(t for t in run[0].inputs if t not in {ly.output for ly in run})
            replace[id(run[0])] = Layer("block", f"{name}({args})", [ext], run[-1].output, "",
                                        label=".".join(run[0].label.split(".")[:2]))
            for ly in run[1:]:
                replace[id(ly)] = replace[id(run[0])]
    out: list[Layer] = []
    for ly in layers:
        new = replace.get(id(ly), ly)
        if not out or out[-1] is not new:
            out.append(new)
    return text, out


def _signature(run: list[Layer], users: Counter[str]) -> tuple[tuple[Any, ...], list[str]] | None:
    """What makes two runs the same block (labels below the module path, calls without their
    numbers, wiring), and the run's numbers; None unless it has one input and one output."""
    if len(run) < 2 or any(ly.op == "param" or ly.more for ly in run):
        return None
    inside = {ly.output: i for i, ly in enumerate(run)}
    external = {t for ly in run for t in ly.inputs if t not in inside}
    used_inside = Counter(t for ly in run for t in ly.inputs if t in inside)
    if len(external) != 1 or any(users[ly.output] != used_inside[ly.output]
                                 for ly in run[:-1]):
        return None
    prefix = len(".".join(run[0].label.split(".")[:2])) + 1
    sig = tuple((ly.label[prefix:], _NUMBER.sub("#", ly.call),
                 tuple(inside.get(t, -1) for t in ly.inputs)) for ly in run)
    return sig, [m.group() for ly in run for m in _NUMBER.finditer(ly.call)]
