"""The client as its own distribution (``clients/python``, ``openem-client``): installed alone
in a fresh virtualenv it gives a working ``openem`` without Django; it names its version in
every request, and stops with a clear message when the portal needs a newer one."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

import openem_client
from openem.api import versions
from openem_client import cli as openem_cli
from repository.models import DatasetStatus, Visibility
from tests.factories import DatasetFactory

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
SERVER_ONLY = {"django", "celery", "kombu", "psycopg2-binary", "numpy", "gemmi", "boto3"}


def test_the_client_imports_neither_django_nor_celery():
    """Every ``openem`` command pays for what its start imports: the client needs neither."""
    probe = (
        "import json, sys, openem_client.cli; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(json.loads(result.stdout))
    assert "openem_client" in loaded
    assert not loaded & {"celery", "kombu", "django", "openem", "numpy", "boto3"}


@pytest.fixture
def public_dataset(world: Any) -> Any:
    return DatasetFactory(
        facility=world.facility,
        title="Apoferritin seen from a fresh virtualenv",
        status=DatasetStatus.PUBLISHED,
        visibility=Visibility.PUBLIC,
    )


def test_pip_install_of_the_client_alone_gives_a_working_openem(
    tmp_path, live_server, public_dataset
):
    source = tmp_path / "openem-client"  # a copy: pip builds in the source tree (build/)
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(  # noqa: S603 - pip of the fresh virtualenv
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr

    listed = subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    assert installed["openem-client"] == openem_client.__version__
    assert {"requests", "tqdm"} <= installed.keys()
    assert not installed.keys() & SERVER_ONLY, sorted(installed)
    assert "openem-portal" not in installed

    openem = env_dir / "bin" / "openem"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the installed console script
            [str(openem), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=tmp_path,  # not the checkout: only the installed package is importable
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
        )

    version = run("--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"openem-client {openem_client.__version__}"

    found = run("--server", live_server.url, "search", "apoferritin", "--json")
    assert found.returncode == 0, found.stderr
    assert [d["pid"] for d in json.loads(found.stdout)] == [public_dataset.pid]

    portal = run("--server", live_server.url, "version", "--json")
    assert portal.returncode == 0, portal.stderr
    assert json.loads(portal.stdout) == {
        "client": openem_client.__version__,
        "client_api": 1,
        "server": live_server.url,
        "api_version": versions.API_VERSION,
        "min_client_version": versions.MIN_CLIENT_VERSION,
    }


# ---------------------------------------------------------------------------------------------
# Versions: User-Agent, and the portal's minimum client


def _run(live_server: Any, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = openem_cli.main(["--server", live_server.url, "--retries", "1", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.err


def test_every_request_names_the_client_and_its_version(
    live_server, public_dataset, monkeypatch, capsys
):
    seen: list[str] = []
    call = versions.ApiVersionHeadersMiddleware.__call__

    def recording(self: Any, request: Any) -> Any:
        seen.append(request.headers.get("User-Agent", ""))
        return call(self, request)

    monkeypatch.setattr(versions.ApiVersionHeadersMiddleware, "__call__", recording)
    code, err = _run(live_server, capsys, "show", public_dataset.pid)

    assert code == 0, err
    assert seen and all(
        ua.startswith(f"openem-client/{openem_client.__version__} (python-requests/") for ua in seen
    )


def test_a_client_older_than_the_portal_needs_says_how_to_upgrade(
    live_server, public_dataset, monkeypatch, capsys
):
    monkeypatch.setattr(versions, "MIN_CLIENT_VERSION", "0.10.0")  # 0.10 > 0.2: numbers, not text

    code, err = _run(live_server, capsys, "search", "apoferritin")

    assert code == openem_cli.EXIT_INCOMPATIBLE == 9
    assert err.strip() == (
        f"openem: openem-client {openem_client.__version__} is too old for this portal, which "
        "needs 0.10.0 or later: upgrade it: pip install --upgrade openem-client "
        "(or pipx upgrade openem-client)"
    )


def test_a_portal_speaking_another_api_major_version_is_refused(
    live_server, public_dataset, monkeypatch, capsys
):
    monkeypatch.setattr(versions, "API_VERSION", "2.0")

    code, err = _run(live_server, capsys, "show", public_dataset.pid)

    assert code == openem_cli.EXIT_INCOMPATIBLE
    assert "this portal speaks API version 2.0" in err and "speaks version 1" in err


def test_the_check_also_applies_when_the_portal_answers_with_an_error(
    live_server, world, monkeypatch, capsys
):
    """A too-old client's request may be refused for a reason it cannot understand: the
    version is what it is told about."""
    monkeypatch.setattr(versions, "MIN_CLIENT_VERSION", "1.0")

    code, err = _run(live_server, capsys, "show", "oem-0000000000")  # a 404

    assert code == openem_cli.EXIT_INCOMPATIBLE
    assert "is too old for this portal" in err


def test_a_compatible_client_passes_the_check(live_server, world, capsys):
    code, err = _run(live_server, capsys, "show", "oem-0000000000")

    assert code == openem_cli.EXIT_NOT_FOUND  # the real answer, not a version complaint
    assert "too old" not in err


@pytest.mark.parametrize(
    ("api", "minimum", "problem"),
    [
        ("1.0", "0.1", None),
        ("1.7", openem_client.__version__, None),
        ("1.1", "0.2.0rc1", None),
        ("1.1", "0.3", "too old"),
        ("1.1", "1.0.0", "too old"),
        ("2.0", "0.1", "speaks API version 2.0"),
        ("0.9", "", "speaks API version 0.9"),
        ("", "", None),  # nothing announced: nothing to complain about
    ],
)
def test_compatibility_rule(api, minimum, problem):
    found = openem_client.compatibility_problem(api, minimum)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
