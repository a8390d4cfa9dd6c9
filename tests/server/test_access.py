"""Element security: inheritance down the hierarchy, groups, cells and views as masks."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calc_engine import Edge, Hierarchy
from server.access import Access, AccessMasks, ElementRule, element_access, masks_for

N, R, W = Access.NONE, Access.READ, Access.WRITE

#   Total = East + West; East = E1 + E2; West = W1 + W2; Alt (alternate rollup) = E1 + W1
REGION = Hierarchy(
    "Region",
    ["Total", "East", "West", "E1", "E2", "W1", "W2", "Alt"],
    [
        Edge("Total", "East"),
        Edge("Total", "West"),
        Edge("East", "E1"),
        Edge("East", "E2"),
        Edge("West", "W1"),
        Edge("West", "W2"),
        Edge("Alt", "E1"),
        Edge("Alt", "W1"),
    ],
)
MONTH = Hierarchy(
    "Month", ["Q1", "Jan", "Feb", "Mar"], [Edge("Q1", m) for m in ("Jan", "Feb", "Mar")]
)


def by_name(h: Hierarchy, access: np.ndarray) -> dict[str, Access]:
    return {n: Access(int(access[i])) for i, n in enumerate(h.names)}


def test_access_is_inherited_down_and_an_own_rule_overrides_it() -> None:
    got = by_name(REGION, element_access(REGION, {"Total": R, "East": N, "E2": W}))
    assert got == {
        "Total": R,
        "East": N,
        "West": R,  # no rule: its parent's
        "E1": N,  # East's NONE (its other parent, Alt, no rule reaches: it does not count)
        "E2": W,  # its own rule wins over East's
        "W1": R,
        "W2": R,
        "Alt": N,  # no rule reaches it: the default
    }


def test_a_none_on_one_path_is_not_undone_by_another() -> None:
    got = by_name(REGION, element_access(REGION, {"Total": W, "Alt": W, "East": N}))
    assert got["E1"] == N and got["W1"] == W and got["E2"] == N


def test_a_user_gets_the_most_any_of_their_groups_gives() -> None:
    rules = [
        ElementRule("Region", "Total", "east", R),
        ElementRule("Region", "East", "east", W),
        ElementRule("Region", "Total", "west", R),
        ElementRule("Region", "West", "west", W),
        ElementRule("Region", "Alt", "west", R),
    ]
    hs = {"Region": REGION, "Month": MONTH}
    east = by_name(REGION, masks_for(hs, rules, ["east"]).dimensions["Region"])
    assert (east["E1"], east["W1"], east["Total"], east["Alt"]) == (W, R, R, N)
    both = by_name(REGION, masks_for(hs, rules, ["east", "west"]).dimensions["Region"])
    # W1: WRITE under West but READ under Alt for west, READ for east: the least path wins
    # within a group, the most group across them
    assert (both["E1"], both["E2"], both["W1"], both["W2"], both["Alt"]) == (W, W, R, W, R)
    # a dimension without rules is open; a secured one is closed to a group it does not name
    nobody = masks_for(hs, rules, ["finance"])
    assert "Month" not in nobody.dimensions
    assert not nobody.dimensions["Region"].any()
    opened = masks_for(hs, rules, ["finance"], defaults={"Region": R})
    assert set(by_name(REGION, opened.dimensions["Region"]).values()) == {R}


def test_a_cell_is_the_least_of_its_elements_capped_by_role_and_cube() -> None:
    masks = AccessMasks(
        {
            "Region": element_access(REGION, {"Total": W, "East": R, "E2": N}),
            "Month": element_access(MONTH, {"Q1": W, "Mar": R}),
        },
        cubes={"Locked": R},
    )
    dims = ["Region", "Month"]
    cells = [
        (REGION.index["W1"], MONTH.index["Jan"]),
        (REGION.index["E1"], MONTH.index["Jan"]),
        (REGION.index["W1"], MONTH.index["Mar"]),
        (REGION.index["E2"], MONTH.index["Jan"]),
        (REGION.index["Total"], MONTH.index["Q1"]),
    ]
    assert masks.cells("PnL", dims, np.array(cells)).tolist() == [W, R, R, N, W]
    assert masks.cells("Locked", dims, np.array(cells)).tolist() == [R, R, R, N, R]
    viewer = AccessMasks(masks.dimensions, cap=R)
    assert viewer.cells("PnL", dims, np.array(cells)).tolist() == [R, R, R, N, R]


def test_a_views_grid_is_rows_by_columns_by_filters() -> None:
    region = element_access(REGION, {"Total": W, "East": N})
    masks = AccessMasks({"Region": region})
    rows = masks.axis([[("Region", REGION.index[n])] for n in ("Total", "East", "W1")])
    cols = masks.axis([[("Month", m)] for m in range(MONTH.size)])  # Month is open
    grid = masks.grid("PnL", rows, cols)
    assert grid.tolist() == [[W] * 4, [N] * 4, [W] * 4]
    filtered = masks.grid("PnL", rows, cols, filters=[("Region", REGION.index["E1"])])
    assert not filtered.any()


@st.composite
def dags(draw: st.DrawFn) -> tuple[Hierarchy, dict[str, Access]]:
    n = draw(st.integers(1, 12))
    names = [f"e{i}" for i in range(n)]
    # edges only from lower to higher index: acyclic by construction
    edges = [
        Edge(names[p], names[c])
        for c in range(n)
        for p in draw(st.sets(st.integers(0, max(0, c - 1)), max_size=3) if c else st.just(set()))
    ]
    rules = draw(st.dictionaries(st.sampled_from(names), st.sampled_from(list(Access)), max_size=n))
    return Hierarchy("D", names, edges), rules


@settings(max_examples=300, deadline=None)
@given(dags(), st.sampled_from(list(Access)))
def test_every_element_has_its_rule_or_the_least_of_its_ruled_parents(
    case: tuple[Hierarchy, dict[str, Access]], default: Access
) -> None:
    h, rules = case

    def reached(i: int) -> Access | None:  # the definition, recursively
        if h.names[i] in rules:
            return rules[h.names[i]]
        above = [a for p, _ in h.parents[i] if (a := reached(p)) is not None]
        return min(above) if above else None

    got = element_access(h, rules, default)
    for i in range(h.size):
        want = reached(i)
        assert got[i] == (default if want is None else want)
