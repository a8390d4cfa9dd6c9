"""Exports: a view's answer written as CSV, XLSX or Parquet (see docs/exports.md).

An export is a view (``server.services.views.query``) and nothing else, so element security
holds by construction: what the view leaves out for the caller, the file does not hold.
``grid`` turns the answer into header and value lines, neutralising text a spreadsheet would
run as a formula; ``write`` writes them in each format.
"""
