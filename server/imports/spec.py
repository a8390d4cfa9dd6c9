"""How a file's columns load into a cube, as one JSON document.

The import route spells a mapping as query parameters (``map=Month=Period``, ``decimal=comma``…);
a saved load profile, a connector's pull and the web's upload form keep the same choices as a
``LoadSpec``. ``LoadSpec.mapping()`` gives the import service's ``Mapping``, so every way in
loads by the same rules.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.imports.numbers import THOUSANDS, Locale
from server.services.imports import Mapping, Mode

Name = Field(min_length=1, max_length=255)


class LoadSpec(BaseModel):
    """A cube import's mapping, read options and mode — everything but the file."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, str] = Field(
        default_factory=dict, description="dimension -> the file column holding its elements"
    )
    constants: dict[str, str] = Field(
        default_factory=dict, description="dimension -> the one element every row loads into"
    )
    value: str | None = Field(None, max_length=255, description="long layout: the value column")
    across: str | None = Field(
        None, max_length=255, description="wide layout: the dimension the value columns name"
    )
    value_columns: list[str] | None = Field(
        None, description="wide layout: the columns to unpivot (default: the rest)"
    )
    case_insensitive: bool = False
    decimal: Literal["dot", "comma"] = "dot"
    thousands: Literal["none", "comma", "dot", "space", "apostrophe"] = "none"
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    encoding: Literal["utf-8", "cp1252"] | None = None
    sheet: str | None = Field(None, max_length=31)
    mode: Mode = Mode.upsert
    load_valid_rows: bool = False

    def mapping(self) -> Mapping:
        return Mapping(
            columns=dict(self.columns),
            constants=dict(self.constants),
            value=self.value or None,
            across=self.across or None,
            value_columns=list(self.value_columns) if self.value_columns else None,
            case_insensitive=self.case_insensitive,
            locale=Locale("," if self.decimal == "comma" else ".", THOUSANDS[self.thousands]),
        )

    def read_options(self) -> dict[str, str | None]:
        """The keyword arguments ``server.imports.read.read`` takes."""
        return {"delimiter": self.delimiter, "encoding": self.encoding, "sheet": self.sheet}
