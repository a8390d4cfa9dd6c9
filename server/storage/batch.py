"""Many cells of one cube as columns: the bulk write path.

A ``CellBatch`` is what an import (and any writer of many cells) hands the store instead of one
``CellChange`` per cell: the addresses as an Arrow string array, the numbers as a float64 array
(NaN where there is none), the texts as an Arrow string array (null where there is none) and,
when the writer knows them, the engine positions of the cells, so the engine apply after the
commit resolves nothing again. Both value columns empty clears the cell, as ``CellChange`` does.
A batch names each cell once (an import reports a repeated address as a problem); the store's
joins and the engine apply rely on it.

The store commits a batch with set-based SQL over the staged columns (``SqlStore.commit_many``),
and answers the cells that really changed as a batch again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from server.storage.base import CellChange


@dataclass(frozen=True, eq=False)
class CellBatch:
    cube: str
    addr: pa.Array  # string
    num: np.ndarray  # float64; NaN: no number
    txt: pa.Array  # string; null: no text
    coords: np.ndarray | None = None  # engine positions (n x ndim), when the writer has them

    def __post_init__(self) -> None:
        n = len(self.addr)
        if len(self.num) != n or len(self.txt) != n:
            raise ValueError(
                f"a cell batch's columns differ in length: {n}, {len(self.num)}, {len(self.txt)}"
            )
        if self.coords is not None and len(self.coords) != n:
            raise ValueError("a cell batch's coordinates differ in length from its addresses")

    def __len__(self) -> int:
        return len(self.addr)

    def __iter__(self) -> Iterator[CellChange]:
        """The cells as ``CellChange`` objects (slow for many: for the few readers of objects)."""
        return iter(self.changes())

    @classmethod
    def of(
        cls,
        cube: str,
        addr: pa.Array | Sequence[str],
        num: np.ndarray,
        txt: pa.Array | None = None,
        coords: np.ndarray | None = None,
    ) -> CellBatch:
        addr = addr if isinstance(addr, pa.Array) else pa.array(addr, pa.string())
        num = np.asarray(num, dtype=np.float64)
        if txt is None:
            txt = pa.nulls(len(addr), pa.string())
        return cls(cube, addr, num, txt, coords)

    @classmethod
    def from_changes(cls, cube: str, changes: Sequence[CellChange]) -> CellBatch:
        return cls.of(
            cube,
            [c.addr for c in changes],
            np.array([np.nan if c.num is None else c.num for c in changes], dtype=np.float64),
            pa.array([c.txt for c in changes], pa.string()),
        )

    @classmethod
    def concat(cls, batches: Sequence[CellBatch]) -> CellBatch:
        cube = batches[0].cube
        if any(b.cube != cube for b in batches):
            raise ValueError("a cell batch holds cells of one cube")
        coords = (
            np.concatenate([b.coords for b in batches if b.coords is not None])
            if all(b.coords is not None for b in batches)
            else None
        )
        return cls(
            cube,
            pa.concat_arrays([b.addr for b in batches]),
            np.concatenate([b.num for b in batches]),
            pa.concat_arrays([b.txt for b in batches]),
            coords,
        )

    def take(self, idx: np.ndarray) -> CellBatch:
        at = pa.array(idx, pa.int64())
        return CellBatch(
            self.cube,
            self.addr.take(at),
            self.num[idx],
            self.txt.take(at),
            None if self.coords is None else self.coords[idx],
        )

    def table(self) -> pa.Table:
        """The batch as the store stages it: addr, num, txt, pos (the row). The store makes
        each cell's key from its address (``server.storage.bulk``)."""
        return pa.table(
            {
                "addr": self.addr,
                "num": pa.array(self.num, pa.float64(), mask=np.isnan(self.num)),
                "txt": self.txt,
                "pos": pa.array(np.arange(len(self), dtype=np.int64)),
            }
        )

    def changes(self) -> list[CellChange]:
        """One ``CellChange`` per cell (for the few readers that want objects)."""
        nums = [None if np.isnan(x) else float(x) for x in self.num.tolist()]
        return [
            CellChange(self.cube, a, n, t)
            for a, n, t in zip(self.addr.to_pylist(), nums, self.txt.to_pylist(), strict=True)
        ]
