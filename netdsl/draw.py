"""Initial weights, drawn block by block: (seed, tensor name, init rule) → float32 values. numpy
only; export.py asks for one block at a time, so that a tensor can be written to a file in pieces
or drawn on all cores, and the values never depend on how many cores there are.

The draw: every tensor is cut into blocks of BLOCK elements (row-major order), and block i of
tensor NAME comes from its own generator, numpy's PCG64 seeded with (seed, crc32(NAME), i). The
random rules are normal in float32 (Generator.standard_normal(dtype=float32), the ziggurat, filled
in place and then scaled): He/Kaiming normal with std sqrt(2 / fan) as torchvision's ResNets and
VGGs initialise their convolutions, Xavier/Glorot normal std sqrt(2 / (fan_in + fan_out)).
Same source, seed and options give the same bytes; changing one layer leaves the others' weights
as they were."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK = 1 << 20  # elements per block (4 MiB of float32): the unit of drawing and of writing
SCHEMES = ("he", "xavier", "zeros")  # network-wide: `--init`, `option init`
RANDOM = ("he_in", "he_out", "normal", "trunc_normal")  # the per-tensor rules `zeros` replaces


@dataclass(frozen=True, slots=True)
class Draw:
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

    def block(self, i: int, out: np.ndarray | None = None) -> np.ndarray:
        """Elements [i*BLOCK, (i+1)*BLOCK) of the flattened tensor, into `out` if given."""
        start = i * BLOCK
        n = min(BLOCK, self.size - start)
        out = np.empty(n, np.float32) if out is None else out
        rule = "zeros" if self.scheme == "zeros" and self.rule in RANDOM else self.rule
        if rule in ("zeros", "ones"):
            out.fill(rule == "ones")
        elif rule == "fixed":
            full = np.broadcast_to(np.asarray(self.values, np.float32), self.shape)
            out[:] = full.reshape(-1)[start:start + n]  # NOTE: small tensors (source constants)
        else:
            rng = np.random.default_rng([self.seed, zlib.crc32(self.name.encode()), i])
            rng.standard_normal(dtype=np.float32, out=out)
            out *= np.float32(self.std())
            while rule == "trunc_normal" and (bad := np.abs(out) > 2).any():  # torch's [-2, 2]
                out[bad] = rng.standard_normal(int(bad.sum()), dtype=np.float32) * self.std()
        return out

    def std(self) -> float:
        if self.rule in ("normal", "trunc_normal"):
            return float(self.values)
        receptive = math.prod(self.shape[2:]) if len(self.shape) > 2 else 1
        fan_in, fan_out = self.shape[1] * receptive, self.shape[0] * receptive
        if self.scheme == "xavier":
            return math.sqrt(2.0 / (fan_in + fan_out))
        return math.sqrt(2.0 / (fan_out if self.rule == "he_out" else fan_in))
