"""OpenAPI documentation of the dataset, file, version and token API: path parameters,
example objects, long descriptions and examples per operation (``views`` and ``versions``
name them)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    inline_serializer,
)
from rest_framework import serializers

from openem.api.exceptions import error_responses

PID_PARAMETER = OpenApiParameter(
    "pid",
    str,
    OpenApiParameter.PATH,
    description="The dataset's persistent identifier, e.g. `oem-7k2m9q4x1z`.",
)
FILE_ID_PARAMETER = OpenApiParameter(
    "file_id", int, OpenApiParameter.PATH, description="The file's id."
)

EXAMPLE_PID = "oem-7k2m9q4x1z"
EXAMPLE_BASE = "https://openem.example.org"
EXAMPLE_DATASET = {
    "pid": EXAMPLE_PID,
    "url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/",
    "html_url": f"{EXAMPLE_BASE}/datasets/{EXAMPLE_PID}/",
    "files_url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/files/",
    "manifest_url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/manifest",
    "title": "Apoferritin on a Krios G4, Falcon 4i",
    "description": "Mouse heavy-chain apoferritin, 1.2 e/A^2/frame, EER.",
    "kind": "raw",
    "technique": "spa",
    "facility": {
        "slug": "basel",
        "name": "Cryo-EM Facility Basel",
        "url": f"{EXAMPLE_BASE}/api/v1/facilities/basel/",
    },
    "instrument": {"id": 3, "name": "Krios 1", "url": f"{EXAMPLE_BASE}/api/v1/instruments/3/"},
    "project": None,
    "keywords": ["apoferritin", "benchmark"],
    "licence": "CC-BY-4.0",
    "visibility": "embargoed",
    "embargo_until": "2027-06-30",
    "status": "published",
    "files_open": False,
    "metadata": {"acquisition": {"voltage": {"value": 300, "unit": "kV"}}},
    "metadata_schema": {"name": "oscem-spa", "version": "1.0.2"},
    "metadata_validation": {"valid": True, "problems": []},
    "emdb_ids": [],
    "empiar_id": "",
    "publication_dois": [],
    "created": "2026-03-02T09:14:00+01:00",
    "modified": "2026-03-09T16:40:12+01:00",
    "published_at": "2026-03-09T16:40:12+01:00",
}

NUMBER_PARAMETER = OpenApiParameter(
    "number", int, OpenApiParameter.PATH, description="The version number: 1, 2, ..."
)
VERSION_FILE_ID_PARAMETER = OpenApiParameter(
    "file_id", int, OpenApiParameter.PATH, description="The frozen file's id in this version."
)

EXAMPLE_VERSION = {
    "number": 2,
    "url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/versions/2/",
    "html_url": f"{EXAMPLE_BASE}/datasets/{EXAMPLE_PID}/v/2/",
    "files_url": f"{EXAMPLE_BASE}/api/v1/datasets/{EXAMPLE_PID}/versions/2/files/",
    "state": "published",
    "is_latest": True,
    "doi": {
        "doi": f"10.80000/{EXAMPLE_PID}.v2",
        "state": "findable",
        "url": f"https://doi.org/10.80000/{EXAMPLE_PID}.v2",
    },
    "title": "Apoferritin on a Krios G4, Falcon 4i",
    "description": "",
    "licence": "CC-BY-4.0",
    "keywords": ["apoferritin"],
    "visibility": "public",
    "embargo_until": None,
    "metadata": {"acquisition": {"voltage": {"value": 300, "unit": "kV"}}},
    "notes": "Added the gain reference",
    "file_count": 1204,
    "total_bytes": 412345678901,
    "created": "2026-04-01T10:00:00+02:00",
    "published_at": "2026-04-02T09:00:00+02:00",
    "withdrawn_at": None,
    "withdrawal_reason": "",
}

DATASETS_LIST = (
    "The datasets visible to you (public and embargoed published datasets, "
    "plus your own, your projects' and your facilities'), 50 per page, newest first."
)

DATASETS_LIST_EXAMPLES = [
    OpenApiExample(
        "A page of datasets",
        response_only=True,
        value=EXAMPLE_DATASET,  # drf-spectacular wraps it in a page
    )
]

DATASETS_CREATE = (
    "Creates a draft dataset at a facility where you are staff or curator. "
    "Files are added with upload sessions."
)

DATASETS_CREATE_EXAMPLES = [
    OpenApiExample(
        "A raw session",
        request_only=True,
        value={
            "title": "Apoferritin on a Krios G4, Falcon 4i",
            "facility": "basel",
            "technique": "spa",
            "instrument": 3,
            "keywords": ["apoferritin", "benchmark"],
        },
    ),
    OpenApiExample(
        "Not staff of the facility",
        response_only=True,
        status_codes=["403"],
        value={
            "error": {
                "code": "permission_denied",
                "message": "you are not staff of Cryo-EM Facility Basel, so you cannot "
                "create datasets there",
                "details": None,
            }
        },
    ),
]

DATASETS_RETRIEVE_EXAMPLES = [OpenApiExample("An embargoed dataset", value=EXAMPLE_DATASET)]

DATASETS_PUBLISH = (
    "Curators of the dataset's facility: make the dataset findable, public or "
    "under embargo (metadata public at once, files from the embargo date), freezing its open "
    "draft as the next version. 400 names the missing citation fields (title, creators, "
    "licence); 409 when the dataset is published with no open draft, or was withdrawn."
)

DATASETS_PUBLISH_EXAMPLES = [
    OpenApiExample("Public", request_only=True, value={"visibility": "public"}),
    OpenApiExample(
        "Under embargo",
        request_only=True,
        value={"visibility": "embargoed", "embargo_until": "2027-06-30"},
    ),
]

DATASETS_SET_VISIBILITY = (
    "Curators of the dataset's facility: private, public, or embargoed until "
    "a future date. Every change is recorded in the audit trail."
)

DATASETS_SET_VISIBILITY_EXAMPLES = [
    OpenApiExample(
        "Extend an embargo",
        request_only=True,
        value={"visibility": "embargoed", "embargo_until": "2028-01-31"},
    ),
]

DATASETS_FILES_LIST = (
    "Cursor-paginated (follow `next`), ordered by path (or id). A dataset "
    "may hold a million files: narrow with `prefix`, `format` and `state`."
)

DATASETS_FILES_DOWNLOAD = (
    "On S3 storage: a redirect to a short-lived presigned URL (clients follow "
    "it; Range requests work there too). On local storage: the bytes, with HTTP Range "
    "support (206 Partial Content) for resuming and parallel downloads. Downloads of "
    "non-public files are recorded in the audit trail."
)

DATASETS_MANIFEST = (
    "Streamed, for any number of files. `format=sha256sum` is the format of "
    "GNU `sha256sum`: download the files, then `sha256sum -c <pid>.sha256` in the "
    "dataset's folder checks them all. Lists the files whose checksum is known."
)

DATASETS_MANIFEST_RESPONSES: dict[Any, Any] = {
    (200, "text/plain"): OpenApiResponse(
        OpenApiTypes.STR,
        description="The manifest in the requested `format`. sha256sum: "
        "`<sha256>  <path>` per line.",
        examples=[
            OpenApiExample(
                "sha256sum",
                value="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  "
                "Images-Disc1/FoilHole_1_Data_2.eer\n",
            )
        ],
    ),
    (200, "application/json"): OpenApiResponse(
        inline_serializer(
            "ManifestEntry",
            {
                "path": serializers.CharField(),
                "size": serializers.IntegerField(),
                "sha256": serializers.CharField(),
                "md5": serializers.CharField(required=False),
            },
            many=True,
        ),
        description="json: one array of {path, size, sha256[, md5]}.",
    ),
    (200, "application/x-ndjson"): OpenApiResponse(
        OpenApiTypes.STR, description="jsonl: one {path, size, sha256[, md5]} per line."
    ),
    **error_responses(400, 401, 403, 404, 429),
}

PROJECTS_LIST = (
    "Projects with a dataset visible to you, and your own and your facilities' projects."
)

TOKENS_LIST = "Revoked and expired ones included; secrets are never shown again."

TOKENS_CREATE = (
    "Only from a browser session (a token cannot create tokens). The secret is "
    "in this response only: store it now."
)

TOKENS_CREATE_EXAMPLES = [
    OpenApiExample(
        "A read-only token for a pipeline",
        request_only=True,
        value={"name": "pipeline on gpu01", "scope": "read", "expires_at": None},
    ),
    OpenApiExample(
        "Created",
        response_only=True,
        status_codes=["201"],
        value={
            "id": 12,
            "url": f"{EXAMPLE_BASE}/api/v1/tokens/12/",
            "name": "pipeline on gpu01",
            "prefix": "oem_Jx3kQ9aB",
            "scope": "read",
            "active": True,
            "created": "2026-03-09T16:40:12+01:00",
            "expires_at": None,
            "last_used_at": None,
            "revoked_at": None,
            "secret": "oem_Jx3kQ9aB...(43 characters in all after oem_)",
        },
    ),
]

TOKENS_REVOKE = "At once and for good; the token stays listed as revoked."

DATASETS_VERSIONS_LIST = (
    "v1 first: published and withdrawn ones (tombstones: metadata and the "
    "reason, no files); insiders also see the open draft. Each with its DOI and state."
)

DATASETS_VERSIONS_LIST_EXAMPLES = [
    OpenApiExample("A page of versions", response_only=True, value=EXAMPLE_VERSION)
]

DATASETS_VERSIONS_CREATE = (
    "Curators: open v(n+1) as a draft of the latest published version. Change "
    "files (upload sessions) and metadata, then publish (POST .../publish). 409 when a "
    "draft is open already, or the dataset was never published or is withdrawn."
)

DATASETS_VERSIONS_RETRIEVE = (
    "A withdrawn version answers with its citation metadata, "
    "`withdrawal_reason` and `withdrawn_at` (its files: 410)."
)

DATASETS_VERSIONS_RETRIEVE_EXAMPLES = [OpenApiExample("Version 2", value=EXAMPLE_VERSION)]

DATASETS_VERSIONS_WITHDRAW = (
    "Curators: the version becomes a tombstone (410 pages with the citation "
    "and the reason; its files gone; its DOI hidden at DataCite but still resolving). "
    "Withdrawing the latest version withdraws the dataset. 409 when it was withdrawn "
    "already (the message says when and why)."
)

DATASETS_VERSIONS_WITHDRAW_EXAMPLES = [
    OpenApiExample("A reason", request_only=True, value={"reason": "The sample was mislabelled."})
]

DATASETS_VERSIONS_FILES_LIST = (
    "The frozen file list (path, size, checksums), cursor-paginated like "
    "the dataset's files (follow `next`). 410 for a withdrawn version, with the reason."
)

DATASETS_VERSIONS_FILES_DOWNLOAD = (
    "As the dataset's file download: a redirect to a presigned URL on S3, or "
    "the bytes with Range support on local storage."
)
