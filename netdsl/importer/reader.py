"""ONNX nodes → Layers (netdsl import's first stage): _Reader walks a ModelProto's nodes in
order and makes each one Layer, netdsl's call as text with its inputs and weights; constants and
aliases (Identity, Dropout) resolved, zero pads folded into the Conv after them; E407 for a node
netdsl cannot express."""

from __future__ import annotations

import ast
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import numpy as np

from netdsl import export
from netdsl.diagnostics import NetdslError, error
from netdsl.importer import dims, patterns
from netdsl.record import MutableRecord, record

SUPPORTED = ("Add AveragePool BatchNormalization Clip Concat Constant Conv ConvTranspose Dropout "
             "Elu Flatten Gelu Gemm GlobalAveragePool GlobalMaxPool HardSigmoid HardSwish "
             "Identity LRN LayerNormalization LeakyRelu MatMul MaxPool Mul Pad ReduceMean Relu "
             "Reshape Resize Sigmoid Slice Softmax Split Tanh Transpose Upsample").split()
_CONSTANTS = ("value", "value_float", "value_floats", "value_int", "value_ints")  # Constant's
_SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
           "GlobalAveragePool": "globalavgpool", "GlobalMaxPool": "globalmaxpool"}


@record(frozen=False, slots=False)
class Layer(MutableRecord):
    """One stage of the .net program: `"label": call`, on `inputs` (tensor names)."""

    op: str  # netdsl's op name, the label's fallback
    call: str  # the call as written, `conv(64, 3, stride: 2)`
    inputs: list[str]
    output: str
    hint: str  # where the label comes from: a parameter's prefix or the node name
    params: dict[str, np.ndarray] = field(default_factory=dict)  # suffix -> array
    label: str = ""


class _Reader:
    """Walks the nodes in order: constants and aliases (Identity, Dropout) resolved, zero pads
    folded into the window op after them."""

    def __init__(self, model: Any, source: str):
        self.g, self.source = model.graph, source
        self.arrays = export.initializers(model)
        self.alias: dict[str, str] = {}
        self.inputs = [(i.name, export.value_shape(i)) for i in self.g.input
                       if i.name not in self.arrays]
        self.outputs = [o.name for o in self.g.output]
        self.used = {i for m in self.g.node for i in m.input} | set(self.outputs)
        self.pending_pad: dict[str, tuple[str, list[int]]] = {}  # Pad output -> (input, pads)
        self.shapes = export.shapes(model)
        self.opset = next((int(o.version) for o in model.opset_import
                           if o.domain in ("", "ai.onnx")), 0)
        self.users: dict[str, list[Any]] = {}  # tensor -> the nodes that read it
        for m in self.g.node:
            for i in m.input:
                self.users.setdefault(i, []).append(m)
        for m in self.g.node:  # NOTE: read again in layers(); the patterns need them first
            if m.op_type == "Constant":
                self._constant(m, export.attributes(m))
        self.computed: dict[str, np.ndarray] = {}
        self.computed = dims.evaluate(self.g.node, self.shape, self.const)
        known: dict[str, np.ndarray] = {}
        while len(self._known()) > len(known):  # NOTE: sizes known give shapes, and they sizes
            known = self._known()
            self.shapes = export.shapes(model, known)
            self.computed = dims.evaluate(self.g.node, self.shape, self.const)
        self.fused = patterns.find(self.g.node, self.users, self.const, self.outputs)
        # outputs of nodes read into the layer before them, or computing a shape
        self.folded = {t for f in self.fused.values() for t in f.nodes[1:]} | set(self.computed)
        self.params: dict[str, Layer] = {}  # the `param`s that Add and Mul read, by tensor
        self.calls: Counter[str] = Counter()  # by torch module path: how often called
        self.last_path = ""
        self.last_fx, self.last_out = ("", "", ""), set[str]()  # the last node's torch call

    def fail(self, node: Any, why: str) -> NetdslError:
        name = node.name or f"(unnamed, output {node.output[0]})"  # NOTE: names are optional
        return NetdslError([error("E407", f"{self.source}: node `{name}` ({node.op_type}): "
                                  f"{why}")])

    def shape(self, name: str) -> list[int | str] | None:
        """A tensor's dims (an int, or a name: "" where unnamed), where onnx's shape inference
        finds them."""
        return self.shapes.get(name, self.shapes.get(self.src(name)))

    def rank(self, name: str) -> int | None:
        shape = self.shape(name)
        return None if shape is None else len(shape)

    def _spread(self, n: Any, p: list[int]) -> list[int]:
        """A Pad's amounts [begins..., ends...] for every axis: its `axes` input (opset 18)
        spread out over the input's rank."""
        axes = self.const(n.input[3]) if len(n.input) > 3 and n.input[3] else None
        if axes is None:
            return p
        rank = self.rank(n.input[0])
        if rank is None:
            raise self.fail(n, "`axes` given, and the rank of its input is not recorded")
        full, k = [0] * (2 * rank), len(p) // 2
        for i, ax in enumerate(int(v) % rank for v in np.ravel(axes)):
            full[ax], full[rank + ax] = p[i], p[k + i]
        return full

    def const(self, name: str) -> np.ndarray | None:
        """A constant's value: a weight, a Constant's, or sizes computed from known ones."""
        v = self.arrays.get(self.alias.get(name, name))
        if v is None and name in self.computed and not any(
                isinstance(d, str) for d in np.ravel(self.computed[name])):
            v = self.computed[name].astype(np.int64)
        return v

    def _known(self) -> dict[str, np.ndarray]:
        """The computed sizes as constants for onnx's shape inference: those that are numbers,
        and a Reshape's whose batch's size is 0 there (the copy of it)."""
        out = {}
        for t, v in self.computed.items():
            flat = list(np.ravel(v))
            if all(isinstance(d, int) for d in flat):
                out[t] = v.astype(np.int64)
            elif all(isinstance(d, int) for d in flat[1:]) and v.ndim == 1 and all(
                    m.op_type == "Reshape" and m.input[1] == t for m in self.users.get(t, [])):
                out[t] = np.array([0, *flat[1:]], np.int64)
        return out

    def sizes(self, n: Any, name: str, x: str) -> list[int]:
        """A Reshape's or Resize's sizes, where a subgraph computes them from x's shape: its
        batch's name (`x.size(0)`) is 0, the copy of it."""
        if name not in self.computed:
            return [int(v) for v in self.need(n, name)]
        v = list(np.ravel(self.computed[name]))
        batch = (self.shape(x) or [""])[0] or "?"  # NOTE: as dims.py names an unnamed size
        if not v or any(isinstance(d, str) for d in v[1:]) or (
                isinstance(v[0], str) and v[0] != batch):
            raise self.fail(n, f"sizes [{', '.join(map(str, v))}] computed from sizes that vary "
                            "with the input: netdsl's layers are sized at one input size, the "
                            "batch's aside")
        return [0 if isinstance(d, str) else int(d) for d in v]

    def src(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def unread(self) -> dict[str, list[str]]:
        """The operators netdsl import does not read (with its domain where not ONNX's), each
        with the names of its nodes (their outputs where unnamed); those of a fused subgraph
        are read."""
        out: dict[str, list[str]] = {}
        for n in self.g.node:
            if n.output[0] in self.fused or n.output[0] in self.folded:
                continue
            if n.op_type not in SUPPORTED or n.domain not in ("", "ai.onnx"):
                op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
                out.setdefault(op, []).append(n.name or n.output[0])
        return out

    def layers(self) -> list[Layer]:
        for i in self.g.input:
            kind = export.value_type(i)
            if i.name not in self.arrays and kind not in ("float32", ""):
                raise NetdslError([error("E407", f"{self.source}: input `{i.name}` is {kind}: "
                                         "netdsl's inputs are float32", hints=[
                                             "export the model in float32"])])
        out = []
        for n in self.g.node:
            a = export.attributes(n)
            if n.op_type == "Constant":
                self._constant(n, a)
                continue
            extra = [o for o in n.output[1:] if o in self.used and n.op_type != "Split"]
            if extra:  # NOTE: MaxPool's indices, Dropout's mask, BatchNormalization's stats
                raise self.fail(n, f"its output `{extra[0]}` is used: a netdsl layer has one "
                                "output")
            if n.output[0] in self.folded:
                continue
            if n.op_type in ("Identity", "Dropout"):
                self.alias[n.output[0]] = n.input[0]
                continue
            if n.op_type == "Pad" and self._fold_pad(n, a):
                continue
            fused = self.fused.get(n.output[0])
            try:
                if fused is not None:
                    made = [Layer(fused.op, fused.call, [fused.x], fused.out, n.name)]
                elif n.op_type == "ReduceMean":
                    made = self.reduce_mean(n, a)
                elif n.op_type in ("Slice", "Split"):
                    made = self.slices(n, a)
                else:
                    made = [self.layer(n, a)]
            except _NotFinite as e:
                raise self.fail(n, f"the number {e.args[0]} is not finite, and a .net program "
                                "writes finite numbers") from None
            path = self.module_path(n)
            for layer in made:
                layer.inputs = [i if i in self.params else self.src(i) for i in layer.inputs]
                if path and layer.hint == n.name:
                    layer.hint = path
            out += made
        for name, shape in self.inputs:  # NOTE: after the nodes, which name a weight input
            if len(shape) < 2:
                raise NetdslError([error("E407", f"{self.source}: input `{name}` has the shape "
                                         f"{_dims(shape)}: netdsl's inputs are [N, C, ...], a "
                                         "batch and at least one more axis")])
        seen: dict[str, str] = {}  # NOTE: an output that is an Identity (Dropout) is its source
        for o in self.outputs:
            if self.src(o) in seen:
                raise NetdslError([error("E407", f"{self.source}: outputs `{seen[self.src(o)]}` "
                                         f"and `{o}` are one tensor; netdsl names each output "
                                         "once")])
            seen[self.src(o)] = o
        return list(self.params.values()) + out

    def _constant(self, n: Any, a: dict[str, Any]) -> None:
        kind = next((k for k in _CONSTANTS if k in a), None)
        if kind is not None:  # NOTE: a sparse or string one is no weight nor shape
            self.arrays[n.output[0]] = np.asarray(a[kind])

    def module_path(self, n: Any) -> str:
        """The node's name as torch's legacy exporter writes it (`/layer1/layer1.0/relu_1/Relu`)
        from the module path its default exporter records in the metadata ("" where none):
        a module called again, after others, gets `_1`, `_2` as the legacy names do."""
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
                     and any(self.src(i) in self.last_out for i in n.input))
        self.last_out = (self.last_out if fx[0] == self.last_fx[0] else set()) | set(n.output)
        self.last_fx = fx
        if key != self.last_path or again:
            self.last_path = key
            self.calls[key] += 1 if key else 0
        if self.calls[key] > 1:
            scopes[-1] += f"_{self.calls[key] - 1}"
        return "".join(f"/{s}" for s in scopes) + f"/{n.op_type}"

    def _fold_pad(self, n: Any, a: dict[str, Any]) -> bool:
        """A constant zero Pad of the spatial axes only, all of whose consumers are Conv (but
        for auto_pad SAME): remembered, and added to their pads."""
        pads = self.const(n.input[1]) if len(n.input) > 1 else np.asarray(a.get("pads", []))
        value = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else None
        users = [m for m in self.g.node if n.output[0] in m.input]
        if (pads is None or a.get("mode", "constant") != "constant"
                or (value is not None and float(value) != 0.0) or not users
                or any(m.op_type != "Conv" or str(export.attributes(m).get(
                    "auto_pad", "")).startswith("SAME") for m in users)):  # NOTE: pads its own
            return False
        p = self._spread(n, [int(v) for v in pads])
        r = len(p) // 2
        if r < 3 or any(p[i] or p[r + i] for i in (0, 1)) or any(v < 0 for v in p):
            return False
        self.pending_pad[n.output[0]] = (n.input[0], p[2:r] + p[r + 2:])
        return True

    def layer(self, n: Any, a: dict[str, Any]) -> Layer:
        op, x = n.op_type, list(n.input)
        out = n.output[0]
        if op in _SIMPLE:
            return Layer(_SIMPLE[op], _SIMPLE[op], x[:1], out, n.name)
        if op == "Conv":
            return self.conv(n, a)
        if op == "ConvTranspose":
            return self.conv_transpose(n, a)
        if op == "BatchNormalization":
            if a.get("training_mode", 0):
                raise self.fail(n, "training_mode 1 (the batch's own statistics): netdsl's bn "
                                "normalizes by the running ones")
            names = ["weight", "bias", "running_mean", "running_var"]
            params = dict(zip(names, (self.need(n, i) for i in x[1:5])))
            eps = float(np.float32(a.get("epsilon", 1e-5)))
            call = "bn" if abs(eps - 1e-5) < 1e-12 else f"bn(eps: {_num(eps)})"
            return Layer("bn", call, x[:1], out, _prefix(x[1]) or n.name, params)
        if op == "Gemm":
            return self.gemm(n, a)
        if op == "Transpose":
            return self.transpose(n, a)
        if op == "LayerNormalization":
            return self.layer_norm(n, a)
        if op == "MatMul":
            return self.matmul(n)
        if op == "Gelu":
            if a.get("approximate", "none") != "none":
                raise self.fail(n, f"approximate {a['approximate']}: netdsl's gelu is the exact "
                                "erf form")
            return Layer("gelu", "gelu", x[:1], out, n.name)
        if op in ("MaxPool", "AveragePool"):
            return self.pool(n, a)
        if op == "Clip":
            lo = self.const(x[1]) if len(x) > 1 and x[1] else a.get("min")
            hi = self.const(x[2]) if len(x) > 2 and x[2] else a.get("max")
            lo_v = -np.inf if lo is None else float(lo)
            hi_v = np.inf if hi is None else float(hi)
            if lo_v == 0 and hi_v == 6:
                return Layer("relu6", "relu6", x[:1], out, n.name)
            if lo_v == 0 and hi_v == np.inf:
                return Layer("relu", "relu", x[:1], out, n.name)
            raise self.fail(n, f"Clip({lo_v}, {hi_v}): only Clip(0, 6) (relu6) and Clip(0) "
                            "(relu) have a netdsl op")
        if op in ("Add", "Mul", "Concat"):
            if op != "Concat" and len(x) == 2 and self.const(x[0]) is not None and (
                    self.const(x[1]) is None):
                x = x[::-1]  # NOTE: the tensor first: `x -> mul(param)`
            if any(self.const(i) is not None for i in x[:1]) or (
                    op == "Concat" and any(self.const(i) is not None for i in x)):
                raise self.fail(n, "a constant operand: netdsl adds and multiplies tensors")
            if len(x) == 2 and self.const(x[1]) is not None:
                self.param(n, x[1])
            name = {"Add": "add", "Mul": "mul", "Concat": "concat"}[op]
            args = ", ".join(["{}"] * (len(x) - 1))
            if op == "Concat":
                rank = self.rank(x[0])
                if int(a["axis"]) == 0 or (rank and int(a["axis"]) % rank == 0):
                    raise self.fail(n, f"along axis {int(a['axis'])}, the batch: netdsl's "
                                    "concat joins the examples' other axes")
                args += (", " if args else "") + f"axis: {int(a['axis'])}"
            return Layer(name, f"{name}({args})", x, out, n.name)
        if op == "Flatten":
            if int(a.get("axis", 1)) != 1:
                raise self.fail(n, "Flatten with axis other than 1")
            return Layer("flatten", "flatten", x[:1], out, n.name)
        if op == "Reshape":
            return self.reshape(n, a)
        if op == "Softmax":
            return Layer("softmax", f"softmax(axis: {self.softmax_axis(n, a)})", x[:1], out,
                         n.name)
        if op == "LRN":
            call = (f"lrn({int(a['size'])}, alpha: {_num(a.get('alpha', 1e-4))}, beta: "
                    f"{_num(a.get('beta', 0.75))}, k: {_num(a.get('bias', 1.0))})")
            return Layer("lrn", call, x[:1], out, n.name)
        if op == "LeakyRelu":
            return Layer("leaky_relu", f"leaky_relu(slope: {_num(a.get('alpha', 0.01))})",
                         x[:1], out, n.name)
        if op == "Elu":
            return Layer("elu", f"elu(alpha: {_num(a.get('alpha', 1.0))})", x[:1], out, n.name)
        if op == "HardSigmoid":
            return Layer("hardsigmoid", f"hardsigmoid(alpha: {_num(a.get('alpha', 0.2))}, "
                         f"beta: {_num(a.get('beta', 0.5))})", x[:1], out, n.name)
        if op in ("Resize", "Upsample"):
            return self.resize(n, a)
        assert op == "Pad"
        return self.pad(n, a)

    def softmax_axis(self, n: Any, a: dict[str, Any]) -> int:
        """Softmax's axis. Before opset 13 it is over every axis from `axis` (default 1) on,
        flattened: one netdsl axis only where that is the last."""
        if self.opset >= 13:
            return int(a.get("axis", -1))
        axis, rank = int(a.get("axis", 1)), self.rank(n.input[0])
        if rank is None or axis % rank != rank - 1:
            raise self.fail(n, f"opset {self.opset}'s Softmax over the axes from {axis} on, "
                            f"together, of a tensor of rank {rank or 'unknown'}: netdsl's is "
                            "over one axis")
        return -1

    def param(self, n: Any, name: str) -> None:
        """A weight that Add or Mul reads (ConvNeXt's layer_scale [C, 1, 1], a position
        embedding): a `param` of its shape, made once, before the layers (in self.params)."""
        v = self.need(n, name)
        if v.ndim == 0 or v.size == 0:
            raise self.fail(n, f"the constant operand {name} of shape {list(v.shape)}: "
                            "netdsl adds and multiplies tensors, and learned ones of one axis "
                            "or more")
        # NOTE: by the name the node reads, not its Identity's source: torch's legacy exporter
        # makes equal weights (each block's layer_scale, 1e-6 at first) one, read through
        # Identity nodes named as torch's keys
        if name not in self.params:
            own = name.startswith("onnx::") or "/" in name  # an exporter's made-up name
            self.params[name] = Layer("param", _ints(v.shape, True), [], name,
                                      f"{n.name}/param" if own else name, {"": v})

    def need(self, n: Any, name: str) -> np.ndarray:
        v = self.const(name)
        if v is None and any(name == i for i, _ in self.inputs):
            raise self.fail(n, f"`{name}` is an input of the model, not a stored weight "
                            "(exported without its parameters?)")
        if v is None:
            raise self.fail(n, f"`{name}` is computed, not a stored weight")
        return v

    def _not_same_lower(self, n: Any, a: dict[str, Any], kernel: Sequence[int]) -> None:
        """SAME_LOWER pads as SAME_UPPER does where the padding is even: stride 1 and an odd
        (dilated) window; elsewhere it depends on the input size."""
        k = len(kernel)
        even = all(int(s) == 1 and (int(w) - 1) * int(d) % 2 == 0 for s, w, d in zip(
            a.get("strides", [1] * k), kernel, a.get("dilations", [1] * k)))
        if a.get("auto_pad") == "SAME_LOWER" and not even:
            raise self.fail(n, "auto_pad SAME_LOWER: netdsl's `pad: same` puts an odd pixel "
                            "of padding after, as SAME_UPPER does")

    def conv(self, n: Any, a: dict[str, Any]) -> Layer:
        x = list(n.input)
        w = self.need(n, x[1])
        self._not_same_lower(n, a, w.shape[2:])
        pads = list(a.get("pads", [0] * (2 * (w.ndim - 2))))
        if x[0] in self.pending_pad:
            x[0], extra = self.pending_pad[x[0]]
            pads = [p + e for p, e in zip(pads, extra)]
            a = {**a, "auto_pad": "NOTSET"}  # NOTE: VALID is no pads; these are the Pad's
        group, k = int(a.get("group", 1)), [int(v) for v in w.shape[2:]]
        o = int(w.shape[0])
        args = []
        if group > 1 and w.shape[1] == 1:
            name, head = "depthwise", [_ints(k)]
            tail = [f"multiplier: {o // group}"] if o != group else []
        else:
            name, head = "conv", [str(o), _ints(k)]
            tail = [f"groups: {group}"] if group != 1 else []
        args = head + _window(a, pads) + tail
        params = {"weight": w}
        if len(x) > 2 and x[2]:
            params["bias"] = self.need(n, x[2])
        else:
            args.append("bias: false")
        return Layer(name, f"{name}({', '.join(args)})", x[:1], n.output[0],
                     _prefix(x[1]) or n.name, params)

    def conv_transpose(self, n: Any, a: dict[str, Any]) -> Layer:
        """torch's ConvTranspose2d: weights [in, out / groups, k...], pads given (an
        output_shape or auto_pad SAME leaves the pads to the input size)."""
        x = list(n.input)
        w = self.need(n, x[1])
        if a.get("output_shape") or str(a.get("auto_pad", "")).startswith("SAME"):
            raise self.fail(n, "output_shape or auto_pad SAME: netdsl's conv_transpose takes "
                            "its pads")
        group, k = int(a.get("group", 1)), [int(v) for v in w.shape[2:]]
        args = [str(int(w.shape[1]) * group), _ints(k)]
        args += _window(a, list(a.get("pads", [0] * (2 * len(k)))))
        if any(a.get("output_padding", [])):
            args.append(f"output_pad: {_ints(a['output_padding'])}")
        args += [f"groups: {group}"] if group != 1 else []
        params = {"weight": w}
        if len(x) > 2 and x[2]:
            params["bias"] = self.need(n, x[2])
        else:
            args.append("bias: false")
        return Layer("conv_transpose", f"conv_transpose({', '.join(args)})", x[:1],
                     n.output[0], _prefix(x[1]) or n.name, params)

    def gemm(self, n: Any, a: dict[str, Any]) -> Layer:
        x = list(n.input)
        if a.get("transA", 0) or float(a.get("alpha", 1.0)) != 1.0 or (
                float(a.get("beta", 1.0)) != 1.0 and len(x) > 2):
            raise self.fail(n, "Gemm with transA, alpha or beta: only x @ W^T + b is dense")
        w = self.need(n, x[1])
        w = w if a.get("transB", 0) else w.T
        params = {"weight": w}
        call = f"dense({w.shape[0]})"
        if len(x) > 2 and x[2]:
            c = self.need(n, x[2])
            try:  # NOTE: C broadcasts over the rows (the batch): [], [out], [1, out] do
                params["bias"] = np.broadcast_to(c, (1, w.shape[0]))[0]
            except ValueError:
                raise self.fail(n, f"a bias of shape {list(c.shape)}: dense adds one per "
                                "output") from None
        else:
            call = f"dense({w.shape[0]}, bias: false)"
        return Layer("dense", call, x[:1], n.output[0], _prefix(x[1]) or n.name, params)

    def transpose(self, n: Any, a: dict[str, Any]) -> Layer:
        """permute(perm), or transpose(a, b) where perm swaps two axes (torch's x.transpose);
        the batch stays first. No perm reverses the axes (of the rank onnx infers)."""
        rank = self.rank(n.input[0])
        perm = [int(v) for v in a.get("perm", range((rank or 0) - 1, -1, -1))]
        if not perm or perm[0] != 0:
            raise self.fail(n, f"perm {perm} moves the batch axis: netdsl's permute keeps axis "
                            "0 first")
        moved = [i for i, p in enumerate(perm) if p != i]
        if len(moved) == 2:
            call = f"transpose({moved[0]}, {moved[1]})"
        else:
            call = f"permute({_ints(perm, True)})"
        return Layer(call.split("(")[0], call, [n.input[0]], n.output[0], n.name)

    def slices(self, n: Any, a: dict[str, Any]) -> list[Layer]:
        """Slice: a slice layer per axis (python's x[start:end:step] clamps as ONNX's does);
        Split: a slice layer per output in use (torch.split, torch.chunk)."""
        x, rank = n.input[0], self.rank(n.input[0])
        if n.op_type == "Split":
            ax = int(a.get("axis", 0)) % (rank or 1)
            size = (self.shape(x) or [])[ax] if rank else None
            given = self.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("split")
            if given is None and isinstance(size, int):
                k, c = len(n.output), -(-size // len(n.output))  # the last one smaller
                given = [min(c, size - i * c) for i in range(k)]
            if given is None:
                raise self.fail(n, "parts of no recorded sizes")
            at = [0, *np.cumsum([int(v) for v in given]).tolist()]
            cuts = [(o, [ax], [at[i]], [at[i + 1]], [1])
                    for i, o in enumerate(n.output) if o in self.used]
        else:
            def ints(i: int, default: Any) -> list[int]:
                if len(n.input) <= i or not n.input[i]:
                    return [int(t) for t in default]
                return [int(t) for t in np.ravel(self.need(n, n.input[i]))]
            starts, ends = ints(1, a.get("starts", [])), ints(2, a.get("ends", []))
            axes = ints(3, a.get("axes", range(len(starts))))
            cuts = [(n.output[0], axes, starts, ends, ints(4, [1] * len(starts)))]
        out = []
        for o, axes, begin, end, steps in cuts:
            x = n.input[0]
            if rank is None or any(ax % rank == 0 for ax in axes) or any(s < 1 for s in steps):
                raise self.fail(n, f"axes {axes} with steps {steps}: netdsl's slice keeps the "
                                "batch axis and steps forward")
            for k, ax in enumerate(axes):
                args = [str(ax % rank), str(begin[k])]
                args += [str(end[k])] if end[k] < 2**31 else []  # NOTE: INT64_MAX: to the end
                args += [f"step: {steps[k]}"] if steps[k] != 1 else []
                last = k == len(axes) - 1
                out.append(Layer("slice", f"slice({', '.join(args)})", [x],
                                 o if last else f"{o}/{k}", n.name))
                x = f"{o}/{k}"
        return out

    def layer_norm(self, n: Any, a: dict[str, Any]) -> Layer:
        """layer_norm over the last axis (torch's LayerNorm(d)); no bias is one of zeros."""
        x, rank = list(n.input), self.rank(n.input[0])
        axis = int(a.get("axis", -1))
        if rank is None or axis % rank != rank - 1:
            raise self.fail(n, f"axis {axis} of a rank {rank if rank else '?'} input normalizes "
                            f"over the axes from {axis} on: netdsl's layer_norm normalizes over "
                            "one axis")
        w = self.need(n, x[1])
        b = self.need(n, x[2]) if len(x) > 2 and x[2] else np.zeros_like(w)
        eps = np.float32(a.get("epsilon", 1e-5))
        shown = _num(float(str(eps)))  # NOTE: as float32 writes it: 1e-06, not 9.99999997e-07
        call = "layer_norm" if eps == np.float32(1e-5) else f"layer_norm(eps: {shown})"
        return Layer("layer_norm", call, x[:1], n.output[0], _prefix(x[1]) or n.name,
                     {"weight": np.ravel(w), "bias": np.ravel(b)})

    def matmul(self, n: Any) -> Layer:
        """x @ W, W a weight [in, out]: dense(out), and the Add of a bias after it (torch's
        Linear on [N, ..., C], which its legacy exporter writes so) its bias; x @ y of two
        tensors: matmul."""
        x, out = list(n.input), n.output[0]
        w = self.const(x[1])
        if self.const(x[0]) is not None:
            raise self.fail(n, "a constant left operand: dense is x @ W, a weight on the right")
        if w is None:
            return Layer("matmul", "matmul({})", x, out, n.name)
        if w.ndim != 2:
            raise self.fail(n, f"a weight of shape {list(w.shape)}: dense's is [in, out]")
        params, hint = {"weight": np.ascontiguousarray(w.T)}, n.name
        users = self.users.get(out, [])
        add = users[0] if len(users) == 1 and users[0].op_type == "Add" else None
        b = next((self.const(i) for i in add.input if i != out), None) if add else None
        if add is not None and b is not None and out not in self.outputs and (
                b.size == w.shape[1] and b.shape[-1:] == (w.shape[1],)):
            params["bias"] = np.ravel(b)
            hint = _prefix(next(i for i in add.input if i != out)) or n.name
            self.folded.add(add.output[0])
            out = add.output[0]
        call = f"dense({w.shape[1]})" if "bias" in params else f"dense({w.shape[1]}, bias: false)"
        return Layer("dense", call, x[:1], out, hint, params)

    def pool(self, n: Any, a: dict[str, Any]) -> Layer:
        k = [int(v) for v in a["kernel_shape"]]
        self._not_same_lower(n, a, k)
        pads = list(a.get("pads", [0] * (2 * len(k))))
        name = "maxpool" if n.op_type == "MaxPool" else "avgpool"
        args = [_ints(k), f"stride: {_ints(a.get('strides', [1] * len(k)))}"]
        args += _window({"auto_pad": a.get("auto_pad"), "dilations": a.get("dilations")}, pads)
        if a.get("ceil_mode", 0):
            args.append("ceil: true")
        same = str(a.get("auto_pad", "")).startswith("SAME")
        if name == "avgpool" and (any(pads) or same) and not a.get("count_include_pad", 0):
            args.append("count_include_pad: false")
        return Layer(name, f"{name}({', '.join(args)})", [n.input[0]], n.output[0], n.name)

    def reduce_mean(self, n: Any, a: dict[str, Any]) -> list[Layer]:
        """The mean over every spatial axis (torch's AdaptiveAvgPool2d(1) as its default
        exporter writes it): globalavgpool, then flatten where the axes are not kept (torch's
        `x.mean([2, 3])`). Its input's rank from the value_infos."""
        axes = self.const(n.input[1]) if len(n.input) > 1 and n.input[1] else a.get("axes")
        rank = self.rank(n.input[0])
        if axes is None or rank is None or rank < 3 or sorted(
                int(v) % rank for v in np.ravel(axes)) != list(range(2, rank)):
            raise self.fail(n, "only the mean over every spatial axis (globalavgpool) has a "
                            "netdsl op")
        if a.get("keepdims", 1):
            return [Layer("globalavgpool", "globalavgpool", [n.input[0]], n.output[0], n.name)]
        kept = f"{n.output[0]}/keepdims"
        return [Layer("globalavgpool", "globalavgpool", [n.input[0]], kept, n.name),
                Layer("flatten", "flatten", [kept], n.output[0], n.name)]

    def reshape(self, n: Any, a: dict[str, Any]) -> Layer:
        """netdsl's reshape keeps the batch: where the shape's first entry copies it (0), is
        its size, or (-1) leaves it so; a 0 elsewhere copies the input's size there."""
        given = self.sizes(n, n.input[1], n.input[0])
        x = self.shape(n.input[0]) or []
        if a.get("allowzero", 0) and 0 in given:
            raise self.fail(n, f"shape {given} with allowzero: sizes of 0, which netdsl's "
                            "reshape does not make")
        rest = [x[i] if d == 0 and i < len(x) else d for i, d in enumerate(given[1:], 1)]
        fixed = [d for d in rest if isinstance(d, int) and d != 0]
        static = bool(x) and all(isinstance(d, int) for d in x[1:])
        # NOTE: -1 first, of sizes that vary, keeps the batch where they fit: the check decides
        if len(fixed) == len(rest) and (given[0] == 0 or (x and given[0] == x[0]) or (
                given[0] == -1 and -1 not in fixed and (
                    not static or math.prod(fixed) == math.prod(map(int, x[1:]))))):
            if fixed == [-1] or (static and fixed == [math.prod(map(int, x[1:]))]):
                # torch's x.view(x.size(0), -1), or torch.flatten(x, 1)
                return Layer("flatten", "flatten", [n.input[0]], n.output[0], n.name)
            return Layer("reshape", f"reshape({_ints(fixed, True)})", [n.input[0]],
                         n.output[0], n.name)
        raise self.fail(n, f"shape {given} of {_dims(x) if x else 'a tensor of unknown shape'} "
                        "does not keep the batch axis: netdsl's reshape keeps axis 0 (the "
                        "batch) and reshapes the others")

    def resize(self, n: Any, a: dict[str, Any]) -> Layer:
        x = list(n.input)
        mode = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic"}.get(
            a.get("mode", "nearest"))
        coord = a.get("coordinate_transformation_mode", "half_pixel")
        rounding = a.get("nearest_mode", "round_prefer_floor")
        scales = self.const(x[2]) if len(x) > 2 and x[2] else None
        if n.op_type == "Upsample":  # NOTE: its coordinates are x / scale, rounded down
            scales = self.const(x[1]) if len(x) > 1 else np.asarray(a.get("scales"))
            coord, rounding = "asymmetric", "floor"
        sizes = np.asarray(self.sizes(n, x[3], x[0])) if len(x) > 3 and x[3] else None
        if mode is None:
            raise self.fail(n, f"mode {a.get('mode')}")
        if sizes is not None and a.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise self.fail(n, f"keep_aspect_ratio_policy {a['keep_aspect_ratio_policy']}: "
                            "netdsl's upsample computes other values")
        if a.get("axes") is not None:
            scales, sizes = self._resize_axes(n, a["axes"], scales, sizes)
        whole = [int(v) for v in scales] if scales is not None and scales.size > 0 and all(
            float(v).is_integer() for v in scales) else []
        why = _resize_differs(a, mode, coord, rounding, whole)
        if why:
            raise self.fail(n, f"{why}: netdsl's upsample computes other values")
        shape = self.shape(x[0]) or []
        if scales is not None and scales.size and any(float(v) != 1 for v in scales[:2]):
            why = f"scales {[float(v) for v in scales]}"
        elif (scales is None or not scales.size) and sizes is not None and len(shape) > 1 and (
                isinstance(shape[1], int) and int(sizes[1]) != shape[1]):
            why = f"sizes {[int(v) for v in sizes]} of {_dims(shape)}"
        if why:
            raise self.fail(n, f"{why}: netdsl's upsample resizes the spatial axes only")
        args = []
        if scales is not None and scales.size:
            s = [float(v) for v in scales[2:]]
            args.append(_num(s[0]) if len(set(s)) == 1 else "[" + ", ".join(map(_num, s)) + "]")
        elif sizes is not None:
            args.append(f"size: {_ints([int(v) for v in sizes[2:]], True)}")
        else:
            raise self.fail(n, "neither constant scales nor sizes")
        if mode != "nearest":
            args.append(f'mode: "{mode}"')
            if coord == "align_corners":
                args.append("align_corners: true")
        return Layer("upsample", f"upsample({', '.join(args)})", x[:1], n.output[0], n.name)

    def _resize_axes(self, n: Any, axes: Sequence[int], scales: np.ndarray | None,
                     sizes: np.ndarray | None) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Resize's scales or sizes for its `axes` (opset 18) spread over every axis: the
        others keep their sizes (scale 1)."""
        shape = self.shape(n.input[0])
        if shape is None:
            raise self.fail(n, "`axes` given, and the rank of its input is not recorded")
        at = [int(v) % len(shape) for v in axes]
        if scales is not None and scales.size:
            full = np.ones(len(shape), np.float32)
            full[at] = scales
            return full, sizes
        if sizes is not None:
            full_sizes = np.array([d if isinstance(d, int) and d > 0 else -1 for d in shape])
            full_sizes[at] = sizes
            if (full_sizes[2:] < 0).any():
                raise self.fail(n, f"axes {list(axes)} leave a spatial axis of no recorded size")
            return scales, full_sizes
        return scales, sizes

    def pad(self, n: Any, a: dict[str, Any]) -> Layer:
        pads = self.need(n, n.input[1]) if len(n.input) > 1 else np.asarray(a["pads"])
        p = self._spread(n, [int(v) for v in pads])
        r = len(p) // 2
        mode = {"constant": "zeros", "reflect": "reflect", "edge": "edge"}.get(
            a.get("mode", "constant"))
        if mode is None:
            raise self.fail(n, f"mode {a.get('mode')}: netdsl pads with zeros, reflect or edge")
        value = self.const(n.input[2]) if len(n.input) > 2 and n.input[2] else a.get("value")
        if mode == "zeros" and value is not None and float(np.ravel(value)[0]) != 0.0:
            raise self.fail(n, f"the constant {float(np.ravel(value)[0])}: netdsl pads with "
                            "zeros")
        if any(v < 0 for v in p):
            raise self.fail(n, f"pads {p}: a negative amount crops, and netdsl's pad adds")
        if p[0] or p[r]:
            raise self.fail(n, "padding the batch axis")
        args = [_ints(p[2:r] + p[r + 2:], True)]
        if p[1] or p[r + 1]:
            args.append(f"channels: [{p[1]}, {p[r + 1]}]")
        if mode != "zeros":
            args.append(f'mode: "{mode}"')
        return Layer("pad", f"pad({', '.join(args)})", [n.input[0]], n.output[0], n.name)


def _resize_differs(a: dict[str, Any], mode: str, coord: str, rounding: str,
                    whole: list[int]) -> str:
    """Why a Resize computes other values than netdsl's upsample ("" where it does not):
    nearest is x / scale rounded down (or, at `whole` scales, the forms that round to the same
    pixel); bilinear and bicubic are half-pixel or align-corners, bicubic with torch's
    a = -0.75."""
    if a.get("antialias", 0):
        return "antialias"
    if mode == "nearest":
        same = ((coord, rounding) == ("asymmetric", "floor")
                or ((coord, rounding) == ("asymmetric", "round_prefer_floor") and whole
                    and max(whole) <= 2)  # NOTE: x / 2 is k or k + 0.5, rounded to k
                or (whole and coord in ("half_pixel", "pytorch_half_pixel")
                    and rounding.startswith("round_prefer"))
                or (whole and (coord, rounding) == ("tf_half_pixel_for_nn", "floor")))
        return "" if same else f"nearest_mode {rounding} with {coord} coordinates"
    if coord not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        return f"{coord} coordinates"
    if mode == "bicubic" and (float(a.get("cubic_coeff_a", -0.75)) != -0.75
                              or a.get("exclude_outside", 0)):
        return "cubic_coeff_a other than -0.75, or exclude_outside"
    return ""


def _window(a: dict[str, Any], pads: list[int]) -> list[str]:
    out = []
    if a.get("strides") and any(v != 1 for v in a["strides"]):
        out.append(f"stride: {_ints(a['strides'])}")
    auto = a.get("auto_pad") or "NOTSET"
    if auto == "VALID":
        pass
    elif auto.startswith("SAME"):
        out.append("pad: same")
    elif any(pads):
        r = len(pads) // 2
        out.append("pad: " + (_ints(pads[:r]) if pads[:r] == pads[r:] else _ints(pads, True)))
    if a.get("dilations") and any(v != 1 for v in a["dilations"]):
        out.append(f"dilation: {_ints(a['dilations'])}")
    return out


def _dims(shape: Sequence[int | str]) -> str:
    """A tensor's dims as the messages write them: `[N, 3, h]`, `?` where unnamed."""
    return "[" + ", ".join(str(d) if d else "?" for d in shape) + "]"


def _ints(v: Sequence[int], as_list: bool = False) -> str:
    v = [int(i) for i in v]
    if not as_list and len(set(v)) == 1:
        return str(v[0])
    return "[" + ", ".join(map(str, v)) + "]"


class _NotFinite(ValueError):
    """A number that _num cannot write (inf, nan): the .net has no literal for it."""


def _num(v: float) -> str:
    if not math.isfinite(float(v)):
        raise _NotFinite(float(v))
    s = f"{float(v):.9g}"
    return s if any(c in s for c in ".en") else s + ".0"


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


def _prefix(param: str) -> str:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`; "" for an exporter's made-up name."""
    if param.startswith("onnx::") or "." not in param or "/" in param:
        return ""
    return param.rsplit(".", 1)[0]

