"""Pipelines: `x -> f(args) * n -> label: g -> output y`, each stage a call fed the value before
it, and the layer names a chain gets (`name.0`, `name.1`, ... or a stage's label). Part of the
graph builder (builder.py)."""

from __future__ import annotations

import re

from netdsl import syntax as s
from netdsl.elaborator.calls import Calls
from netdsl.elaborator.evaluator import Arg, Evaluator
from netdsl.elaborator.naming import Naming
from netdsl.elaborator.report import Reporter
from netdsl.elaborator.scope import Frame
from netdsl.values import MAX_REPEAT, POISON, Tensor, Value, kind

# what torch's state_dict keys hold; NOTE: compiled (by re, once) where a quoted label is met
LABEL = r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*"


class Pipelines:
    def __init__(self, ev: Evaluator, calls: Calls, naming: Naming, report: Reporter):
        self.ev = ev
        self.calls = calls
        self.naming = naming
        self._err = report.err

    def pipeline(self, e: s.Pipeline, frame: Frame, name: str | None) -> Value:
        """`x -> f -> g * n -> output y`; a `name` numbers the chain's layers (`name.0`, ...)."""
        reached: set[str] = set()
        value = self._run_pipeline(e, frame, name, reached)
        if value is POISON:  # the outputs after the failed stage are unknown, not undefined
            for st in e.stages:
                if isinstance(st, s.OutputStage) and st.name.id not in reached:
                    frame.env[st.name.id] = POISON
        return value

    def _run_pipeline(self, e: s.Pipeline, frame: Frame, name: str | None,
                      reached: set[str]) -> Value:
        calls = [st for st in e.stages if isinstance(st, s.Stage)]
        indexed = name is not None and (len(calls) > 1 or any(st.repeat for st in calls)
                                        or isinstance(e.head, s.Call))
        pos = 0
        base: str | None
        chain = frame.chains.get(name) if name is not None else None
        if chain is not None and isinstance(e.head, s.Name) and e.head.id == name and (
                frame.env.get(name) == chain[2]):
            base, pos = chain[0], chain[1]  # `name = name -> ...` appends to the chain `name`
        else:
            base = (self.naming.scope_base(name, frame) if name else "") if indexed else None
        if base is not None and isinstance(e.head, s.Call):
            value = self.ev.eval(e.head, frame, name=f"{base}.0".lstrip("."))
            pos = 1
        else:
            value = self.ev.eval(e.head, frame)
        prev_span = e.head.span
        for st in e.stages:
            if isinstance(st, s.OutputStage):
                self.naming.output(st.name, value, frame)
                frame.env[st.name.id] = value
                reached.add(st.name.id)
                continue
            n = 1
            if st.repeat is not None:
                count = self.ev.eval(st.repeat, frame)
                if count is POISON:
                    return POISON
                if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                    tensor = isinstance(count, Tensor)
                    return self._err("E205", "a repetition count must be a whole number >= 0, "
                                     f"not {kind(count)}", st.repeat.span, frame=frame, hints=[
                                         "`x -> f * n` repeats the stage f n times; to multiply "
                                         "by a tensor, write `(x -> f) * y`" if tensor else ""])
                if count > MAX_REPEAT:
                    return self._err("E215", f"repeating {count} times exceeds the limit of "
                                     f"{MAX_REPEAT}", st.repeat.span, frame=frame)
                n = count
            label = st.label
            text = None if label is None else label.id if isinstance(label, s.Name) else (
                self._label(label, frame))
            if label is not None and text is None:
                return POISON
            label_span = label.span if label else None
            for r in range(n):
                if value is POISON:
                    return POISON
                if text is not None:
                    local = text if n == 1 else f"{text}.{r}"
                    hard = True
                elif base is not None:
                    local, hard = f"{base}.{pos}".lstrip("."), True
                elif name and len(calls) == 1 and n == 1:
                    local, hard = name, False
                elif name is None and frame.owner:  # nested in `owner = f(...)`: owner_f
                    local, hard = f"{frame.owner}_{st.func.id}", False
                else:
                    local, hard = None, False
                args: list[Arg] = [(value, prev_span)]
                for a in st.args:
                    args.append((self.ev.eval(a, frame), a.span))
                value = self.calls.call_named(st.func, args, st.kwargs, frame, local, st.span,
                                              hard=hard, label_span=label_span)
                pos += 1
            prev_span = st.span
        if base is not None and name is not None:
            frame.chains[name] = (base, pos, value)
        return value

    def _label(self, label: s.Name | s.Label, frame: Frame) -> str | None:
        """A stage's label as a layer name: `conv1`, or a quoted label with its `{expr}` parts
        evaluated (`"denselayer{i + 1}"` → `denselayer3`); None when that failed (reported)."""
        if isinstance(label, s.Name):
            return label.id
        text = ""
        for part in label.parts:
            if isinstance(part, str):
                text += part
                continue
            v = self.ev.eval(part, frame)
            if v is POISON:
                return None
            if not isinstance(v, (int, str)) or isinstance(v, bool):
                self._err("E218", f"a label can hold whole numbers and strings, not {kind(v)}",
                          part.span, frame=frame)
                return None
            text += str(v)
        if not re.fullmatch(LABEL, text):
            self._err("E218", f'"{text}" is not a layer name', label.span, frame=frame,
                      hints=["a layer name is letters, digits, `_` and `-`, in parts joined by "
                             "`.` (`block1-0`, `features.denseblock1`, `0`)"])
            return None
        return text
