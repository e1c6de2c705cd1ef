"""OpenAPI documentation of the deposition API (``deposition.api``): path parameters, long
descriptions and examples per operation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter

from deposition.models import DepositionTarget

PID = OpenApiParameter(
    "pid",
    str,
    OpenApiParameter.PATH,
    description="The dataset's identifier, e.g. `oem-7k2m9q4x1z`.",
)
TARGET = OpenApiParameter(
    "target",
    str,
    OpenApiParameter.PATH,
    enum=DepositionTarget.values,
    description="The archive: `empiar` (raw images) or `emdb` (maps).",
)

DEPOSITIONS_LIST = (
    "Curators: the EMPIAR and EMDB depositions of a dataset, with their states "
    "and validation reports (targets not started yet are left out)."
)

DEPOSITIONS_RETRIEVE = (
    "State, validation report (JSON path, message, where to fix it), what was "
    "filled from which file, package and accession."
)

DEPOSITIONS_VALIDATE = (
    "Builds the EMPIAR JSON or EMDB XML from the dataset as it is now and "
    "checks it against the official schema and the stricter checks. State: `validated` "
    "when valid, `draft` otherwise; the report says what to fix."
)

DEPOSITIONS_PACKAGE = (
    "Queues the package: the files are copied inside the object store into "
    "the archive's layout, with the document, a thumbnail and a SHA-256 manifest."
)

DEPOSITIONS_RECORD_ACCESSION = (
    "The archive's code (EMPIAR-NNNNN, EMD-NNNNN) is written to the dataset's "
    "cross-references and the audit trail."
)

DEPOSITIONS_RECORD_ACCESSION_EXAMPLES = [
    OpenApiExample("EMPIAR", request_only=True, value={"accession": "EMPIAR-12345"})
]

DEPOSITIONS_EMPIAR_CREATE_ENTRY = (
    "Sends the packaged JSON to EMPIAR's deposit_entry (redeposit_entry when "
    "the entry exists) and the thumbnail to image_upload; optionally grants rights. "
    "`dry_run` is true unless you send false."
)

DEPOSITIONS_EMPIAR_SUBMIT = (
    "After the data transfer: EMPIAR's submit_entry. Live, the deposition "
    "becomes `submitted` and keeps the accession code EMPIAR returns."
)

DEPOSITIONS_DOCUMENT = (
    "The last document checked (EMPIAR JSON, EMDB XML), or with "
    "`?format=mmcif` the PDBx/mmCIF em_* categories built now. The header "
    "`X-OpenEM-Valid` says whether it validates; an invalid one is named INVALID-..."
)

DEPOSITIONS_MANIFEST = "Every file of the package with its path, size and SHA-256 (JSON)."
