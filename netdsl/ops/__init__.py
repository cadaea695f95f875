"""The operator registry: each layer kind defined once, looked up by its .net spelling.

An ops module is imported when one of its operators is first looked up (`REGISTRY["conv"]`), so
that a check creates the classes of the operators its network uses and not all of them (each
class costs about 0.1 ms to create, netdsl/record.py). `MODULES` says which module defines
each spelling; `register` refuses a class it does not list, and `load_all()` imports every module
(docs tools, tests and editors that go through every operator).
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterator, Mapping

from netdsl.ops.base import Op

# NOTE: an operator's spelling -> the ops/ module that defines it. A new operator needs its line
# here (register fails without it, and tests/test_ops.py compares it with load_all()).
MODULES: dict[str, str] = {
    **dict.fromkeys(("relu", "leaky_relu", "elu", "relu6"), "activation"),
    "softmax": "softmax", **dict.fromkeys(("dropout", "identity"), "passthrough"),
    "attention": "attention",
    **dict.fromkeys(("conv", "depthwise"), "conv"), "conv_transpose": "conv_transpose",
    **dict.fromkeys(("slice", "split", "chunk", "permute", "transpose", "channel_shuffle",
                     "matmul"), "layout"),
    "expand": "learned",
    "dense": "linear",
    **dict.fromkeys(("bn", "lrn", "layer_norm"), "norm"),
    "maxpool": "pool", "maxunpool": "unpool",
    **dict.fromkeys(("avgpool", "globalavgpool", "globalmaxpool"), "pool"),
    "adaptive_avgpool": "adaptive",
    "upsample": "resize",
    **dict.fromkeys(("tanh", "sigmoid", "hardsigmoid", "hardswish", "silu", "swish", "gelu"),
                    "sigmoid"),
    **dict.fromkeys(("flatten", "reshape", "add", "mul", "concat"), "tensor"),
    **dict.fromkeys(("crop", "pad"), "border"),
}
# NOTE: other libraries' spellings of an operator (PyTorch's `BatchNorm2d`, Keras's `Dense`), for
# the hint of E202; looked up by foreign_name() as written in lower case without `_` and a
# trailing `2d`, after the operators' own spellings so written (`LeakyReLU`, `MaxPool2d`).
ALIASES: dict[str, str] = {
    **dict.fromkeys(("batchnorm", "batchnormalization"), "bn"),
    "layernormalization": "layer_norm", "localresponsenorm": "lrn",
    **dict.fromkeys(("linear", "fc", "fullyconnected"), "dense"),
    **dict.fromkeys(("conv2dtranspose", "deconv"), "conv_transpose"),
    "depthwiseconv": "depthwise",
    "maxpooling": "maxpool", "averagepooling": "avgpool",
    "adaptiveaveragepooling": "adaptive_avgpool",
    "globalaveragepooling": "globalavgpool", "globalmaxpooling": "globalmaxpool",
    **dict.fromkeys(("upsampling", "upsamplingnearest", "upsamplingbilinear", "interpolate",
                     "resize"), "upsample"),
    **dict.fromkeys(("zeropad", "zeropadding", "constantpad", "reflectionpad",
                     "replicationpad"), "pad"),
    "cropping": "crop",
    **dict.fromkeys(("cat", "concatenate"), "concat"),
    "multiply": "mul", "view": "reshape", "multiheadattention": "attention",
}


def foreign_name(name: str) -> str | None:
    """The operator that another library's spelling `name` names (`BatchNorm2d`: `bn`,
    `Conv2d`: `conv`, `ReLU`: `relu`), or None."""
    key = name.lower().replace("_", "").removesuffix("2d")
    if key in ALIASES:
        return ALIASES[key]
    return next((op for op in MODULES if op.replace("_", "") == key), None)


_SHARED = ("base", "geometry", "signature", "types")  # modules of ops/ that define no operator


class Registry(Mapping[str, type[Op]]):
    """Spelling -> operator class. Membership, iteration and len() read MODULES alone; a lookup
    imports the operator's module the first time."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Op]] = {}

    def __getitem__(self, name: str) -> type[Op]:
        cls = self._classes.get(name)
        if cls is None:
            # NOTE: __import__ rather than importlib.import_module, which -X importtime does not
            # see; the module's @register fills _classes
            __import__(f"{__name__}.{MODULES[name]}")
            cls = self._classes[name]
        return cls

    def __contains__(self, name: object) -> bool:
        return name in MODULES

    def __iter__(self) -> Iterator[str]:
        return iter(MODULES)

    def __len__(self) -> int:
        return len(MODULES)

    def add(self, cls: type[Op]) -> type[Op]:
        module = cls.__module__.rpartition(".")[2]
        assert MODULES.get(cls.name) == module, (
            f"operator {cls.name!r} ({cls.__module__}) is not listed in ops.MODULES as {module!r}")
        assert cls.name not in self._classes, f"operator {cls.name!r} registered twice"
        self._classes[cls.name] = cls
        return cls

    def loaded(self) -> dict[str, type[Op]]:
        """The operators registered so far (those of the modules imported)."""
        return dict(self._classes)


REGISTRY = Registry()


def register(cls: type[Op]) -> type[Op]:
    """The decorator of every operator class: adds it to REGISTRY."""
    return REGISTRY.add(cls)


def load_all() -> dict[str, type[Op]]:
    """Import every module of ops/; returns the operators they registered (spelling -> class)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SHARED:
            __import__(f"{__name__}.{info.name}")
    return REGISTRY.loaded()
