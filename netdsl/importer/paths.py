"""Node metadata → node names (netdsl import, for reader.py's walk): the name torch's legacy
exporter gives a node (`/layer1/layer1.0/relu_1/Relu`), made from the module path and the call
that torch's default exporter records in the node's metadata_props, counting each module's
calls in node order. render.py reads the names as it reads the legacy exporter's."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from typing import Any


class ModulePaths:
    """The module paths of the nodes, read in order: which module ran last, and how often each
    has been called."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()  # by torch module path: how often called
        self.last_path = ""
        self.last_fx, self.last_out = ("", "", ""), set[str]()  # the last node's torch call

    def name(self, n: Any, src: Callable[[str], str]) -> str:
        """The node's name as torch's legacy exporter writes it (`/layer1/layer1.0/relu_1/Relu`)
        from the module path its default exporter records in the metadata ("" where none):
        a module called again, after others, gets `_1`, `_2` as the legacy names do. src: a
        tensor's name through the aliases (Identity, Dropout) resolved."""
        props = {p.key: p.value for p in n.metadata_props}
        scopes = _scopes(props)
        if scopes is None:
            return ""
        key = "/".join(scopes)
        fx = _fx_call(props)
        # NOTE: torch.nn's own module (ReLU) called on its own output (`act(act(x))`): a new
        # call of one function again (its metadata is the first call's but for the fx node)
        again = bool(key and fx[0] and fx[0] != self.last_fx[0] and fx[1] == self.last_fx[1]
                     and fx[2].startswith("torch.nn.modules.")
                     and any(src(i) in self.last_out for i in n.input))
        self.last_out = (self.last_out if fx[0] == self.last_fx[0] else set()) | set(n.output)
        self.last_fx = fx
        if key != self.last_path or again:
            self.last_path = key
            self.calls[key] += 1 if key else 0
        if self.calls[key] > 1:
            scopes[-1] += f"_{self.calls[key] - 1}"
        return "".join(f"/{s}" for s in scopes) + f"/{n.op_type}"


def _scopes(props: dict[str, str]) -> list[str] | None:
    """The module path that torch's default exporter records, without the root module and the
    function: name_scopes `['', 'layer1', 'layer1.0', 'layer1.0.relu', 'relu_1']` or namespace
    `: ResNet/layer1: Sequential/.../relu_1: aten.relu.default`; None where neither is."""
    try:
        scopes = [str(s) for s in ast.literal_eval(props["pkg.torch.onnx.name_scopes"])]
    except (KeyError, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        if "namespace" not in props:
            return None
        scopes = [part.split(": ")[0] for part in props["namespace"].split("/")]
    return [s for s in scopes[1:-1] if s]


def _fx_call(props: dict[str, str]) -> tuple[str, str, str]:
    """The torch call that torch's default exporter made a node of: its fx node's name
    (`sigmoid_1`), function (`torch.ops.aten.sigmoid.default`) and module's class
    (`torch.nn.modules.activation.Sigmoid`); "" where not recorded."""
    node = props.get("pkg.torch.onnx.fx_node", "")
    name = node.split(" ", 1)[0].lstrip("%") if node.startswith("%") else ""
    target = node.split("target=", 1)[1].split("]", 1)[0] if "target=" in node else ""
    try:
        classes = [str(c) for c in ast.literal_eval(props["pkg.torch.onnx.class_hierarchy"])]
    except (KeyError, ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        classes = []
    return name, target, classes[-2] if len(classes) > 1 else ""
