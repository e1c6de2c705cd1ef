"""EMPIAR JSON validation: the official schema from the empiar-depositor package, and the
stricter checks where its regular expressions are loose."""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path

import pytest

from deposition import vocab
from deposition.empiar import validation
from deposition.empiar.validation import schema_issues, strict_issues, validate_empiar


@pytest.fixture
def example(schemas: Path) -> dict:
    return json.loads((schemas / "empiar" / "working_example.json").read_text())


def paths(issues) -> set[str]:
    return {issue.path for issue in issues}


def test_the_schema_is_the_one_the_empiar_depositor_package_ships(schemas):
    shipped = resources.files("empiar_depositor").joinpath("empiar_deposition.schema.json")
    assert "site-packages" in str(shipped) or "dist-packages" in str(shipped)
    assert validation.empiar_schema() == json.loads(
        (schemas / "empiar" / "empiar_deposition.schema.json").read_text()
    )
    repo = Path(__file__).resolve().parents[2]
    copies = [p for p in repo.rglob("empiar_deposition.schema.json") if ".venv" not in p.parts]
    assert copies == [], "the schema must not be copied into the repository"


def test_the_official_working_example_validates(example):
    assert validate_empiar(example) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "('T2', '') and more"),
        ("category", "something ('OT', 'X')"),
        ("voxel_type", "('T7', '')junk"),
        ("header_format", "('T15', '')"),
        ("data_format", "('OT', 'lower case')"),
    ],
)
def test_code_list_strings_must_match_exactly(example, field, value):
    broken = copy.deepcopy(example)
    broken["imagesets"][0][field] = value
    strict = [i for i in strict_issues(broken) if i.path == f"$.imagesets[0].{field}"]
    assert strict and "exactly" in strict[0].message
    assert validate_empiar(broken)


def test_the_schema_alone_lets_a_code_with_a_tail_through(example):
    # Why the stricter checks exist: "^(A)|B$" is anchored on one side per alternative.
    broken = copy.deepcopy(example)
    broken["imagesets"][0]["category"] = "('T2', '') and more"
    assert schema_issues(broken) == []


def test_uk_is_not_a_country_code(example):
    broken = copy.deepcopy(example)
    broken["corresponding_author"]["country"] = "UK"
    messages = [i.message for i in validate_empiar(broken) if i.path.endswith(".country")]
    assert any("use 'GB'" in m for m in messages)


def test_a_withdrawn_code_that_the_schema_accepts_is_refused(example):
    broken = copy.deepcopy(example)
    broken["principal_investigator"][0]["country"] = "FX"
    assert schema_issues(broken) == []  # the schema's list still has it
    issues = strict_issues(broken)
    assert [i.path for i in issues] == ["$.principal_investigator[0].country"]


def test_orcid_check_digit(example):
    broken = copy.deepcopy(example)
    broken["authors"][0]["author_orcid"] = "0000-0002-1825-0098"  # last digit mistyped
    assert schema_issues(broken) == []
    issues = strict_issues(broken)
    assert paths(issues) == {"$.authors[0].author_orcid"}
    assert "check digit" in issues[0].message


@pytest.mark.parametrize(
    ("orcid", "valid"),
    [
        ("0000-0002-1825-0097", True),
        ("0000-0003-2391-473X", True),
        ("0000-0001-5109-3700", True),
        ("0000-0002-1825-0098", False),
        ("0000-0003-2391-4730", False),
    ],
)
def test_orcid_checksum(orcid, valid):
    assert vocab.orcid_checksum_ok(orcid) is valid


@pytest.mark.parametrize(
    "name", ["Smith, JW", "('Smith', 'jw')", "('Smith', 'J.W.')", "('Sm1th', 'JW')", "('', 'J')"]
)
def test_author_names_in_the_tuple_form_only(example, name):
    broken = copy.deepcopy(example)
    broken["citation"][0]["authors"][1]["name"] = name
    assert "$.citation[0].authors[1].name" in paths(strict_issues(broken))


def test_image_set_directory_under_data_and_ascii(example):
    broken = copy.deepcopy(example)
    broken["imagesets"][0]["directory"] = "/elsewhere/micrographs"
    assert "$.imagesets[0].directory" in paths(strict_issues(broken))
    broken["imagesets"][0]["directory"] = "/data/Mäuse"
    assert "$.imagesets[0].directory" in paths(strict_issues(broken))


def test_schema_errors_carry_json_paths_and_short_messages(example):
    broken = copy.deepcopy(example)
    del broken["imagesets"][0]["voxel_type"]
    broken["corresponding_author"]["country"] = "Narnia"
    issues = {i.path: i.message for i in schema_issues(broken)}
    assert "voxel_type" in issues["$.imagesets[0]"]
    assert "249" in issues["$.corresponding_author.country"]  # not the whole list


def test_country_codes_and_names():
    assert vocab.country_code("Switzerland") == ("CH", None)
    assert vocab.country_code("ch") == ("CH", None)
    assert vocab.country_code("United Kingdom") == ("GB", None)
    code, problem = vocab.country_code("UK")
    assert code is None and "'GB'" in problem
    assert vocab.country_code("Narnia")[0] is None
    assert vocab.country_code("")[0] is None


def test_names_and_initials():
    assert vocab.initials("John William") == "JW"
    assert vocab.initials("Jean-Pierre") == "JP"
    assert vocab.initials("J. W.") == "JW"
    assert vocab.ascii_fold("Müller") == ("Muller", True)
    assert vocab.ascii_fold("Søren Łukasz") == ("Soren Lukasz", True)
    assert vocab.ascii_fold("王")[1] is False
