"""A 100k-element parent/child CSV loaded into a dimension through the HTTP route, on DuckDB.

.venv/bin/python -m benchmarks.dimension_load [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PLANCUBE_ALLOWED_HOSTS", "testserver")

from server.app import create_app
from tests.signin import signed_in


def main(n: int = 100_000) -> None:
    groups = max(1, n // 1000)
    lines = ["element,parent,weight", "Total,,"]
    lines += [f"G{g},Total," for g in range(groups)]
    lines += [f"E{i},G{i % groups},1" for i in range(n)]
    body = ("\n".join(lines) + "\n").encode()
    with tempfile.TemporaryDirectory() as d, signed_in(create_app(str(Path(d) / "b.duckdb"))) as c:
        model = {
            "name": "b",
            "dimensions": [{"name": "D", "elements": ["x"]}, {"name": "M", "elements": ["v"]}],
            "cubes": [{"name": "C", "dimensions": ["D", "M"]}],
        }
        r = c.post("/api/models/import", json=model)
        assert r.status_code == 201, r.text
        url = "/api/models/b/dimensions/D/load"
        for label, params in (("dry run", {"dry_run": "true"}), ("load", {})):
            t = time.perf_counter()
            r = c.post(url, content=body, headers={"Content-Type": "text/csv"}, params=params)
            assert r.status_code == 200, r.text[:500]
            print(f"{label}: {n + groups + 1} elements in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
