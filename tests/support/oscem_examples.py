"""The official OSC-EM examples (from the shared schemas folder) made valid for the portal: real
ORCID iDs, and without SI-only fields."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings

#: The official examples use placeholders ("ORCID_123124151231") that no ORCID iD matches;
#: the built-ins accept them as OSC-EM does, and metadata.identifiers warns about them.
VALID_ORCID = "0000-0002-1825-0097"


def oscem_dir() -> Path:
    folder = Path(settings.OPENEM_SCHEMAS_DIR) / "oscem"
    if not (folder / "oscem_schemas_spa.schema.json").is_file():
        pytest.skip(
            f"official OSC-EM schemas not found in {folder}: set OPENEM_SCHEMAS_DIR to the "
            "folder holding oscem/oscem_schemas_*.schema.json"
        )
    return folder


def official_example(technique: str) -> dict[str, Any]:
    return yaml.safe_load((oscem_dir() / f"example_valid_{technique}.yaml").read_text())


def with_real_orcids(document: dict[str, Any]) -> dict[str, Any]:
    fixed = copy.deepcopy(document)
    for author in fixed.get("organizational", {}).get("authors", []):
        author["orcid"] = VALID_ORCID
    return fixed


def without_si(document: Any) -> Any:
    if isinstance(document, dict):
        return {k: without_si(v) for k, v in document.items() if k not in ("valueSI", "unitSI")}
    if isinstance(document, list):
        return [without_si(v) for v in document]
    return document
