"""Weight files → arrays by parameter name (.npz or .safetensors), checked against what a graph
needs: missing, unexpected and mis-shaped names are all reported together, as torch's strict
load_state_dict does."""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netdsl.diagnostics import Diagnostic, NetdslError, error, warning
from netdsl.limits import MAX_WEIGHTS_BYTES


def read(path: str | Path) -> Mapping[str, np.ndarray]:
    p = Path(path)
    if not p.exists():
        raise NetdslError([error("E401", f"weight file {p}: no such file")])
    if p.is_dir():
        raise NetdslError([error("E401", f"weight file {p}: is a directory")])
    suffix = p.suffix.lower()
    try:
        if suffix == ".npz":
            return NpzArrays(p)
        if suffix == ".safetensors":
            return SafetensorsArrays(p)
        if suffix in (".pt", ".pth", ".bin"):  # NOTE: .bin: Hugging Face's pytorch_model.bin
            from netdsl import checkpoint
            return checkpoint.read(p)
    except NetdslError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise NetdslError([error("E401", f"weight file {p}: corrupt or not a {suffix} file "
                                 f"({str(e)[:120]})")]) from None
    except Exception as e:  # noqa: BLE001 - safetensors raises its own SafetensorError
        raise NetdslError([error("E401", f"weight file {p}: cannot read ({str(e)[:120]})")]
                          ) from None
    raise NetdslError([error("E401", f"weight file {p}: unknown format `{suffix or p.name}`",
                             hints=["use .npz (numpy.savez), .safetensors, or a state_dict "
                                    "saved by torch.save (.pt, .pth, .bin)"])])


def encode(arrays: Mapping[str, np.ndarray], suffix: str) -> bytes:
    """The bytes of a weight file (`.npz` or `.safetensors`, as `suffix` says) holding `arrays`
    by name; read() reads them back. ValueError for another suffix."""
    if suffix.lower() == ".safetensors":
        from safetensors.numpy import save
        return save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
    if suffix.lower() == ".npz":
        buf = io.BytesIO()
        np.savez(buf, **dict(arrays))  # type: ignore[arg-type]
        return buf.getvalue()
    raise ValueError(f"unknown weight format `{suffix}`: use .npz or .safetensors")


def rename_rule(rule: str) -> tuple[re.Pattern[str], str]:
    """`PATTERN=REPLACEMENT` (split at the first `=`, a Python regular expression and re.sub's
    replacement, `\\1` for a group); ValueError with a sentence when it is not one."""
    pattern, eq, replacement = rule.partition("=")
    if not eq or not pattern:
        raise ValueError(f"rename rule {rule!r} is not PATTERN=REPLACEMENT")
    try:
        return re.compile(pattern), replacement
    except re.error as e:
        raise ValueError(f"rename rule {rule!r}: bad regular expression: {e}") from None


def rename(weights: Mapping[str, np.ndarray], rules: tuple[str, ...],
           path: str = "weights") -> Mapping[str, np.ndarray]:
    """The arrays under new names: each rule substituted (re.sub, every match) into every name,
    rule after rule. Two names that become one are E401; a bad rule is E214. Only names are
    read: a file's arrays stay unread until asked for (under their new names)."""
    try:
        compiled = [rename_rule(r) for r in rules]
    except ValueError as e:
        raise NetdslError([error("E214", str(e))]) from None
    origin: dict[str, str] = {}  # new name -> old
    for name in weights:
        new = name
        for pattern, replacement in compiled:
            try:
                new = pattern.sub(replacement, new)
            except (re.error, IndexError) as e:
                raise NetdslError([error("E214", f"rename rule `{pattern.pattern}`: bad "
                                         f"replacement: {e}")]) from None
        if new in origin:
            raise NetdslError([error("E401", f"{path}: `{origin[new]}` and `{name}` are both "
                                     f"renamed to `{new}`")])
        origin[new] = name
    if isinstance(weights, LazyArrays):
        return View(weights, origin)
    return {new: weights[old] for new, old in origin.items()}


def reshaped(weights: Mapping[str, np.ndarray], shapes: Mapping[str, tuple[int, ...]]
             ) -> Mapping[str, np.ndarray]:
    """The arrays with those names reshaped (as many elements in another shape), a file's still
    unread."""
    if isinstance(weights, LazyArrays):
        return View(weights, {k: k for k in weights}, shapes)
    return {k: np.asarray(v).reshape(shapes[k]) if k in shapes else v for k, v in weights.items()}


class LazyArrays(Mapping[str, np.ndarray]):
    """The arrays of a weight file, read only when asked for: names, shapes and dtypes come from
    the file's headers, so that names and shapes are checked before any data is read (a file of
    unexpected, mis-shaped or huge arrays costs nothing); the sizes the headers declare may total
    at most limits.MAX_WEIGHTS_BYTES."""

    def __init__(self, path: Path):
        self.path = path
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
        self._total = 0

    def _declare(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self._total += math.prod(shape) * dtype.itemsize
        if self._total > MAX_WEIGHTS_BYTES:
            raise NetdslError([error("E401", f"weight file {self.path}: its arrays hold more "
                                     f"than the limit of {MAX_WEIGHTS_BYTES:,} bytes")])
        self.headers[name] = (shape, dtype)

    def __contains__(self, name: object) -> bool:  # NOTE: Mapping's would read the array
        return name in self.headers

    def __iter__(self) -> Iterator[str]:
        return iter(self.headers)

    def __len__(self) -> int:
        return len(self.headers)


class NpzArrays(LazyArrays):
    """An .npz file's arrays: the members' .npy headers, and no member may hold more than it
    declares (a zip bomb is never inflated)."""

    def __init__(self, path: Path):
        super().__init__(path)
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename.removesuffix(".npy")
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = header(f, max_header_size=10_000)
                    declared = math.prod(shape) * dtype.itemsize
                    if dtype.hasobject or info.file_size > declared + f.tell():
                        raise ValueError(f"member `{name}` is not a plain numeric array")
                self._declare(name, tuple(shape), dtype)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                return np.asarray(z[name])
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
            raise NetdslError([error("E401", f"weight file {self.path}: corrupt member `{name}` "
                                     f"({str(e)[:120]})")]) from None


class View(LazyArrays):
    """A file's arrays under other names (`--rename`) or shapes (a dense kernel as a conv's),
    each read from the file when asked for."""

    def __init__(self, inner: LazyArrays, origin: Mapping[str, str],
                 shapes: Mapping[str, tuple[int, ...]] | None = None):  # by new name
        super().__init__(inner.path)
        self.inner, self.origin = inner, dict(origin)
        self.headers = {new: ((shapes or {}).get(new, inner.headers[old][0]), inner.headers[old][1])
                        for new, old in origin.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        return self.inner[self.origin[name]].reshape(self.headers[name][0])


# safetensors' dtypes that numpy has (bfloat16 and the float8s it has not)
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2",
                      "U8": "u1", "BOOL": "?"}


class SafetensorsArrays(LazyArrays):
    """A .safetensors file's arrays: its JSON header (which safetensors checks: at most 100 MB,
    offsets that cover the file exactly), then each array read on its own from the mapped
    file, never the whole file."""

    def __init__(self, path: Path):
        from safetensors import safe_open
        super().__init__(path)
        self._bf16: set[str] = set()
        with safe_open(str(path), "np") as f:
            for name in f.keys():
                part = f.get_slice(name)
                kind = part.get_dtype()
                if kind == "BF16":  # NOTE: numpy has none; read as float32 (exact)
                    self._bf16.add(name)
                elif kind not in SAFETENSORS_DTYPES:
                    raise NetdslError([error("E401", f"weight file {path}: `{name}` is {kind}, "
                                             "which numpy cannot hold", hints=[
                                                 "save it as float32 (or float16)"])])
                self._declare(name, tuple(part.get_shape()),
                              np.dtype(SAFETENSORS_DTYPES.get(kind, "<f4")))

    def __getitem__(self, name: str) -> np.ndarray:
        from safetensors import safe_open
        if name not in self.headers:
            raise KeyError(name)
        if name in self._bf16:
            from netdsl import checkpoint
            return checkpoint.bfloat16(self._raw(name)).reshape(self.headers[name][0])
        with safe_open(str(self.path), "np") as f:
            return np.asarray(f.get_tensor(name))

    def _raw(self, name: str) -> bytes:
        """An array's bytes, where the header (checked by safe_open) says they are."""
        with self.path.open("rb") as f:
            size = int.from_bytes(f.read(8), "little")
            start, end = json.loads(f.read(size))[name]["data_offsets"]
            f.seek(8 + size + start)
            return f.read(end - start)


def meta(weights: Mapping[str, np.ndarray], k: str) -> tuple[tuple[int, ...], str]:
    """An array's shape and dtype kind, from the header where the file is not read yet."""
    if isinstance(weights, LazyArrays):
        shape, dtype = weights.headers[k]
        return shape, dtype.kind
    array = np.asarray(weights[k])  # NOTE: the API takes nested lists too
    return tuple(array.shape), array.dtype.kind


_KINDS = {"c": "complex", "b": "boolean", "U": "text", "S": "bytes", "O": "objects"}


def check(weights: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]],
          path: str = "weights", warnings: list[Diagnostic] | None = None
          ) -> dict[str, np.ndarray]:
    """The weights as float32, if names and shapes match `expected` exactly; else E401 listing
    every missing, unexpected and mis-shaped name. Then E406 for NaN values; infinite ones (in
    float32: beyond ±3.4e38 too) are W401, appended to `warnings`."""
    diags: list[Diagnostic] = []
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    wrong = [k for k in expected if k in weights and meta(weights, k)[0] != expected[k]]
    if missing:
        diags.append(error("E401", f"{path}: {len(missing)} missing: {_names(missing)}"))
    if unexpected:
        diags.append(error("E401", f"{path}: {len(unexpected)} unexpected: {_names(unexpected)}",
                           hints=[_prefix_hint(missing, unexpected)
                                  or "names are layer names plus .weight, .bias, .running_mean, "
                                  ".running_var; see `netdsl summary --format json`"]))
    for k in wrong:
        diags.append(error("E401", f"{path}: `{k}` has shape {list(meta(weights, k)[0])}, the "
                           f"network needs {list(expected[k])}"))
    bad_dtype = [k for k in expected if k in weights and meta(weights, k)[1] not in "fiu"]
    if bad_dtype:
        kinds = sorted({_KINDS.get(meta(weights, k)[1], "other") for k in bad_dtype})
        diags.append(error("E401", f"{path}: not real numbers ({', '.join(kinds)}): "
                           f"{_names(bad_dtype)}", hints=[
                               "netdsl reads integer and floating-point weights"]))
    if diags:
        raise NetdslError(diags)
    with np.errstate(over="ignore", invalid="ignore"):  # NOTE: overflow is reported as W401
        arrays = {k: np.asarray(weights[k], dtype=np.float32) for k in expected}
    return _finite(arrays, path, warnings if warnings is not None else [])


def _finite(arrays: dict[str, np.ndarray], path: str, warnings: list[Diagnostic]
            ) -> dict[str, np.ndarray]:
    diags = []
    for k, a in arrays.items():
        if np.isfinite(a).all():
            continue
        nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
        if nan:
            diags.append(error("E406", f"{path}: `{k}` has {_count(nan)} NaN "
                               f"{'value' if nan == 1 else 'values'} (not a number)", hints=[
                                   "a NaN weight makes every output NaN; check how the file "
                                   "was written"]))
        if inf:
            warnings.append(warning("W401", f"{path}: `{k}` has {_count(inf)} "
                                    f"{'value that is' if inf == 1 else 'values that are'} "
                                    "infinite in float32",
                                    hints=["values beyond ±3.4e38 become inf in float32"]))
    if diags:
        raise NetdslError(diags)
    return arrays


def _prefix_hint(missing: list[str], unexpected: list[str]) -> str:
    """Where every missing name is an unexpected one less a prefix (`module.`, `model.`: a
    DataParallel or Lightning checkpoint), the --rename that strips it; else ""."""
    if not missing:
        return ""
    first = next((u for u in unexpected if u.endswith("." + missing[0])), None)
    prefix = first[:len(first) - len(missing[0])] if first else ""
    if not prefix or any(prefix + m not in unexpected for m in missing):
        return ""
    return (f"the file's names begin with `{prefix}`: --rename '^{re.escape(prefix)}=' "
            "(rename= in the API) strips it")


def _count(n: int) -> str:
    return f"{n:,}"


def _names(names: list[str]) -> str:
    shown = ", ".join(f"`{n}`" for n in names[:8])
    return shown + (f" and {len(names) - 8} more" if len(names) > 8 else "")
