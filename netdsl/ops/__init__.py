"""The operator registry: each layer kind defined once, looked up by its .net spelling."""

from __future__ import annotations

from netdsl.ops.base import Op

REGISTRY: dict[str, type[Op]] = {}


def register(cls: type[Op]) -> type[Op]:
    assert cls.name and cls.name not in REGISTRY, f"operator {cls.name!r} registered twice"
    REGISTRY[cls.name] = cls
    return cls


# NOTE: imported last, so that each module's @register finds REGISTRY defined.
from netdsl.ops import (  # noqa: E402,F401
    activation,
    attention,
    conv,
    layout,
    learned,
    linear,
    norm,
    pool,
    resize,
    tensor,
)
