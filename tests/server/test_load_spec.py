"""A LoadSpec (profiles, connectors, the web's upload form) maps to the import service's Mapping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from server.errors import InvalidValue
from server.imports.numbers import Locale
from server.imports.spec import LoadSpec
from server.services.imports import Mapping, Mode


def test_a_spec_gives_the_mapping_the_route_would_build() -> None:
    spec = LoadSpec.model_validate(
        {
            "columns": {"Month": "Period"},
            "constants": {"Version": "Actual"},
            "across": "Month",
            "value_columns": ["Jan", "Feb"],
            "case_insensitive": True,
            "decimal": "comma",
            "thousands": "dot",
            "delimiter": ";",
            "mode": "replace",
        }
    )
    assert spec.mapping() == Mapping(
        columns={"Month": "Period"},
        constants={"Version": "Actual"},
        across="Month",
        value_columns=["Jan", "Feb"],
        case_insensitive=True,
        locale=Locale(",", "."),
    )
    assert spec.read_options() == {"delimiter": ";", "encoding": None, "sheet": None}
    assert spec.mode is Mode.replace_area


def test_a_spec_refuses_what_an_import_would() -> None:
    with pytest.raises(ValidationError):
        LoadSpec.model_validate({"colums": {}})  # a typo is not ignored
    with pytest.raises(ValidationError):
        LoadSpec.model_validate({"encoding": "latin-9"})
    with pytest.raises(InvalidValue, match="thousands separator"):
        LoadSpec(decimal="comma", thousands="comma").mapping()
