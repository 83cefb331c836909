"""Benchmarks of the wallet: ``python -m bench.run`` (see docs/performance.md).

Not tests: they measure, on this machine and in one run, how the full charge path through HTTP
compares with what the database engine itself can do (``pgbench``; a raw ``sqlite3`` loop).
"""
