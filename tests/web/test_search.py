"""The dataset search page: full text, facets with counts, ranges, sort, pages, shareable URLs,
and that every listing goes through the access rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict

from repository import search
from repository.models import Dataset, DatasetStatus, Technique
from repository.search import DatasetQuery, search_page
from tests.factories import DatasetFactory, InstrumentFactory
from tests.support.catalogue import Catalogue, spa_metadata

pytestmark = pytest.mark.django_db


def titles(result: search.SearchResult) -> list[str]:
    return [d.title for d in result.datasets]


def run(user: Any, query: str) -> search.SearchResult:
    params, problems = DatasetQuery.from_query(QueryDict(query))
    assert problems == []
    return search_page(user=user, query=params)


def facet_counts(result: search.SearchResult, name: str) -> dict[str, int]:
    facet = next((f for f in result.facets if f.name == name), None)
    return {} if facet is None else {v.value: v.count for v in facet.values}


# --- access -----------------------------------------------------------------------------------


def test_anonymous_sees_published_public_and_embargoed_only(catalogue: Catalogue) -> None:
    result = run(catalogue.world["anonymous"], "")
    assert set(titles(result)) == {catalogue.public.title, catalogue.embargoed.title}
    assert result.total == 2
    assert "visibility" not in {f.name for f in result.facets}


def test_project_member_also_sees_the_private_dataset_and_a_visibility_facet(
    catalogue: Catalogue,
) -> None:
    result = run(catalogue.world["member"], "")
    assert catalogue.private.title in titles(result)
    assert catalogue.draft.title not in titles(result)
    assert facet_counts(result, "visibility") == {"public": 1, "embargoed": 1, "private": 1}


def test_a_stranger_cannot_find_a_private_dataset_by_its_words_or_pid(catalogue: Catalogue) -> None:
    for query in ("q=ribosome", f"q={catalogue.private.pid}", "q=secret"):
        assert run(catalogue.world["stranger"], query).total == 0
    assert run(catalogue.world["member"], "q=ribosome").total == 1


# --- full text ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=apoferritin", "public"),  # title and keywords
        ("q=pyrenoid", "embargoed"),  # keywords
        ("q=Franklin", "public"),  # an author (metadata)
        ("q=HEPES", "public"),  # the sample description (metadata)
        ("q=%22benchmark+sample%22", "public"),  # a keyword phrase
    ],
)
def test_full_text_finds_words_in_every_searched_field(
    catalogue: Catalogue, query: str, expected: str
) -> None:
    result = run(catalogue.world["anonymous"], query)
    assert getattr(catalogue, expected).title in titles(result)
    assert catalogue.private.title not in titles(result)


def test_words_must_all_match(catalogue: Catalogue) -> None:
    assert run(catalogue.world["anonymous"], "q=apoferritin+pyrenoid").total == 0


def test_the_instrument_name_finds_its_datasets(catalogue: Catalogue, world: Any) -> None:
    glacios = InstrumentFactory(facility=world.facility, name="Glacios Basel", model="Glacios 2")
    DatasetFactory(title="Grid screening", facility=world.facility, instrument=glacios)
    result = run(world["anonymous"], "q=glacios")
    assert titles(result) == ["Grid screening"]


def test_the_pid_finds_its_dataset(catalogue: Catalogue) -> None:
    assert titles(run(catalogue.world["anonymous"], f"q={catalogue.public.pid}")) == [
        catalogue.public.title
    ]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="ranking is PostgreSQL full-text search"
)
def test_relevance_ranks_title_matches_above_description_matches(world: Any) -> None:
    DatasetFactory(title="Tilt series of yeast", description="Nothing about the protein.")
    DatasetFactory(title="Yeast grids", description="Ferritin is mentioned here only.")
    DatasetFactory(title="Ferritin cage at high resolution", description="A cage.")
    result = run(world["anonymous"], "q=ferritin")
    assert titles(result) == ["Ferritin cage at high resolution", "Yeast grids"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_the_search_uses_the_gin_index_of_the_stored_document(catalogue: Catalogue) -> None:
    params, _ = DatasetQuery.from_query(QueryDict("q=apoferritin"))
    queryset, _rank = search.text_search(Dataset.objects.order_by(), params.q)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, sql_params = queryset.query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", sql_params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "dataset_search_document_gin" in plan


def test_the_generated_column_and_the_search_agree_on_the_document() -> None:
    """The migration holds a copy of the document expression: they must not drift apart."""
    migration = (
        Path(search.__file__).parent.parent / "migrations" / "0004_dataset_search_document.py"
    ).read_text()
    match = re.search(r'DOCUMENT_SQL = """(.*?)"""', migration, re.S)
    assert match is not None
    assert match.group(1).strip() == search.DOCUMENT_SQL


# --- facets, ranges, sort, pages --------------------------------------------------------------


def test_facets_count_and_are_disjunctive(catalogue: Catalogue) -> None:
    anonymous = catalogue.world["anonymous"]
    everything = run(anonymous, "")
    assert facet_counts(everything, "technique") == {"spa": 1, "cellular_tomo": 1}
    assert facet_counts(everything, "detector") == {"Falcon 4i": 2}
    assert facet_counts(everything, "facility") == {catalogue.world.facility.slug: 2}

    narrowed = run(anonymous, "technique=spa")
    assert titles(narrowed) == [catalogue.public.title]
    # the chosen facet still offers the other value with its count (OR within a facet) ...
    assert facet_counts(narrowed, "technique") == {"spa": 1, "cellular_tomo": 1}
    # ... and the other facets count only what the choice leaves
    assert sum(facet_counts(narrowed, "licence").values()) == 1
    both = run(anonymous, "technique=spa&technique=cellular_tomo")
    assert both.total == 2


def test_year_facet_counts_publication_years(catalogue: Catalogue) -> None:
    result = run(catalogue.world["anonymous"], "")
    years = facet_counts(result, "year")
    assert sum(years.values()) == 2
    assert str(catalogue.public.published_at.year) in years
    year = str(catalogue.embargoed.published_at.year)
    assert titles(run(catalogue.world["anonymous"], f"year={year}"))[0] in {
        catalogue.embargoed.title,
        catalogue.public.title,
    }


def test_detector_facet_filters(catalogue: Catalogue, world: Any) -> None:
    other = DatasetFactory(title="K3 session", facility=world.facility)
    other.metadata = {"acquisition": {"detectors": [{"name": "Gatan K3"}]}}
    other.save()
    result = run(world["anonymous"], "detector=Gatan+K3")
    assert titles(result) == ["K3 session"]
    assert facet_counts(result, "detector") == {"Falcon 4i": 2, "Gatan K3": 1}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pixel_size_min=0.5&pixel_size_max=1.0", {"public"}),
        ("pixel_size_min=2", {"embargoed"}),
        ("voltage_max=250", {"embargoed"}),
        ("voltage_min=250&voltage_max=350", {"public"}),
        ("dose_min=39&dose_max=41", {"public", "embargoed"}),
        ("pixel_size_max=0.1", set()),
    ],
)
def test_metadata_range_filters_are_unit_aware(
    catalogue: Catalogue, query: str, expected: set[str]
) -> None:
    result = run(catalogue.world["anonymous"], query)
    assert set(titles(result)) == {getattr(catalogue, name).title for name in expected}


def test_sort_orders(catalogue: Catalogue, world: Any) -> None:
    DatasetFactory(title="Aardvark tomograms", facility=world.facility)
    by_title = titles(run(world["anonymous"], "sort=title"))
    assert by_title == sorted(by_title, key=str.lower)
    newest = run(world["anonymous"], "sort=newest").datasets
    listed = [d.published_at or d.created for d in newest]
    assert listed == sorted(listed, reverse=True)


def test_pages_and_result_count(world: Any) -> None:
    for index in range(search.PAGE_SIZE + 5):
        DatasetFactory(title=f"Session {index:03d}", facility=world.facility)
    first = run(world["anonymous"], "sort=title")
    second = run(world["anonymous"], "sort=title&page=2")
    assert first.total == second.total == search.PAGE_SIZE + 5
    assert len(first.datasets) == search.PAGE_SIZE and len(second.datasets) == 5
    assert not set(titles(first)) & set(titles(second))
    assert first.next_url == "?sort=title&page=2"
    assert second.previous_url == "?sort=title"
    beyond = run(world["anonymous"], "sort=title&page=9")
    assert beyond.params.page == 2  # a page past the end shows the last one


def test_lenient_parsing_names_what_it_ignored() -> None:
    params, problems = DatasetQuery.from_query(
        QueryDict("q=ok&sort=weird&page=-3&pixel_size_min=abc&voltage_min=300&voltage_max=100")
    )
    assert params.sort == "" and params.page == 1
    assert params.range("pixel_size") == (None, None)
    assert params.range("voltage") == (100.0, 300.0)
    assert len(problems) == 3
    assert any("not a number" in p for p in problems)


def test_urls_round_trip_and_toggle() -> None:
    params, _ = DatasetQuery.from_query(
        QueryDict("q=apoferritin&technique=spa&pixel_size_max=1.5&sort=title&page=3")
    )
    again, _ = DatasetQuery.from_query(QueryDict(params.url()[1:]))
    assert again == params
    added = params.toggled("technique", "subtomo")
    assert dict(parse_qsl(added.url()[1:]))["q"] == "apoferritin"
    assert added.values("technique") == ("spa", "subtomo") and added.page == 1
    assert params.toggled("technique", "spa").values("technique") == ()


# --- the page -----------------------------------------------------------------------------------


def test_search_page_shows_count_facets_and_shareable_links(
    client: Any, catalogue: Catalogue
) -> None:
    response = client.get("/datasets/", {"q": "apoferritin"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-total="1"' in html
    assert catalogue.public.title in html and catalogue.embargoed.title not in html
    # a facet value is a link with its count that reproduces the search with the filter
    link = re.search(r'<a href="(\?[^"]*technique=spa[^"]*)"[^>]*data-value="spa"', html)
    assert link is not None
    shared = client.get("/datasets/" + link.group(1).replace("&amp;", "&"))
    assert 'aria-pressed="true" data-value="spa"' in shared.content.decode()
    assert catalogue.public.pid in shared.content.decode()


def test_search_page_explains_ignored_parameters(client: Any, catalogue: Catalogue) -> None:
    response = client.get("/datasets/", {"pixel_size_min": "big"})
    assert "is not a number" in response.content.decode()
    assert response.status_code == 200


def test_private_titles_never_reach_anonymous_html(client: Any, catalogue: Catalogue) -> None:
    for url in ("/", "/datasets/", "/datasets/?q=ribosome", "/datasets/?visibility=private"):
        html = client.get(url).content.decode()
        assert catalogue.private.title not in html, url
        assert catalogue.draft.title not in html, url


def test_home_shows_technique_links(client: Any, catalogue: Catalogue) -> None:
    html = client.get("/").content.decode()
    assert "/datasets/?technique=spa" in html
    assert catalogue.public.title in html


def test_status_filter_keeps_drafts_to_insiders(world: Any) -> None:
    draft = DatasetFactory(
        title="Staff draft",
        facility=world.facility,
        status=DatasetStatus.DRAFT,
        visibility="public",
    )
    draft.metadata = spa_metadata()
    draft.save()
    assert run(world["anonymous"], "q=draft").total == 0
    assert titles(run(world["staff"], "q=staff+draft")) == ["Staff draft"]
    assert Technique.SPA in facet_counts(run(world["staff"], ""), "technique")


def test_cached_facets_are_never_shared_between_users(catalogue: Catalogue) -> None:
    member = run(catalogue.world["member"], "")
    assert facet_counts(member, "visibility")["private"] == 1
    anonymous = run(catalogue.world["anonymous"], "")  # the same search, just after
    assert anonymous.total == 2
    assert sum(facet_counts(anonymous, "technique").values()) == 2
    again = run(catalogue.world["member"], "sort=title")  # paging/sorting reuse the counts
    assert again.total == member.total and facet_counts(again, "visibility")["private"] == 1


def test_home_counts_are_what_each_person_may_see(client: Any, catalogue: Catalogue) -> None:
    def counted_files(html: str) -> str:
        match = re.search(r'data-count="files">([^<]+)<', html)
        assert match is not None
        return match.group(1)

    anonymous = client.get("/").content.decode()
    client.force_login(catalogue.world["member"])
    member = client.get("/").content.decode()
    # public 3 + embargoed 1 for everyone; the member also counts the private file
    assert counted_files(anonymous) == "4" and counted_files(member) == "5"


def test_two_chosen_facets_count_like_brute_force(world: Any) -> None:
    """Each facet counts the datasets that pass every other chosen filter (checked against a
    count done by hand over the same datasets)."""
    rows = [
        ("spa", "CC-BY-4.0"),
        ("spa", "CC0-1.0"),
        ("spa", "CC0-1.0"),
        ("subtomo", "CC0-1.0"),
        ("subtomo", "CC-BY-4.0"),
        ("microed", "CC-BY-SA-4.0"),
    ]
    for index, (technique, licence) in enumerate(rows):
        DatasetFactory(
            title=f"Set {index}", facility=world.facility, technique=technique, licence=licence
        )
    result = run(world["anonymous"], "technique=spa&technique=microed&licence=CC0-1.0")
    assert result.total == sum(1 for t, lic in rows if t in {"spa", "microed"} and lic == "CC0-1.0")
    expected_techniques: dict[str, int] = {}
    expected_licences: dict[str, int] = {}
    for technique, licence in rows:
        if licence == "CC0-1.0":
            expected_techniques[technique] = expected_techniques.get(technique, 0) + 1
        if technique in {"spa", "microed"}:
            expected_licences[licence] = expected_licences.get(licence, 0) + 1
    # a chosen value with no match left is still listed (count 0), so that it can be removed
    assert facet_counts(result, "technique") == {**expected_techniques, "microed": 0}
    assert facet_counts(result, "licence") == expected_licences
    assert sum(facet_counts(result, "facility").values()) == result.total


def _brute_force_facets(user: Any, chosen: dict[str, set[str]]) -> dict[str, dict[str, int]]:
    """Facet counts done by hand over what ``repository.access`` lets ``user`` see."""
    from repository import access

    def value(dataset: Dataset, name: str) -> str:
        if name == "facility":
            return dataset.facility.slug
        if name == "visibility":
            return dataset.visibility
        return getattr(dataset, name)

    visible = list(access.datasets_visible_to(user).select_related("facility"))
    expected: dict[str, dict[str, int]] = {}
    for name in ("technique", "facility", "licence", "visibility"):
        counts: dict[str, int] = {}
        for dataset in visible:
            if all(
                value(dataset, other) in values for other, values in chosen.items() if other != name
            ):
                counts[value(dataset, name)] = counts.get(value(dataset, name), 0) + 1
        expected[name] = counts
    return expected


def test_facet_counts_are_each_persons_own_and_follow_every_write(
    catalogue: Catalogue, world: Any
) -> None:
    """Without words, PostgreSQL counts from per-combination cells kept by triggers
    (migration 0005) plus the user's own non-public datasets: the counts must equal a
    count by hand for every persona, before and after creating, editing, publishing, bulk
    updating and deleting datasets."""
    for index in range(3):
        DatasetFactory(
            title=f"Other facility set {index}",
            facility=world.other_facility,
            technique="subtomo",
            licence="CC0-1.0",
            visibility="private" if index else "public",
            status=DatasetStatus.READY if index else DatasetStatus.PUBLISHED,
        )
    queries = {
        "": {},
        "technique=spa&licence=CC0-1.0": {"technique": {"spa"}, "licence": {"CC0-1.0"}},
    }

    def check(step: str) -> None:
        for persona in ("anonymous", "stranger", "member", "staff", "other_staff", "admin"):
            user = world[persona]
            for query, chosen in queries.items():
                cache.clear()
                result = run(user, query)
                expected = _brute_force_facets(user, chosen)
                for name in ("technique", "facility", "licence"):
                    got = {k: v for k, v in facet_counts(result, name).items() if v}
                    assert got == expected[name], (step, persona, query, name)
                if persona != "anonymous":
                    got = {k: v for k, v in facet_counts(result, "visibility").items() if v}
                    if got:  # shown only when there is something non-public to tell apart
                        assert got == expected["visibility"], (step, persona, query)
                # every dataset has one technique: its counts, filtered by the other
                # chosen facets, and chosen themselves, add up to the total
                wanted = chosen.get("technique")
                assert result.total == sum(
                    n for k, n in expected["technique"].items() if not wanted or k in wanted
                ), (step, persona, query)

    check("created")
    catalogue.private.status = DatasetStatus.PUBLISHED
    catalogue.private.visibility = "public"
    catalogue.private.licence = "CC0-1.0"
    catalogue.private.save()
    check("published")
    Dataset.objects.filter(facility=world.other_facility).update(technique="spa", licence="CC0-1.0")
    check("bulk update")
    catalogue.public.delete()
    Dataset.objects.filter(title__startswith="Other facility set 0").delete()
    check("deleted")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the cells are PostgreSQL's")
def test_facet_cells_equal_a_count_of_the_datasets(catalogue: Catalogue, world: Any) -> None:
    DatasetFactory(title="Another", facility=world.other_facility, instrument=None)
    Dataset.objects.filter(pk=catalogue.draft.pk).update(visibility="public")
    catalogue.embargoed.delete()
    key = (
        "status, visibility, technique, facility_id, COALESCE(instrument_id, 0), licence, "
        "COALESCE(search_year, 0), COALESCE(search_detectors, '[]')"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {key}, COUNT(*) FROM repository_dataset GROUP BY {key}")
        expected = sorted(cursor.fetchall())
        cursor.execute(f"SELECT * FROM {search.CELL_TABLE}")
        cells = sorted(cursor.fetchall())
    assert cells == expected and cells
    with connection.cursor() as cursor:  # what a flush between tests does
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks left pending
        cursor.execute("TRUNCATE repository_dataset CASCADE")
        cursor.execute(f"SELECT COUNT(*) FROM {search.CELL_TABLE}")
        assert cursor.fetchone() == (0,)


def test_a_new_search_and_its_next_pages_list_in_the_same_order(world: Any) -> None:
    """A new search ranks its page in the pass that counts the facets (PostgreSQL); paging
    with the counts cached ranks with the listing query: both give the same order."""
    for index in range(45):
        DatasetFactory(
            title=f"Ribosome set {index}" if index % 3 else f"Spliceosome set {index}",
            description="ribosome " * (index % 5) + "in a nanodisc",
            facility=world.facility,
            technique="spa" if index % 2 else "subtomo",
        )
    for query in ("q=ribosome", "q=ribosome&page=2", "q=ribosome&technique=spa&page=2"):
        cache.clear()
        new = run(world["anonymous"], query)
        again = run(world["anonymous"], query)  # counts reused: the listing query ranks
        assert new.total == again.total and new.total > 20
        assert [d.pk for d in new.datasets] == [d.pk for d in again.datasets], query
        assert len(new.datasets) == min(20, new.total - (new.params.page - 1) * 20)
