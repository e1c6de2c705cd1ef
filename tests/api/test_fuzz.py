"""Schemathesis against the API: every operation of the schema the portal serves at
``/api/schema/``, with requests generated from that schema (valid and invalid ones: Schemathesis's
examples, coverage and fuzzing phases), sent with a real read-write API token of a curator
(facility staff who may also publish and deposit, so that requests get past the permission checks
into every service). No request may get a 5xx, and every response must match the schema: a
documented status code, content type, headers and body.

The requests go in process to the portal's WSGI application (the one gunicorn serves), against
the test database, with the storage on SeaweedFS's S3 server (multipart uploads, presigned URLs and
redirecting downloads are the S3 paths). Every other request names seeded objects in its path
(a published dataset with stored files, a draft with an upload session of registered files, its
depositions, ...) so that requests reach past "not found"; the rest keep the generated ids.

Generation is deterministic (derandomized, a fixed seed): CI sends the same requests every time.
``OPENEM_FUZZ_EXAMPLES`` raises the number of fuzzing examples per operation for a longer run.
Nothing is excluded: destructive operations (revoking tokens, aborting uploads, publishing)
act on the test database only; the one token the requests are sent with is never revoked.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode

from deposition.models import DepositionTarget
from deposition.services import deposition_validate
from ingest.models import UploadSession, UploadSessionState
from ingest.uploads import upload_session_create, upload_session_register_files
from repository import tokens
from repository.models import TokenScope
from repository.services import dataset_create, dataset_publish
from tests.factories import CITABLE_METADATA
from tests.support.api import stored_file

EXAMPLES_PER_OPERATION = int(os.environ.get("OPENEM_FUZZ_EXAMPLES", "10"))
SEED = 20260309


@dataclass
class Seeded:
    """What requests may name in their paths. ``dataset_file_ids`` belong to the seeded
    datasets, ``session_file_ids`` to the open upload session."""

    values: dict[str, list[Any]] = field(default_factory=dict)
    dataset_file_ids: list[int] = field(default_factory=list)
    session_file_ids: list[int] = field(default_factory=list)
    auth_token_id: int = 0


SEEDED = Seeded()


@pytest.fixture
def fuzz_world(world: Any, s3_storage: Any, settings: Any) -> str:
    """Seeds the database; returns the secret of the curator's read-write token."""
    # Throttling has its own tests; here it would only turn later requests into 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": dict.fromkeys(
            settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], None
        ),
    }
    # A live EMPIAR call (dry_run=false) must never leave the machine: no token, no address.
    settings.OPENEM_EMPIAR_API_URL = "http://127.0.0.1:9/empiar/api/"
    settings.OPENEM_EMPIAR_API_TOKEN = ""

    curator, staff = world["curator"], world["staff"]
    published = dataset_create(
        actor=staff,
        facility=world.facility,
        project=world.project,
        instrument=world.instrument,
        technique="spa",
        title="Apoferritin, published",
        keywords=["apoferritin"],
        metadata=CITABLE_METADATA,
    )
    stored = [
        stored_file(published, "Images-Disc1/FoilHole_1_Data_2.eer", b"\x00" * 4096),
        stored_file(published, "Images-Disc1/FoilHole_1_Data_3.eer", b"\x01" * 1000),
        stored_file(published, "gain.mrc", b"gain reference"),
    ]
    published = dataset_publish(actor=curator, dataset=published)
    for target in DepositionTarget.values:
        deposition_validate(actor=curator, dataset=published, target=target)

    draft = dataset_create(
        actor=staff,
        facility=world.facility,
        instrument=world.instrument,
        technique="tomography",
        title="Tomography session, uploading",
    )
    session = upload_session_create(actor=staff, dataset=draft)
    registered = upload_session_register_files(
        actor=staff,
        session=session,
        entries=[
            {"path": "TS_01/TS_01_001.tif", "size": 10},
            {"path": "TS_01/TS_01.mdoc", "size": 0},
            {"path": "TS_02/TS_02_001.tif", "size": 200 * 1024 * 1024},
        ],
    )
    closed = upload_session_create(actor=staff, dataset=draft)
    UploadSession.objects.filter(pk=closed.pk).update(state=UploadSessionState.COMPLETED)

    auth_token, secret = tokens.token_create(user=curator, name="fuzz", scope=TokenScope.READ_WRITE)
    spare_tokens = [
        tokens.token_create(user=curator, name=f"spare {n}", scope=TokenScope.READ)[0]
        for n in range(2)
    ]
    SEEDED.auth_token_id = auth_token.pk
    SEEDED.dataset_file_ids = [f.pk for f in stored]
    SEEDED.session_file_ids = [f.pk for f in registered]
    SEEDED.values = {
        "pid": [published.pid, draft.pid],
        "session_id": [session.pk, closed.pk],
        "slug": [world.facility.slug, world.other_facility.slug],
        "instrument_id": [world.instrument.pk],
        "code": [world.project.code],
        "token_id": [t.pk for t in spare_tokens],
        "target": list(DepositionTarget.values),
    }
    return secret


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """The portal's WSGI application, minus what Django's test client leaves out as well:
    closing the database connection after each request would end the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(fuzz_world: str, wsgi_app: Any) -> Any:
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Token {fuzz_world}"},
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "coverage": {"generate-duplicate-query-parameters": False},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "status_code_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
                "response_headers_conformance": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
            },
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app, config=config)


def aim_at_seeded_objects(case: Any) -> None:
    """Every other case (chosen by a checksum of its content, so that Hypothesis replays
    it the same way) names seeded objects in its path, unless its path is the invalid part."""
    path = case.path_parameters
    if not path or not SEEDED.values:
        return
    path_component = case.meta.components.get(ParameterLocation.PATH) if case.meta else None
    if path_component is not None and path_component.mode == GenerationMode.NEGATIVE:
        return
    draw = zlib.crc32(repr((case.operation.label, path, case.query, case.body)).encode())
    if draw % 2:
        return
    choices = {
        **SEEDED.values,
        "file_id": SEEDED.session_file_ids if "session_id" in path else SEEDED.dataset_file_ids,
    }
    for index, name in enumerate(sorted(path)):
        if choices.get(name):
            path[name] = choices[name][(draw >> (4 + 2 * index)) % len(choices[name])]


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_api_fuzz(case: Any) -> None:
    aim_at_seeded_objects(case)
    # Revoking the token the requests are sent with would make every later request a 401.
    if case.path_parameters and case.path_parameters.get("token_id") == SEEDED.auth_token_id:
        case.path_parameters["token_id"] = SEEDED.values["token_id"][0]
    case.call_and_validate()
