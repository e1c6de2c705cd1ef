"""DataCite Metadata Schema 4.6: a dataset's (or version's) metadata as DataCite JSON and XML.

The API the publishing app (DOI registration) and the FAIR surfaces call:

- ``datacite_attributes(dataset, version=None, *, doi="", concept_doi="", ...) -> dict``: the
  ``data.attributes`` of a DataCite REST API ``/dois`` request (JSON:API), without ``event``
  and ``url`` choices the caller makes (``url`` is filled with the landing page).
- ``datacite_xml(dataset, version=None, **same) -> bytes``: the same metadata as a kernel-4
  ``<resource>`` document (UTF-8), valid against the vendored 4.6 XSD.
- ``validate_datacite_xml(document: bytes) -> list[str]``: the XSD's complaints (empty = valid).
- ``datacite_problems(dataset, version=None) -> list[Problem]``: what DataCite would refuse
  (missing creators/title/licence, malformed ORCID/ROR/DOI), each with its metadata path.

The XML is written from the JSON attributes, so the two never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from lxml import etree

from metadata.identifiers import orcid_checksum_ok
from repository import citation, jsonld
from repository.models import Dataset

from . import xmlschemas
from .records import (
    FORMAT_MEDIA_TYPES,
    Record,
    facility_ror_by_name,
    file_facts,
    record_for,
    registered_version_dois,
)

NAMESPACE = "http://datacite.org/schema/kernel-4"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATIONS = {"4.6": "https://schema.datacite.org/meta/kernel-4.6/metadata.xsd"}
ORCID_RE = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
ROR_RE = re.compile(r"^0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}$")
DOI_RE = re.compile(r"^10\.\d{4,9}/\S+$")
KIND_RESOURCE_TYPES = {
    "raw": "Cryo-EM raw data",
    "processed": "Cryo-EM processed data",
    "map": "Cryo-EM map",
}
#: SPDX ids -> (name, licence URL); others get the SPDX page.
LICENCES = {
    "CC-BY-4.0": ("Creative Commons Attribution 4.0 International", citation.licence_url),
    "CC0-1.0": ("Creative Commons Zero v1.0 Universal", citation.licence_url),
    "CC-BY-SA-4.0": ("Creative Commons Attribution Share Alike 4.0 International", None),
    "CC-BY-NC-4.0": ("Creative Commons Attribution Non Commercial 4.0 International", None),
}


@dataclass(frozen=True)
class Problem:
    path: str
    message: str


def schema_version() -> str:
    return str(settings.OPENEM_DATACITE_SCHEMA_VERSION)


# ---------------------------------------------------------------------------------------------
# JSON (REST API attributes)


def datacite_attributes(
    dataset: Dataset,
    version: Any | None = None,
    *,
    doi: str = "",
    concept_doi: str = "",
    version_dois: Sequence[str] = (),
    previous_doi: str = "",
    next_doi: str = "",
) -> dict[str, Any]:
    """DataCite REST API attributes for a dataset or one version.

    ``doi``: this record's DOI (default: the version's or dataset's ``doi`` field, if any);
    ``concept_doi``: the concept DOI a version ``IsVersionOf``; ``version_dois``: for the
    concept record, the DOIs it ``HasVersion``; ``previous_doi``/``next_doi``: the neighbours
    (``IsNewVersionOf`` / ``IsPreviousVersionOf``)."""
    record = record_for(dataset, version, doi=doi, concept_doi=concept_doi)
    return _attributes(
        record,
        version_dois=version_dois,
        previous_doi=previous_doi,
        next_doi=next_doi,
    )


def _attributes(
    record: Record,
    *,
    version_dois: Sequence[str] = (),
    previous_doi: str = "",
    next_doi: str = "",
) -> dict[str, Any]:
    dataset = record.dataset
    facility = dataset.facility
    facts = file_facts(record)
    rors = facility_ror_by_name()
    attributes: dict[str, Any] = {}
    if record.doi:
        attributes["doi"] = record.doi
    attributes["identifiers"] = [
        {"identifier": record.url, "identifierType": "URL"},
        {"identifier": dataset.pid, "identifierType": "OpenEM PID"},
    ]
    attributes["creators"] = _creators(record, rors)
    attributes["titles"] = [{"title": record.title, "lang": "en"}]
    publisher: dict[str, Any] = {"name": f"{citation.SITE_NAME}, {facility.name}", "lang": "en"}
    if facility.ror_id:
        publisher.update(_ror("publisher", facility.ror_id))
    attributes["publisher"] = publisher
    attributes["publicationYear"] = record.year
    attributes["types"] = {
        "resourceTypeGeneral": "Dataset",
        "resourceType": KIND_RESOURCE_TYPES.get(dataset.kind, "Cryo-EM data"),
    }
    technique = dataset.get_technique_display()
    subjects = [
        {
            "subject": "Biological sciences",
            "subjectScheme": "Fields of Science and Technology (FOS)",
            "schemeUri": "http://www.oecd.org/science/inno/38235147.pdf",
            "classificationCode": "1.6",
        },
        {"subject": technique},
        {"subject": jsonld.TECHNIQUE_TERMS.get(dataset.technique, "electron microscopy")},
        *({"subject": keyword} for keyword in record.keywords),
    ]
    attributes["subjects"] = _unique(subjects, "subject")
    attributes["contributors"] = [
        {
            "name": facility.name,
            "nameType": "Organizational",
            "contributorType": "HostingInstitution",
            "nameIdentifiers": (
                [
                    {
                        "nameIdentifier": f"https://ror.org/{facility.ror_id}",
                        "nameIdentifierScheme": "ROR",
                        "schemeUri": "https://ror.org",
                    }
                ]
                if facility.ror_id
                else []
            ),
            "affiliation": [],
        }
    ]
    dates = [{"date": dataset.created.date().isoformat(), "dateType": "Created"}]
    if record.published_at:
        dates.append({"date": record.published_at.date().isoformat(), "dateType": "Issued"})
    if record.embargo_until:
        dates.append({"date": record.embargo_until.isoformat(), "dateType": "Available"})
    elif record.published_at:
        dates.append({"date": record.published_at.date().isoformat(), "dateType": "Available"})
    dates.append({"date": record.modified.date().isoformat(), "dateType": "Updated"})
    withdrawn_at = getattr(record.version, "withdrawn_at", None)
    if record.withdrawn and withdrawn_at is not None:
        dates.append(
            {
                "date": withdrawn_at.date().isoformat(),
                "dateType": "Withdrawn",
                "dateInformation": str(getattr(record.version, "withdrawal_reason", ""))[:500],
            }
        )
    attributes["dates"] = dates
    attributes["language"] = "en"
    if record.version is None and not version_dois:
        version_dois = registered_version_dois(dataset)
    attributes["relatedIdentifiers"] = _related(
        record, version_dois=version_dois, previous_doi=previous_doi, next_doi=next_doi
    )
    related_items = []
    instrument = dataset.instrument
    if instrument is not None:
        related_items.append(
            {
                "relationType": "IsCollectedBy",
                "relatedItemType": "Instrument",
                "titles": [
                    {"title": f"{instrument.manufacturer} {instrument.model} ({instrument.name})"}
                ],
                "publisher": facility.name,
            }
        )
    attributes["relatedItems"] = related_items
    attributes["sizes"] = [f"{facts.files} files", f"{facts.bytes} bytes"]
    attributes["formats"] = [FORMAT_MEDIA_TYPES.get(f, f) for f in facts.formats if f != "other"]
    if record.number is not None:
        attributes["version"] = str(record.number)
    attributes["rightsList"] = _rights(record)
    attributes["descriptions"] = [
        {
            "description": jsonld._description(dataset)
            if not record.description.strip()
            else record.description[:10000],
            "descriptionType": "Abstract",
            "lang": "en",
        },
        {
            "description": f"{technique} data from {facility.name}"
            + (
                f", collected with {instrument.manufacturer} {instrument.model}"
                if instrument is not None
                else ""
            )
            + f". {facts.files} files, {facts.bytes} bytes.",
            "descriptionType": "TechnicalInfo",
            "lang": "en",
        },
    ]
    attributes["fundingReferences"] = _funding(record.metadata)
    attributes["url"] = record.url
    attributes["schemaVersion"] = NAMESPACE
    return attributes


def _ror(prefix: str, ror_id: str) -> dict[str, str]:
    return {
        f"{prefix}Identifier": f"https://ror.org/{ror_id}",
        f"{prefix}IdentifierScheme": "ROR",
        "schemeUri": "https://ror.org",
    }


def _creators(record: Record, rors: dict[str, str]) -> list[dict[str, Any]]:
    creators = []
    for author in record.authors():
        creator: dict[str, Any] = {
            "name": ", ".join(p for p in (author.family_name, author.given_name) if p),
            "nameType": "Personal",
            "givenName": author.given_name,
            "familyName": author.family_name,
            "nameIdentifiers": [],
            "affiliation": [],
        }
        if author.orcid and ORCID_RE.match(author.orcid) and orcid_checksum_ok(author.orcid):
            creator["nameIdentifiers"].append(
                {
                    "nameIdentifier": author.orcid_url,
                    "nameIdentifierScheme": "ORCID",
                    "schemeUri": "https://orcid.org",
                }
            )
        if author.affiliation:
            affiliation: dict[str, str] = {"name": author.affiliation}
            ror = rors.get(author.affiliation.casefold())
            if ror:
                affiliation.update(_ror("affiliation", ror))
            creator["affiliation"].append(affiliation)
        creators.append({k: v for k, v in creator.items() if v not in ("",)})
    if not creators:  # a dataset without authors is credited to its facility
        facility = record.dataset.facility
        creators.append(
            {
                "name": facility.name,
                "nameType": "Organizational",
                "nameIdentifiers": (
                    [
                        {
                            "nameIdentifier": f"https://ror.org/{facility.ror_id}",
                            "nameIdentifierScheme": "ROR",
                            "schemeUri": "https://ror.org",
                        }
                    ]
                    if facility.ror_id
                    else []
                ),
                "affiliation": [],
            }
        )
    return creators


def _related(
    record: Record,
    *,
    version_dois: Sequence[str],
    previous_doi: str,
    next_doi: str,
) -> list[dict[str, str]]:
    kind = record.dataset.kind
    related: list[dict[str, str]] = []

    def add(identifier: str, kind_: str, relation: str, general: str = "Dataset") -> None:
        related.append(
            {
                "relatedIdentifier": identifier,
                "relatedIdentifierType": kind_,
                "relationType": relation,
                "resourceTypeGeneral": general,
            }
        )

    for emdb in record.emdb_ids:
        # A map record is the EMDB entry's data; raw and processed data are its source.
        add(
            f"https://www.ebi.ac.uk/emdb/{emdb}",
            "URL",
            "IsVariantFormOf" if kind == "map" else "IsSourceOf",
        )
    if record.empiar_id:
        add(
            f"https://www.ebi.ac.uk/empiar/{record.empiar_id}/",
            "URL",
            "IsIdenticalTo" if kind == "raw" else "IsDerivedFrom",
        )
    for doi in record.publication_dois:
        add(doi, "DOI", "IsSupplementTo", "JournalArticle")
    if record.concept_doi and record.version is not None and record.concept_doi != record.doi:
        add(record.concept_doi, "DOI", "IsVersionOf")
    for doi in version_dois:
        add(doi, "DOI", "HasVersion")
    if previous_doi:
        add(previous_doi, "DOI", "IsNewVersionOf")
    if next_doi:
        add(next_doi, "DOI", "IsPreviousVersionOf")
    return related


def _rights(record: Record) -> list[dict[str, str]]:
    spdx = record.licence
    name = LICENCES.get(spdx, (spdx, None))[0]
    return [
        {
            "rights": name,
            "rightsUri": citation.licence_url(spdx),
            "rightsIdentifier": spdx.lower(),
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": "https://spdx.org/licenses/",
            "lang": "en",
        }
    ]


def _funding(metadata: dict[str, Any]) -> list[dict[str, str]]:
    """OSC-EM's ``organizational.funder`` and ``.grants`` are parallel lists; a grant is paired
    with the funder at its index (or with the one funder, when there is one)."""
    organizational = metadata.get("organizational")
    if not isinstance(organizational, dict):
        return []
    funders = [f for f in organizational.get("funder") or [] if isinstance(f, dict)]
    grants = [g for g in organizational.get("grants") or [] if isinstance(g, dict)]
    names = [str(f.get("funder_name") or "").strip() for f in funders]
    references: list[dict[str, str]] = []
    used = set()
    for index, grant in enumerate(grants):
        name = names[index] if index < len(names) else (names[0] if len(names) == 1 else "")
        if not name:
            continue
        used.add(name)
        reference = {"funderName": name}
        if str(grant.get("project_id") or "").strip():
            reference["awardNumber"] = str(grant["project_id"]).strip()
        if str(grant.get("grant_name") or "").strip():
            reference["awardTitle"] = str(grant["grant_name"]).strip()
        references.append(reference)
    references.extend({"funderName": n} for n in dict.fromkeys(names) if n and n not in used)
    return references


def _unique(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for item in items:
        folded = str(item[key]).casefold()
        if folded not in seen:
            seen.add(folded)
            kept.append(item)
    return kept


# ---------------------------------------------------------------------------------------------
# XML


def datacite_xml(dataset: Dataset, version: Any | None = None, **links: Any) -> bytes:
    """The kernel-4 ``<resource>`` document (UTF-8 bytes) of a dataset or version; ``links``
    as for ``datacite_attributes``."""
    return attributes_to_xml(datacite_attributes(dataset, version, **links))


def _el(parent: etree._Element, name: str, text: Any = None, **attrs: Any) -> etree._Element:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")
    for key, value in attrs.items():
        if value not in (None, ""):
            if key == "lang":
                element.set("{http://www.w3.org/XML/1998/namespace}lang", str(value))
            else:
                element.set(key, str(value))
    if text is not None:
        element.text = str(text)
    return element


def _name_parts(parent: etree._Element, entry: dict[str, Any], tag: str) -> None:
    _el(parent, f"{tag}Name", entry["name"], nameType=entry.get("nameType"))
    if entry.get("givenName"):
        _el(parent, "givenName", entry["givenName"])
    if entry.get("familyName"):
        _el(parent, "familyName", entry["familyName"])
    for ident in entry.get("nameIdentifiers") or []:
        _el(
            parent,
            "nameIdentifier",
            ident["nameIdentifier"],
            nameIdentifierScheme=ident["nameIdentifierScheme"],
            schemeURI=ident.get("schemeUri"),
        )
    for aff in entry.get("affiliation") or []:
        _el(
            parent,
            "affiliation",
            aff["name"],
            affiliationIdentifier=aff.get("affiliationIdentifier"),
            affiliationIdentifierScheme=aff.get("affiliationIdentifierScheme"),
            schemeURI=aff.get("schemeUri"),
        )


def attributes_to_xml(attributes: dict[str, Any]) -> bytes:
    """DataCite JSON attributes (as ``datacite_attributes`` makes them) -> kernel-4 XML."""
    root = etree.Element(f"{{{NAMESPACE}}}resource", nsmap={None: NAMESPACE, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{NAMESPACE} {SCHEMA_LOCATIONS[schema_version()]}")
    if attributes.get("doi"):
        _el(root, "identifier", attributes["doi"], identifierType="DOI")
    else:
        _el(root, "identifier", attributes["url"], identifierType="URL")
    creators = _el(root, "creators")
    for entry in attributes["creators"]:
        _name_parts(_el(creators, "creator"), entry, "creator")
    titles = _el(root, "titles")
    for title in attributes["titles"]:
        _el(
            titles,
            "title",
            title["title"],
            lang=title.get("lang"),
            titleType=title.get("titleType"),
        )
    publisher = attributes["publisher"]
    _el(
        root,
        "publisher",
        publisher["name"],
        lang=publisher.get("lang"),
        publisherIdentifier=publisher.get("publisherIdentifier"),
        publisherIdentifierScheme=publisher.get("publisherIdentifierScheme"),
        schemeURI=publisher.get("schemeUri"),
    )
    _el(root, "publicationYear", attributes["publicationYear"])
    types = attributes["types"]
    _el(
        root,
        "resourceType",
        types["resourceType"],
        resourceTypeGeneral=types["resourceTypeGeneral"],
    )
    if attributes.get("subjects"):
        subjects = _el(root, "subjects")
        for subject in attributes["subjects"]:
            _el(
                subjects,
                "subject",
                subject["subject"],
                subjectScheme=subject.get("subjectScheme"),
                schemeURI=subject.get("schemeUri"),
                classificationCode=subject.get("classificationCode"),
                lang=subject.get("lang"),
            )
    if attributes.get("contributors"):
        contributors = _el(root, "contributors")
        for entry in attributes["contributors"]:
            contributor = _el(contributors, "contributor", contributorType=entry["contributorType"])
            _name_parts(contributor, entry, "contributor")
    if attributes.get("dates"):
        dates = _el(root, "dates")
        for date in attributes["dates"]:
            _el(
                dates,
                "date",
                date["date"],
                dateType=date["dateType"],
                dateInformation=date.get("dateInformation"),
            )
    if attributes.get("language"):
        _el(root, "language", attributes["language"])
    alternates = [i for i in attributes.get("identifiers") or [] if i["identifierType"] != "DOI"]
    if alternates:
        wrapper = _el(root, "alternateIdentifiers")
        for ident in alternates:
            _el(
                wrapper,
                "alternateIdentifier",
                ident["identifier"],
                alternateIdentifierType=ident["identifierType"],
            )
    if attributes.get("relatedIdentifiers"):
        wrapper = _el(root, "relatedIdentifiers")
        for rel in attributes["relatedIdentifiers"]:
            _el(
                wrapper,
                "relatedIdentifier",
                rel["relatedIdentifier"],
                relatedIdentifierType=rel["relatedIdentifierType"],
                relationType=rel["relationType"],
                resourceTypeGeneral=rel.get("resourceTypeGeneral"),
            )
    if attributes.get("sizes"):
        wrapper = _el(root, "sizes")
        for size in attributes["sizes"]:
            _el(wrapper, "size", size)
    if attributes.get("formats"):
        wrapper = _el(root, "formats")
        for fmt in attributes["formats"]:
            _el(wrapper, "format", fmt)
    if attributes.get("version"):
        _el(root, "version", attributes["version"])
    if attributes.get("rightsList"):
        wrapper = _el(root, "rightsList")
        for rights in attributes["rightsList"]:
            _el(
                wrapper,
                "rights",
                rights["rights"],
                rightsURI=rights.get("rightsUri"),
                rightsIdentifier=rights.get("rightsIdentifier"),
                rightsIdentifierScheme=rights.get("rightsIdentifierScheme"),
                schemeURI=rights.get("schemeUri"),
                lang=rights.get("lang"),
            )
    if attributes.get("descriptions"):
        wrapper = _el(root, "descriptions")
        for desc in attributes["descriptions"]:
            _el(
                wrapper,
                "description",
                desc["description"],
                descriptionType=desc["descriptionType"],
                lang=desc.get("lang"),
            )
    if attributes.get("fundingReferences"):
        wrapper = _el(root, "fundingReferences")
        for ref in attributes["fundingReferences"]:
            funding = _el(wrapper, "fundingReference")
            _el(funding, "funderName", ref["funderName"])
            if ref.get("funderIdentifier"):
                _el(
                    funding,
                    "funderIdentifier",
                    ref["funderIdentifier"],
                    funderIdentifierType=ref.get("funderIdentifierType", "Other"),
                )
            if ref.get("awardNumber"):
                _el(funding, "awardNumber", ref["awardNumber"])
            if ref.get("awardTitle"):
                _el(funding, "awardTitle", ref["awardTitle"])
    if attributes.get("relatedItems"):
        wrapper = _el(root, "relatedItems")
        for item in attributes["relatedItems"]:
            element = _el(
                wrapper,
                "relatedItem",
                relationType=item["relationType"],
                relatedItemType=item["relatedItemType"],
            )
            item_titles = _el(element, "titles")
            for title in item["titles"]:
                _el(item_titles, "title", title["title"])
            if item.get("publisher"):
                _el(element, "publisher", item["publisher"])
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# ---------------------------------------------------------------------------------------------
# Validation


def validate_datacite_xml(document: bytes) -> list[str]:
    """The official XSD's complaints about a document (line: message); empty when valid."""
    return xmlschemas.errors(f"datacite-{schema_version()}", document)


def datacite_problems(dataset: Dataset, version: Any | None = None) -> list[Problem]:
    """What DataCite would refuse, with the metadata path of each: no creators, title or
    licence; an ORCID, ROR id or DOI that is malformed."""
    record = record_for(dataset, version)
    problems = []
    if not record.title.strip():
        problems.append(Problem("title", "A title is required for a DOI."))
    if not record.licence.strip():
        problems.append(Problem("licence", "A licence (SPDX id) is required for a DOI."))
    if not record.authors():
        problems.append(
            Problem(
                "metadata.organizational.authors",
                "At least one author (given and family name) is required for a DOI.",
            )
        )
    organizational = record.metadata.get("organizational")
    entries = organizational.get("authors") if isinstance(organizational, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict) or not entry.get("orcid"):
            continue
        orcid = str(entry["orcid"]).strip().removeprefix("https://orcid.org/")
        if not ORCID_RE.match(orcid) or not orcid_checksum_ok(orcid):
            problems.append(
                Problem(
                    f"metadata.organizational.authors[{index}].orcid",
                    f"{entry['orcid']!r} is not a valid ORCID iD (e.g. 0000-0002-1825-0097).",
                )
            )
    if dataset.facility.ror_id and not ROR_RE.match(dataset.facility.ror_id):
        problems.append(Problem("facility.ror_id", f"{dataset.facility.ror_id!r} is not a ROR id."))
    for index, doi in enumerate(record.publication_dois):
        if not DOI_RE.match(doi):
            problems.append(
                Problem(f"publication_dois[{index}]", f"{doi!r} is not a DOI (10.xxxx/...).")
            )
    return problems
