"""The driver-based P&L of BENCHMARKS.md: sizes, hierarchies and seeded inputs.

Dimensions: Product (P leaves → F families → Total), Region (R leaves → G groups → Total),
Month (12 leaves → FY), Measure (Units, Price, Revenue, COGS, GM, Opex, EBIT, RevYTD), and an
assumption cube holding COGS% per product and OpexPerUnit per region.

Products sit in families in contiguous blocks (``family = p * F // P``), regions likewise in groups.
Inputs come from ``numpy.random.default_rng(SEED)``; values are rounded (whole units, prices to the
cent, percentages to 0.1 %) so they survive an .xlsx or JSON round trip bit for bit.

The sparse variant uses XL's address space (2000 × 50 × 12) with 2 % of the product × region ×
month intersections populated (Units and Price both set there, empty elsewhere). Empty is 0 to
every rule, as in a spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEED = 20260601
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
N_MONTHS = len(MONTHS)
MEASURES = ("Units", "Price", "Revenue", "COGS", "GM", "Opex", "EBIT", "RevYTD")
INPUT_MEASURES = ("Units", "Price")
RULE_MEASURES = ("Revenue", "COGS", "GM", "Opex", "EBIT", "RevYTD")
# Measures that consolidate along Product, Region and Month (weight 1); Price and RevYTD do not.
CONSOLIDATED_MEASURES = ("Units", "Revenue", "COGS", "GM", "Opex", "EBIT")
SPARSE_DENSITY = 0.02


@dataclass(frozen=True)
class Size:
    """One row of the sizes table: leaf and parent counts of the two hierarchies."""

    name: str
    products: int
    regions: int
    families: int
    groups: int

    @property
    def dense_leaf_cells(self) -> int:
        """P·R·12·8, the leaf cells of the dense model."""
        return self.products * self.regions * N_MONTHS * len(MEASURES)


SIZES: dict[str, Size] = {
    "S": Size("S", 20, 5, 4, 2),
    "M": Size("M", 100, 10, 10, 3),
    "L": Size("L", 500, 20, 20, 4),
    "XL": Size("XL", 2000, 50, 40, 5),
}


@dataclass
class PnlModel:
    """The model's inputs, hierarchies and workbook row order.

    ``units`` and ``price`` are dense ``(P, R, 12)`` float64 arrays (0 where not populated);
    ``mask`` marks populated intersections (all True for the dense model). ``rows`` lists the
    (product, region) pairs that get a row in the workbook: every pair for the dense model, the
    pairs with at least one populated month for the sparse one, product-major.
    """

    size: Size
    sparse: bool
    units: np.ndarray
    price: np.ndarray
    mask: np.ndarray
    cogs_pct: np.ndarray
    opex_per_unit: np.ndarray
    rows: np.ndarray
    family_of: np.ndarray = field(init=False)
    group_of: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        s = self.size
        self.family_of = np.arange(s.products) * s.families // s.products
        self.group_of = np.arange(s.regions) * s.groups // s.regions

    @property
    def label(self) -> str:
        """``S``, ``L``, ``XL-sparse``…"""
        return f"{self.size.name}-sparse" if self.sparse else self.size.name

    @property
    def populated(self) -> int:
        """Populated product × region × month intersections."""
        return int(self.mask.sum())

    @property
    def leaf_cells(self) -> int:
        """Populated intersections × 8 measures (P·R·12·8 for the dense model)."""
        return self.populated * len(MEASURES)

    @property
    def row_index(self) -> dict[tuple[int, int], int]:
        """(product, region) → 0-based workbook data row."""
        return {(int(p), int(r)): i for i, (p, r) in enumerate(self.rows)}

    def product_name(self, p: int) -> str:
        return f"P{p + 1:04d}"

    def region_name(self, r: int) -> str:
        return f"R{r + 1:02d}"

    def family_name(self, f: int) -> str:
        return "Total" if f == self.size.families else f"F{f + 1:02d}"

    def group_name(self, g: int) -> str:
        return "Total" if g == self.size.groups else f"G{g + 1}"


@dataclass(frozen=True)
class Write:
    """One single-cell write of operation (b): Units[p, r, m] := value."""

    p: int
    r: int
    m: int
    value: float


def build_model(size_name: str, sparse: bool = False, seed: int = SEED) -> PnlModel:
    """The model at ``size_name`` (the sparse variant always uses XL's address space)."""
    size = SIZES["XL" if sparse else size_name]
    rng = np.random.default_rng(seed)
    shape = (size.products, size.regions, N_MONTHS)
    units = rng.integers(1, 1000, size=shape).astype(np.float64)
    price = np.round(rng.uniform(5.0, 50.0, size=shape), 2)
    if sparse:
        mask = rng.random(shape) < SPARSE_DENSITY
        units = np.where(mask, units, 0.0)
        price = np.where(mask, price, 0.0)
    else:
        mask = np.ones(shape, dtype=bool)
    cogs_pct = np.round(rng.uniform(0.30, 0.70, size=size.products), 3)
    opex_per_unit = np.round(rng.uniform(0.50, 5.00, size=size.regions), 2)
    pairs = np.argwhere(mask.any(axis=2))  # row-major: product-major, like the dense order
    return PnlModel(size, sparse, units, price, mask, cogs_pct, opex_per_unit, pairs)


def write_plan(model: PnlModel, n: int = 30, seed: int = SEED + 1) -> list[Write]:
    """``n`` different populated Units cells and their new values, for operation (b)."""
    rng = np.random.default_rng(seed)
    cells = np.argwhere(model.mask)
    pick = rng.choice(len(cells), size=min(n, len(cells)), replace=False)
    values = rng.integers(1, 1000, size=len(pick)).astype(np.float64)
    return [
        Write(int(cells[i][0]), int(cells[i][1]), int(cells[i][2]), float(v))
        for i, v in zip(pick, values, strict=True)
    ]


def bulk_units(model: PnlModel, seed: int = SEED + 2) -> np.ndarray:
    """New values for every populated Units cell (0 elsewhere), for operation (d)."""
    rng = np.random.default_rng(seed)
    new = rng.integers(1, 1000, size=model.units.shape).astype(np.float64)
    return np.where(model.mask, new, 0.0)
