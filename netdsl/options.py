"""Compile options: everything a compile may be told besides the network's own parameters, as one
typed record that `netdsl compile`, `netdsl.compile`, the pipeline and the lowering all read."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from netdsl.diagnostics import NetdslError, error
from netdsl.limits import MAX_BATCH
from netdsl.record import Record, record

if TYPE_CHECKING:
    import numpy as np

# NOTE: a fixed default, so that the same .net gives the same bytes on every machine (the newest
# opset the local onnxruntime accepts would not). 17 (ONNX 1.12, 2022) is widely deployed:
# onnxruntime >= 1.12 and TensorRT 8.6 load it, and it is the first opset with LayerNormalization.
# Every operator lowers at 17 and at the newest opset the installed onnx knows (tests/test_export).
DEFAULT_OPSET = 17
INITS = ("he", "xavier", "zeros")  # --init, `option init`; zeros: a valid model, for CI
PROVIDERS = ("auto", "cpu", "cuda")  # --provider
SEEDS = 2**32  # a seed is 0 .. 2**32 - 1 (numpy's generators take no negative seed)

# a weight file (.npz or .safetensors, read by the pipeline) or arrays by parameter name
Weights = Mapping[str, "np.ndarray"] | str | os.PathLike[str]


@record
class CompileOptions(Record):
    """How to lower a checked network to ONNX (the flags of `netdsl compile`)."""

    opset: int = DEFAULT_OPSET  # --opset: 17 to the newest the installed onnx knows
    batch: int | None = None  # --batch: a fixed batch size; None keeps the symbolic N
    seed: int = 0  # --seed: of the initial weights
    init: str | None = None  # --init he|xavier|zeros; None: the network's `option init`, else he
    weights: Weights | None = None  # --weights; None: initialised from `seed` and `init`
    rename: tuple[str, ...] = ()  # --rename 'PATTERN=REPLACEMENT': applied to weight names in order
    fully_convolutional: bool = False  # --fully-convolutional: the dense head becomes convs
    input_size: tuple[int, ...] | None = None  # --input-size, with fully_convolutional
    source_lines: bool = True  # False (--no-source-lines): doc strings give path:line:col only

    def __post_init__(self) -> None:
        check_int("opset", self.opset)
        if self.batch is not None:
            check_batch(self.batch)
        check_seed(self.seed)
        if self.init is not None:
            check_choice("init", self.init, INITS)
        check_weights(self.weights)
        fully: object = self.fully_convolutional  # NOTE: object: callers may pass anything
        size: object = self.input_size
        if not isinstance(fully, bool):
            _wrong_type("fully_convolutional", fully, "True or False")
        if self.input_size is not None:
            if not isinstance(size, (tuple, list)):
                _wrong_type("input_size", self.input_size, "a tuple of integers")
            for d in self.input_size:
                check_int("input_size", d, 1)


# NOTE: the public API's arguments are checked here, in one place, as they are made into options
# (or, for run, by check_run): a wrong Python type is a TypeError that says what the argument
# takes (a programming mistake, as Python's own); a value of the right type but out of range is
# NetdslError E214, as the same value given on the command line is (a user's mistake). Nothing
# invalid is silently replaced by a default.

def _wrong_type(name: str, v: object, words: str) -> None:
    raise TypeError(f"{name}= takes {words}, not {type(v).__name__} {v!r:.40}")


def _bad_value(name: str, v: object, why: str) -> None:
    raise NetdslError([error("E214", f"{name}={v!r:.40}: {why}")])


def check_int(name: str, v: object, lo: int | None = None, hi: int | None = None) -> None:
    if not isinstance(v, int) or isinstance(v, bool):
        _wrong_type(name, v, "an integer")
    assert isinstance(v, int)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f"at least {lo}" if hi is None else f"{lo} to {hi}"
        _bad_value(name, v, f"must be {bounds}")


def check_seed(seed: object) -> None:
    check_int("seed", seed, 0, SEEDS - 1)


def check_batch(batch: object) -> None:
    check_int("batch", batch, 1, MAX_BATCH)


def check_choice(name: str, v: object, choices: tuple[str, ...]) -> None:
    if not isinstance(v, str):
        _wrong_type(name, v, "a string: " + ", ".join(choices))
    if v not in choices:
        _bad_value(name, v, "must be one of " + ", ".join(choices))


def check_text(name: str, v: object) -> None:
    """A str of text: not bytes, no lone surrogate (which cannot be written out as UTF-8)."""
    if not isinstance(v, str):
        _wrong_type(name, v, "a str")
    assert isinstance(v, str)
    try:
        v.encode("utf-8")
    except UnicodeEncodeError as e:
        raise NetdslError([error("E214", f"{name}: not text: a lone surrogate at character "
                                 f"{e.start}")]) from None


def check_path(name: str, v: object) -> None:
    if not isinstance(v, (str, os.PathLike)):
        _wrong_type(name, v, "a path (str or os.PathLike)")
    check_text(name, v if isinstance(v, str) else str(os.fspath(v)))  # type: ignore[call-overload]


def check_root(root: object) -> None:
    """None, or the directory `use` lines may read in and below (as --root DIR)."""
    if root is not None:
        check_path("root", root)
        if not os.path.isdir(root):  # type: ignore[arg-type]
            _bad_value("root", root, "not a directory")


def check_weights(weights: object) -> None:
    """None, a path, or a mapping of parameter names to numeric arrays."""
    if weights is None or isinstance(weights, (str, os.PathLike)):
        if weights is not None:
            check_path("weights", weights)
        return
    if not isinstance(weights, Mapping):
        _wrong_type("weights", weights, "a path or a mapping of names to arrays")
    import numpy as np
    assert isinstance(weights, Mapping)
    for k, v in weights.items():
        if not isinstance(k, str):
            _wrong_type("weights", k, "str keys (parameter names)")
        try:
            numeric = np.asarray(v).dtype.kind in "biuf"
        except ValueError:  # a ragged list
            numeric = False
        if not numeric:
            _wrong_type(f"weights[{k!r}]", v, "a numeric array")


def rename_rules(rename: object) -> tuple[str, ...]:
    """`rename=` as CompileOptions holds it: a sequence of 'PATTERN=REPLACEMENT' strings (one
    str alone is not: it would be read as one rule per character)."""
    words = "a sequence of 'PATTERN=REPLACEMENT' strings"
    if isinstance(rename, (str, bytes)) or not isinstance(rename, (tuple, list)):
        _wrong_type("rename", rename, words)
    assert isinstance(rename, (tuple, list))
    for rule in rename:
        if not isinstance(rule, str):
            _wrong_type("rename", rule, words)
    return tuple(rename)


def check_run(provider: object, batch: object, seed: object, inputs: object = None) -> None:
    """netdsl.run's own arguments (those not of CompileOptions)."""
    if inputs is not None and not isinstance(inputs, Mapping):
        _wrong_type("inputs", inputs, "a mapping of input names to arrays")
    check_choice("provider", provider, PROVIDERS)
    check_batch(batch)
    check_seed(seed)


def check_choice_of_network(network: object, params: object) -> None:
    """load's `network=` (a name or None) and `params=` (a mapping by name, or None)."""
    if network is not None:
        check_text("network", network)
    if params is not None:
        if not isinstance(params, Mapping):
            _wrong_type("params", params, "a mapping of parameter names to values")
        assert isinstance(params, Mapping)
        for k in params:
            if not isinstance(k, str):
                _wrong_type("params", k, "str keys (parameter names)")

