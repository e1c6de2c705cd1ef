"""``manage.py import_schema``: files and local http(s) URLs, and a clear error (never a
traceback) for everything that is not a usable JSON Schema."""

from __future__ import annotations

import functools
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from metadata.models import MetadataSchema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://example.org/schemas/lab.json",
    "version": "2.1.0",
    "type": "object",
    "properties": {"a": {"type": "number"}},
}


def _import(*args: str) -> str:
    out = StringIO()
    call_command("import_schema", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def schema_file(tmp_path: Path) -> Path:
    path = tmp_path / "lab_notes.schema.json"
    path.write_text(json.dumps(SCHEMA))
    return path


@pytest.fixture
def official_spa() -> Path:
    path = Path(settings.OPENEM_SCHEMAS_DIR) / "oscem" / "oscem_schemas_spa.schema.json"
    if not path.is_file():
        pytest.skip(f"official OSC-EM schemas not found at {path} (set OPENEM_SCHEMAS_DIR)")
    return path


def test_imports_the_official_spa_schema(db, official_spa):
    output = _import(str(official_spa), "--version", "1.0.2", "--technique", "spa")
    assert output.strip() == "oscem_schemas_spa 1.0.2: registered"
    schema = MetadataSchema.objects.get(name="oscem_schemas_spa", version="1.0.2")
    assert schema.document == json.loads(official_spa.read_text())
    assert schema.techniques == ["spa"] and not schema.builtin
    assert schema.source_url == "https://w3id.org/oscem-schemas/latest/spa"
    again = _import(str(official_spa), "--version", "1.0.2", "--name", "oscem_schemas_spa")
    assert again.strip() == "oscem_schemas_spa 1.0.2: already registered (unchanged)"


def test_name_and_version_default_to_the_file_and_the_document(db, schema_file):
    assert _import(str(schema_file)).strip() == "lab_notes 2.1.0: registered"
    assert _import(str(schema_file), "--name", "lab", "--version", "3.0.0").strip() == (
        "lab 3.0.0: registered"
    )


def test_a_changed_document_under_an_existing_version_is_refused(db, schema_file, tmp_path):
    _import(str(schema_file))
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**SCHEMA, "required": ["a"]}))
    with pytest.raises(CommandError, match="already registered with a different document"):
        _import(str(changed), "--name", "lab_notes")
    assert MetadataSchema.objects.get(name="lab_notes").document == SCHEMA


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON: Expecting property name"),
        (b"\xff\xfe\x00garbage", "is not JSON: it is not UTF-8"),
        ("[1, 2]", "JSON but not a JSON Schema object"),
        ('{"type": 12}', "not a valid JSON Schema"),
        (
            '{"$schema": "http://json-schema.org/draft-04/schema#", "minimum": "low"}',
            "Draft4Validator",
        ),
        ('{"$schema": "https://example.org/draft-99"}', "unsupported \\$schema"),
        ('{"type": "object"}', "give one with --version"),
    ],
)
def test_unusable_files_are_refused_with_a_clear_message(db, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(CommandError, match=message):
        _import(str(path))
    assert not MetadataSchema.objects.filter(builtin=False).exists()


def test_missing_file_and_bad_arguments(db, tmp_path, schema_file):
    with pytest.raises(CommandError, match="no such file"):
        _import(str(tmp_path / "nope.json"))
    with pytest.raises(CommandError, match="is not a file"):
        _import(str(tmp_path))
    with pytest.raises(CommandError, match="only http\\(s\\) URLs"):
        _import("ftp://127.0.0.1/schema.json")
    with pytest.raises(CommandError, match="semantic version"):
        _import(str(schema_file), "--version", "2.1")
    with pytest.raises(CommandError, match="unknown technique"):
        _import(str(schema_file), "--technique", "magic")


def test_the_command_line_prints_the_error_without_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_schema",
            "--skip-checks",
            str(tmp_path / "nope.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CommandError: no such file" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------------------------
# URLs: a local server on 127.0.0.1 only


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


def test_imports_from_a_url(db, http_root):
    base, folder = http_root
    (folder / "lab.schema.json").write_text(json.dumps(SCHEMA))
    assert _import(f"{base}/lab.schema.json").strip() == "lab 2.1.0: registered"
    assert MetadataSchema.objects.get(name="lab").source_url == f"{base}/lab.schema.json"


def test_url_errors_are_clear(db, http_root):
    base, folder = http_root
    (folder / "page.json").write_text("<html>not json</html>")
    with pytest.raises(CommandError, match="answered HTTP 404"):
        _import(f"{base}/missing.json")
    with pytest.raises(CommandError, match="is not JSON"):
        _import(f"{base}/page.json")


def test_a_silent_server_times_out(db):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        port = listener.getsockname()[1]
        with pytest.raises(CommandError, match="did not answer within 0.3 s"):
            _import(f"http://127.0.0.1:{port}/schema.json", "--timeout", "0.3")
    finally:
        listener.close()
