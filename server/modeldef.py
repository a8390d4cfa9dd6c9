"""Model definitions: the model file format, also the shapes the REST API speaks.

A model file (YAML or JSON) holds a whole planning model so it can live in git::

    plancube: 1
    name: demo
    dimensions:
      - name: Account
        attributes: {Code: alias, Sign: number}
        elements:
          - name: Gross Margin
            children: [Revenue, {name: COGS, weight: -1}]
          - Revenue                       # a leaf, by name alone
          - {name: COGS, attributes: {Code: "5000"}}
      - name: Measure
        role: measure
        elements: [Amount, {name: Note, type: text}]
    cubes:
      - {name: PnL, dimensions: [Account, Measure]}
    data:                                  # optional: leaf cells, elements in cube order
      PnL: [[Revenue, Amount, 1200.0]]

Names are case-sensitive, normalized (NFC, spaces of any width as one, trimmed), at most 255
characters, without control or invisible characters (``server/names.py``); names of models,
dimensions, cubes and rules also without ``/``. Only elements of a ``measure`` dimension may
have ``type: text``; a cell whose measure element is text holds text.

Numbers follow the numeric policy (``calc_engine.cube``): data values and number attributes are
finite and at most ``MAX_INPUT`` (10^15) in magnitude; an edge weight is finite and at most
``MAX_WEIGHT`` (10^6), and so is the combined weight with which a consolidated element counts a
leaf (the product along each path, summed over the paths). Numbers, flags and the format version
are strict: ``true`` is not 1.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, field_validator

from calc_engine import MAX_INPUT, Edge, Hierarchy, HierarchyCycleError
from server.collector import collections_paused
from server.errors import InvalidJson, InvalidModel, InvalidYaml
from server.limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FORMULA
from server.names import Name, PathName, Reference, normalize, problem
from server.wire import NUL_REFUSED, TEXT_LIMIT, Description, Number, Text, nul_at

FORMAT_VERSION = 1
MAX_WEIGHT = 1e6  # the largest magnitude of an edge weight, and of a combined rollup weight


class Role(StrEnum):
    time = "time"
    version = "version"
    measure = "measure"


class AttributeType(StrEnum):
    text = "text"
    number = "number"
    alias = "alias"


class ElementType(StrEnum):
    numeric = "numeric"
    text = "text"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Weight = Annotated[Number, Field(ge=-MAX_WEIGHT, le=MAX_WEIGHT)]


class ChildRef(_Strict):
    name: Name
    weight: Weight = 1.0


class ElementDef(_Strict):
    name: Name
    type: ElementType = ElementType.numeric
    children: list[ChildRef] = []
    attributes: dict[Reference, Annotated[Text | Number | None, TEXT_LIMIT]] = {}

    @field_validator("children", mode="before", json_schema_input_type=list[ChildRef | Name])
    @classmethod
    def _child_shorthand(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"name": c} if isinstance(c, str) else c for c in v]
        return v

    @field_validator("attributes")
    @classmethod
    def _normalized_text(cls, v: dict[str, str | float | None]) -> dict[str, str | float | None]:
        # an alias is a name too; other text is compared by planners all the same
        return {k: normalize(x) if isinstance(x, str) else x for k, x in v.items()}


def _element_shorthand(v: Any) -> Any:
    if isinstance(v, list):
        return [{"name": e} if isinstance(e, str) else e for e in v]
    return v


class DimensionDef(_Strict):
    name: PathName
    role: Role | None = None
    description: Description = ""
    attributes: dict[Name, AttributeType] = {}
    elements: list[ElementDef] = []

    _shorthand = field_validator(
        "elements", mode="before", json_schema_input_type=list["ElementDef | Name"]
    )(_element_shorthand)


class RuleSpec(_Strict):
    """A rule: an Excel formula computing one measure element over the cube's leaves (or totals)."""

    name: PathName
    target: Name = Field(description="the measure element the rule computes")
    formula: str = Field(
        min_length=1, max_length=MAX_FORMULA, description="Excel syntax, e.g. =Units*Price"
    )
    where: dict[Reference, list[Reference]] = Field(
        default={}, description="narrow other dimensions to these elements (and what lies below)"
    )
    level: Literal["leaf", "consolidated"] = Field(
        default="leaf",
        description="leaf: computes leaf cells, which consolidate like inputs; consolidated: "
        "replaces the totals of its target (cells where another dimension is at a "
        "consolidated element), e.g. a weighted average price",
    )


class CubeDef(_Strict):
    name: PathName
    dimensions: list[PathName] = Field(min_length=1)
    description: Description = ""
    rules: list[RuleSpec] = []


class ModelDef(_Strict):
    plancube: Annotated[int, Strict(), Field(ge=1, le=FORMAT_VERSION)] = FORMAT_VERSION
    name: PathName
    description: Description = ""
    dimensions: list[DimensionDef] = []
    cubes: list[CubeDef] = []
    # finite numbers only: the bound (MAX_INPUT) is checked per cell, naming it
    data: dict[
        Reference, list[list[Annotated[Text | Annotated[float, Strict()] | None, TEXT_LIMIT]]]
    ] = {}


def build_hierarchy(dim: DimensionDef) -> Hierarchy:
    """Validate one dimension and turn it into the engine's hierarchy (InvalidModel if wrong)."""
    names = [e.name for e in dim.elements]
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InvalidModel(
                f"element {n!r} appears twice in dimension {dim.name!r}",
                dimension=dim.name,
                element=n,
            )
        seen.add(n)
    edges = []
    for e in dim.elements:
        kids: set[str] = set()
        for c in e.children:
            if c.name not in seen:
                raise InvalidModel(
                    f"element {e.name!r} of dimension {dim.name!r} has child {c.name!r}, "
                    "which is not an element of the dimension",
                    dimension=dim.name,
                    element=e.name,
                    child=c.name,
                )
            if c.name in kids:
                raise InvalidModel(
                    f"element {e.name!r} lists child {c.name!r} twice",
                    dimension=dim.name,
                    element=e.name,
                    child=c.name,
                )
            kids.add(c.name)
            edges.append(Edge(e.name, c.name, c.weight))
        if e.type is ElementType.text and dim.role is not Role.measure:
            raise InvalidModel(
                f"element {e.name!r} is of type text, but only a measure dimension may have "
                f"text elements ({dim.name!r} has role {dim.role})",
                dimension=dim.name,
                element=e.name,
            )
        if e.type is ElementType.text and e.children:
            raise InvalidModel(
                f"text element {e.name!r} cannot have children", dimension=dim.name, element=e.name
            )
        _check_attributes(dim, e)
    _check_aliases(dim, seen)
    try:
        h = Hierarchy(dim.name, names, edges)
    except HierarchyCycleError as exc:
        raise InvalidModel(str(exc), dimension=dim.name, cycle=exc.cycle) from None
    except ValueError as exc:  # weights whose products pass the float range
        raise InvalidModel(str(exc), dimension=dim.name) from None
    _check_combined_weights(dim, h)
    return h


def _check_combined_weights(dim: DimensionDef, h: Hierarchy) -> None:
    """A consolidated element counts each leaf with at most MAX_WEIGHT, so that no total of
    bounded inputs can approach the float range (the numeric policy)."""
    r = h.rollup
    if not r.nnz or float(abs(r).max()) <= MAX_WEIGHT:
        return
    big = abs(r).max(axis=1).toarray().ravel()
    row = int(next(i for i in range(h.size) if big[i] > MAX_WEIGHT))
    lo, hi = r.indptr[row], r.indptr[row + 1]
    j = lo + int(abs(r.data[lo:hi]).argmax())
    leaf, weight = h.names[int(h.leaves[r.indices[j]])], float(r.data[j])
    raise InvalidModel(
        f"element {h.names[row]!r} of dimension {dim.name!r} counts {leaf!r} with the combined "
        f"weight {weight:g} (the product along the path); at most {MAX_WEIGHT:g} is allowed",
        dimension=dim.name,
        element=h.names[row],
        leaf=leaf,
        weight=weight,
        limit=MAX_WEIGHT,
    )


def _check_attributes(dim: DimensionDef, e: ElementDef) -> None:
    for attr, value in e.attributes.items():
        kind = dim.attributes.get(attr)
        if kind is None:
            raise InvalidModel(
                f"element {e.name!r} sets attribute {attr!r}, which dimension {dim.name!r} "
                f"does not define (defined: {sorted(dim.attributes)})",
                dimension=dim.name,
                element=e.name,
                attribute=attr,
            )
        if value is None:
            continue
        if kind is AttributeType.number and not isinstance(value, int | float):
            raise InvalidModel(
                f"attribute {attr!r} of element {e.name!r} must be a number, got {value!r}",
                dimension=dim.name,
                element=e.name,
                attribute=attr,
            )
        if isinstance(value, float) and not (math.isfinite(value) and abs(value) <= MAX_INPUT):
            raise InvalidModel(
                f"attribute {attr!r} of element {e.name!r} is {value:g}; a number attribute is "
                f"finite and at most {MAX_INPUT:g} in magnitude",
                dimension=dim.name,
                element=e.name,
                attribute=attr,
                limit=MAX_INPUT,
            )
        if kind is not AttributeType.number and not isinstance(value, str):
            raise InvalidModel(
                f"attribute {attr!r} of element {e.name!r} must be text, got {value!r}",
                dimension=dim.name,
                element=e.name,
                attribute=attr,
            )


def _check_aliases(dim: DimensionDef, names: set[str]) -> None:
    """An alias names an element too, so it must not clash with a name or another alias."""
    taken: dict[str, str] = {}
    for attr, kind in dim.attributes.items():
        if kind is not AttributeType.alias:
            continue
        for e in dim.elements:
            alias = e.attributes.get(attr)
            if not isinstance(alias, str) or alias == e.name:
                continue
            reason = problem(alias)
            if reason is not None:
                raise InvalidModel(
                    f"alias {alias!r} of element {e.name!r} ({attr}): {reason}",
                    dimension=dim.name,
                    element=e.name,
                    attribute=attr,
                )
            owner = taken.get(alias) or (alias if alias in names else None)
            if owner is not None:
                raise InvalidModel(
                    f"alias {alias!r} of element {e.name!r} ({attr}) is already the name or "
                    f"alias of {owner!r}",
                    dimension=dim.name,
                    element=e.name,
                    attribute=attr,
                )
            taken[alias] = e.name


def read_model_file(path: Path) -> ModelDef:
    return load_model(
        path.read_bytes(), yaml_format=path.suffix.lower() != ".json", source=str(path)
    )


def load_model(data: bytes, *, yaml_format: bool, source: str = "body") -> ModelDef:
    """A model file's text as a validated model: 400 ``invalid_json`` / ``invalid_yaml`` when it
    does not parse, 422 ``invalid_model`` when it is not a model."""
    return parse_model(load_yaml(data, source) if yaml_format else load_json(data, source), source)


def load_json(data: bytes, source: str = "body") -> Any:
    """JSON parsed as the request bodies are (``server.wire``): strict, depth-bounded."""
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(
            f"{source} is not valid JSON: {exc.msg} (at character {exc.pos})", position=exc.pos
        ) from None
    at = nul_at(data)
    if at is not None:
        raise InvalidJson(f"{source}: {NUL_REFUSED} (at character {at})", position=at)
    return raw


# libyaml's parser (PyYAML's C extension), else PyYAML's own: the same documents, 6x slower
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# an anchor (``&name``) starts a node: at a line's start, after a space or a flow indicator
_ANCHOR = re.compile(rb"(?:^|[\s\[\]{},:])&[^\s\[\]{},]", re.MULTILINE)


def load_yaml(data: bytes, source: str = "body") -> Any:
    """YAML parsed safely, then held to what JSON allows: no lone surrogates (which a YAML
    escape can make and no store can keep), no nesting past ``MAX_DEPTH``, and no more than
    ``MAX_ALIAS_NODES`` added by aliases, counted on the node graph before any object is built."""
    loader = _Loader(data)
    try:
        with collections_paused():
            node = loader.get_single_node()
            if node is not None and _ANCHOR.search(data):  # no anchor, no alias: no expansion
                _check_aliases_expansion(node, source)
            raw = None if node is None else loader.construct_document(node)
            del node
    except RecursionError:  # PyYAML's own parser recurses once per level
        raise InvalidYaml(_too_deep(source), limit=MAX_DEPTH) from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml stops at 1,000 levels
            raise InvalidYaml(_too_deep(source), limit=MAX_DEPTH) from None
        if "invalid Unicode character escape" in str(exc):  # libyaml: a surrogate's escape
            raise InvalidYaml(f"{source} is not a model file: {_SURROGATE} ({exc})") from None
        raise InvalidYaml(f"{source} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    try:
        as_json = orjson.dumps(raw, default=repr)
    except orjson.JSONEncodeError as exc:
        if "ecursion" in str(exc):
            raise InvalidYaml(_too_deep(source), limit=MAX_DEPTH) from None
        reason = _SURROGATE if "surrogate" in str(exc) else str(exc)
        raise InvalidYaml(f"{source} is not a model file: {reason}") from None
    if nul_at(as_json) is not None:
        raise InvalidYaml(f"{source} is not a model file: {NUL_REFUSED}")
    return raw


_SURROGATE = "it holds text with a lone surrogate, which is not valid Unicode"


def _too_deep(source: str) -> str:
    return f"{source} is not a model file: the YAML nests too deeply (at most {MAX_DEPTH} levels)"


def _check_aliases_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a node graph whose aliases would expand past ``MAX_ALIAS_NODES`` nodes more than
    are written, or refer to a node that contains them (a structure without end).

    An alias is the very node its anchor names, so the graph is walked once per distinct node
    (iteratively: a document may nest 1,000 levels) and each node's expanded size is the sum of
    its children's: a few microseconds a node, whatever the expansion.
    """
    size: dict[int, int] = {}  # id(node) -> nodes in its expansion, itself included
    path: set[int] = set()  # the nodes being walked: their descendants are not yet sized
    written = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = node.value if isinstance(node, yaml.SequenceNode) else _pairs(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            path.discard(key)
        elif key not in size:
            written += 1
            if isinstance(node, yaml.ScalarNode):
                size[key] = 1
                continue
            if key in path:
                raise InvalidYaml(
                    f"{source} is not a model file: an alias refers to a node that contains it"
                )
            path.add(key)
            stack.append((node, True))
            kids = node.value if isinstance(node, yaml.SequenceNode) else _pairs(node)
            stack.extend((k, False) for k in kids)
    added = size[id(root)] - written
    if added > MAX_ALIAS_NODES:
        raise InvalidYaml(
            f"{source} is not a model file: its aliases expand it by {added:,} nodes, more "
            f"than the {MAX_ALIAS_NODES:,} allowed (write the repeated parts out)",
            nodes=written,
            expanded=size[id(root)],
            limit=MAX_ALIAS_NODES,
        )


def _pairs(node: yaml.Node) -> list[yaml.Node]:
    return [n for pair in node.value for n in pair]


def parse_model(raw: Any, source: str = "model") -> ModelDef:
    from pydantic import ValidationError

    try:
        return ModelDef.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidModel(
            f"{source}: {where}: {first['msg']}",
            problems=[{"location": list(e["loc"]), "message": e["msg"]} for e in exc.errors()],
        ) from None


def dump_model(model: ModelDef, fmt: str = "yaml") -> str:
    raw = model.model_dump(mode="json", exclude_defaults=False)
    if not raw.get("data"):
        raw.pop("data", None)
    if fmt == "json":
        return json.dumps(raw, indent=2, ensure_ascii=False)
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
