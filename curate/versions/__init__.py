"""Working changes, splits and versions: the engine behind commit/diff/export.

``changes`` (relabel, drop, restore, accept, reset), ``split`` (leakage-aware
splits), ``history`` (commit, log, diff, tag), ``view`` (a version as data:
``to_hf``, ``to_torch``, ``to_parquet``, ``to_pandas``).
"""
