"""The named personas of the tests (``world[name]`` in tests/conftest.py's ``world`` fixture),
from no access to all of it."""

PERSONAS = ("anonymous", "stranger", "member", "other_staff", "staff", "curator", "admin")
