"""A PyTorch checkpoint (a state_dict written by torch.save, .pt/.pth) → arrays by name, without
torch and without running pickled code: the pickle is read by an Unpickler that knows only the
few globals a tensor needs (torch's rebuild functions, storage types, OrderedDict) and refuses
every other one (E401); tensor bytes come from the zip's data records, read with numpy."""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from netdsl.diagnostics import NetdslError, error
from netdsl.limits import MAX_WEIGHTS_BYTES

_STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
             "BFloat16Storage": "bfloat16", "LongStorage": "<i8", "IntStorage": "<i4",
             "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
             "BoolStorage": "?"}

# tensors of kinds not read: what they are, by the global the pickle asks for
_UNREAD = {"_rebuild_tensor_v3": "a float8 or unsigned 16, 32 or 64-bit tensor",
           "ComplexFloatStorage": "a complex tensor", "ComplexDoubleStorage": "a complex tensor",
           "_rebuild_sparse_tensor": "a sparse tensor", "_rebuild_sparse_csr_tensor":
           "a sparse tensor", "_rebuild_qtensor": "a quantized tensor",
           "_rebuild_meta_tensor_no_storage": "a tensor on the meta device (no data)"}
_DENSE = ("save dense float32 tensors: {k: v.to_dense().float() for k, v in "
          "state_dict.items()}")
_HINTS = {"_rebuild_meta_tensor_no_storage": "save the state_dict of a model whose weights are "
                                             "loaded or initialised (model.to_empty() leaves "
                                             "them unset)"}


class _Storage:
    def __init__(self, dtype: str):
        self.dtype = dtype


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple[int, ...],
                    stride: tuple[int, ...], *_: Any) -> np.ndarray:
    flat = storage[offset:]
    if not size:
        return np.array(flat[:1].reshape(()))
    strides = tuple(s * flat.itemsize for s in stride)
    return np.array(np.lib.stride_tricks.as_strided(flat, size, strides, writeable=False))


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, path: Path):
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path
        self.storages: dict[str, np.ndarray] = {}  # NOTE: by key: views share one storage

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _Storage(_STORAGES[name])
        if module in ("torch", "torch._utils") and name in _UNREAD:
            raise NetdslError([error("E401", f"weight file {self.path}: holds {_UNREAD[name]}, "
                                     "which netdsl does not read",
                                     hints=[_HINTS.get(name, _DENSE)])])
        raise NetdslError([error("E401", f"weight file {self.path}: refused: the pickle asks "
                                 f"for `{module}.{name}`, which a state_dict of tensors never "
                                 "needs (pickled code is not run)", hints=[
                                     "save the state_dict (torch.save(model.state_dict(), f)), "
                                     "not the model, or convert it to .safetensors"])])

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"
                and isinstance(pid[1], _Storage)):
            raise NetdslError([error("E401", f"weight file {self.path}: refused: an unknown "
                                     "persistent reference in the pickle")])
        key = f"{pid[2]}:{pid[1].dtype}"
        if key not in self.storages:
            data = self.archive.read(f"{self.prefix}/data/{pid[2]}")
            self.storages[key] = (bfloat16(data) if pid[1].dtype == "bfloat16"
                                  else np.frombuffer(data, pid[1].dtype))
        return self.storages[key]


def bfloat16(data: bytes) -> np.ndarray:
    """Little-endian bfloat16 values as float32 (numpy has no bfloat16: each is the upper half
    of a float32, exactly)."""
    half = np.frombuffer(data, "<u2").astype(np.uint32) << 16
    return half.view(np.float32)


def read(path: Path) -> dict[str, np.ndarray]:
    """The state_dict's tensors by name (`num_batches_tracked` counters left out: netdsl's bn
    has no such buffer); a checkpoint that wraps it as {"state_dict": ...} or {"model": ...} is
    unwrapped. E401 for the legacy (non-zip) format and for anything but tensors."""
    if not zipfile.is_zipfile(path):
        raise NetdslError([error("E401", f"weight file {path}: not a torch.save zip archive "
                                 "(the legacy format is not read)", hints=[
                                     "save again with torch >= 1.6, or as .safetensors"])])
    with zipfile.ZipFile(path) as z:
        pkl = next((n for n in z.namelist() if n.endswith("/data.pkl")), None)
        if pkl is None:
            raise NetdslError([error("E401", f"weight file {path}: no data.pkl in the archive")])
        prefix = pkl.rsplit("/", 1)[0]
        # NOTE: inflated sizes (a deflated record may be a zip bomb), counted before any is read
        if sum(i.file_size for i in z.infolist() if i.filename.startswith(f"{prefix}/data/")
               ) > MAX_WEIGHTS_BYTES:
            raise NetdslError([error("E401", f"weight file {path}: its arrays hold more than "
                                     f"the limit of {MAX_WEIGHTS_BYTES:,} bytes")])
        with z.open(pkl) as f:
            obj = _Unpickler(f, z, prefix, path).load()
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, np.ndarray) for v in obj.values()):
        raise NetdslError([error("E401", f"weight file {path}: not a state_dict (a dict of "
                                 "tensors by name)")])
    return {str(k): v for k, v in obj.items() if not str(k).endswith("num_batches_tracked")}
