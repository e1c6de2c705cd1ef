"""Fixtures of the repository tests: the small catalogue of the page tests."""

from tests.web.conftest import catalogue  # noqa: F401 - the same small catalogue
