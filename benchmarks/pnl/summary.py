"""Turn raw engine results into the BENCHMARKS.md result entries, checked; print the tables.

Every engine's numbers are checked against the numpy reference (:mod:`benchmarks.pnl.reference`):
the report block after the full recalc (cold and warm reads), EBIT total and RevYTD after every
write, and the report after the bulk replace. An engine that disagrees anywhere gets
``"correct": false``; its timings are then not a result — they are set to null and kept only
under ``detail.rejected`` for diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.pnl.model import PnlModel
from benchmarks.pnl.reference import Check, check

METRICS = (
    "load_s",
    "full_recalc_s",
    "write_p50_ms",
    "write_p95_ms",
    "http_write_p50_ms",
    "http_write_p95_ms",
    "slice_cold_ms",
    "slice_warm_ms",
    "bulk_s",
    "bytes_per_cell",
)
HTTP_METHOD = (
    "a `plancube serve` process on a fresh DuckDB file, the model, rules and inputs loaded by one "
    "POST /api/models/import; per sample, from one keep-alive httpx client: POST .../cells of the "
    "one Units leaf with base_commit (one durable commit per write, rules and totals current when "
    "it answers), then two one-cell POST .../view reads, EBIT[Total,Total,FY] and "
    "RevYTD[p,r,Dec]; timed from sending the write until the second view answer is read"
)
RATIO_METRICS = ("full_recalc_s", "write_p50_ms", "slice_warm_ms", "bulk_s", "load_s")


@dataclass(frozen=True)
class References:
    """The numbers every engine must reproduce."""

    report: np.ndarray
    writes: np.ndarray
    bulk_report: np.ndarray


def empty_entry(note: str) -> dict[str, Any]:
    """A skipped or failed engine: every metric null."""
    entry: dict[str, Any] = dict.fromkeys(METRICS)
    entry["correct"] = None
    entry["note"] = note
    return entry


def _block(values: Any, model: PnlModel) -> np.ndarray | Any:
    shape = (model.size.families + 1, model.size.groups + 1, 13)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return values
    return arr.reshape(shape) if arr.size == np.prod(shape) else arr


def verify(raw: dict[str, Any], model: PnlModel, refs: References) -> dict[str, Check]:
    """Each of the engine's outputs checked against the reference.

    The HTTP writes (plancube: ``raw["http"]``) are checked when they were measured: the same
    cells as the in-engine writes, so the same EBIT totals and RevYTD values.
    """
    n = len(raw.get("write_readings", []))
    checks = {
        "report": check(_block(raw.get("report"), model), refs.report),
        "report_warm": check(_block(raw.get("report_warm"), model), refs.report),
        "writes": check(raw.get("write_readings", []), refs.writes[:n])
        if n
        else Check(False, float("inf"), "no writes"),
        "report_bulk": check(_block(raw.get("report_bulk"), model), refs.bulk_report),
    }
    http = raw.get("http") or {}
    for name, run in (("http_writes", http), ("http_writes_postgres", http.get("postgres") or {})):
        if "http_write_ms" in run:
            k = len(run.get("http_write_readings", []))
            checks[name] = (
                check(run["http_write_readings"], refs.writes[:k])
                if k
                else Check(False, float("inf"), "no HTTP writes")
            )
    return checks


def _p(values: Any, q: float) -> float | None:
    a = np.asarray(values if values is not None else [], dtype=np.float64)
    return float(np.percentile(a, q)) if a.size else None


def _http(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The HTTP write metrics, their details and notes from ``raw["http"]`` (plancube only)."""
    http = raw.get("http")
    if not http:
        return {"http_write_p50_ms": None, "http_write_p95_ms": None}, {}, []
    metrics = {
        "http_write_p50_ms": _p(http.get("http_write_ms"), 50),
        "http_write_p95_ms": _p(http.get("http_write_ms"), 95),
    }
    notes = []
    if http.get("skipped"):
        notes.append(http["skipped"])
    if http.get("error"):
        notes.append(f"HTTP writes failed: {http['error']}")
    if http.get("note"):
        notes.append(http["note"])
    detail: dict[str, Any] = {}
    if "http_write_ms" in http:
        detail = {
            "http_write_samples": len(http["http_write_ms"]),
            "http_method": HTTP_METHOD,
            "http_store": http.get("store", "duckdb"),
            "http_load_s": http.get("load_s"),
            "http_load_via": http.get("load_via"),
            "http_write_only_p50_ms": _p(http.get("write_only_ms"), 50),
            "http_write_only_p95_ms": _p(http.get("write_only_ms"), 95),
            "http_reads_p50_ms": _p(http.get("read_ms"), 50),
            "http_reads_p95_ms": _p(http.get("read_ms"), 95),
        }
    pg = http.get("postgres") or {}
    if pg.get("skipped") or pg.get("error"):
        notes.append(f"HTTP on PostgreSQL: {pg.get('skipped') or pg.get('error')}")
    if "http_write_ms" in pg:  # the same requests against a server on PostgreSQL
        detail.update(
            {
                "http_postgres_p50_ms": _p(pg["http_write_ms"], 50),
                "http_postgres_p95_ms": _p(pg["http_write_ms"], 95),
                "http_postgres_write_only_p50_ms": _p(pg.get("write_only_ms"), 50),
                "http_postgres_write_only_p95_ms": _p(pg.get("write_only_ms"), 95),
                "http_postgres_reads_p50_ms": _p(pg.get("read_ms"), 50),
                "http_postgres_load_s": pg.get("load_s"),
            }
        )
    return metrics, detail, notes


def entry_from_raw(raw: dict[str, Any], model: PnlModel, refs: References) -> dict[str, Any]:
    """The result entry of one engine run: metrics, correctness, note and details."""
    writes = np.asarray(raw.get("write_ms", []), dtype=np.float64)
    metrics: dict[str, Any] = {
        "load_s": raw.get("load_s"),
        "full_recalc_s": raw.get("full_recalc_s"),
        "write_p50_ms": float(np.percentile(writes, 50)) if writes.size else None,
        "write_p95_ms": float(np.percentile(writes, 95)) if writes.size else None,
        "http_write_p50_ms": None,  # from raw["http"] below
        "http_write_p95_ms": None,
        "slice_cold_ms": raw.get("slice_cold_ms"),
        "slice_warm_ms": raw.get("slice_warm_ms"),
        "bulk_s": raw.get("bulk_s"),
        "bytes_per_cell": raw.get("bytes_per_cell"),
    }
    http_metrics, http_detail, http_notes = _http(raw)
    metrics.update(http_metrics)
    checks = verify(raw, model, refs)
    correct = all(c.ok for c in checks.values())
    notes = [raw["note"]] if raw.get("note") else []
    notes += http_notes
    detail: dict[str, Any] = {
        "write_samples": int(writes.size),
        "bytes_method": raw.get("bytes_method"),
        "max_rel_err": max(c.max_rel_err for c in checks.values()),
        **http_detail,
    }
    if raw.get("version"):
        detail["version"] = raw["version"]
    detail.update(raw.get("extra") or {})
    if not correct:
        bad = "; ".join(f"{k}: {c.message}" for k, c in checks.items() if not c.ok)
        notes.append(f"numbers disagree with the numpy reference ({bad}): not a result")
        detail["rejected"] = metrics
        metrics = dict.fromkeys(metrics)
    entry = {**metrics, "correct": correct, "note": "; ".join(notes), "detail": detail}
    return entry


def ratios(engines: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each engine's time divided by LibreOffice's and by numpy's, same run (< 1 is faster)."""
    out: dict[str, dict[str, float | None]] = {}
    for name, e in engines.items():
        row: dict[str, float | None] = {}
        for base in ("libreoffice", "numpy"):
            b = engines.get(base, {})
            for metric in RATIO_METRICS:
                mine, theirs = e.get(metric), b.get(metric)
                ratio = None
                if isinstance(mine, float | int) and isinstance(theirs, float | int) and theirs > 0:
                    ratio = mine / theirs
                row[f"{metric}_vs_{base}"] = ratio
        out[name] = row
    return out


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float | int):
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.1f}"
        return f"{v:.{digits}g}"
    return str(v)


def table(engines: dict[str, dict[str, Any]]) -> str:
    """Metrics per engine, then ratios vs LibreOffice and numpy, then notes."""
    cols = [
        ("load_s", "load s"),
        ("full_recalc_s", "recalc s"),
        ("write_p50_ms", "write p50 ms"),
        ("write_p95_ms", "write p95 ms"),
        ("http_write_p50_ms", "http p50 ms"),
        ("http_write_p95_ms", "http p95 ms"),
        ("slice_cold_ms", "slice cold ms"),
        ("slice_warm_ms", "slice warm ms"),
        ("bulk_s", "bulk s"),
        ("bytes_per_cell", "B/cell"),
        ("correct", "correct"),
    ]
    rows = [["engine", *(h for _, h in cols)]]
    for name, e in engines.items():
        rows.append([name, *(_fmt(e.get(k)) for k, _ in cols)])
    lines = _grid(rows)

    rat = ratios(engines)
    rcols = [(f"{m}_vs_{b}", f"{m.rsplit('_', 1)[0]} ×{b[:2]}") for m in RATIO_METRICS[:4]
             for b in ("libreoffice", "numpy")]  # fmt: skip
    rrows = [["engine", *(h for _, h in rcols)]]
    for name in engines:
        if any(rat[name][k] is not None for k, _ in rcols):
            rrows.append([name, *(_fmt(rat[name][k]) for k, _ in rcols)])
    lines += ["", "time ÷ LibreOffice's (×li) and ÷ numpy's (×nu), same run:", *_grid(rrows)]
    if any(e.get("http_write_p50_ms") is not None for e in engines.values()):
        lines += ["", f"http p50/p95: {HTTP_METHOD}."]
        for name, e in engines.items():
            d = e.get("detail") or {}
            if d.get("http_postgres_p50_ms") is not None:
                lines.append(
                    f"{name} on PostgreSQL, same requests: http p50 "
                    f"{_fmt(d['http_postgres_p50_ms'])} ms, p95 "
                    f"{_fmt(d['http_postgres_p95_ms'])} ms (DuckDB above)."
                )
    notes = [f"  {n}: {e['note']}" for n, e in engines.items() if e.get("note")]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def _grid(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
