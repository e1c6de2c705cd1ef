"""The EMDB/EMPIAR cross-reference import and the coverage dashboard built on it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from repository.models import DatasetKind, Visibility
from stats import dashboard
from stats.models import EmdbEntry
from tests.factories import DataFileFactory, DatasetFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = """emdb_id,deposition_date,funding_countries,empiar_ids,title
EMD-11001,2023-03-01,Switzerland,EMPIAR-10901,Apoferritin
EMD-11002,2023-07-12,Switzerland;Germany,,Ribosome
EMD-11003,2024-01-20,Switzerland,EMPIAR-11050;EMPIAR-11051,Channel
EMD-11004,2024-02-02,Germany,EMPIAR-11060,Not Swiss
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _import(path: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_emdb_entries", str(path), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_a_csv_export_is_imported_and_a_second_import_updates(tmp_path: Path) -> None:
    out, err = _import(_write(tmp_path, "emdb.csv", GOOD_CSV))
    assert "Imported 4 EMDB entries (4 new, 0 updated); skipped 0 bad rows." in out
    assert err == ""
    entry = EmdbEntry.objects.get(emdb_id="EMD-11003")
    assert entry.deposition_date == dt.date(2024, 1, 20)
    assert entry.empiar_ids == ["EMPIAR-11050", "EMPIAR-11051"]
    assert EmdbEntry.objects.get(emdb_id="EMD-11002").funding_countries == [
        "Switzerland",
        "Germany",
    ]
    changed = GOOD_CSV.replace(
        "EMD-11002,2023-07-12,Switzerland;Germany,,",
        "EMD-11002,2023-07-12,Switzerland;Germany,EMPIAR-10999,",
    )
    out, _ = _import(_write(tmp_path, "emdb2.csv", changed))
    assert "(0 new, 4 updated)" in out
    assert EmdbEntry.objects.get(emdb_id="EMD-11002").empiar_ids == ["EMPIAR-10999"]


def test_bad_rows_are_reported_with_line_numbers_and_skipped_whole(tmp_path: Path) -> None:
    EmdbEntry.objects.create(emdb_id="EMD-11001", deposition_date=dt.date(2020, 1, 1))
    text = (
        "emdb_id,deposition_date,funding_countries,empiar_ids\n"
        "EMD-11001,2023-03-01,Switzerland,EMPIAR-10901\n"
        "EMDB-5,2023-03-01,Switzerland,\n"  # line 3: bad id
        "EMD-11005,31.12.2023,Switzerland,\n"  # line 4: bad date
        "EMD-11006,2023-05-05,Switzerland,EMPIAR-1\n"  # line 5: bad EMPIAR id
        "EMD-11007,2999-01-01,Switzerland,\n"  # line 6: future
        "EMD-11001,2023-03-02,Switzerland,\n"  # line 7: repeats line 2
        "EMD-11008,2023-05-05,Switzerland,,extra\n"  # line 8: a cell too many
        "EMD-11009,2023-06-06,Switzerland,\n"
    )
    out, err = _import(_write(tmp_path, "bad.csv", text))
    assert "Imported 2 EMDB entries (1 new, 1 updated); skipped 6 bad rows." in out
    lines = err.strip().splitlines()
    assert [re.match(r"skipped line (\d+):", line).group(1) for line in lines] == [
        "3", "4", "5", "6", "7", "8",
    ]  # fmt: skip
    assert "EMD-1234" in lines[0] and "2024-05-31" in lines[1] and "EMPIAR-10001" in lines[2]
    assert "future" in lines[3] and "repeats line 2" in lines[4]
    assert set(EmdbEntry.objects.values_list("emdb_id", flat=True)) == {"EMD-11001", "EMD-11009"}
    # the bad rows left nothing behind, the good repeat of an entry updated it
    assert EmdbEntry.objects.get(emdb_id="EMD-11001").deposition_date == dt.date(2023, 3, 1)


def test_a_json_export_reports_the_line_of_each_bad_entry(tmp_path: Path) -> None:
    entries = [
        {
            "emdb_id": "EMD-12001",
            "deposition_date": "2022-02-02",
            "funding_countries": ["Switzerland"],
            "empiar_ids": ["EMPIAR-10500"],
        },
        {"emdb_id": "EMD-12002", "deposition_date": "yesterday"},
        ["not", "an", "object"],
    ]
    text = "[\n" + ",\n".join(json.dumps(entry) for entry in entries) + "\n]\n"
    out, err = _import(_write(tmp_path, "emdb.json", text))
    assert "Imported 1 EMDB entries" in out
    assert err.splitlines() == [
        "skipped line 3: deposition_date 'yesterday' is not a date like 2024-05-31",
        "skipped line 4: expected an object with emdb_id, deposition_date",
    ]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.csv", None, "no such file"),
        ("header.csv", "id,date\nEMD-1,2020-01-01\n", "needs the columns emdb_id, deposition_date"),
        ("broken.json", '[{"emdb_id": ', "not valid JSON"),
        ("object.json", '{"emdb_id": "EMD-1234"}', "expected a JSON list"),
        (
            "latin1.csv",
            b"emdb_id,deposition_date,title\nEMD-1234,2020-01-01,Z\xfcrich\n",
            "not UTF-8",
        ),
    ],
)
def test_unreadable_files_import_nothing(
    tmp_path: Path, name: str, content: str | bytes | None, words: str
) -> None:
    EmdbEntry.objects.create(emdb_id="EMD-1111", deposition_date=dt.date(2020, 1, 1))
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(CommandError, match=words) as raised:
        _import(path)
    assert "Nothing was imported" in str(raised.value)
    assert list(EmdbEntry.objects.values_list("emdb_id", flat=True)) == ["EMD-1111"]


# --- the dashboard ----------------------------------------------------------------------------


@pytest.fixture
def network(world: Any, tmp_path: Path) -> dict[str, Any]:
    """An imported list (three Swiss entries, one German) and the portal's own datasets: a map
    whose EMDB id is in the list, a map with its own EMPIAR id not in the list, a private map."""
    _import(_write(tmp_path, "emdb.csv", GOOD_CSV))
    published = timezone.make_aware(dt.datetime(2024, 6, 1))
    listed = DatasetFactory(
        facility=world.facility, owner=world["staff"], kind=DatasetKind.MAP,
        emdb_ids=["EMD-11002"], published_at=published,
    )  # fmt: skip
    own = DatasetFactory(
        facility=world.facility, owner=world["staff"], kind=DatasetKind.MAP,
        emdb_ids=["EMD-19999"], empiar_id="EMPIAR-19999", published_at=published,
    )  # fmt: skip
    DatasetFactory(
        facility=world.facility, owner=world["staff"], emdb_ids=["EMD-18888"],
        visibility=Visibility.PRIVATE, published_at=published,
    )  # fmt: skip
    DataFileFactory(dataset=listed, size=3_000_000, format="mrc")
    DataFileFactory(dataset=own, size=1_000_000, format="eer")
    dashboard.forget()
    return {"listed": listed, "own": own}


def test_the_coverage_counts_the_imported_list_and_the_portals_own_maps(network: Any) -> None:
    doc = dashboard.document()
    assert doc["country"] == "Switzerland"
    by_year = {row["year"]: row for row in doc["coverage"]}
    # 2023: EMD-11001 (EMPIAR) and EMD-11002 (EMPIAR-less in the list, none in the portal)
    assert by_year[2023] == {
        "year": 2023,
        "datasets_published": 0,
        "emdb_entries": 2,
        "with_empiar": 1,
        "ratio": 0.5,
    }
    # 2024: EMD-11003 (listed, EMPIAR) and the portal's EMD-19999 (its own EMPIAR id);
    # EMD-11004 is German, EMD-18888 private: neither counts
    assert by_year[2024]["emdb_entries"] == 2 and by_year[2024]["with_empiar"] == 2
    assert doc["coverage_total"]["ratio"] == 0.75
    (facility_row,) = [
        row for row in doc["facilities"] if row["facility"] == "Cryo-EM Facility Basel"
    ]
    assert facility_row == {
        "facility": "Cryo-EM Facility Basel", "year": 2024, "datasets_published": 2,
        "emdb_entries": 2, "with_empiar": 1, "ratio": 0.5,
    }  # fmt: skip
    storage = {row["facility"]: row for row in doc["storage"]}
    assert storage["Cryo-EM Facility Basel"]["bytes"] == 4_000_000
    assert {row["format"]: row["files"] for row in doc["formats"]} == {"mrc": 1, "eer": 1}


def test_the_dashboard_shows_plots_with_the_same_numbers_in_tables(network: Any) -> None:
    page = Client().get(reverse("stats")).content.decode()
    assert 'data-stat="coverage-total">3 of 4</strong>' in page
    table = page[page.index('data-table="coverage"') :].split("</table>")[0]
    assert '<th scope="row">2023</th><td>2</td><td>1</td><td>50.0 %</td>' in table
    charts = re.findall(r'<img src="(/stats/charts/[\w-]+\.svg)"', page)
    assert "/stats/charts/coverage.svg" in charts and len(charts) >= 6
    for url in charts:
        response = Client().get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"] == "image/svg+xml"
        assert b"<style" not in response.content
        assert "default-src 'none'" in response["Content-Security-Policy"]
    coverage_svg = Client().get("/stats/charts/coverage.svg").content.decode()
    assert ">2023<" in coverage_svg and ">2024<" in coverage_svg  # text stays text
    assert Client().get("/stats/charts/facility-99.svg").status_code == 404
    assert Client().get("/stats/charts/nothing.svg").status_code == 404


def test_the_tables_download_as_csv_and_json(network: Any) -> None:
    response = Client().get(reverse("stats-csv", args=["coverage"]))
    assert response["Content-Disposition"] == 'attachment; filename="openem-coverage.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["year", "emdb_entries", "with_empiar", "ratio"]
    assert rows[1:] == [["2023", "2", "1", "0.5"], ["2024", "2", "2", "1.0"]]
    document = Client().get(reverse("stats-json")).json()
    assert document["coverage_total"]["emdb_entries"] == 4
    missing = Client().get("/stats/nosuchtable.csv")
    assert missing.status_code == 404


def test_metadata_completeness_is_the_share_of_required_fields_filled() -> None:
    from stats.selectors import completeness

    schema = {
        "type": "object",
        "required": ["acquisition", "title"],
        "properties": {
            "title": {"type": "string"},
            "note": {"type": "string"},
            "acquisition": {
                "type": "object",
                "required": ["voltage", "dose"],
                "properties": {"voltage": {"type": "number"}, "dose": {"type": "number"}},
            },
        },
    }
    assert completeness({}, schema) == 0
    assert completeness({"title": "x", "acquisition": {"voltage": 300}}, schema) == 2 / 3
    assert completeness({"title": "x", "acquisition": {"voltage": 300, "dose": 40}}, schema) == 1
    assert completeness({"title": "", "note": "n", "acquisition": {"dose": None}}, schema) == 0
