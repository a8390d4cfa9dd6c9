"""The examples in docs/ are real: the model file example loads and computes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_model_file_example_loads(client: Any) -> None:
    text = (DOCS / "model-file.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    model = yaml.safe_load(block.group(1))
    r = client.post("/api/models/import", json=model)
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/models/demo/cubes/PnL/cells",
        json={"cells": [{"elements": ["Revenue", "Jan", "Units"], "value": 100.0}]},
    )
    assert r.status_code == 200, r.text
    r = client.post(
        "/api/models/demo/cubes/PnL/view",
        json={
            "rows": [{"dimension": "Account", "members": ["Revenue", "Gross Margin"]}],
            "columns": [{"dimension": "Month", "members": ["Jan", "Q1"]}],
            "filters": {"Measure": "Rate"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["values"] == [[12.0, 12.0], [12.0, 12.0]]
