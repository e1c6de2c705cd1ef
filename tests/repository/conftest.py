"""Fixtures of the repository tests: the small catalogue of the page tests."""

from tests.support.catalogue import catalogue  # noqa: F401 - the same small catalogue
