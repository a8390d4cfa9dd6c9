"""Exports: a view's answer, or a cube area's cells, written as CSV, XLSX or Parquet (see
docs/exports.md).

A view export is a view (``server.services.views.query``) and nothing else, and an area export
resolves its elements the way a view does (``area``), so element security holds by
construction: what a view would leave out for the caller, the file does not hold. ``grid``
turns a view's answer into header and value lines, neutralising text a spreadsheet would run as
a formula, and ``write`` writes them in each format; ``area`` reads an area's cells as arrays
and ``long`` writes them one record per cell. ``server.cli_export`` writes a whole model with
its history from the store, for a data lake.
"""
