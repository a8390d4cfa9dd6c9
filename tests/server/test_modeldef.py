"""Model files as hostile clients send them: alias bombs, references without end, big files.

A 4 KB YAML file of three levels of aliases expands to 465^3 = 10^8 strings; before any object
is built, the node graph is counted (each distinct node once) and such a file is refused with
400 ``invalid_yaml`` naming the limit, fast and in little memory — with libyaml's loader and
with PyYAML's own.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from server import modeldef
from server.errors import InvalidYaml
from server.limits import MAX_ALIAS_NODES
from tests.server.helpers import error

YAML = {"Content-Type": "application/yaml"}


def alias_bomb(n: int = 465) -> bytes:
    """``n``^3 strings in about 8n bytes, placed where validation would walk every one."""
    lines = [
        "name: bomb",
        "description: &a [" + ",".join(["x"] * n) + "]",
        "cubes: &b [" + ",".join(["*a"] * n) + "]",
        "data:",
        *(f"  k{i}: *b" for i in range(n)),
    ]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(params=["libyaml", "pure"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    if request.param == "pure":
        monkeypatch.setattr(modeldef, "_Loader", yaml.SafeLoader)
    yield modeldef._Loader


def test_libyaml_parses_model_files_when_it_is_installed() -> None:
    assert yaml.__with_libyaml__, "PyYAML was built without libyaml: model files load 6x slower"
    assert modeldef._Loader is yaml.CSafeLoader


def test_a_yaml_alias_bomb_is_refused_fast_and_in_little_memory(loader: Any) -> None:
    bomb = alias_bomb()
    assert len(bomb) < 8_000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(InvalidYaml) as refused:
            modeldef.load_model(bomb, yaml_format=True)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, elapsed  # was 11 s and +780 MB, validating 10^8 strings
    assert peak < 30 * 2**20, peak
    assert refused.value.details["limit"] == MAX_ALIAS_NODES
    assert refused.value.details["expanded"] > 465**3
    assert "1,000,000" in refused.value.message and "aliases" in refused.value.message


def test_the_alias_bomb_is_400_invalid_yaml_over_http(client: Any) -> None:
    r = client.post("/api/models/import", content=alias_bomb(), headers=YAML)
    err = error(r, 400, "invalid_yaml")
    assert err["details"]["limit"] == MAX_ALIAS_NODES
    assert client.get("/api/models").json() == []


@pytest.mark.parametrize("text", ["a: &a [*a]", "name: m\ndescription: &d {x: *d}"])
def test_an_alias_inside_its_own_anchor_is_refused(loader: Any, text: str) -> None:
    with pytest.raises(InvalidYaml, match="refers to a node that contains it"):
        modeldef.load_yaml(text.encode())


def test_aliases_within_the_budget_load_as_written_out(loader: Any) -> None:
    text = """
name: shared
dimensions:
  - name: Month
    elements: &months [Jan, Feb, Mar]
  - name: Plan month
    elements: *months
  - {name: Measure, role: measure, elements: [Amount]}
cubes:
  - {name: C, dimensions: [Month, Plan month, Measure]}
"""
    model = modeldef.load_model(text.encode(), yaml_format=True)
    assert [e.name for e in model.dimensions[1].elements] == ["Jan", "Feb", "Mar"]
    # one level of 1,000 x 1,000 references adds a million nodes: just within the budget
    n = 999
    fine = f"a: &a [{','.join(['x'] * n)}]\nb: [{','.join(['*a'] * n)}]\n".encode()
    assert len(modeldef.load_yaml(fine)["b"]) == n
    over = f"a: &a [{','.join(['x'] * 1100)}]\nb: [{','.join(['*a'] * 1100)}]\n".encode()
    with pytest.raises(InvalidYaml):
        modeldef.load_yaml(over)


def test_yaml_nested_past_the_limit_names_it(loader: Any) -> None:
    for depth, fine in ((254, True), (255, False), (5_000, False)):
        text = ("[" * depth + "]" * depth).encode()
        if fine:
            modeldef.load_yaml(text)
            continue
        with pytest.raises(InvalidYaml, match="at most 254 levels"):
            modeldef.load_yaml(text)


def test_the_garbage_collector_is_back_on_after_a_parse_that_fails_or_not() -> None:
    import gc

    modeldef.load_yaml(b"name: m\n")
    assert gc.isenabled()
    with pytest.raises(InvalidYaml):
        modeldef.load_yaml(alias_bomb(200))
    assert gc.isenabled()
    gc.disable()  # one someone else turned off stays off
    try:
        modeldef.load_yaml(b"name: m\n")
        assert not gc.isenabled()
    finally:
        gc.enable()
