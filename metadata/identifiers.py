"""Checks of the persistent identifiers in a metadata document (ORCID iDs, ROR ids, DOIs),
stricter than the OSC-EM schemas, which take any string for an ORCID.

They are *warnings*: a document the official schema accepts stays valid (the official OSC-EM
examples carry placeholder iDs such as ``ORCID_123124151231``), and curators see what to fix.
Only DOI registration is blocked where DataCite would refuse a value
(``fair.checks.doi_blockers``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .validation import Problem

ORCID_PREFIXES = ("https://orcid.org/", "http://orcid.org/", "orcid.org/")
ORCID_FORM = re.compile(r"^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$")
#: ROR ids: "0", six characters of Crockford base32 (no i, l, o, u), two check digits.
ROR_FORM = re.compile(r"^0[a-hj-km-np-tv-z0-9]{6}[0-9]{2}$")
DOI_FORM = re.compile(r"^10\.\d{4,9}/\S+$")


def bare_orcid(value: str) -> str:
    value = value.strip()
    for prefix in ORCID_PREFIXES:
        value = value.removeprefix(prefix)
    return value


def orcid_checksum_ok(orcid: str) -> bool:
    """ISO 7064 11,2 check digit of an ORCID iD (``0000-0002-1825-0097``)."""
    digits = orcid.replace("-", "")
    if len(digits) != 16 or not digits[:15].isdigit():
        return False
    total = 0
    for char in digits[:15]:
        total = (total + int(char)) * 2
    check = (12 - total % 11) % 11
    return digits[15] == ("X" if check == 10 else str(check))


def orcid_problem(value: Any) -> str:
    """What is wrong with an ORCID iD ("" when nothing)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        return f"{value!r} is not an ORCID iD"
    orcid = bare_orcid(value)
    if not ORCID_FORM.match(orcid):
        return f"{value!r} is not an ORCID iD (they look like 0000-0002-1825-0097)"
    if not orcid_checksum_ok(orcid):
        return f"{value!r} has a wrong check digit: no ORCID iD is written so (a typo?)"
    return ""


def ror_problem(value: Any) -> str:
    if value in (None, ""):
        return ""
    ror = str(value).strip().removeprefix("https://ror.org/")
    if not ROR_FORM.match(ror):
        return f"{value!r} is not a ROR id (they look like 02s6k3f65 or https://ror.org/02s6k3f65)"
    return ""


def doi_problem(value: Any) -> str:
    if value in (None, ""):
        return ""
    doi = str(value).strip().removeprefix("https://doi.org/").removeprefix("doi:")
    if not DOI_FORM.match(doi):
        return f"{value!r} is not a DOI (they look like 10.1038/s41586-020-2649-2)"
    return ""


def _authors(document: Any) -> Iterable[tuple[int, Any]]:
    organizational = document.get("organizational") if isinstance(document, dict) else None
    entries = organizational.get("authors") if isinstance(organizational, dict) else None
    return enumerate(entries if isinstance(entries, list) else [])


def identifier_warnings(document: Any) -> list[Problem]:
    """The identifiers of an OSC-EM document that are not what they claim, with their paths."""
    problems = []
    for index, author in _authors(document):
        if isinstance(author, dict):
            message = orcid_problem(author.get("orcid"))
            if message:
                problems.append(Problem(f"organizational.authors[{index}].orcid", message))
    return problems
