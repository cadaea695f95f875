"""Initial weights, drawn block by block: (seed, tensor name, init rule) → float32 values. numpy
only; export/ asks for one block at a time, so that a tensor can be written to a file in pieces
or drawn on all cores, and the values never depend on how many cores there are.

numpy is imported only to draw: a constant rule (zeros, ones, every random rule under the zeros
scheme) is Draw.constant, which export/ writes without numpy.

The draw: every tensor is cut into blocks of BLOCK elements (row-major order), and block i of
tensor NAME comes from its own generator, numpy's PCG64 seeded with (seed, crc32(NAME), i), so
blocks can be drawn in any order on any number of cores. He and Xavier are drawn in their uniform
forms, as torch's kaiming_uniform_ and xavier_uniform_ do: U(-b, b) with b = sqrt(6 / fan) (He:
fan_in, or fan_out for "he_out"), b = sqrt(6 / (fan_in + fan_out)) (Xavier), the same variance as
the normal forms (2 / fan; 2 / (fan_in + fan_out)) at four times the speed of a float32 normal
draw (Generator.random(dtype=float32) into the block, then scaled in place). A `param`'s
normal(std) and trunc_normal(std) stay normal (Generator.standard_normal(dtype=float32)).
Same source, seed and options give the same bytes; changing one layer leaves the others' weights
as they were."""

from __future__ import annotations

import math
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import numpy as np

BLOCK = 1 << 18  # elements per block (1 MiB of float32): the unit of drawing and of writing
SCHEMES = ("he", "xavier", "zeros")  # network-wide: `--init`, `option init`
RANDOM = ("he_in", "he_out", "normal", "trunc_normal")  # the per-tensor rules `zeros` replaces


class Draw(NamedTuple):
    """One initial tensor. rule: "he_in", "he_out", "zeros", "ones", "fixed" (`values`
    broadcast to `shape`), "normal" or "trunc_normal" (`values` is the std); scheme: "he",
    "xavier" (both he rules become Xavier) or "zeros" (every random rule becomes zeros: a
    structurally valid model whose outputs mean nothing, for tests that need only the graph)."""

    name: str
    shape: tuple[int, ...]
    rule: str
    values: Any = None
    seed: int = 0
    scheme: str = "he"

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def blocks(self) -> int:
        return -(-self.size // BLOCK)

    @property
    def constant(self) -> float | None:
        """The value of every element where the rule is a constant (zeros, ones), else None."""
        rule = self._rule
        return 0.0 if rule == "zeros" else 1.0 if rule == "ones" else None

    @property
    def _rule(self) -> str:
        return "zeros" if self.scheme == "zeros" and self.rule in RANDOM else self.rule

    def block(self, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Elements [i*BLOCK, (i+1)*BLOCK) of the flattened tensor, into `out` if given."""
        import numpy as np
        start = i * BLOCK
        n = min(BLOCK, self.size - start)
        out = np.empty(n, np.float32) if out is None else out
        rule = self._rule
        if rule in ("zeros", "ones"):
            out.fill(rule == "ones")
        elif rule == "fixed":
            full = np.broadcast_to(np.asarray(self.values, np.float32), self.shape)
            out[:] = full.reshape(-1)[start:start + n]  # NOTE: small tensors (source constants)
        elif rule in ("normal", "trunc_normal"):
            rng = self._generator(i)
            rng.standard_normal(dtype=np.float32, out=out)
            out *= np.float32(self.values)
            while rule == "trunc_normal" and (bad := np.abs(out) > 2).any():  # torch's [-2, 2]
                out[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32) * self.values
        else:  # he_in, he_out: U(-bound, bound)
            self._generator(i).random(dtype=np.float32, out=out)
            out *= np.float32(2 * self.bound())
            out -= np.float32(self.bound())
        return out

    def _generator(self, i: int) -> np.random.Generator:
        import numpy as np
        return np.random.default_rng([self.seed, zlib.crc32(self.name.encode()), i])

    def bound(self) -> float:
        """b of U(-b, b): the He or Xavier variance, 2 / fan, as b * b / 3."""
        receptive = math.prod(self.shape[2:]) if len(self.shape) > 2 else 1
        fan_in, fan_out = self.shape[1] * receptive, self.shape[0] * receptive
        if self.scheme == "xavier":
            return math.sqrt(6.0 / (fan_in + fan_out))
        return math.sqrt(6.0 / (fan_out if self.rule == "he_out" else fan_in))
