"""Benchmarks: run from the command line, print a table, write a JSON result (see BENCHMARKS.md)."""
