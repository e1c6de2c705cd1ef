"""The one reader of the people in a dataset's OSC-EM document, and the paths where the document
keeps what the pages, search, exports and depositions read.

Landing pages, citations, DataCite/JSON-LD, and the EMPIAR/EMDB builders all read authors through
:func:`people`, so that a name or an ORCID iD is read the same everywhere; ORCID iDs are kept in
their bare form (``0000-0002-1825-0097``), whatever prefix the curator typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .identifiers import bare_orcid

# Keys of the dataset's OSC-EM-shaped metadata (metadata/builtin/oscem_common.schema.json).
AUTHORS = "organizational.authors"
FUNDERS = "organizational.funder"
GRANTS = "organizational.grants"
SAMPLE = "sample"
OVERALL_MOLECULE = "sample.overall_molecule"
MOLECULES = "sample.molecule"
SPECIMEN = "sample.specimen"
SPECIMEN_ENV = "sample.specimen_env"
INSTRUMENT = "instrument"
ACQUISITION = "acquisition"

ORCID_PATTERN = re.compile(r"(?:https?://orcid\.org/)?(\d{4}-\d{4}-\d{4}-\d{3}[\dX])")


def get(document: Any, path: str) -> Any:
    """The value at a dotted ``path`` of ``document``, or None."""
    node = document
    for key in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def text(value: Any) -> str:
    """A scalar as one line of text (runs of white space as one space); "" for anything else."""
    return " ".join(str(value).split()) if isinstance(value, str | int | float) else ""


def normalise_orcid(value: str | None) -> str | None:
    """The bare 16-digit form, or None when absent; shape errors are left for the checks."""
    if not value or not str(value).strip():
        return None
    stripped = str(value).strip()
    match = ORCID_PATTERN.fullmatch(stripped)
    return match.group(1) if match else stripped


@dataclass(frozen=True)
class Person:
    """One entry of ``organizational.authors``; ``index`` is its place in the document (for
    links to its form fields), ``orcid`` the bare iD (or what was typed, when it is none)."""

    index: int
    given_name: str
    family_name: str
    email: str
    orcid: str
    affiliation: str
    organization_type: str
    country: str
    role: str
    telephone: str

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part)

    @property
    def cited_name(self) -> str:
        """``Family, G. N.`` as reference lists write it."""
        initials = " ".join(f"{part[0]}." for part in self.given_name.replace("-", " ").split())
        if self.family_name and initials:
            return f"{self.family_name}, {initials}"
        return self.family_name or self.given_name

    @property
    def orcid_url(self) -> str:
        return f"https://orcid.org/{self.orcid}" if self.orcid else ""

    @property
    def field(self) -> str:
        return f"{AUTHORS}[{self.index}]"

    def field_of(self, key: str) -> str:
        return f"{self.field}.{FIELD_KEYS.get(key, key)}"

    @property
    def is_corresponding(self) -> bool:
        return "corresponding" in self.role.lower()

    @property
    def is_principal_investigator(self) -> bool:
        role = self.role.lower().replace(".", "")
        return (
            "principal investigator" in role
            or "group leader" in role
            or role.split() == ["pi"]
            or "pi" in role.replace(",", " ").replace("/", " ").split()
        )


#: Person attribute -> key of an author in the metadata (for links to the form).
FIELD_KEYS = {
    "given_name": "given_name",
    "family_name": "family_name",
    "email": "email",
    "orcid": "orcid",
    "affiliation": "name_org",
    "organization_type": "type_org",
    "country": "country",
    "role": "role",
    "telephone": "telephone",
}


def people(document: Any) -> tuple[Person, ...]:
    """Every author entry of the document, in its order (entries that are no object skipped)."""
    found = []
    entries = get(document, AUTHORS) if isinstance(document, dict) else None
    for index, entry in enumerate(entries if isinstance(entries, list) else []):
        if not isinstance(entry, dict):
            continue
        found.append(
            Person(
                index=index,
                given_name=text(entry.get("given_name")),
                family_name=text(entry.get("family_name")),
                email=text(entry.get("email")),
                orcid=bare_orcid(text(entry.get("orcid"))),
                affiliation=text(entry.get("name_org")),
                organization_type=text(entry.get("type_org")),
                country=text(entry.get("country")),
                role=text(entry.get("role")),
                telephone=text(entry.get("telephone")),
            )
        )
    return tuple(found)


def named_people(document: Any) -> list[Person]:
    """The authors with a name (what pages and citations list)."""
    return [person for person in people(document) if person.given_name or person.family_name]
