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

UPLOADS_LIST = (
    "Sessions of the facilities where you are staff or curator, newest first. "
    "A client resuming an upload looks for the open session of its dataset here."
)

UPLOADS_CREATE = (
    "Staff and curators of the dataset's facility: opens a session to register "
    "files into a (not yet published) dataset and send their bytes."
)

UPLOADS_CREATE_EXAMPLES = [
    OpenApiExample("Into a dataset", request_only=True, value={"dataset": EXAMPLE_PID}),
    OpenApiExample("Created", response_only=True, status_codes=["201"], value=EXAMPLE_SESSION),
    error_example(
        "Not staff of the facility",
        "permission_denied",
        "you are not staff of Cryo-EM Facility Basel, so you cannot upload there",
        None,
        "403",
    ),
]

UPLOADS_RETRIEVE_EXAMPLES = [OpenApiExample("Open, on S3", value=EXAMPLE_SESSION)]

UPLOADS_COMPLETE = (
    "No more files can be registered or sent in it. Files whose bytes never "
    "arrived are counted as missing; the others go on being ingested (see the status)."
)

UPLOADS_COMPLETE_EXAMPLES = [
    OpenApiExample(
        "Closed",
        value={
            "session": {**EXAMPLE_SESSION, "state": "completed"},
            "files": 1800,
            "missing_files": 0,
        },
    )
]

UPLOADS_STATUS = (
    "Files and bytes by outcome, files per state, and the failed files with "
    "the reasons. One aggregate query: cheap to poll."
)

UPLOADS_STATUS_EXAMPLES = [
    OpenApiExample(
        "One file failed",
        value={
            "session": 42,
            "dataset": EXAMPLE_PID,
            "session_state": "completed",
            "dataset_status": "ingesting",
            "files_total": 3,
            "files_done": 1,
            "files_failed": 1,
            "files_pending": 1,
            "bytes_total": 3000,
            "bytes_done": 1000,
            "bytes_failed": 1000,
            "bytes_pending": 1000,
            "files_by_state": {
                "registered": 0,
                "stored": 0,
                "processing": 1,
                "ready": 1,
                "failed": 1,
            },
            "settled": False,
            "fraction_settled": 0.667,
            "failed_files": [
                {
                    "id": 1003,
                    "path": "Images-Disc1/broken.mrc",
                    "size": 1000,
                    "error": "the MRC header says 4096 bytes of data, the file has 976",
                }
            ],
        },
    )
]

UPLOADS_FILES_LIST = (
    "Cursor-paginated (follow `next`, up to 1000 per page). A resuming client "
    "sends the bytes of the files still `registered`, as each one's `upload` says."
)

UPLOADS_FILES_REGISTER = (
    "Up to 10,000 files per request: relative path, size in bytes (0 allowed) "
    "and, optionally, the SHA-256 that ingest must find. All or nothing: if any entry is "
    "refused, none is registered and `details` lists every problem with its `index`. "
    "Each registered file comes back with its id and how to send its bytes."
)

UPLOADS_FILES_REGISTER_EXAMPLES = [
    OpenApiExample(
        "Two movies",
        request_only=True,
        value={
            "files": [
                {
                    "path": "Images-Disc1/GridSquare_1/Data/FoilHole_1_Data_2.eer",
                    "size": 402653184,
                    "sha256": EXAMPLE_FILE["sha256"],
                },
                {"path": "Images-Disc1/GridSquare_1/GridSquare_1.xml", "size": 5120},
            ]
        },
    ),
    OpenApiExample(
        "Registered",
        response_only=True,
        status_codes=["201"],
        value={"files": [EXAMPLE_FILE]},
    ),
    error_example(
        "Refused entries",
        "validation_failed",
        "2 of 1000 files cannot be registered",
        [
            {
                "index": 3,
                "path": "../etc/passwd",
                "message": "the file path '../etc/passwd' leaves the session folder ('..')",
            },
            {"index": 17, "path": "a/b.mrc", "message": "duplicate of entry 4"},
        ],
        "400",
    ),
]

UPLOADS_MULTIPART_START = (
    "S3 storage. Idempotent: a file whose upload was started before gets the "
    "same `upload_id` back, so an interrupted client lists the parts and continues. "
    "`parts` (numbers with their CRC32) presigns part URLs in the same request: a file "
    "of one part needs no other request to be signed."
)

UPLOADS_MULTIPART_START_EXAMPLES = [
    OpenApiExample(
        "Started",
        value={
            "upload_id": EXAMPLE_UPLOAD_ID,
            "part_size": 16777216,
            "part_count": 24,
            "parts_url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart/parts",
            "complete_url": f"{EXAMPLE_BASE}/uploads/42/files/1001/multipart/complete",
            "expires_in": 3600,
            "parts": [EXAMPLE_SIGNED_PART],
        },
    ),
    OpenApiExample(
        "With the first part's URL",
        request_only=True,
        value={"parts": [{"part_number": 1, "checksum_crc32": "kuFt+g=="}]},
    ),
    error_example(
        "Already stored",
        "conflict",
        "Images-Disc1/FoilHole_1_Data_2.eer is already uploaded (stored)",
        None,
        "409",
    ),
]

UPLOADS_MULTIPART_ABORT = (
    "S3 drops the parts received; the file stays registered and can be started again."
)

UPLOADS_MULTIPART_PARTS_SIGN = (
    "Up to 1000 parts per request, each with its CRC32. PUT each part's "
    "bytes to its URL (straight to S3) with the `headers` given and keep the `ETag` "
    "response header. S3 refuses a part whose bytes do not match its CRC32."
)

UPLOADS_MULTIPART_PARTS_SIGN_EXAMPLES = [
    OpenApiExample(
        "Parts 1 and 2",
        request_only=True,
        value={
            "upload_id": EXAMPLE_UPLOAD_ID,
            "parts": [
                {"part_number": 1, "checksum_crc32": "kuFt+g=="},
                {"part_number": 2, "checksum_crc32": "Vb3jBQ=="},
            ],
        },
    ),
    OpenApiExample(
        "Signed",
        response_only=True,
        value={
            "upload_id": EXAMPLE_UPLOAD_ID,
            "expires_in": 3600,
            "parts": [EXAMPLE_SIGNED_PART],
        },
    ),
]

UPLOADS_MULTIPART_PARTS_LIST = "For resuming: send only the parts missing here, then complete."

UPLOADS_MULTIPART_PARTS_LIST_EXAMPLES = [
    OpenApiExample(
        "Two of six parts",
        value={
            "upload_id": EXAMPLE_UPLOAD_ID,
            "part_size": 16777216,
            "part_count": 24,
            "parts": [
                {
                    "part_number": 1,
                    "etag": '"b1946ac92492d2347c6235b4d2611184"',
                    "size": 16777216,
                    "checksum_crc32": "kuFt+g==",
                },
                {
                    "part_number": 2,
                    "etag": '"591785b794601e212b260e25925636fd"',
                    "size": 16777216,
                    "checksum_crc32": "Vb3jBQ==",
                },
            ],
        },
    )
]

UPLOADS_MULTIPART_COMPLETE = (
    "Checks that S3 holds every byte of the registered size, assembles the "
    "object and queues the file for ingest (state `stored`)."
)

UPLOADS_MULTIPART_COMPLETE_EXAMPLES = [
    OpenApiExample(
        "With the server's list of parts",
        request_only=True,
        value={"upload_id": EXAMPLE_UPLOAD_ID},
    ),
    OpenApiExample(
        "Stored",
        response_only=True,
        value={**EXAMPLE_FILE, "state": "stored", "upload": None},
    ),
    error_example(
        "Parts missing",
        "validation_failed",
        "Images-Disc1/FoilHole_1_Data_2.eer: 134217728 of 402653184 bytes uploaded; "
        "upload the missing parts first",
        {"uploaded_bytes": 134217728, "expected_bytes": 402653184},
        "400",
    ),
]

UPLOADS_CONTENT_OFFSET = (
    "Local storage: where a resumed chunked upload continues. Also answered "
    "to HEAD, in the `Upload-Offset` header."
)

UPLOADS_CONTENT_OFFSET_EXAMPLES = CHUNK_EXAMPLES[:1]

UPLOADS_CONTENT_PUT = CHUNK_DESCRIPTION

UPLOADS_CONTENT_PUT_EXAMPLES = CHUNK_EXAMPLES

UPLOADS_CONTENT_POST = CHUNK_DESCRIPTION + " The same as PUT, for clients that cannot send PUT."

UPLOADS_CONTENT_POST_EXAMPLES = CHUNK_EXAMPLES
