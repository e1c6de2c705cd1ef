"""Validation of EMPIAR deposition JSON: the official schema, then stricter checks.

The schema is the one the ``empiar-depositor`` package ships (``empiar_deposition.schema.json``),
read with importlib.resources: never a copy in this repository. Its regular expressions are
looser than EMPIAR's real rules (``^(A)|B$`` is anchored on one side per alternative), so code
list strings are matched exactly here, countries are checked against ISO 3166-1, ORCID iDs
against their check digit, and author names against the ``('Surname', 'INITIALS')`` form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from deposition import vocab
from deposition.report import Issue, Severity

SCHEMA_PACKAGE = "empiar_depositor"
SCHEMA_FILE = "empiar_deposition.schema.json"
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
EMD_ID = re.compile(r"EMD-\d{4,}")
MAX_ENUM_IN_MESSAGE = 12


@lru_cache(maxsize=1)
def empiar_schema() -> dict[str, Any]:
    """The official EMPIAR deposition schema, from the installed ``empiar-depositor``."""
    text = resources.files(SCHEMA_PACKAGE).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Draft7Validator:
    # The file declares the draft-agnostic "http://json-schema.org/schema#"; it is written in
    # draft-07 (its "$id"s and keywords), so it is checked as draft-07, formats included.
    return Draft7Validator(empiar_schema(), format_checker=Draft7Validator.FORMAT_CHECKER)


def json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _message(error: ValidationError) -> str:
    if error.validator == "enum" and isinstance(error.validator_value, list):
        allowed = error.validator_value
        if len(allowed) > MAX_ENUM_IN_MESSAGE:
            return f"{error.instance!r} is not one of the {len(allowed)} values EMPIAR accepts"
    if error.validator == "required":
        return f"EMPIAR requires {error.message.split(' is a required')[0]}"
    return error.message


def schema_issues(document: Any) -> list[Issue]:
    """Errors of the official schema, one per problem, with JSON paths."""
    issues = []
    for error in sorted(_validator().iter_errors(document), key=lambda e: list(e.absolute_path)):
        issues.append(
            Issue(path=json_path(error.absolute_path), message=_message(error), source="schema")
        )
    return issues


def _strict(path: str, message: str, severity: Severity = Severity.ERROR) -> Issue:
    return Issue(path=path, message=message, severity=severity, source="strict")


def _check_orcid(value: Any, path: str) -> list[Issue]:
    if value in (None, ""):
        return []
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]", value):
        return [_strict(path, f"{value!r} is not an ORCID iD (like 0000-0002-1825-0097)")]
    if not vocab.orcid_checksum_ok(value):
        return [
            _strict(
                path,
                f"the ORCID iD {value} has a wrong check digit (a typing error): copy it from "
                "the person's ORCID record",
            )
        ]
    return []


def _check_country(value: Any, path: str) -> list[Issue]:
    if value in (None, ""):
        return []
    if not isinstance(value, str):
        return [_strict(path, f"{value!r} is not a country code")]
    if value in vocab.COUNTRY_CODE_TOLERATED:
        return [
            _strict(
                path,
                f"{value} ({vocab.COUNTRY_CODE_TOLERATED[value]}) is accepted by EMPIAR but is "
                "not an ISO 3166-1 code",
                Severity.WARNING,
            )
        ]
    if value not in vocab.ISO_3166_ALPHA2:
        hint = vocab.COUNTRY_CODE_CORRECTIONS.get(value.upper())
        return [
            _strict(
                path,
                f"{value!r} is not an ISO 3166-1 alpha-2 country code"
                + (f": use {hint!r}" if hint else ""),
            )
        ]
    return []


def _check_person_name(value: Any, path: str) -> list[Issue]:
    if not isinstance(value, str) or not vocab.EMPIAR_AUTHOR_NAME.fullmatch(value):
        return [
            _strict(
                path,
                f"{value!r} is not in EMPIAR's ('Surname', 'INITIALS') form (surname up to 60 "
                'characters without digits or !"£$%^&*(); initials: capital letters only)',
            )
        ]
    return []


def _check_people(people: Any, path: str) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(people, list):
        return issues
    order_ids = []
    for index, person in enumerate(people):
        if not isinstance(person, dict):
            continue
        where = f"{path}[{index}]"
        issues += _check_person_name(person.get("name"), f"{where}.name")
        issues += _check_orcid(person.get("author_orcid"), f"{where}.author_orcid")
        order_ids.append(person.get("order_id"))
    if order_ids and order_ids != list(range(len(order_ids))):
        issues.append(_strict(path, f"order_id must count 0, 1, 2, ... (found {order_ids})"))
    return issues


def _check_contact(contact: Any, path: str) -> list[Issue]:
    if not isinstance(contact, dict):
        return []
    issues = _check_orcid(contact.get("author_orcid"), f"{path}.author_orcid")
    issues += _check_country(contact.get("country"), f"{path}.country")
    email = contact.get("email")
    if isinstance(email, str) and email and not EMAIL.fullmatch(email):
        issues.append(_strict(f"{path}.email", f"{email!r} is not an e-mail address"))
    return issues


def _check_imageset(imageset: Any, path: str) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(imageset, dict):
        return issues
    for key, pattern in vocab.EMPIAR_CODE_PATTERNS.items():
        value = imageset.get(key)
        if isinstance(value, str) and not pattern.fullmatch(value):
            issues.append(
                _strict(
                    f"{path}.{key}",
                    f"{value!r} is not exactly one of EMPIAR's codes for {key} "
                    "(written like ('T2', '') or ('OT', 'DESCRIPTION'))",
                )
            )
    directory = imageset.get("directory")
    if isinstance(directory, str):
        parts = directory.strip("/").split("/")
        if parts[0] != "data":
            issues.append(
                _strict(
                    f"{path}.directory",
                    f"{directory!r} is outside the 'data' folder EMPIAR reserves for image sets",
                )
            )
        if not directory.isascii() or any(p in ("", ".", "..") for p in parts):
            issues.append(
                _strict(
                    f"{path}.directory",
                    f"{directory!r} is not a clean ASCII relative path under data/",
                )
            )
    for key in ("num_images_or_tilt_series", "frames_per_image", "image_width", "image_height"):
        value = imageset.get(key)
        if isinstance(value, int) and value < 1:
            issues.append(_strict(f"{path}.{key}", f"{key} must be at least 1, not {value}"))
    for key in ("pixel_width", "pixel_height"):
        value = imageset.get(key)
        if isinstance(value, int | float) and value <= 0:
            issues.append(_strict(f"{path}.{key}", f"{key} must be positive (Å), not {value}"))
    return issues


def strict_issues(document: Any) -> list[Issue]:
    """What EMPIAR's deposition system refuses although the schema lets it through."""
    if not isinstance(document, dict):
        return []
    issues = _check_people(document.get("authors"), "$.authors")
    issues += _check_contact(document.get("corresponding_author"), "$.corresponding_author")
    for index, pi in enumerate(document.get("principal_investigator") or []):
        issues += _check_contact(pi, f"$.principal_investigator[{index}]")
    for index, citation in enumerate(document.get("citation") or []):
        if isinstance(citation, dict):
            where = f"$.citation[{index}]"
            issues += _check_people(citation.get("authors"), f"{where}.authors")
            issues += _check_people(citation.get("editors"), f"{where}.editors")
            issues += _check_country(citation.get("country"), f"{where}.country")
    for index, imageset in enumerate(document.get("imagesets") or []):
        issues += _check_imageset(imageset, f"$.imagesets[{index}]")
    references = document.get("cross_references") or []
    for index, reference in enumerate(references):
        name = reference.get("name") if isinstance(reference, dict) else None
        if not isinstance(name, str) or not EMD_ID.fullmatch(name):
            issues.append(
                _strict(f"$.cross_references[{index}].name", f"{name!r} is not an EMDB id")
            )
    if document.get("release_date") == "EP" and not references:
        issues.append(
            _strict(
                "$.release_date",
                "release 'EP' (after the EMDB entry) needs an EMDB cross-reference",
            )
        )
    return issues


def validate_empiar(document: Any) -> list[Issue]:
    """Every problem of ``document``: the official schema's, then the stricter checks'."""
    return schema_issues(document) + strict_issues(document)
