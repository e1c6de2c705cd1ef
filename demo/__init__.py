"""Demo data for the embedded default (``manage.py seed_demo``): it drives the real services of
repository, ingest and deposition, so it sits above them all."""
