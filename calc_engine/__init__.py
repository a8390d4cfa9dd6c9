"""plancube's calculation engine: pure, in memory, vectorized (DESIGN decision 1 and 2)."""

from calc_engine.cube import MAX_INPUT, CubeArray
from calc_engine.engine import Engine
from calc_engine.errors import (
    EngineError,
    HierarchyCycleError,
    NotALeafError,
    UnknownCubeError,
    UnknownDimensionError,
    UnknownElementError,
)
from calc_engine.hierarchy import Edge, Hierarchy, TreeRow

__all__ = [
    "MAX_INPUT",
    "CubeArray",
    "Edge",
    "Engine",
    "EngineError",
    "Hierarchy",
    "HierarchyCycleError",
    "NotALeafError",
    "TreeRow",
    "UnknownCubeError",
    "UnknownDimensionError",
    "UnknownElementError",
]
