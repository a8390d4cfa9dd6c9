"""The engine as a whole: cubes over named dimensions, structure changes keep cells."""

from __future__ import annotations

import numpy as np
import pytest

from calc_engine import Edge, Engine, Hierarchy, NotALeafError, UnknownCubeError


def engine() -> Engine:
    e = Engine()
    e.set_dimension(Hierarchy("A", ["T", "x", "y"], [Edge("T", "x"), Edge("T", "y")]))
    e.set_dimension(Hierarchy("M", ["amt", "note"]))
    e.add_cube("C", ["A", "M"])
    return e


def test_write_numbers_and_text() -> None:
    e = engine()
    coords = e.leaf_coords("C", [("x", "amt"), ("y", "amt"), ("x", "note")])
    e.write("C", coords, np.array([1.0, 2.0, 0.0]), {2: "hello"})
    cube = e.cube("C")
    assert cube.read([[0], [0]])[0, 0] == 3.0
    assert cube.text == {(1, 1): "hello"}
    e.write("C", coords[2:], np.array([0.0]), {0: None})
    assert cube.text == {}


def test_leaf_coords_refuses_totals() -> None:
    with pytest.raises(NotALeafError):
        engine().leaf_coords("C", [("T", "amt")])


def test_unknown_cube() -> None:
    with pytest.raises(UnknownCubeError):
        engine().cube("nope")


def test_changing_a_dimension_keeps_cells_by_name() -> None:
    e = engine()
    e.write("C", e.leaf_coords("C", [("x", "amt"), ("y", "amt")]), np.array([1.0, 2.0]), {})
    e.write("C", e.leaf_coords("C", [("y", "note")]), np.array([0.0]), {0: "n"})
    # new element z first, totals regrouped; x and y keep their values
    e.set_dimension(
        Hierarchy(
            "A", ["z", "T", "y", "x", "U"], [Edge("T", "x"), Edge("U", "y"), Edge("U", "z", -1)]
        )
    )
    cube = e.cube("C")
    assert cube.read([[1, 4, 2, 3], [0]]).ravel().tolist() == [1.0, 2.0, 2.0, 1.0]
    assert cube.text == {(2, 1): "n"}
