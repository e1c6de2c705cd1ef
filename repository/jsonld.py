"""The schema.org ``Dataset`` description of a landing page, embedded as JSON-LD for search
engines and FAIR harvesters (Google Dataset Search, DataCite, OpenAIRE read it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openem.site import site_url

from .citation import SITE_NAME, authors, cross_references, licence_url
from .models import Dataset, Technique, Visibility
from .selectors import FileSummary

TECHNIQUE_TERMS: dict[str, str] = {
    Technique.SPA: "single-particle cryo-electron microscopy",
    Technique.TOMOGRAPHY: "cryo-electron tomography",
    Technique.SUBTOMO: "subtomogram averaging",
    Technique.CELLULAR_TOMO: "cellular cryo-electron tomography",
    Technique.ENV_TOMO: "environmental cryo-electron tomography",
    Technique.MICROED: "microcrystal electron diffraction",
    Technique.OTHER: "electron microscopy",
}


@dataclass(frozen=True)
class Distribution:
    name: str
    url: str
    encoding_format: str
    description: str = ""


def json_ld(
    dataset: Dataset,
    *,
    url: str,
    summary: FileSummary | None,
    distributions: Sequence[Distribution] = (),
) -> dict[str, Any]:
    """The schema.org ``Dataset`` description (https://schema.org/Dataset, as profiled by
    Google Dataset Search and Bioschemas)."""
    people = authors(dataset)
    creators: list[dict[str, Any]] = [
        {
            "@type": "Person",
            "name": a.name,
            "givenName": a.given_name,
            "familyName": a.family_name,
            **({"@id": a.orcid_url, "identifier": a.orcid_url} if a.orcid else {}),
            **(
                {"affiliation": {"@type": "Organization", "name": a.affiliation}}
                if a.affiliation
                else {}
            ),
        }
        for a in people
    ] or [_facility_org(dataset)]
    identifiers = [
        url,
        dataset.pid,
        *(f"https://doi.org/{d}" for d in dataset.publication_dois or []),
    ]
    technique = dataset.get_technique_display()
    document: dict[str, Any] = {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "@id": url,
        "url": url,
        "name": dataset.title,
        "description": _description(dataset),
        "identifier": identifiers,
        "creator": creators,
        "publisher": _facility_org(dataset),
        "provider": {"@type": "Organization", "name": SITE_NAME},
        "license": licence_url(dataset.licence),
        "keywords": list(dataset.keywords or []),
        "measurementTechnique": [
            technique,
            TECHNIQUE_TERMS.get(dataset.technique, "electron microscopy"),
        ],
        "dateCreated": dataset.created.date().isoformat(),
        "dateModified": dataset.modified.isoformat(),
        "isAccessibleForFree": True,
        "includedInDataCatalog": {
            "@type": "DataCatalog",
            "name": SITE_NAME,
            "url": site_url() + "/",
        },
        "size": f"{summary.files} files, {summary.bytes} bytes" if summary else "",
        "citation": [f"https://doi.org/{d}" for d in dataset.publication_dois or []],
        "sameAs": [ref.url for ref in cross_references(dataset) if ref.kind != "DOI"],
    }
    if dataset.published_at:
        document["datePublished"] = dataset.published_at.date().isoformat()
    if dataset.visibility == Visibility.EMBARGOED and dataset.embargo_until:
        document["conditionsOfAccess"] = (
            f"Files under embargo until {dataset.embargo_until.isoformat()}; metadata open."
        )
    instrument = dataset.instrument
    if instrument is not None:
        document["instrument"] = {  # not core schema.org, but Bioschemas-style and harmless
            "@type": "Thing",
            "name": f"{instrument.manufacturer} {instrument.model}",
        }
    if distributions:
        document["distribution"] = [
            {
                "@type": "DataDownload",
                "name": d.name,
                "contentUrl": d.url,
                "encodingFormat": d.encoding_format,
                **({"description": d.description} if d.description else {}),
            }
            for d in distributions
        ]
    return {key: value for key, value in document.items() if value not in ([], "", None)}


def _facility_org(dataset: Dataset) -> dict[str, Any]:
    facility = dataset.facility
    org: dict[str, Any] = {"@type": "Organization", "name": facility.name}
    if facility.ror_id:
        org["@id"] = f"https://ror.org/{facility.ror_id}"
    if facility.homepage:
        org["url"] = facility.homepage
    return org


def _description(dataset: Dataset) -> str:
    text = dataset.description.strip()
    if len(text) >= 50:
        return text[:5000]
    # Google asks for 50+ characters: complete a short description with the facts.
    facts = f"{dataset.get_technique_display()} data from {dataset.facility.name}"
    if dataset.instrument is not None:
        facts += f", {dataset.instrument.manufacturer} {dataset.instrument.model}"
    return f"{text} {facts}.".strip() if text else f"{dataset.title}. {facts}."


def json_ld_script(document: dict[str, Any]) -> str:
    """The JSON for a ``<script type="application/ld+json">``: ``<``, ``>`` and ``&`` escaped
    so that no text of the dataset can close the script element."""
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
