"""Occupancy, entries and waiting-time forecasts: features, baselines, one global model, backtests.

Heavy libraries (pandas, lightgbm) are imported by the submodules, never by this package, so a DAG
file may import `footfall.forecast` names cheaply.
"""
