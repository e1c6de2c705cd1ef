"""What the archives ask for, read from the dataset's metadata through :mod:`metadata.oscem`
(the one reader of the document: people, sample, funding, instrument and acquisition).

Curators enter organizational metadata (authors, sample, funding) through the schema-driven
metadata form into ``Dataset.metadata``, shaped like OSC-EM (``organizational.authors[]``,
``sample.overall_molecule`` ...); ingest derives acquisition values there too. The builders
read it only through :func:`organizational_metadata` and :func:`acquisition_metadata`, so if
the form's keys change, :mod:`metadata.oscem` is the one module to adjust. Every value carries
the metadata path it came from, so that a report entry can link to the form field that cures
it (:func:`metadata_form_url`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Paths in the dataset's OSC-EM document, and its people: metadata.oscem's (the one reader).
from metadata.oscem import (  # noqa: F401 - re-exported: the builders use orgmeta.X
    ACQUISITION,
    AUTHORS,
    FIELD_KEYS,
    FUNDERS,
    GRANTS,
    INSTRUMENT,
    MOLECULES,
    OVERALL_MOLECULE,
    SAMPLE,
    SPECIMEN,
    SPECIMEN_ENV,
    AcquisitionMetadata,
    Molecule,
    Person,
    Sample,
    Value,
    acquisition,
    funders,
    get,
    grants,
    people,
    sample,
)

#: The metadata form of a dataset; its inputs are ``f-`` + the document path with dots and
#: brackets as dashes (``metadata.forms.schema_form.FormNode.input_id``).
METADATA_FORM_URL = "/datasets/{pid}/metadata/edit"
DATASET_PAGE_URL = "/datasets/{pid}/"
#: Fields of the dataset record itself (not of the metadata form): fixed on the dataset.
DATASET_FIELDS = frozenset({"title", "emdb_ids", "empiar_id", "publication_dois", "keywords"})


def form_anchor(field_path: str) -> str:
    """``organizational.authors[0].orcid`` -> ``f-organizational-authors-0-orcid``."""
    return "f-" + field_path.replace(".", "-").replace("[", "-").replace("]", "")


def metadata_form_url(pid: str, field_path: str) -> str:
    """Where a curator fixes ``field_path`` (e.g. ``organizational.authors[0].orcid``)."""
    if not field_path:
        return ""
    if field_path in DATASET_FIELDS:
        return dataset_page_url(pid)
    return f"{METADATA_FORM_URL.format(pid=pid)}#{form_anchor(field_path)}"


def dataset_page_url(pid: str) -> str:
    return DATASET_PAGE_URL.format(pid=pid)


# --- Organizational metadata -------------------------------------------------------------------


@dataclass(frozen=True)
class OrganizationalMetadata:
    authors: tuple[Person, ...]
    sample: Sample
    funders: tuple[str, ...]
    grants: tuple[str, ...]
    raw_present: bool = field(default=False)


def organizational_metadata(dataset: Any) -> OrganizationalMetadata:
    """Authors, sample and funding of ``dataset`` as the builders need them (the ONE adapter)."""
    document = dataset.metadata if isinstance(dataset.metadata, dict) else {}
    return OrganizationalMetadata(
        authors=people(document),
        sample=sample(document),
        funders=funders(document),
        grants=grants(document),
        raw_present=bool(get(document, "organizational")),
    )


def acquisition_metadata(dataset: Any) -> AcquisitionMetadata:
    """Instrument and acquisition values of the dataset's metadata, in the archives' units."""
    return acquisition(dataset.metadata if isinstance(dataset.metadata, dict) else {})
