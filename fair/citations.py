"""Citations of a dataset or version: CSL-JSON (the citation data), formatted bibliography
entries (``text/x-bibliography``) in a CSL style through ``citeproc-py``, and BibTeX.

Styles are the vendored CSL files in ``fair/csl/`` (see its README for their licence); a
style's name is its file name without ``.csl``. Callers check access first.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repository import citation

if TYPE_CHECKING:
    from .targets import Target

STYLE_DIR = Path(__file__).resolve().parent / "csl"
DEFAULT_STYLE = "apa"
DEFAULT_LOCALE = "en-US"


class UnknownStyle(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unknown citation style {name!r}; styles offered: {', '.join(styles())}")
        self.name = name


def styles() -> list[str]:
    return sorted(path.stem for path in STYLE_DIR.glob("*.csl"))


def csl_json(target: Target) -> dict[str, Any]:
    """The CSL-JSON item (https://citeproc-js.readthedocs.io/en/latest/csl-json/markup.html)."""
    record = target.record
    item: dict[str, Any] = {
        "id": target.dataset.pid,
        "type": "dataset",
        "title": record.title,
        "author": [
            {"family": a.family_name, "given": a.given_name}
            if a.family_name
            else {"literal": a.name}
            for a in record.authors()
        ]
        or [{"literal": target.dataset.facility.name}],
        "issued": {"date-parts": [[record.year]]},
        "publisher": f"{citation.SITE_NAME}, {target.dataset.facility.name}",
        "URL": target.cite_as,
    }
    if record.published_at:
        moment = record.published_at
        item["issued"] = {"date-parts": [[moment.year, moment.month, moment.day]]}
    if target.doi:
        item["DOI"] = target.doi
    if target.version is not None:
        item["version"] = str(target.version.number)
    if record.description:
        item["abstract"] = record.description[:2000]
    return item


@lru_cache(maxsize=8)
def _style(name: str) -> Any:
    from citeproc import CitationStylesStyle

    path = STYLE_DIR / f"{name}.csl"
    with warnings.catch_warnings():  # citeproc-py warns of CSL elements it does not use
        warnings.simplefilter("ignore")
        return CitationStylesStyle(str(path), locale=DEFAULT_LOCALE, validate=False)


def bibliography(target: Target, *, style: str = DEFAULT_STYLE) -> str:
    """One formatted reference in ``style`` (plain text, one line)."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    name = (style or DEFAULT_STYLE).strip()
    if name not in styles():
        raise UnknownStyle(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = CiteProcJSON([csl_json(target)])
        entries = CitationStylesBibliography(_style(name), source, formatter.plain)
        entries.register(Citation([CitationItem(target.dataset.pid)]))
        text = str(entries.bibliography()[0])
    return " ".join(text.split())


def bibtex(target: Target) -> str:
    """The landing page's BibTeX entry with the version and the DOI (when there is one)."""
    entry = citation.bibtex(target.shown, url=target.cite_as).rstrip().removesuffix("}")
    extra = []
    if target.version is not None:
        extra.append(f"  version = {{{target.version.number}}},\n")
    if target.doi:
        extra.append(f"  doi = {{{target.doi}}},\n")
    entry = entry.rstrip("\n")
    return entry + ",\n" + "".join(extra).rstrip(",\n") + "\n}\n" if extra else entry + "\n}\n"
