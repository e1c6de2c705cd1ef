"""One GET request asks each repeated read once (openem/memo.py); writes and tasks read afresh."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from openem.memo import ReadMemoMiddleware, memoized
from repository.models import DatasetStatus, DatasetVersion, Visibility
from repository.versions import version_latest_published
from tests.factories import CITABLE_METADATA, DataFileFactory, DatasetFactory


def _run(method: str, view) -> HttpResponse:
    request = getattr(RequestFactory(), method.lower())("/")
    return ReadMemoMiddleware(view)(request)


def test_a_safe_request_computes_each_key_once_and_forgets_it_after():
    calls: list[str] = []

    def ask(key: str) -> str:
        return memoized(key, lambda: calls.append(key) or f"answer {key}")

    def view(request):
        answers = [ask("a"), ask("a"), ask("b"), ask("a")]
        return HttpResponse(" ".join(answers))

    assert _run("GET", view).content == b"answer a answer a answer b answer a"
    assert calls == ["a", "b"]
    _run("HEAD", view)
    assert calls == ["a", "b", "a", "b"]  # a new request asks again
    ask("a")
    ask("a")
    assert calls[-2:] == ["a", "a"]  # outside a request (a task, a command): always asked


def test_a_request_that_writes_reads_afresh():
    calls: list[int] = []

    def view(request):
        memoized("k", lambda: calls.append(1))
        memoized("k", lambda: calls.append(1))
        return HttpResponse()

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        _run(method, view)
    assert len(calls) == 8


@pytest.mark.django_db
def test_a_version_published_after_a_read_is_seen_by_the_next_read_outside_a_request(world):
    dataset = DatasetFactory(facility=world.facility)
    assert version_latest_published(dataset) is None
    DatasetVersion.objects.create(dataset=dataset, number=1, state="published", title="v1")
    assert version_latest_published(dataset).number == 1


@pytest.mark.django_db
def test_the_landing_page_asks_versions_and_dois_once_each(client, world):
    dataset = DatasetFactory(
        facility=world.facility,
        status=DatasetStatus.PUBLISHED,
        visibility=Visibility.PUBLIC,
        metadata=CITABLE_METADATA,
    )
    DataFileFactory(dataset=dataset, path="Movies/m_001.eer")
    client.get(f"/datasets/{dataset.pid}/")  # sessions, schemas: first-request costs
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/datasets/{dataset.pid}/")
    assert response.status_code == 200 and dataset.title in response.content.decode()
    tables = Counter(
        found.group(1)
        for query in queries.captured_queries
        if (found := re.search(r'FROM "(\w+)"', query["sql"]))
    )
    # Asked from the view, access, Signposting, JSON-LD and the DOI panel: once each.
    assert tables["publishing_doiregistration"] == 1
    assert tables["repository_datasetversion"] <= 4  # the list, latest, draft, changed files
    assert len(queries) <= 18
