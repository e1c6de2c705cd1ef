"""OpenAPI documentation of the upload API: path parameters, example objects, long descriptions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter

SESSION_ID = OpenApiParameter(
    "session_id", int, OpenApiParameter.PATH, description="The upload session's id."
)
FILE_ID = OpenApiParameter(
    "file_id", int, OpenApiParameter.PATH, description="The file's id (from the registration)."
)
UPLOAD_ID = OpenApiParameter(
    "upload_id", str, OpenApiParameter.QUERY, required=True, description="From the start."
)

EXAMPLE_BASE = "https://openem.example.org/api/v1"
EXAMPLE_PID = "oem-7k2m9q4x1z"
EXAMPLE_SESSION = {
    "id": 42,
    "url": f"{EXAMPLE_BASE}/uploads/42/",
    "dataset": EXAMPLE_PID,
    "dataset_url": f"{EXAMPLE_BASE}/datasets/{EXAMPLE_PID}/",
    "state": "open",
    "created_by": "staff",
    "created": "2026-03-02T09:14:00+01:00",
    "completed_at": None,
    "storage": "s3",
    "part_size": 16777216,
    "files_url": f"{EXAMPLE_BASE}/uploads/42/files/",
    "status_url": f"{EXAMPLE_BASE}/uploads/42/status",
    "complete_url": f"{EXAMPLE_BASE}/uploads/42/complete",
}
EXAMPLE_FILE = {
    "id": 1001,
    "path": "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2.eer",
    "size": 402653184,
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "state": "registered",
    "checksum_sha256": "",
    "error": "",
    "upload": {
        "method": "multipart",
        "url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart",
        "part_size": 16777216,
        "part_count": 24,
    },
}
EXAMPLE_UPLOAD_ID = "2~fT7sVx0bC1wz9Qm3kR8pLhY4"
EXAMPLE_SIGNED_PART = {
    "part_number": 1,
    "url": "https://s3.example.org/openem/datasets/oem-7k2m9q4x1z/files/3f2a...?uploadId=2~fT7s"
    "...&partNumber=1&X-Amz-SignedHeaders=host%3Bx-amz-checksum-crc32&X-Amz-Signature=...",
    "headers": {"x-amz-checksum-crc32": "kuFt+g=="},
}


def error_example(name: str, code: str, message: str, details: Any, status_code: str) -> Any:
    return OpenApiExample(
        name,
        response_only=True,
        status_codes=[status_code],
        value={"error": {"code": code, "message": message, "details": details}},
    )


CHUNK_DESCRIPTION = (
    "Local storage. Send the bytes of one chunk as the body (any content type), at the offset "
    "given by `Content-Range: bytes <first>-<last>/<size>` or `?offset=`; it must be the "
    "number of bytes received so far (GET or HEAD tells it, also in the `Upload-Offset` "
    "header). A wrong offset is refused with 409 and the right one in `details.offset`. When "
    "the last byte arrives the file is stored and queued for ingest."
)
CHUNK_REQUEST = {"application/octet-stream": OpenApiTypes.BINARY}
CHUNK_EXAMPLES = [
    OpenApiExample(
        "Half received",
        response_only=True,
        value={"offset": 67108864, "size": 134217728, "state": "registered", "complete": False},
    ),
    error_example(
        "Wrong offset",
        "conflict",
        "Images-Disc1/a.mrc: expected a chunk at offset 67108864, got 0",
        {"offset": 67108864},
        "409",
    ),
]
