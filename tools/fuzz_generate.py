"""Differential testing (NNSmith's idea): seeded random valid networks → check → compile →
onnx.checker full_check → onnx strict shape inference → onnxruntime, every output shape equal to
the one `check` predicted. Every op of the registry has a sampler here that draws its arguments
within the ranges its signature allows for the current shape (GENERATORS: a test keeps it
complete); branches join with add, mul and concat."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]  # without the batch: (C, H, W) or (F,)


@dataclass
class Tensor:
    name: str
    shape: Shape


def _out(n: int, k: int, s: int, p0: int, p1: int, d: int, ceil: bool) -> int:
    """Output size of a window (torch's rule: a ceil window must start inside the input)."""
    span = n + p0 + p1 - (k - 1) * d - 1
    if not ceil:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= n + p0 else out


def _window(rng: random.Random, x: Shape, pool: bool) -> tuple[str, Shape] | None:
    """Kernel, stride, pad and dilation arguments valid for (C, H, W), and the new (H, W)."""
    _, h, w = x
    k = [rng.randint(1, min(5, h)), rng.randint(1, min(5, w))]
    s = [rng.randint(1, 3), rng.randint(1, 3)]
    d = [1, 1] if pool or rng.random() < 0.6 else [rng.randint(1, 2), rng.randint(1, 2)]
    if any((kk - 1) * dd + 1 > n for kk, dd, n in zip(k, d, (h, w))):
        d = [1, 1]
    p = [rng.randint(0, (kk - 1) // 2 if pool else kk - 1) for kk in k]
    if rng.random() < 0.5:
        k, s, d, p = [k[0]] * 2, [s[0]] * 2, [d[0]] * 2, [p[0]] * 2
        if (k[0] - 1) * d[0] + 1 > min(h, w):
            return None
    ceil = pool and rng.random() < 0.3
    hw = (_out(h, k[0], s[0], p[0], p[0], d[0], ceil), _out(w, k[1], s[1], p[1], p[1], d[1], ceil))
    if min(hw) < 1:
        return None
    args = [_ints(k), f"stride: {_ints(s)}", f"pad: {_ints(p)}"]
    args += [f"dilation: {_ints(d)}"] if d != [1, 1] else []
    args += ["ceil: true"] if ceil else []
    tiles = all((n + 2 * pp - (kk - 1) * dd - 1) % ss == 0
                for n, kk, ss, pp, dd in zip((h, w), k, s, p, d))
    if not tiles and not ceil:
        args.append("floor: true")
    return ", ".join(args), hw


def _ints(v: list[int]) -> str:
    return str(v[0]) if v[0] == v[1] else f"[{v[0]}, {v[1]}]"


def _divisor(rng: random.Random, c: int) -> int:
    return rng.choice([g for g in range(1, c + 1) if c % g == 0])


# Each sampler: (rng, input shape, earlier tensors) -> (call text, output shape) or None (cannot).
# A call text with `{x}` is an expression of the input instead of a pipeline stage (a call that
# yields several values, indexed); lines before its last are statements it needs (a `param`).
Sampler = Callable[[random.Random, Shape, list[Tensor]], tuple[str, Shape] | None]


def _conv(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3:
        return None
    if rng.random() < 0.15:
        k = rng.choice([1, 3, 5])
        out = rng.randint(1, 16)
        return f"conv({out}, {k}, pad: same)", (out, *x[1:])
    window = _window(rng, x, pool=False)
    if window is None:
        return None
    g = _divisor(rng, x[0])
    out = g * rng.randint(1, 4)
    bias = ", bias: false" if rng.random() < 0.3 else ""
    groups = f", groups: {g}" if g > 1 else ""
    return f"conv({out}, {window[0]}{groups}{bias})", (out, *window[1])


def _depthwise(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    window = _window(rng, x, pool=False) if len(x) == 3 else None
    if window is None:
        return None
    m = rng.randint(1, 3)
    return f"depthwise({window[0]}, multiplier: {m})", (x[0] * m, *window[1])


def _conv_transpose(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3:
        return None
    k, s, d = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 2)
    p = rng.randint(0, (k - 1) * d // 2)
    op = rng.randint(0, s - 1)  # onnxruntime's rule (torch allows below the dilation)
    g = _divisor(rng, x[0])
    out = g * rng.randint(1, 3)
    hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n in x[1:])
    if min(hw) < 1 or max(hw) > 64:
        return None
    return (f"conv_transpose({out}, {k}, stride: {s}, pad: {p}, output_pad: {op}, "
            f"dilation: {d}, groups: {g})"), (out, *hw)


def _pool(kind: str) -> Sampler:
    def sample(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
        window = _window(rng, x, pool=True) if len(x) == 3 else None
        if window is None:
            return None
        extra = ", count_include_pad: false" if kind == "avgpool" and rng.random() < 0.3 else ""
        if kind == "maxpool" and rng.random() < 0.2:  # with its indices: a list, values first
            return f"maxpool({{x}}, {window[0]}, indices: true)[0]", (x[0], *window[1])
        return f"{kind}({window[0]}{extra})", (x[0], *window[1])
    return sample


def _pointwise(*calls: str, rank: int | None = None) -> Sampler:
    def sample(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
        if rank is not None and len(x) != rank:
            return None
        return rng.choice(calls), x
    return sample


def _softmax(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    axis = rng.choice([a for a in range(-len(x), len(x) + 1) if a != 0 and a != -len(x) - 1])
    return f"softmax(axis: {axis})", x


def _dense(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    out = rng.randint(1, 32)  # on the last axis, any rank
    return f"dense({out}{', bias: false' if rng.random() < 0.3 else ''})", (*x[:-1], out)


def _axis(rng: random.Random, x: Shape) -> tuple[int, str]:
    """A non-batch axis (0 is x's first), and how to write it (from the front or the end)."""
    a = rng.randrange(len(x))
    return a, str(a + 1 if rng.random() < 0.5 else a - len(x))


def _slice(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    a, axis = _axis(rng, x)
    n = x[a]
    start, end, step = rng.randint(-n, n - 1), rng.randint(-n, n), rng.randint(1, 3)
    kept = len(range(n)[start:end:step])
    if not kept:
        return None
    return (f"slice({axis}, {start}, {end}, step: {step})",
            tuple(kept if i == a else d for i, d in enumerate(x)))


def _split(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    a, axis = _axis(rng, x)
    n = x[a]
    if n < 2:
        return None
    if rng.random() < 0.5:  # parts of one size, the last one what remains
        size = rng.randint(1, n - 1)
        parts = [size] * (n // size) + [n % size][:n % size]
        i = rng.randrange(len(parts))
        call = f"split({{x}}, {size}, axis: {axis})[{i}]"
    else:
        cut = rng.randint(1, n - 1)
        parts, i = [cut, n - cut], rng.randrange(2)
        call = f"split({{x}}, [{cut}, {n - cut}], axis: {axis})[{i}]"
    return call, tuple(parts[i] if j == a else d for j, d in enumerate(x))


def _chunk(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    a, axis = _axis(rng, x)
    k = _divisor(rng, x[a])
    i = rng.randrange(k)
    return (f"chunk({{x}}, {k}, axis: {axis})[{i}]",
            tuple(d // k if j == a else d for j, d in enumerate(x)))


def _permute(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    order = list(range(len(x)))
    rng.shuffle(order)
    return f"permute({[0, *(i + 1 for i in order)]})", tuple(x[i] for i in order)


def _transpose(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) < 2:
        return None
    a, b = rng.sample(range(len(x)), 2)
    out = list(x)
    out[a], out[b] = x[b], x[a]
    return f"transpose({a + 1}, {b - len(x)})", tuple(out)


def _channel_shuffle(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    return (f"channel_shuffle({_divisor(rng, x[0])})", x) if len(x) >= 2 else None


def _layer_norm(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) >= 2 and rng.random() < 0.3:
        return "layer_norm(axis: 1, eps: 1e-6)", x  # over the channels (ConvNeXt's)
    return "layer_norm", x


def _matmul(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) < 2 or max(x[-2:]) > 64:
        return None
    if rng.random() < 0.5:  # x x^T and x^T x
        return "matmul({x}, transpose({x}, -1, -2))", (*x[:-1], x[-2])
    return "matmul(transpose({x}, -1, -2), {x})", (*x[:-2], x[-1], x[-1])


def _maxunpool(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3 or min(x[1:]) < 2:
        return None
    k = rng.randint(2, min(3, *x[1:]))
    pool = f"maxpool({{x}}, {k}, floor: true, indices: true)"
    if any(n % k for n in x[1:]) or rng.random() < 0.5:
        # NOTE: back to the pool's input size, which it rounded down; without it, indices
        # into the larger input would fall outside the unpooled tensor
        return f"maxunpool({pool}[0], {k}, indices: {pool}[1], like: {{x}})", x
    return f"maxunpool({pool}[0], {k}, indices: {pool}[1])", x


def _attention(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    tokens = 1
    for d in x[1:]:
        tokens *= d
    if len(x) != 3 or tokens > 64:
        return None
    heads = _divisor(rng, tokens)  # over the channels as tokens of H*W features
    return f"attention(reshape({{x}}, [{x[0]}, {tokens}]), {heads})", (x[0], tokens)


def _expand(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    dims = ", ".join(str(d) for d in x)  # a learned tensor repeated over the batch, added
    return f"param w_{{x}}: [1, {dims}] = normal(0.02)\n{{x}} + expand(w_{{x}}, like: {{x}})", x


def _global(kind: str) -> Sampler:
    def sample(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
        return (kind, (x[0], 1, 1)) if len(x) == 3 else None
    return sample


def _adaptive(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3:
        return None
    size = (rng.randint(1, 8), rng.randint(1, 8))
    return f"adaptive_avgpool({_ints(list(size))})", (x[0], *size)


def _upsample(rng: random.Random, x: Shape, seen: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3 or max(x[1:]) > 24:
        return None
    mode = rng.choice(['"nearest"', '"bilinear"', '"bicubic"'])
    corners = ", align_corners: true" if mode != '"nearest"' and rng.random() < 0.3 else ""
    like = [t for t in seen if len(t.shape) == 3]
    if like and rng.random() < 0.3:
        t = rng.choice(like)
        return f"upsample(like: {t.name}, mode: {mode}{corners})", (x[0], *t.shape[1:])
    if rng.random() < 0.3:
        size = (rng.randint(1, 32), rng.randint(1, 32))
        return f"upsample(size: [{size[0]}, {size[1]}], mode: {mode}{corners})", (x[0], *size)
    s = rng.randint(1, 3)
    return f"upsample(scale: {s}, mode: {mode}{corners})", (x[0], x[1] * s, x[2] * s)


def _crop(rng: random.Random, x: Shape, seen: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3:
        return None
    like = [t for t in seen if len(t.shape) == 3 and t.shape[1] <= x[1] and t.shape[2] <= x[2]]
    if like and rng.random() < 0.5:
        t = rng.choice(like)
        return f"crop(like: {t.name})", (x[0], *t.shape[1:])
    size = (rng.randint(1, x[1]), rng.randint(1, x[2]))
    return f"crop(size: [{size[0]}, {size[1]}])", (x[0], *size)


def _pad(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    if len(x) != 3:
        return None
    mode = rng.choice(['"zeros"', '"reflect"', '"edge"'])
    top = min(x[1:]) - 1 if mode == '"reflect"' else 3
    a = rng.randint(0, max(0, min(top, 3)))
    extra = rng.randint(1, 3) if mode == '"zeros"' and rng.random() < 0.3 else 0
    channels = f", channels: {extra}" if extra else ""
    return f"pad({a}, mode: {mode}{channels})", (x[0] + extra, x[1] + 2 * a, x[2] + 2 * a)


def _reshape(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    n = 1
    for d in x:
        n *= d
    if len(x) != 3:
        return f"reshape([{n}, 1, 1])", (n, 1, 1)
    shape = (x[0], x[2], x[1]) if rng.random() < 0.5 else (x[0] * x[1], 1, x[2])
    text = ", ".join(str(d) for d in shape)
    if rng.random() < 0.3:
        text = text.replace(str(shape[0]), "-1", 1)
    return f"reshape([{text}])", shape


def _flatten(rng: random.Random, x: Shape, _: list[Tensor]) -> tuple[str, Shape] | None:
    n = 1
    for d in x:
        n *= d
    return ("flatten", (n,)) if len(x) == 3 and n <= 4096 else None


GENERATORS: dict[str, Sampler] = {
    "relu": _pointwise("relu"), "tanh": _pointwise("tanh"), "sigmoid": _pointwise("sigmoid"),
    "leaky_relu": _pointwise("leaky_relu", "leaky_relu(slope: 0.2)", "leaky_relu(slope: -1.5)"),
    "elu": _pointwise("elu", "elu(alpha: 0.3)"), "relu6": _pointwise("relu6"),
    "hardsigmoid": _pointwise("hardsigmoid", "hardsigmoid(alpha: 0.25, beta: 0)"),
    "hardswish": _pointwise("hardswish"), "silu": _pointwise("silu"), "swish": _pointwise("swish"),
    "gelu": _pointwise("gelu"), "softmax": _softmax, "identity": _pointwise("identity"),
    "dropout": _pointwise("dropout", "dropout(p: 0.1)"),
    "conv": _conv, "depthwise": _depthwise, "conv_transpose": _conv_transpose, "dense": _dense,
    "bn": _pointwise("bn", "bn(eps: 0.001)"),
    "lrn": _pointwise("lrn", "lrn(size: 3)", "lrn(size: 5, alpha: 0.01)", rank=3),
    "maxpool": _pool("maxpool"), "avgpool": _pool("avgpool"),
    "globalavgpool": _global("globalavgpool"), "globalmaxpool": _global("globalmaxpool"),
    "adaptive_avgpool": _adaptive, "upsample": _upsample, "flatten": _flatten,
    "reshape": _reshape, "crop": _crop, "pad": _pad,
    "slice": _slice, "split": _split, "chunk": _chunk, "permute": _permute,
    "transpose": _transpose, "channel_shuffle": _channel_shuffle, "layer_norm": _layer_norm,
    "matmul": _matmul, "maxunpool": _maxunpool, "attention": _attention, "expand": _expand,
    "add": lambda *a: None, "mul": lambda *a: None, "concat": lambda *a: None,  # joins: _branch
}

SHAPE_KEEPING = ["relu", "tanh", "bn", "gelu", "identity", "hardswish"]


def _join(rng: random.Random, x: Tensor, lines: list[str], seen: list[Tensor],
          i: int) -> tuple[Tensor, str]:
    """A branch off `x` joined back: a residual add, an SE-style mul gate, or a concat."""
    b = f"b{i}"
    kind = rng.choice(["add", "plus", "mul", "concat", "concat_axis"])
    if kind in ("add", "plus"):
        conv = f" -> conv({x.shape[0]}, 3, pad: same)" if len(x.shape) == 3 else ""
        lines.append(f"  {b} = {x.name}{conv} -> {rng.choice(SHAPE_KEEPING)}")
        join = f"{x.name} + {b}" if kind == "plus" else f"add({x.name}, {b}, {x.name})"
        return Tensor(f"t{i}", x.shape), f"  t{i} = {join}"
    if kind == "mul" and len(x.shape) == 3:
        lines.append(f"  {b} = {x.name} -> globalavgpool -> conv({x.shape[0]}, 1) -> sigmoid")
        return Tensor(f"t{i}", x.shape), f"  t{i} = mul({x.name}, {b})"
    if kind == "concat" and len(x.shape) == 3:
        out = rng.randint(1, 8)
        lines.append(f"  {b} = {x.name} -> conv({out}, 1)")
        return (Tensor(f"t{i}", (x.shape[0] + out, *x.shape[1:])),
                f"  t{i} = concat({x.name}, {b})")
    axis = rng.randrange(1, len(x.shape) + 1)
    written = axis if rng.random() < 0.5 else axis - 1 - len(x.shape)  # negative: from the end
    shape = tuple(d * 2 if a == axis - 1 else d for a, d in enumerate(x.shape))
    lines.append(f"  {b} = {x.name} -> {rng.choice(SHAPE_KEEPING[:2])}")
    return (Tensor(f"t{i}", shape),
            f"  t{i} = concat({x.name}, {b}, axis: {written})")


def program(rng: random.Random) -> str:
    """One random valid network: an input, a chain of 1 to 10 steps, joins, one or two outputs."""
    x = Tensor("x0", (rng.randint(1, 8), rng.randint(1, 32), rng.randint(1, 32)))
    lines = ["network g {", f"  input x0: [N, {x.shape[0]}, {x.shape[1]}, {x.shape[2]}]"]
    seen = [x]
    ops = sorted(k for k in GENERATORS if k not in ("add", "mul", "concat"))
    for i in range(1, rng.randint(2, 11)):
        if rng.random() < 0.2 and max(x.shape) <= 256:
            x, line = _join(rng, x, lines, seen, i)
            lines.append(line)
        else:
            for _ in range(20):
                drawn = GENERATORS[rng.choice(ops)](rng, x.shape, seen)
                if drawn is not None and max(drawn[1]) <= 4096:
                    break
            else:
                continue
            name = f"t{i}"
            label = f"l{i}: " if rng.random() < 0.2 else ""
            *before, call = drawn[0].replace("{x}", x.name).split("\n")
            lines.extend(f"  {b}" for b in before)
            stage = call if "{x}" in drawn[0] else f"{x.name} -> {label}{call}"
            lines.append(f"  {name} = {stage}")
            x = Tensor(name, drawn[1])
        seen.append(x)
    lines.append(f"  {x.name} -> output y")
    if len(seen) > 2 and rng.random() < 0.3:
        lines.append(f"  {rng.choice(seen[1:-1]).name} -> output z")
    return "\n".join([*lines, "}", ""])


def inputs(seed: int, count: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    for _ in range(count):
        yield program(rng), "generated.net"


def prepare() -> None:
    """Import what the oracle uses, once, before the workers fork."""
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    from netdsl import export, pipeline, runtime  # noqa: F401


def differential(text: str, path: str) -> str:
    """The target: what check accepts compiles, passes onnx's full checker, and onnx's strict
    shape inference and onnxruntime give every output the shape check predicted."""
    import onnx

    from fuzz_run import Disagreement
    from netdsl.diagnostics import NetdslError
    from netdsl.options import CompileOptions
    from netdsl.pipeline import check_source, lower
    from netdsl.runtime import Session, random_inputs
    from netdsl.source import Source

    try:
        net = check_source(Source(path, text))
    except NetdslError as e:
        return f"rejected:{e.diagnostics[0].code}"
    batch = 1 + sum(map(ord, text)) % 3  # NOTE: a fixed-by-text batch, so a reproducer repeats
    try:
        _, model = lower(net, CompileOptions())
    except NetdslError as e:
        raise Disagreement(f"check accepts, compile refuses: {e.diagnostics[0].message}",
                           f"compile:{e.diagnostics[0].code}") from e
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    try:
        onnx.checker.check_model(model, full_check=True)
        declared = _declared(model.graph, batch)
        bare = onnx.ModelProto()
        bare.CopyFrom(model)
        del bare.graph.value_info[:]
        # NOTE: data_prop, so that onnx follows Shape -> Resize sizes (upsample like:)
        inferred = _declared(onnx.shape_inference.infer_shapes(
            bare, strict_mode=True, data_prop=True).graph, batch, lenient=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        first = str(e).replace("\n", " ")[:300]
        op = first.split("op_type:", 1)[-1].split(",")[0] if "op_type:" in first else "?"
        raise Disagreement(f"onnx full_check: {first}", f"full_check:{op}:{_gist(first)}") from e
    wrong = {k: (v, inferred.get(k)) for k, v in declared.items() if inferred.get(k) != v}
    if wrong:
        op = producer.get(next(iter(wrong)), "?")
        raise Disagreement(f"onnx infers other shapes (ours, onnx's): {wrong}", f"infer:{op}")
    try:
        session = Session(model.SerializeToString(), provider="cpu", threads=1)
        outputs = session.run(random_inputs(session.inputs, batch=batch, seed=0))
    except NetdslError as e:
        message = e.diagnostics[0].message
        op = next((t for t in sorted(set(producer.values()), key=len, reverse=True)
                   if t in message), "?")
        raise Disagreement(f"onnxruntime refuses: {message}", f"ort:{op}:{_gist(message)}") from e
    for name, array in outputs.items():
        if tuple(array.shape) != declared[name]:
            raise Disagreement(f"{name}: onnxruntime gives {array.shape}, check "
                               f"{declared[name]}", f"run:{producer.get(name, '?')}")
    return "ok"


def _gist(message: str) -> str:
    """A short digest of a message without its numbers and names: the same failure, the same
    gist (so that shrinking keeps to one bug, and two bugs of one op are told apart)."""
    import hashlib
    import re
    words = re.sub(r"\d+|'[^']*'|node name: \w+|Name:\S+", "", message)
    return hashlib.sha1(words.encode()).hexdigest()[:6]


def _declared(graph: Any, batch: int, lenient: bool = False) -> dict[str, tuple[object, ...]]:
    """Every declared tensor's shape, the batch symbol N replaced by `batch`. Other symbols (an
    inference that could not tell) are kept, so they disagree with any number; `lenient`: but
    for a fresh symbol on the batch axis, where onnx's data propagation loses N (Shape ops)."""
    infos = [*graph.input, *graph.value_info, *graph.output]
    return {vi.name: tuple(_dim(d, batch, lenient and i == 0)
                           for i, d in enumerate(vi.type.tensor_type.shape.dim))
            for vi in infos}


def _dim(d: Any, batch: int, lenient: bool) -> object:
    if d.HasField("dim_value"):
        return d.dim_value
    if d.dim_param == "N" or (lenient and d.dim_param.startswith("unk__")):
        return batch
    return d.dim_param or None
