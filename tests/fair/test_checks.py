"""Standard metadata stays standard: the official OSC-EM examples validate against the
portal's built-in schemas as the API serves them; the stricter identifier checks are warnings
for curators and block only DOI registration (fair.checks.doi_blockers), with paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.test import Client
from jsonschema.validators import validator_for
from rest_framework.test import APIClient

from fair.checks import curation_warnings, doi_blockers
from metadata.validation import validate_metadata
from repository.dataset_metadata import dataset_validate_metadata
from repository.models import Dataset
from tests.support.fair import FILES, make_dataset

#: Official example -> (the API's schema name, a technique of the portal that uses it).
EXAMPLES = {
    "general": ("general", "other"),
    "spa": ("spa", "spa"),
    "subtomo": ("subtomo", "subtomo"),
    "cellular_tomo": ("cellular_tomo", "cellular_tomo"),
    "env_tomo": ("env_tomo", "env_tomo"),
}


def official_example(name: str) -> dict[str, Any]:
    path = Path(settings.OPENEM_SCHEMAS_DIR) / "oscem" / f"example_valid_{name}.yaml"
    assert path.is_file(), f"the official OSC-EM examples are expected in {path.parent}"
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_official_examples_validate_against_the_schemas_the_api_serves(
    world: Any, example: str
) -> None:
    schema_name, technique = EXAMPLES[example]
    document = official_example(example)
    api = APIClient()
    response = api.get(f"/api/v1/schemas/{schema_name}/latest/document")
    assert response.status_code == 200
    schema = response.json()
    # what a client would do with the document: plain jsonschema, the draft it declares
    validator = validator_for(schema)(schema)
    assert [error.message for error in validator.iter_errors(document)] == []
    assert validate_metadata(document, schema) == []  # and the portal's own check (units too)

    api.force_authenticate(world["staff"])
    created = api.post(
        "/api/v1/datasets/",
        {
            "title": f"Official {example} example",
            "facility": world.facility.slug,
            "technique": technique,
            "metadata": document,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    dataset = Dataset.objects.get(pid=created.json()["pid"])
    record = dataset_validate_metadata(dataset)
    assert record["valid"] is True, record["problems"]
    authors = document["organizational"]["authors"]
    assert [w["path"] for w in record["warnings"]] == [
        f"organizational.authors[{i}].orcid" for i in range(len(authors))
    ]
    detail = api.get(f"/api/v1/datasets/{dataset.pid}/").json()
    assert detail["metadata_validation"]["valid"] is True
    assert detail["metadata_validation"]["warnings"]
    # the placeholder iDs block a DOI, with their paths, and nothing else does
    assert {p.path for p in doi_blockers(dataset)} == {
        f"metadata.organizational.authors[{i}].orcid" for i in range(len(authors))
    }


def test_warnings_are_shown_to_curators_only(
    client: Client, world: Any, local_storage: Any, settings: Any
) -> None:
    dataset = make_dataset(world, files=FILES)  # one author has a placeholder iD
    assert [w.path for w in curation_warnings(dataset)] == [
        "metadata.organizational.authors[1].orcid"
    ]
    client.force_login(world["curator"])
    html = client.get(dataset.get_absolute_url()).content.decode()
    assert "data-identifier-warnings" in html and "ORCID_123124151231" in html
    assert "data-doi-blockers" not in html  # no DOIs configured: nothing to block
    settings.OPENEM_DATACITE_PREFIX = "10.80000"
    html = client.get(dataset.get_absolute_url()).content.decode()
    assert "data-doi-blockers" in html and "authors[1].orcid" in html
    client.force_login(world["staff"])  # facility staff: insiders who may edit too
    assert "data-identifier-warnings" in client.get(dataset.get_absolute_url()).content.decode()
    client.logout()
    from repository import services

    services.dataset_publish(actor=world["curator"], dataset=dataset, visibility="public")
    assert "data-identifier-warnings" not in client.get(dataset.get_absolute_url()).content.decode()


@pytest.mark.parametrize(
    ("orcid", "blocked"),
    [
        ("0000-0002-1825-0097", False),
        ("https://orcid.org/0000-0002-1825-0097", False),
        ("0000-0002-1825-0098", True),  # wrong check digit
        ("ORCID_123124151231", True),
        ("0000-0002-1825", True),
        ("https://orcid.org/abc", True),
    ],
)
def test_malformed_orcids_are_refused_for_a_doi_with_the_path(
    world: Any, local_storage: Any, orcid: str, blocked: bool
) -> None:
    dataset = make_dataset(world, files={})
    dataset.metadata["organizational"]["authors"] = [
        {**dataset.metadata["organizational"]["authors"][0], "orcid": orcid}
    ]
    blockers = {p.path: p.message for p in doi_blockers(dataset)}
    warnings = {p.path: p.message for p in curation_warnings(dataset)}
    path = "metadata.organizational.authors[0].orcid"
    assert (path in blockers) is blocked and (path in warnings) is blocked
    if blocked:
        assert orcid in blockers[path]


def test_malformed_ror_and_doi_and_missing_citation_fields(world: Any) -> None:
    world.facility.ror_id = "not-a-ror"
    world.facility.save()
    dataset = make_dataset(world, files={})
    Dataset.objects.filter(pk=dataset.pk).update(
        publication_dois=["10.1038/s41586-020-2649-2", "doi-without-prefix"], licence=""
    )
    dataset.refresh_from_db()
    dataset.metadata = {}
    blockers = {p.path for p in doi_blockers(dataset)}
    assert {
        "facility.ror_id",
        "publication_dois[1]",
        "licence",
        "metadata.organizational.authors",
    } <= blockers
    assert "publication_dois[0]" not in blockers
    warnings = {p.path for p in curation_warnings(dataset)}
    assert {"facility.ror_id", "publication_dois[1]"} == warnings


def test_the_api_refuses_a_malformed_publication_doi(world: Any) -> None:
    api = APIClient()
    api.force_authenticate(world["staff"])
    response = api.post(
        "/api/v1/datasets/",
        {
            "title": "Bad DOI",
            "facility": world.facility.slug,
            "technique": "spa",
            "publication_dois": ["10.1038/ok", "nope"],
        },
        format="json",
    )
    assert response.status_code == 400
    assert "nope" in response.content.decode()
    assert not Dataset.objects.filter(title="Bad DOI").exists()
