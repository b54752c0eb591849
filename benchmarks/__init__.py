"""Benchmarks for issue 6: cold start, requests and latency, REST concurrency (see README.md).

Run from the project root as modules, e.g. ``.venv/bin/python -m benchmarks.run_all``.
"""
