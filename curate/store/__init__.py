"""Persistence: the DuckDB catalog and the content-addressed object store.

The only package that imports duckdb.
"""
