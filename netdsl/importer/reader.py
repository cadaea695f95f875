"""ONNX nodes → Layers (netdsl import's first stage): _Reader walks a ModelProto's nodes in
order and makes each one Layer, netdsl's call as text with its inputs and weights; constants and
aliases (Identity, Dropout) resolved, zero pads folded into the Conv after them; E407 for a node
netdsl cannot express. Here the walk, the simple operators and the reader's lookups (constants,
shapes, computed sizes); weighted.py and shaping.py read the others, paths.py names the nodes
from torch's module paths."""

from __future__ import annotations

from typing import Any

import numpy as np

from netdsl import export
from netdsl.diagnostics import NetdslError, error
from netdsl.importer import dims, patterns, shaping, weighted
from netdsl.importer.calls import Layer, _dims, _ints, _NotFinite, _num, _prefix
from netdsl.importer.paths import ModulePaths

SUPPORTED = ("Add AveragePool BatchNormalization Clip Concat Constant Conv ConvTranspose Dropout "
             "Elu Flatten Gather Gelu Gemm GlobalAveragePool GlobalMaxPool HardSigmoid HardSwish "
             "Identity LRN LayerNormalization LeakyRelu MatMul MaxPool MaxUnpool Mul Pad "
             "ReduceMean Relu Reshape Resize Sigmoid Slice Softmax Split Tanh Transpose "
             "Upsample").split()
_CONSTANTS = ("value", "value_float", "value_floats", "value_int", "value_ints")  # Constant's
_SIMPLE = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish",
           "GlobalAveragePool": "globalavgpool", "GlobalMaxPool": "globalmaxpool"}


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
            elif m.op_type == "Identity":  # NOTE: torch's legacy exporter's shared weights
                self.alias[m.output[0]] = m.input[0]
        self.computed: dict[str, np.ndarray] = {}
        self.computed = dims.evaluate(self.g.node, self.shape, self.const)
        known: dict[str, np.ndarray] = {}
        while len(self._known()) > len(known):  # NOTE: sizes known give shapes, and they sizes
            known = self._known()
            self.shapes = export.shapes(model, known)
            self.computed = dims.evaluate(self.g.node, self.shape, self.const)
        self.twins = weighted.twins(self.g.node, self.users, self.used)
        self.fused = patterns.find(self.g.node, self.users, self.const, self.outputs,
                                   self.shape)
        # outputs of nodes read into the layer before them, or computing a shape
        self.folded = {t for f in self.fused.values() for t in f.nodes[1:]} | set(self.computed)
        self.params: dict[str, Layer] = {}  # the `param`s that Add and Mul read, by tensor
        self.paths = ModulePaths()  # the nodes' torch module paths, where recorded

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
            if n.output[0] in {t.output[0] for t in self.twins.values()}:
                continue  # NOTE: read with its twin, the max pool of its values
            extra = [o for o in n.output[1:] if o in self.used
                     and n.op_type not in ("Split", "MaxPool")]
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
            w = self.const(n.input[0]) if n.op_type == "Transpose" else None
            if w is not None:  # NOTE: a weight's (netdsl's own dense on [N, ..., C])
                self.arrays[n.output[0]] = np.transpose(w, a.get("perm"))
                continue
            fused = self.fused.get(n.output[0])
            try:
                if fused is not None:
                    if fused.op == "expand":
                        self.param(n, fused.x)
                    made = [Layer(fused.op, fused.call, [fused.x, *fused.more], fused.out,
                                  fused.hint or n.name, dict(fused.params))]
                elif n.op_type == "ReduceMean":
                    made = shaping.reduce_mean(self, n, a)
                elif n.op_type == "Gather":
                    made = shaping.gather(self, n, a)
                elif n.op_type in ("Slice", "Split"):
                    made = shaping.slices(self, n, a)
                else:
                    made = [self.layer(n, a)]
            except _NotFinite as e:
                raise self.fail(n, f"the number {e.args[0]} is not finite, and a .net program "
                                "writes finite numbers") from None
            path = self.paths.name(n, self.src)
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
            return weighted.conv(self, n, a)
        if op == "ConvTranspose":
            return weighted.conv_transpose(self, n, a)
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
            return weighted.gemm(self, n, a)
        if op == "Transpose":
            return shaping.transpose(self, n, a)
        if op == "LayerNormalization":
            return weighted.layer_norm(self, n, a)
        if op == "MatMul":
            return weighted.matmul(self, n)
        if op == "Gelu":
            if a.get("approximate", "none") != "none":
                raise self.fail(n, f"approximate {a['approximate']}: netdsl's gelu is the exact "
                                "erf form")
            return Layer("gelu", "gelu", x[:1], out, n.name)
        if op in ("MaxPool", "AveragePool"):
            pool = weighted.pool(self, n, a)
            twin = self.twins.get(out)
            indices = twin.output[1] if twin is not None else (
                n.output[1] if len(n.output) > 1 and n.output[1] in self.used else "")
            if indices:  # NOTE: netdsl's lowering names the two nodes `label.0`, `label.1`
                pool.call, pool.more = pool.call[:-1] + ", indices: true)", [indices]
                if twin is not None and pool.hint.endswith(".0") and (
                        twin.name == pool.hint[:-2] + ".1"):
                    pool.hint = pool.hint[:-2]
            return pool
        if op == "MaxUnpool":
            return weighted.unpool(self, n, a)
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
            return shaping.reshape(self, n, a)
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
            return shaping.resize(self, n, a)
        assert op == "Pad"
        return shaping.pad(self, n, a)

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
        if v is None and name in self.computed:
            self.sizes(n, name, n.input[0])  # NOTE: E407 naming the sizes that vary
        if v is None:
            raise self.fail(n, f"`{name}` is computed, not a stored weight")
        return v
