"""The JSON response class: orjson, which also writes numpy arrays without a Python loop.

A 100 x 36 view is a matrix of floats; orjson serialises the numpy array directly, NaN as null.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class Json(JSONResponse):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
