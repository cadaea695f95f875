"""Two checked networks → their differences (`netdsl diff`): layers added, removed, changed and
renamed, output shapes, and params, MACs and peak memory per top-level block and in total.
diff_report.py renders the result."""

from __future__ import annotations

import difflib
import json
import subprocess
from dataclasses import field
from pathlib import Path
from typing import Any

from netdsl.analysis import live_bytes
from netdsl.diagnostics import Diagnostic, NetdslError, error
from netdsl.ir import Graph
from netdsl.pipeline import Network, check_all, check_source
from netdsl.record import MutableRecord, Record, record
from netdsl.source import Source

METRICS = {"params": "params", "macs": "MACs", "peak_bytes": "peak memory (bytes)"}


@record
class Layer(Record):
    """One side's view of a layer: what the diff compares."""

    name: str
    op: str
    args: dict[str, Any]
    inputs: tuple[str, ...]
    shape: tuple[Any, ...]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "args": jsonable(self.args),
                "inputs": list(self.inputs), "shape": list(self.shape)}


@record
class LayerChange(Record):
    """change: "added" (old is None), "removed" (new is None), "changed" (same name, another op,
    other arguments or other inputs) or "renamed" (same op, arguments and position)."""

    change: str
    old: Layer | None
    new: Layer | None
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # key -> (old, new)

    @property
    def name(self) -> str:
        layer = self.new or self.old
        assert layer is not None
        return layer.name


@record
class OutputChange(Record):
    """change: "added", "removed", "renamed" (another name for the same layer) or "moved" (the
    same name for another layer). old and new: (output name, layer name), None on one side."""

    change: str
    old: tuple[str, str] | None
    new: tuple[str, str] | None


@record
class Delta(Record):
    """A count in the old and the new version of a network."""

    old: int
    new: int

    @property
    def delta(self) -> int:
        return self.new - self.old

    @property
    def percent(self) -> float | None:
        return 100 * self.delta / self.old if self.old else None

    def to_json(self) -> dict[str, Any]:
        pct = self.percent
        return {"old": self.old, "new": self.new, "delta": self.delta,
                "percent": None if pct is None else round(pct, 4)}


@record(frozen=False)
class NetworkDiff(MutableRecord):
    """status: "identical", "changed", "added" (only in the new file) or "removed"."""

    name: str
    status: str
    totals: dict[str, Delta]  # METRICS key -> Delta
    blocks: list[tuple[str, dict[str, Delta]]] = field(default_factory=list)  # changed only
    layers: list[LayerChange] = field(default_factory=list)
    shapes: list[tuple[Layer, Layer]] = field(default_factory=list)  # output shape changed
    outputs: list[OutputChange] = field(default_factory=list)  # the network's outputs
    # NOTE: the named input sizes each side's numbers are at (the old side's differ from the
    # new side's where it does not build there, or names other sizes)
    sizes: tuple[dict[str, int], dict[str, int]] = ({}, {})


@record(frozen=False)
class Diff(MutableRecord):
    old: str  # what the output calls the two sides: paths, or REV:path
    new: str
    networks: list[NetworkDiff]

    @property
    def differs(self) -> bool:
        return any(n.status != "identical" for n in self.networks)


# ------------------------------------------------------------------------------------- inputs

def read_revision(path: Path, rev: str) -> str:
    """The text of `path` at git revision `rev`: `git show REV:./NAME`, run in the file's folder
    (so in the file's repository). Not a repository, an unknown revision or a file absent there
    is E001, as an unreadable file is."""
    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(["git", "-C", str(path.parent), *args], capture_output=True,
                                  check=False)
        except OSError as e:
            raise NetdslError([error("E001", f"--against needs git, which cannot be run: "
                                     f"{e.strerror or e}")]) from None

    if rev.startswith("-") or not rev.strip():
        raise NetdslError([error("E001", f"--against {rev!r}: not a git revision")])
    inside = git("rev-parse", "--is-inside-work-tree")
    if inside.returncode:
        said = inside.stderr.decode(errors="replace").strip().splitlines()
        raise NetdslError([error("E001", f"{path}: not in a git repository, so --against "
                                 f"{rev} has nothing to read", notes=[f"git: {said[0]}"]
                                 if said else [])])
    if git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode:
        raise NetdslError([error("E001", f"--against {rev}: no such revision in the "
                                 f"repository of {path}",
                                 hints=["give a branch, a tag or a commit, e.g. main or HEAD~1"])])
    shown = git("show", f"{rev}:./{path.name}")
    if shown.returncode:
        raise NetdslError([error("E001", f"{path}: no such file in revision {rev} (not "
                                 "committed there, or under another name)")])
    try:
        return shown.stdout.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NetdslError([error("E001", f"{rev}:{path}: not UTF-8 text (byte {e.start})")]
                          ) from None


def diff_sources(old: Source, new: Source, network: str | None = None,
                 params: dict[str, Any] | None = None, old_label: str | None = None) -> Diff:
    """Check both files (every network, or the one named) and compare the networks by name.
    Raises NetdslError with the diagnostics of both files when either has errors. old_label
    renames the old side in the output and in its diagnostics (REV:path for a file read from
    git, whose `use` lines were resolved in the working tree)."""
    old_diags: list[Diagnostic] = []
    new_diags: list[Diagnostic] = []
    before = _checked(old, network, params, old_diags)
    after = _checked(new, network, params, new_diags)
    for name in before.keys() & after.keys():
        before[name] = _at_sizes_of(before[name], after[name], old, params)
    if old_label is not None:
        # NOTE: after checking: `use` paths resolve from old.path; diagnostics render it later
        old.path = old_label
    # the network named in one file only is added or removed, as without --network
    lacks_old, lacks_new = (network is not None and bool(d) and all(x.code == "E213" for x in d)
                            for d in (old_diags, new_diags))
    if lacks_old != lacks_new:
        old_diags, new_diags = ([] if lacks_old else old_diags), ([] if lacks_new else new_diags)
    if old_diags or new_diags:
        raise NetdslError(old_diags + new_diags)
    nets = [compare(before[n], after[n], n) if n in before else _one_sided(n, after[n], "added")
            for n in after]
    nets += [_one_sided(n, before[n], "removed") for n in before if n not in after]
    return Diff(old.path, new.path, nets)


def _checked(source: Source, network: str | None, params: dict[str, Any] | None,
             diags: list[Diagnostic]) -> dict[str, Network]:
    try:
        results = check_all(source, network, params)
    except NetdslError as e:
        diags.extend(e.diagnostics)
        return {}
    out: dict[str, Network] = {}
    for name, result in results:
        if isinstance(result, NetdslError):
            diags.extend(result.diagnostics)
        else:
            out[name] = result
    return out


def _at_sizes_of(old: Network, new: Network, source: Source,
                 params: dict[str, Any] | None) -> Network:
    """The old network built at the named input sizes the new one was built at (each at its
    first example, say 8 x 8 and 32 x 32: numbers at other sizes are no difference of the
    networks); as it was where it names other sizes or does not build there."""
    sizes = new.graph.sizes
    if not sizes or old.graph.sizes == sizes or old.graph.sizes.keys() != sizes.keys():
        return old
    try:
        return check_source(source, old.graph.name, {**(params or {}), **sizes})
    except NetdslError:
        return old


def _one_sided(name: str, checked: Network, status: str) -> NetworkDiff:
    have = _totals(checked)
    zero = dict.fromkeys(METRICS, 0)
    old, new = (zero, have) if status == "added" else (have, zero)
    return NetworkDiff(name, status, {m: Delta(old[m], new[m]) for m in METRICS})


# ------------------------------------------------------------------------------------ compare

def compare(old: Network, new: Network, name: str) -> NetworkDiff:
    """Layers are matched by their hierarchical name. A removed and an added layer with the same
    op and arguments between the same two surviving layers are one renamed layer."""
    a, b = _layers(old.graph), _layers(new.graph)
    renamed = _renames(a, b)
    back = {v: k for k, v in renamed.items()}
    layers: list[LayerChange] = []
    shapes: list[tuple[Layer, Layer]] = []
    for lay in b.values():
        before = a.get(back.get(lay.name, lay.name))
        if before is None:
            layers.append(LayerChange("added", None, lay))
            continue
        if before.shape != lay.shape:
            shapes.append((before, lay))
        moved = before.name != lay.name
        differences = _differences(before, lay, renamed)
        if moved or differences:
            layers.append(LayerChange("renamed" if moved else "changed", before, lay,
                                      differences))
    layers += [LayerChange("removed", lay, None) for lay in a.values()
               if lay.name not in b and lay.name not in renamed]
    totals = {m: Delta(o, n) for m, (o, n) in
              zip(METRICS, zip(_totals(old).values(), _totals(new).values()))}
    blocks = _blocks(old, new, renamed)
    outputs = _outputs(old.graph.outputs, new.graph.outputs, renamed)
    same = (not layers and not shapes and not blocks and not outputs
            and all(d.delta == 0 for d in totals.values()))
    return NetworkDiff(name, "identical" if same else "changed", totals, blocks, layers, shapes,
                       outputs, (dict(old.graph.sizes), dict(new.graph.sizes)))


def _outputs(old: dict[str, str], new: dict[str, str], renamed: dict[str, str]
             ) -> list[OutputChange]:
    """The outputs (name -> layer) that differ, the new network's order, then removed ones: an
    old and a new name for the same layer (old layers under their new names) are a rename."""
    gone = {o: layer for o, layer in old.items() if o not in new}
    out = []
    for o, layer in new.items():
        if o in old:
            if renamed.get(old[o], old[o]) != layer:
                out.append(OutputChange("moved", (o, old[o]), (o, layer)))
            continue
        was = next((g for g, lay in gone.items() if renamed.get(lay, lay) == layer), None)
        if was is None:
            out.append(OutputChange("added", None, (o, layer)))
        else:
            out.append(OutputChange("renamed", (was, gone.pop(was)), (o, layer)))
    return out + [OutputChange("removed", (o, layer), None) for o, layer in gone.items()]


def _layers(graph: Graph) -> dict[str, Layer]:
    return {n.name: Layer(n.name, n.op.name, n.op.args(),
                          tuple(p.name for p in graph.producers(n)), tuple(n.shape or ()))
            for n in graph.nodes()}


def _key(lay: Layer) -> str:
    return lay.op + json.dumps(jsonable(lay.args), sort_keys=True)


def _renames(a: dict[str, Layer], b: dict[str, Layer]) -> dict[str, str]:
    """old name -> new name. Position: the unmatched layers after the same surviving layer (the
    nearest earlier one whose name both have); within such a gap, equal op and arguments pair up
    in order (difflib's longest matching runs)."""
    def gaps(side: dict[str, Layer], other: dict[str, Layer]) -> dict[str | None, list[Layer]]:
        out: dict[str | None, list[Layer]] = {}
        anchor: str | None = None
        for lay in side.values():
            if lay.name in other:
                anchor = lay.name
            else:
                out.setdefault(anchor, []).append(lay)
        return out

    renamed: dict[str, str] = {}
    added = gaps(b, a)
    for anchor, removed in gaps(a, b).items():
        new = added.get(anchor, [])
        matcher = difflib.SequenceMatcher(None, [_key(x) for x in removed],
                                          [_key(y) for y in new], autojunk=False)
        for i, j, size in matcher.get_matching_blocks():
            renamed.update((removed[i + k].name, new[j + k].name) for k in range(size))
    return renamed


def _differences(old: Layer, new: Layer, renamed: dict[str, str]) -> dict[str, tuple[Any, Any]]:
    """What differs: "op", each argument (None where a side lacks it), "inputs" (old names mapped
    through the renames, so a rename alone changes no consumer)."""
    out: dict[str, tuple[Any, Any]] = {}
    if old.op != new.op:
        out["op"] = (old.op, new.op)
    for key in [*old.args, *(k for k in new.args if k not in old.args)]:
        if old.args.get(key) != new.args.get(key):
            out[key] = (old.args.get(key), new.args.get(key))
    inputs = tuple(renamed.get(i, i) for i in old.inputs)
    if inputs != new.inputs:
        out["inputs"] = (list(old.inputs), list(new.inputs))
    return out


def _totals(checked: Network) -> dict[str, int]:
    s = checked.stats
    return {"params": s.params, "macs": s.macs, "peak_bytes": s.peak_bytes}


def _blocks(old: Network, new: Network, renamed: dict[str, str]
            ) -> list[tuple[str, dict[str, Delta]]]:
    """Per top-level block (a layer name's first part; old layers under their new names), the
    blocks whose numbers differ; a block on one side only counts 0 on the other. Order: the new
    network's, then removed blocks."""
    a, b = _per_block(old, renamed), _per_block(new, {})
    zero = dict.fromkeys(METRICS, 0)
    rows = []
    for name in [*b, *(n for n in a if n not in b)]:
        deltas = {m: Delta(a.get(name, zero)[m], b.get(name, zero)[m]) for m in METRICS}
        if any(d.delta for d in deltas.values()):
            rows.append((name, deltas))
    return rows


def _per_block(checked: Network, renamed: dict[str, str]) -> dict[str, dict[str, int]]:
    """params and MACs add up; peak_bytes is the most activation memory live while any of the
    block's layers runs."""
    out: dict[str, dict[str, int]] = {}
    for lay, live in zip(checked.stats.layers,
                         live_bytes(checked.graph, checked.stats.layers)):
        block = renamed.get(lay.name, lay.name).split(".")[0]
        row = out.setdefault(block, dict.fromkeys(METRICS, 0))
        row["params"] += lay.params
        row["macs"] += lay.macs
        row["peak_bytes"] = max(row["peak_bytes"], live)
    return out


def jsonable(v: Any) -> Any:
    """Argument values as JSON: tuples become lists, anything unusual its str()."""
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)
