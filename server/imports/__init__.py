"""Bulk cell imports: a file (CSV, XLSX, Parquet) read into an Arrow table, mapped onto a cube.

An import is a table, never a loop over cells: the file becomes columns (``read``), numbers in the
file's locale become floats (``numbers``), element names become positions with Arrow's
``index_in`` as stored addresses do (``match``, beside ``server.addressing``), and every problem
is a row of a report table (``problems``). The service (``server.services.imports``) validates the
whole file that way and then commits it as one commit through the ordinary write path.
"""
