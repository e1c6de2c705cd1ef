"""The machine-readable forms of a landing page, in one registry: each has a media type, a file
name under the target's base path (``/datasets/<pid>/`` or ``/datasets/<pid>/v/<n>/``) and a
renderer. Signposting (``describedby``), content negotiation, the JSON-LD ``distribution`` and
the views all read this list, so a new format appears on every surface at once.

Renderers take a :class:`fair.targets.Target` (access already checked) and return bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openem.site import site_url
from repository import jsonld

from . import citations, datacite
from .targets import Target

DATACITE_XML = "application/vnd.datacite.datacite+xml"
DATACITE_JSON = "application/vnd.datacite.datacite+json"
JSON_LD = "application/ld+json"
BIBTEX = "application/x-bibtex"
BIBLIOGRAPHY = "text/x-bibliography"
CSL_JSON = "application/vnd.citationstyles.csl+json"
ROCRATE_PROFILE = "https://w3id.org/ro/crate/1.2"


@dataclass(frozen=True)
class MetadataFormat:
    key: str
    title: str
    media_type: str
    filename: str
    render: Callable[[Target, dict[str, str]], bytes]
    charset: bool = True  # text: the Content-Type names UTF-8
    profile: str = ""
    describes: bool = True  # a metadata record (signposting ``describedby``)

    def url(self, target: Target) -> str:
        return site_url() + target.base_path + self.filename

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8" if self.charset else self.media_type


def _json(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _datacite_args(target: Target) -> dict[str, Any]:
    return {"doi": target.doi} if target.doi else {}


def _datacite_xml(target: Target, options: dict[str, str]) -> bytes:
    return datacite.datacite_xml(target.dataset, target.version, **_datacite_args(target))


def _datacite_json(target: Target, options: dict[str, str]) -> bytes:
    attributes = datacite.datacite_attributes(
        target.dataset, target.version, **_datacite_args(target)
    )
    return _json({"data": {"type": "dois", "attributes": attributes}})


def _json_ld(target: Target, options: dict[str, str]) -> bytes:
    return _json(json_ld(target))


def _bibtex(target: Target, options: dict[str, str]) -> bytes:
    return citations.bibtex(target).encode()


def _bibliography(target: Target, options: dict[str, str]) -> bytes:
    style = options.get("style") or citations.DEFAULT_STYLE
    return (citations.bibliography(target, style=style) + "\n").encode()


def _csl_json(target: Target, options: dict[str, str]) -> bytes:
    return _json(citations.csl_json(target))


def _ro_crate(target: Target, options: dict[str, str]) -> bytes:
    from . import exports

    return _json(exports.ro_crate_metadata(target))


FORMATS: tuple[MetadataFormat, ...] = (
    MetadataFormat("datacite-xml", "DataCite 4.6 XML", DATACITE_XML, "datacite.xml", _datacite_xml),
    MetadataFormat(
        "datacite-json", "DataCite 4.6 JSON", DATACITE_JSON, "datacite.json", _datacite_json
    ),
    MetadataFormat("json-ld", "schema.org JSON-LD", JSON_LD, "metadata.jsonld", _json_ld),
    MetadataFormat("bibtex", "BibTeX", BIBTEX, "citation.bib", _bibtex),
    MetadataFormat("csl-json", "CSL-JSON citation", CSL_JSON, "citation.json", _csl_json),
    MetadataFormat(
        "bibliography",
        "Formatted citation (CSL style, ?style=)",
        BIBLIOGRAPHY,
        "citation.txt",
        _bibliography,
        describes=False,
    ),
    MetadataFormat(
        "ro-crate",
        "RO-Crate 1.2 metadata",
        JSON_LD,
        "ro-crate-metadata.json",
        _ro_crate,
        profile=ROCRATE_PROFILE,
    ),
)
BY_KEY = {fmt.key: fmt for fmt in FORMATS}
BY_FILENAME = {fmt.filename: fmt for fmt in FORMATS}


def bag_url(target: Target) -> str:
    return site_url() + target.base_path + "bag.zip"


def json_ld(
    target: Target, *, distributions: list[jsonld.Distribution] | None = None
) -> dict[str, Any]:
    """The landing page's schema.org ``Dataset``, with the version, the DOI and every export:
    ``distribution`` (the data packages and metadata forms) when the asker may have the files,
    otherwise (embargo) the metadata forms only, as ``subjectOf``."""
    document = jsonld.json_ld(
        target.shown, url=target.landing_url, summary=None, distributions=distributions or ()
    )
    if target.version is not None:
        document["version"] = str(target.version.number)
    identifiers = list(document.get("identifier") or [])
    if target.doi:
        identifiers.insert(
            0,
            {
                "@type": "PropertyValue",
                "propertyID": "DOI",
                "value": target.doi,
                "url": f"https://doi.org/{target.doi}",
            },
        )
        document["sameAs"] = [f"https://doi.org/{target.doi}", *document.get("sameAs", [])]
    document["identifier"] = identifiers
    document["isAccessibleForFree"] = True  # no fee, embargo or not (conditionsOfAccess says)
    metadata_forms = [
        {
            "@type": "DataDownload",
            "name": fmt.title,
            "contentUrl": fmt.url(target),
            "encodingFormat": fmt.media_type,
        }
        for fmt in FORMATS
        if fmt.describes
    ]
    if target.files_open:
        packages = [
            {
                "@type": "DataDownload",
                "name": "BagIt 1.0 bag (manifests and fetch.txt of presigned URLs)",
                "contentUrl": bag_url(target),
                "encodingFormat": "application/zip",
            }
        ]
        document["distribution"] = [*document.get("distribution", []), *packages, *metadata_forms]
    else:
        document.pop("distribution", None)
        document["subjectOf"] = metadata_forms
    return document
