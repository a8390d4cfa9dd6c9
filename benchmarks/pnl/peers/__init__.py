"""Peers of the P&L benchmark, used only here: never imported by the product (DESIGN 8)."""
