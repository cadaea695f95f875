"""ONNX model → outputs, on onnxruntime (CPU, or CUDA where onnxruntime-gpu is installed).
The only module that imports onnxruntime; it also reads input arrays and writes output arrays."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from netdsl import files
from netdsl.diagnostics import NetdslError, error
from netdsl.limits import MAX_TENSOR_ELEMENTS
from netdsl.record import Record, record

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


@record
class Port(Record):
    """A model's input or output as onnxruntime states it: its name and shape."""

    name: str
    shape: tuple[Any, ...]  # ints, or str for symbolic dims
    dtype: str = "float32"  # numpy's name of the element type (float32 where numpy has none)


# onnxruntime's element types -> numpy's (bfloat16 and the float8s have no numpy type)
_DTYPES = {f"tensor({k})": v for k, v in {
    "float": "float32", "float16": "float16", "double": "float64", "int8": "int8",
    "int16": "int16", "int32": "int32", "int64": "int64", "uint8": "uint8", "uint16": "uint16",
    "uint32": "uint32", "uint64": "uint64", "bool": "bool"}.items()}


def _port(arg: Any) -> Port:
    return Port(arg.name, tuple(arg.shape), _DTYPES.get(arg.type, "float32"))


def providers(choice: str = "auto") -> tuple[list[str], str]:
    """The onnxruntime providers for auto|cpu|cuda, and a note for the user ("" if none).
    E405 when cuda is asked for and this onnxruntime has no CUDA provider."""
    has_cuda = CUDA in ort.get_available_providers()
    if choice == "cpu":
        return [CPU], ""
    if choice == "cuda" and not has_cuda:
        raise NetdslError([error("E405", "--provider cuda: this onnxruntime has no CUDA execution "
                                 f"provider (it has: {', '.join(ort.get_available_providers())})",
                                 hints=["install onnxruntime-gpu and a CUDA runtime, or use "
                                        "--provider cpu"])])
    if has_cuda:
        return [CUDA, CPU], ""
    return [CPU], "CUDA is not available in this onnxruntime; running on the CPU"


class Session:
    """One onnxruntime InferenceSession, with its inputs checked before every run.

    `model`: serialised bytes, a path (external data is found beside it), or a ModelProto."""

    def __init__(self, model: Any, provider: str = "auto", threads: int = 0):
        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # NOTE: failures become our diagnostics; no second report
        # NOTE: the default, stated: every level from BASIC up folds BatchNormalization into the
        # Conv before it, so our BN nodes (kept for their state_dict names) cost nothing
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        wanted, self.note = providers(provider)
        data = str(model) if isinstance(model, Path) else model
        if not isinstance(data, (bytes, str)):
            data = data.SerializeToString()
        try:
            self._s = ort.InferenceSession(data, opts, providers=wanted)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph
            raise NetdslError([error("E403", "onnxruntime cannot load the model: "
                                     f"{_first_line(e)}")]) from None
        self.providers = self._s.get_providers()
        if provider == "cuda" and CUDA not in self.providers:
            raise NetdslError([error("E405", "--provider cuda: the CUDA execution provider is "
                                     "installed but could not start", hints=[
                                         "check the CUDA and cuDNN libraries onnxruntime-gpu "
                                         "needs, or use --provider cpu"])])

    @property
    def inputs(self) -> list[Port]:
        return [_port(i) for i in self._s.get_inputs()]

    def _meta(self, key: str) -> str:
        return str(self._s.get_modelmeta().custom_metadata_map.get(key, ""))

    @property
    def valid_sizes(self) -> list[tuple[tuple[str, ...], list[tuple[int, int]]]]:
        """A model for every input size: each group of equal named sizes and the arithmetic
        progressions (first, step) of its valid values (export/'s metadata `H=W=188+16k`)."""
        groups = []
        for entry in filter(None, self._meta("valid_sizes").split(";")):
            *names, text = entry.split("=")
            progs = []
            for p in filter(None, text.split("|")):
                first, _, step = p.partition("+")
                if first.isdigit() and (not step or step[:-1].isdigit()):
                    progs.append((int(first), int(step[:-1]) if step else 0))
            groups.append((tuple(names), progs))
        return groups

    @property
    def example_sizes(self) -> dict[str, int]:
        """A model for every input size: the size each named dim had where it was checked
        (export/ writes them as metadata, `H=572,W=572`); {} for a fixed-size model."""
        text = self._meta("example_sizes")
        sizes = {}
        for pair in filter(None, text.split(",")):
            name, _, value = pair.partition("=")
            if value.isdigit():
                sizes[name] = int(value)
        return sizes

    @property
    def outputs(self) -> list[Port]:
        return [_port(o) for o in self._s.get_outputs()]

    def check(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The feeds as contiguous arrays of the inputs' types (a float as float32 for a float32
        input, an integer for an integer one), or E404 naming the input and what it needs."""
        expected = {p.name: p for p in self.inputs}
        for name in feeds:
            if name not in expected:
                raise NetdslError([error("E404", f"the model has no input `{name}`", hints=[
                    "its inputs: " + ", ".join(f"{p.name} {_fmt(p.shape)}"
                                               for p in expected.values())])])
        checked = {}
        for name, port in expected.items():
            wants = f"{port.dtype} {_fmt(port.shape)}"
            if name not in feeds:
                raise NetdslError([error("E404", f"input `{name}` is missing: the model expects "
                                         f"{wants}")])
            arr = np.asarray(feeds[name])
            if not _kind_fits(arr.dtype, np.dtype(port.dtype)):
                raise NetdslError([error("E404", f"input `{name}` has dtype {arr.dtype}; the "
                                         f"model expects {wants}", hints=[
                                             f"convert it with array.astype(numpy.{port.dtype})"])])
            if len(arr.shape) != len(port.shape) or any(
                    isinstance(d, int) and d != a for d, a in zip(port.shape, arr.shape)):
                raise NetdslError([error("E404", f"input `{name}` has shape {list(arr.shape)}; "
                                         f"the model expects {wants}")])
            if arr.size == 0:
                raise NetdslError([error("E404", f"input `{name}` is empty (shape "
                                         f"{list(arr.shape)}); the model expects {wants}")])
            checked[name] = np.ascontiguousarray(arr, dtype=port.dtype)
        self._check_sizes(checked)
        return checked

    def _check_sizes(self, feeds: Mapping[str, np.ndarray]) -> None:
        """E404 unless the named sizes of the inputs are valid (a model for every size)."""
        sizes: dict[str, tuple[int, str]] = {}
        for port in self.inputs:
            for i, d in enumerate(port.shape):
                if i and isinstance(d, str) and d:
                    sizes.setdefault(d, (int(feeds[port.name].shape[i]), port.name))
        for names, progs in self.valid_sizes:
            got = {n: sizes[n] for n in names if n in sizes}
            if len({v for v, _ in got.values()}) > 1:
                raise NetdslError([error("E404", "the sizes " + ", ".join(
                    f"{n} = {v}" for n, (v, _) in got.items()) + " must be equal")])
            for n, (v, owner) in got.items():
                if not any(v >= a and (v == a if b == 0 else (v - a) % b == 0)
                           for a, b in progs):
                    valid = ", ".join(f"{a}" if b == 0 else f"{a} + {b}k" for a, b in progs)
                    raise NetdslError([error(
                        "E404", f"input `{owner}` has {n} = {v}, a size the model is not valid "
                        f"at: {n} = {valid or 'no size'}", hints=[_nearest(v, progs)])])

    def run(self, feeds: Mapping[str, Any]) -> dict[str, np.ndarray]:
        checked = self.check(feeds)
        names = [o.name for o in self.outputs]
        try:
            results = self._s.run(names, checked)
        except Exception as e:  # noqa: BLE001 - e.g. a Reshape that cannot take this batch
            raise NetdslError([error("E403", f"onnxruntime failed: {_first_line(e)}")]) from None
        return dict(zip(names, results))


def _kind_fits(have: np.dtype[Any], want: np.dtype[Any]) -> bool:
    """Whether an array of `have` may be fed as `want`: a float as any float, an integer as any
    integer, a bool only as a bool."""
    if want.kind in "iu":
        return have.kind in "iu"
    return have.kind == want.kind


def _nearest(n: int, progs: Sequence[tuple[int, int]]) -> str:
    near = set()
    for a, b in progs:
        if b == 0:
            near.add(a)
        else:
            k = max(0, (n - a) // b)
            near.update(v for v in (a + k * b, a + (k + 1) * b) if v >= a)
    best = sorted(near, key=lambda v: (abs(v - n), v))[:2]
    return f"the nearest valid sizes: {', '.join(map(str, sorted(best)))}" if best else ""


def _first_line(e: Exception) -> str:
    """onnxruntime's message without its error prefix and C++ source locations."""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", str(e).strip())
    text = re.sub(r"/onnxruntime_src/\S+ .*? was false\. ", "", text)
    return text.splitlines()[0][:400] if text else type(e).__name__


def _fmt(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def random_inputs(ports: list[Port], batch: int = 1, seed: int = 0,
                  sizes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Standard normal inputs (zeros for an integer or bool input: valid indices and masks); a
    symbolic batch takes `batch`, another symbolic size (a model for every input size: H, W) its
    value in `sizes` (E404 where it has none)."""
    shapes = {p.name: _concrete(p, batch, sizes or {}) for p in ports}
    for p in ports:  # NOTE: before allocating: --batch 100000000
        n = math.prod(shapes[p.name])
        if n > MAX_TENSOR_ELEMENTS:
            raise NetdslError([error("E215", f"input `{p.name}` {_fmt(p.shape)} at batch {batch} "
                                     f"would hold {n:,} elements, over the limit of "
                                     f"{MAX_TENSOR_ELEMENTS:,}", hints=["use a smaller --batch"])])
    rng = np.random.default_rng(seed)
    return {p.name: rng.standard_normal(shapes[p.name]).astype(p.dtype)
            if np.dtype(p.dtype).kind == "f" else np.zeros(shapes[p.name], p.dtype)
            for p in ports}


def _concrete(port: Port, batch: int, sizes: Mapping[str, int]) -> list[int]:
    dims = []
    for i, d in enumerate(port.shape):
        if isinstance(d, int):
            dims.append(d)
        elif i == 0:
            dims.append(batch)
        elif d in sizes:
            dims.append(sizes[d])
        else:
            raise NetdslError([error("E404", f"input `{port.name}` {_fmt(port.shape)} has a size "
                                     f"{d or '(unnamed)'} that varies, and none was given",
                                     hints=[f"give it: --set {d or 'NAME'}=SIZE"])])
    return dims


def read_inputs(specs: Sequence[str], ports: list[Port]) -> dict[str, np.ndarray]:
    """`NAME=FILE.npy` pairs (or one bare `FILE.npy` for a model with one input) → arrays."""
    feeds = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep:
            if len(ports) != 1:
                raise NetdslError([error("E404", f"--input {spec}: the model has "
                                         f"{len(ports)} inputs; write NAME=FILE.npy",
                                         hints=["its inputs: " + ", ".join(p.name
                                                                          for p in ports)])])
            name, file = ports[0].name, spec
        if name in feeds:
            raise NetdslError([error("E404", f"--input {spec}: input `{name}` is given twice")])
        feeds[name] = _read_npy(Path(file))
    return feeds


def _read_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise NetdslError([error("E404", f"input file {path}: "
                                 + ("is a directory" if path.is_dir() else "no such file"))])
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        why = str(e)
        if isinstance(e, ValueError) and not _npy_magic(path):  # numpy says: pickled data
            why = "it does not begin as one does, with \\x93NUMPY"
        raise NetdslError([error("E404", f"input file {path}: not a .npy array ({why})",
                                 hints=["save each input with numpy.save"])]) from None
    if not isinstance(arr, np.ndarray):  # an .npz archive
        arr.close()
        raise NetdslError([error("E404", f"input file {path}: an .npz archive, not one .npy "
                                 "array", hints=["save each input with numpy.save"])])
    return arr


def _npy_magic(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(6) == b"\x93NUMPY"


def output_file_names(names: Sequence[str]) -> list[str]:
    """The file name each output is saved under: the name with every character but letters,
    digits, `_`, `-` and `.` made `_`, no leading dot, unique (case-insensitively: `-2`, `-3`...),
    so that no output name (`../x`, `/etc/x`, from a stranger's .onnx) can leave the folder."""
    taken: set[str] = set()
    result = []
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100].lstrip(".") or "output"
        unique, n = stem, 1
        while unique.lower() in taken:
            n += 1
            unique = f"{stem}-{n}"
        taken.add(unique.lower())
        result.append(f"{unique}.npy")
    return result


def save_outputs(outputs: Mapping[str, np.ndarray], directory: Path,
                 inputs: Sequence[Path] = ()) -> list[Path]:
    """Each output as DIR/NAME.npy (output_file_names), written atomically (netdsl.files); E402
    where one would replace one of `inputs` (the files the command read)."""
    files.check_dir(directory, "--save")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NetdslError([error("E402", f"--save {directory}: cannot create it: "
                                 f"{e.strerror or e}")]) from None
    written = [directory / f for f in output_file_names(list(outputs))]
    for path in written:
        files.check_writable(path, inputs, "--save")
    with files.atomic(*written) as temps:
        for tmp, arr in zip(temps, outputs.values()):
            with files.open_temp(tmp) as f:
                np.save(f, arr)
    return written
