"""Benchmarks of the ingest pipeline: ``python -m bench [name ...]`` (see ``bench/__main__.py``).

Not tests: each writes its figures to ``bench/results/<name>.json`` and prints one line.
"""
