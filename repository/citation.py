"""How a dataset is cited: its authors (from the OSC-EM document), the citation text and
BibTeX, the cross-references (EMDB, EMPIAR, publication DOIs) and the licence's URL."""

from __future__ import annotations

from dataclasses import dataclass

from metadata import oscem
from metadata.oscem import Person as Author

from .models import Dataset

SITE_NAME = "OpenEM data portal"


def authors(dataset: Dataset) -> list[Author]:
    """Authors from the metadata (``organizational.authors``) that have a name, in their order."""
    return oscem.named_people(dataset.metadata or {})


def citation_year(dataset: Dataset) -> int:
    return (dataset.published_at or dataset.created).year


def citation_text(dataset: Dataset, *, url: str) -> str:
    """A citation in the common data-citation shape (DataCite / FORCE11):
    Creators (Year). Title [Data set]. Publisher. Identifier."""
    people = authors(dataset)
    if people:
        names = [a.cited_name for a in people]
        creators = ", ".join(names[:-1]) + (", & " if len(names) > 2 else " & ") + names[-1]
        creators = names[0] if len(names) == 1 else creators
    else:
        creators = dataset.facility.name
    title = dataset.title.rstrip(".")
    return (
        f"{creators} ({citation_year(dataset)}). {title} [Data set]. "
        f"{SITE_NAME}, {dataset.facility.name}. {dataset.pid}. {url}"
    )


def bibtex(dataset: Dataset, *, url: str) -> str:
    people = authors(dataset)
    author_field = (
        " and ".join(f"{a.family_name}, {a.given_name}".strip(", ") for a in people)
        or f"{{{dataset.facility.name}}}"
    )

    def esc(text: str) -> str:
        return text.replace("{", "\\{").replace("}", "\\}")

    return (
        f"@misc{{{dataset.pid},\n"
        f"  author = {{{esc(author_field)}}},\n"
        f"  title = {{{{{esc(dataset.title)}}}}},\n"
        f"  year = {{{citation_year(dataset)}}},\n"
        f"  publisher = {{{SITE_NAME}, {esc(dataset.facility.name)}}},\n"
        f"  howpublished = {{\\url{{{url}}}}},\n"
        f"  note = {{Dataset {dataset.pid}}}\n"
        "}\n"
    )


@dataclass(frozen=True)
class CrossReference:
    kind: str
    identifier: str
    url: str


def cross_references(dataset: Dataset) -> list[CrossReference]:
    refs = [
        CrossReference("EMDB", emdb, f"https://www.ebi.ac.uk/emdb/{emdb}")
        for emdb in dataset.emdb_ids or []
    ]
    if dataset.empiar_id:
        refs.append(
            CrossReference(
                "EMPIAR", dataset.empiar_id, f"https://www.ebi.ac.uk/empiar/{dataset.empiar_id}/"
            )
        )
    refs.extend(
        CrossReference("DOI", doi, f"https://doi.org/{doi}")
        for doi in dataset.publication_dois or []
    )
    return refs


LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
}


def licence_url(licence: str) -> str:
    return LICENCE_URLS.get(licence) or f"https://spdx.org/licenses/{licence}.html"
