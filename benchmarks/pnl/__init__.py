"""Driver-based P&L benchmark (BENCHMARKS.md): plancube beside spreadsheet peers and numpy."""
