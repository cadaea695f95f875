"""netdsl: a language for neural-network architectures, shape-checked, costed and lowered to ONNX.

Public API (heavy modules load lazily: `import netdsl` does not import onnx or onnxruntime):
    load(path, network=None, params=None, *, root=None) -> Network      a .net file, checked
    loads(text, network=None, params=None, path="<string>", *, root=None) -> Network
    compile(net, network=None, params=None, *, opset=17, batch=None, seed=0, init=None,
            weights=None, fully_convolutional=False, input_size=None, rename=(),
            source_lines=True, root=None) -> onnx.ModelProto
    compile_to(path, net, network=None, params=None, **the same keywords) -> Network
        as compile, streamed into an .onnx file (what `netdsl compile` does): the same bytes as
        saving compile's model, written without ever holding the weights in memory
    run(model, inputs=None, *, network=None, params=None, provider="auto", batch=1, seed=0,
        root=None) -> dict of numpy arrays
A Network has `.graph` (the checked IR), `.stats` (params, MACs, receptive fields, memory) and
`.name`. Network parameters go in `params={...}`, never among the options. Where a path is taken,
a str is always a path, never .net text (that is what `loads` is for); `compile` and `run` also
take a Network, and `run` an onnx.ModelProto or an `.onnx` path (files.is_onnx: the suffix).
`root` is the folder `use` lines may read in and below: by default the .net file's own folder
(for `loads`, the current directory); a `use` outside it is E210.

Mistakes in the user's program raise NetdslError; its `.diagnostics` are Diagnostic objects
(`.code` such as "E302", `.message`, `.hints`, `.notes`, `.severity`, `.location()` as
(path, line, column)), and str() of the error is the text `netdsl check` prints. Examples, all
run by the tests: docs/api.md.

Arguments are checked before any work (options.py): a wrong Python type is a TypeError, a value
out of range (`provider="tpu"`, `seed=-1`) is NetdslError E214.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdsl import options
from netdsl.diagnostics import Diagnostic, NetdslError
from netdsl.options import DEFAULT_OPSET, CompileOptions, Weights

if TYPE_CHECKING:
    import numpy as np
    import onnx

    from netdsl.pipeline import Network

__all__ = ["Diagnostic", "NetdslError", "Network", "__version__", "compile", "compile_to", "load",
           "loads", "run"]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # NOTE: lazily, as reading package metadata is slow (version.py)
        from netdsl.version import version
        return version()
    if name == "Network":  # NOTE: lazily, as the pipeline imports lark and networkx
        from netdsl.pipeline import Network
        return Network
    raise AttributeError(f"module 'netdsl' has no attribute {name!r}")


_Path = str | os.PathLike[str]  # a str is always a path, never .net text


def load(path: _Path, network: str | None = None,
         params: Mapping[str, Any] | None = None, *, root: _Path | None = None) -> Network:
    """Parse, elaborate and check one network of a .net file (`network`, which may be left out
    where the file defines one), with `params` overriding its parameters. Raises NetdslError
    with every mistake found (E213 where the file has several networks and none is named)."""
    from netdsl.pipeline import check_source, read_source
    if isinstance(path, str) and "\n" in path:
        raise TypeError("netdsl.load takes a path; for .net text use netdsl.loads(text)")
    options.check_path("path", path)
    options.check_root(root)
    options.check_choice_of_network(network, params)
    return check_source(read_source(path, root), network, params)


def loads(text: str, network: str | None = None, params: Mapping[str, Any] | None = None,
          path: str = "<string>", *, root: _Path | None = None) -> Network:
    """As load, for .net text; `path` is the name messages give it (`use` lines in it resolve
    from the current directory, and only inside `root`, by default that directory)."""
    from netdsl.pipeline import check_source
    from netdsl.source import Source
    options.check_text("text", text)
    options.check_text("path", path)
    options.check_root(root)
    options.check_choice_of_network(network, params)
    return check_source(Source(path, text, str(Path(root or os.getcwd()).resolve())), network,
                        params)


def compile(net: Network | _Path, network: str | None = None,
            params: Mapping[str, Any] | None = None, *, opset: int = DEFAULT_OPSET,
            batch: int | None = None, seed: int = 0, init: str | None = None,
            weights: Weights | None = None, fully_convolutional: bool = False,
            input_size: tuple[int, ...] | None = None, rename: Sequence[str] = (),
            source_lines: bool = True, root: _Path | None = None) -> onnx.ModelProto:
    """Lower a Network (or the network load(net, network, params, root=root) checks) to ONNX.
    The keywords are CompileOptions (the flags of `netdsl compile`); `weights` is a .npz,
    .safetensors or torch .pt path, or arrays by parameter name; `rename` holds
    'PATTERN=REPLACEMENT' rules (regular expressions) applied in order to the weights' names
    before they are matched; `init` is "he", "xavier" or "zeros" (every random weight 0: a
    structurally valid model, for tests that need only the graph)."""
    from netdsl.pipeline import lower
    chosen = CompileOptions(opset=opset, batch=batch, seed=seed, init=init, weights=weights,
                            fully_convolutional=fully_convolutional, input_size=input_size,
                            rename=options.rename_rules(rename), source_lines=source_lines)
    return lower(_checked(net, network, params, root, chosen), chosen)[1]


def compile_to(path: _Path, net: Network | _Path, network: str | None = None,
               params: Mapping[str, Any] | None = None, *, opset: int = DEFAULT_OPSET,
               batch: int | None = None, seed: int = 0, init: str | None = None,
               weights: Weights | None = None, fully_convolutional: bool = False,
               input_size: tuple[int, ...] | None = None, rename: Sequence[str] = (),
               source_lines: bool = True, root: _Path | None = None) -> Network:
    """As compile, but written into the .onnx file `path` as a stream (stream.write), in
    memory that does not grow with the weights; weights over 2 GB go to `<path>.data`. The
    bytes are those of saving compile's model. Returns the network that was lowered."""
    from netdsl.pipeline import lower
    options.check_path("path", path)
    chosen = CompileOptions(opset=opset, batch=batch, seed=seed, init=init, weights=weights,
                            fully_convolutional=fully_convolutional, input_size=input_size,
                            rename=options.rename_rules(rename), source_lines=source_lines)
    return lower(_checked(net, network, params, root, chosen), chosen, path)[0]


def run(model: onnx.ModelProto | Network | _Path, inputs: Mapping[str, np.ndarray] | None = None,
        *, network: str | None = None, params: Mapping[str, Any] | None = None,
        provider: str = "auto", batch: int = 1, seed: int = 0,
        root: _Path | None = None) -> dict[str, np.ndarray]:
    """Run on onnxruntime: an onnx.ModelProto, an `.onnx` file, or a Network or .net file
    (compiled in memory, weights seeded by `seed`), as `netdsl run` does. Without inputs, random
    normal inputs (seeded; zeros for an integer input) of batch size `batch` are used."""
    from netdsl import export, files, runtime
    from netdsl.pipeline import Network
    options.check_run(provider, batch, seed, inputs)
    if isinstance(model, (str, os.PathLike)) and files.is_onnx(model):
        _no_choice(network, params, "an .onnx model")
        model = Path(model)  # onnxruntime reads it, external data included
        export.check_file(model)
    elif isinstance(model, (str, os.PathLike, Network)):
        model = compile(model, network, params, seed=seed, root=root)
    elif type(model).__name__ == "ModelProto":
        _no_choice(network, params, "an onnx.ModelProto")
    else:
        raise TypeError(f"netdsl.run takes a model (onnx.ModelProto, a Network or a path), not "
                        f"{type(model).__name__}")
    session = runtime.Session(model, provider)
    feeds = inputs if inputs is not None else runtime.random_inputs(
        session.inputs, batch, seed, session.example_sizes)
    return session.run(feeds)


def _checked(net: Network | _Path, network: str | None, params: Mapping[str, Any] | None,
             root: _Path | None = None, options: CompileOptions | None = None) -> Network:
    """The network to lower. An `input_size` without `fully_convolutional` binds the inputs'
    named sizes (`[N, 3, H, W]`), as `netdsl compile --input-size` does: the file is checked
    again at that size (a checked Network cannot be: ValueError)."""
    from netdsl.pipeline import Network, SizeConflict, size_params
    size = options.input_size if options and not options.fully_convolutional else None
    if isinstance(net, Network):
        _no_choice(network, params, "a checked Network")
        if size:
            raise ValueError("input_size= without fully_convolutional= binds the named sizes of "
                             "a .net file; check the Network at that size instead (load(..., "
                             "params={'H': ..., 'W': ...}))")
        return net
    checked = load(net, network, params, root=root)
    if not size:
        return checked
    try:
        sizes = size_params(checked.graph, size, params)
    except SizeConflict as e:
        raise ValueError(f"params={{{e.name!r}: {e.value!r}}} and input_size={size} disagree"
                         ) from None
    except ValueError as e:
        raise ValueError(f"input_size= {e}") from None
    return load(net, network, {**(params or {}), **sizes}, root=root)


def _no_choice(network: str | None, params: Mapping[str, Any] | None, given: str) -> None:
    if network is not None or params is not None:
        raise TypeError(f"network= and params= choose from a .net file; {given} has no choice")
