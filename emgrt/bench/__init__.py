"""Benchmarks behind `emgrt bench` (one module per benchmark).

data.py   training-data loading: naive vs tuned loader, padding waste
"""
