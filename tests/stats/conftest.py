from __future__ import annotations

from collections.abc import Iterator

import pytest

from stats import recording


@pytest.fixture(autouse=True)
def _fresh_salts() -> Iterator[None]:
    """A salt is kept in the process once read; each test's database starts without any."""
    recording.forget_salts()
    yield
    recording.forget_salts()
