"""Hierarchies as tables: element -> weight of each leaf inside it."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import Edge, Hierarchy, HierarchyCycleError, UnknownElementError


def pnl() -> Hierarchy:
    # Net = Rev - Cost; Cost = Sal + Rent; Alt = Sal + Travel (Sal has two parents)
    return Hierarchy(
        "Account",
        ["Net", "Rev", "Cost", "Sal", "Rent", "Travel", "Alt"],
        [
            Edge("Net", "Rev"),
            Edge("Net", "Cost", -1),
            Edge("Cost", "Sal"),
            Edge("Cost", "Rent"),
            Edge("Alt", "Sal"),
            Edge("Alt", "Travel", 0.5),
        ],
    )


def weights(h: Hierarchy, element: str) -> dict[str, float]:
    row = h.rollup.getrow(h.index[element])
    return {h.names[h.leaves[j]]: float(w) for j, w in zip(row.indices, row.data, strict=True)}


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("Net", {"Rev": 1, "Sal": -1, "Rent": -1}),
        ("Cost", {"Sal": 1, "Rent": 1}),
        ("Alt", {"Sal": 1, "Travel": 0.5}),
        ("Sal", {"Sal": 1}),
    ],
)
def test_rollup_weights_multiply_along_paths(element: str, expected: dict[str, float]) -> None:
    assert weights(pnl(), element) == expected


def test_a_leaf_reached_twice_counts_twice() -> None:
    h = Hierarchy(
        "D",
        ["T", "A", "B", "x"],
        [Edge("T", "A"), Edge("T", "B", 2), Edge("A", "x"), Edge("B", "x")],
    )
    assert weights(h, "T") == {"x": 3.0}


def test_ancestors_of_a_leaf_with_two_parents() -> None:
    h = pnl()
    idx, w = h.ancestors(h.index["Sal"])
    assert dict(zip((h.names[i] for i in idx), w.tolist(), strict=True)) == {
        "Net": -1.0,
        "Cost": 1.0,
        "Sal": 1.0,
        "Alt": 1.0,
    }


def test_leaves_and_roots() -> None:
    h = pnl()
    assert [h.names[i] for i in h.leaves] == ["Rev", "Sal", "Rent", "Travel"]
    assert [h.names[i] for i in h.roots()] == ["Net", "Alt"]


def test_tree_is_depth_first_with_parent_rows() -> None:
    h = pnl()
    rows = h.tree(h.index["Net"])
    assert [(h.names[r.element], r.depth, r.parent) for r in rows] == [
        ("Net", 0, None),
        ("Rev", 1, 0),
        ("Cost", 1, 0),
        ("Sal", 2, 2),
        ("Rent", 2, 2),
    ]
    assert [h.names[r.element] for r in h.tree(h.index["Net"], max_depth=1)] == [
        "Net",
        "Rev",
        "Cost",
    ]


def test_leaf_descendants_in_dimension_order() -> None:
    h = pnl()
    assert [h.names[i] for i in h.leaf_descendants(h.index["Net"])] == ["Rev", "Sal", "Rent"]


def test_cycle_is_rejected_naming_the_cycle() -> None:
    with pytest.raises(HierarchyCycleError) as exc:
        Hierarchy("D", ["A", "B", "C"], [Edge("A", "B"), Edge("B", "C"), Edge("C", "A")])
    assert set(exc.value.cycle) == {"A", "B", "C"}
    assert "cycle" in str(exc.value)


def test_unknown_element_in_an_edge() -> None:
    with pytest.raises(UnknownElementError) as exc:
        Hierarchy("D", ["A"], [Edge("A", "nope")])
    assert exc.value.element == "nope"


def test_duplicate_element_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        Hierarchy("D", ["A", "A"])


def test_flat_dimension_is_all_leaves() -> None:
    h = Hierarchy("V", ["Actual", "Budget"])
    assert h.is_leaf.all()
    assert np.array_equal(h.rollup.toarray(), np.eye(2))
