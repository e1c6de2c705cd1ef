"""DataCite settings: a bad value stops the start with a message naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_settings import run_check


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OPENEM_DATACITE_PREFIX": "doi:10.1234"}, "OPENEM_DATACITE_PREFIX must be a DOI prefix"),
        (
            {"OPENEM_DATACITE_PREFIX": "10.80000", "OPENEM_DATACITE_REPOSITORY_ID": "X.Y"},
            "OPENEM_DATACITE_PASSWORD must be set",
        ),
        (
            {
                "OPENEM_DATACITE_PREFIX": "10.80000",
                "OPENEM_DATACITE_REPOSITORY_ID": "X.Y",
                "OPENEM_DATACITE_PASSWORD": "p",
                "OPENEM_DATACITE_URL": "api.datacite.org",
            },
            "OPENEM_DATACITE_URL",
        ),
        ({"OPENEM_DATACITE_TIMEOUT": "0"}, "OPENEM_DATACITE_TIMEOUT must be between"),
        ({"OPENEM_DATACITE_MAX_RETRIES": "many"}, "OPENEM_DATACITE_MAX_RETRIES must be a whole"),
    ],
)
def test_bad_datacite_settings_fail_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = run_check(tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
