"""The demo city: a deterministic, realistic ledger generated from a seed (city.py) and its loader (load.py).

Nothing is imported here, so light users (scales) don't pull in pandas and GEOS.
"""
