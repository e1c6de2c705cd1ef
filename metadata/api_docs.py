"""OpenAPI documentation of the schema registry API (``metadata.api``): path parameters, an
example schema, long descriptions and examples per operation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter

NAME = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="The schema's name, e.g. `spa`."
)
VERSION = OpenApiParameter(
    "version",
    str,
    OpenApiParameter.PATH,
    description="A version, e.g. `1.0.2`, or `latest` for the newest active version.",
)
EXAMPLE_BASE = "https://openem.example.org/api/v1"
EXAMPLE_SCHEMA = {
    "name": "spa",
    "version": "1.0.2",
    "url": f"{EXAMPLE_BASE}/schemas/spa/1.0.2/",
    "document_url": f"{EXAMPLE_BASE}/schemas/spa/1.0.2/document",
    "title": "OSC-EM single-particle acquisition",
    "techniques": ["spa"],
    "status": "active",
    "builtin": True,
    "source_url": "https://github.com/osc-em/OSC-EM",
    "created": "2026-11-01T09:00:00Z",
}

SCHEMAS_LIST = (
    "Every version of every metadata schema the portal knows (OSC-EM built-ins "
    "and imported ones), by name, newest first."
)

SCHEMAS_LIST_EXAMPLES = [
    OpenApiExample("A page of schemas", response_only=True, value=EXAMPLE_SCHEMA)
]

SCHEMAS_RETRIEVE_EXAMPLES = [OpenApiExample("A schema", response_only=True, value=EXAMPLE_SCHEMA)]

SCHEMAS_DOCUMENT = (
    "The document metadata is validated against (JSON Schema), as stored: "
    "use it to check metadata before sending it."
)
