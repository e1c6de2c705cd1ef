"""Usage statistics: recording (robots, machines, sessions without addresses), COUNTER
double-click filtering and unique counts, aggregation, and the figures on pages and in the API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from repository.models import Visibility
from stats import services
from stats.models import DailySalt, DatasetUsageDaily, FileUsageDaily, UsageEvent, UsageKind
from stats.recording import classify_agent, usage_record
from stats.selectors import dataset_usage
from tests.factories import DatasetFactory
from tests.support.catalogue import add_file

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
# A crawler that says it is Mozilla: COUNTER-Robots still knows it.
FAKE_BROWSER_BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
NOW = 1_780_000_000  # a fixed Unix time (2026-05-28 20:26:40 UTC)


class FakeRequest:
    """The parts of a request the recorder reads."""

    def __init__(self, agent: str = BROWSER, address: str = "192.0.2.7", **meta: str) -> None:
        self.META = {"HTTP_USER_AGENT": agent, "REMOTE_ADDR": address, **meta}
        self.user = _Anonymous()
        self.session = None


class _Anonymous:
    is_authenticated = False
    pk = None


def _record(dataset: Any, *, at: int, kind: str = UsageKind.INVESTIGATION, **kwargs: Any) -> Any:
    request = kwargs.pop("request", None) or FakeRequest()
    return usage_record(request, kind=kind, dataset_pid=dataset.pid, now=at, **kwargs)


def _day(at: int) -> dt.date:
    return dt.datetime.fromtimestamp(at, tz=dt.UTC).date()


def test_agents_are_classified_with_the_counter_robots_lists() -> None:
    assert classify_agent(BROWSER) == "regular"
    assert classify_agent(FAKE_BROWSER_BOT) == "robot"
    assert classify_agent("curl/8.5.0") == "machine"
    assert classify_agent("python-requests/2.32.3") == "machine"
    assert classify_agent("openem-client/0.2.0 (python 3.11)") == "machine"
    assert classify_agent("") == "machine"


def test_robots_are_not_recorded_and_scripts_are_recorded_as_machines() -> None:
    dataset = DatasetFactory()
    assert _record(dataset, at=NOW, request=FakeRequest(FAKE_BROWSER_BOT)) is None
    scripted = _record(dataset, at=NOW, request=FakeRequest("curl/8.5.0"))
    token = _record(dataset, at=NOW, request=FakeRequest(BROWSER, HTTP_AUTHORIZATION="Token abc"))
    person = _record(dataset, at=NOW)
    assert UsageEvent.objects.count() == 3
    assert (scripted.machine, token.machine, person.machine) == (True, True, False)


def test_no_address_is_stored_and_sessions_change_with_the_hour_and_the_day() -> None:
    dataset = DatasetFactory()
    first = _record(dataset, at=NOW)
    same_hour = _record(dataset, at=NOW + 60)
    next_hour = _record(dataset, at=NOW + 3600)
    other_person = _record(dataset, at=NOW, request=FakeRequest(address="198.51.100.9"))
    stored = [str(value) for value in UsageEvent.objects.values_list(flat=False)]
    assert not any("192.0.2.7" in text or "Mozilla" in text for text in stored)
    assert first.session == same_hour.session
    assert len({first.session, next_hour.session, other_person.session}) == 3
    assert DailySalt.objects.filter(day=_day(NOW)).count() == 1


def test_a_double_click_within_30_seconds_counts_once() -> None:
    dataset = DatasetFactory()
    _record(dataset, at=NOW)
    _record(dataset, at=NOW + 30)  # the same click again: dropped
    _record(dataset, at=NOW + 61)  # 31 s after the one before: counted
    _record(dataset, at=NOW + 5, request=FakeRequest(address="198.51.100.9"))  # someone else
    services.usage_aggregate(today=_day(NOW))
    row = DatasetUsageDaily.objects.get(dataset=dataset)
    assert (row.investigations, row.unique_investigations) == (3, 2)
    assert (row.requests, row.unique_requests) == (0, 0)


def test_requests_count_as_investigations_and_per_file() -> None:
    dataset = DatasetFactory()
    datafile = add_file_row(dataset)
    _record(dataset, at=NOW)  # landing page
    _record(dataset, at=NOW + 40, kind=UsageKind.REQUEST, file_id=datafile.pk)
    _record(dataset, at=NOW + 45, kind=UsageKind.REQUEST, file_id=datafile.pk)  # double click
    _record(dataset, at=NOW + 50, kind=UsageKind.REQUEST)  # a ZIP of the dataset
    _record(dataset, at=NOW + 60, kind=UsageKind.REQUEST, request=FakeRequest("Wget/1.21"))
    services.usage_aggregate(today=_day(NOW))
    people = DatasetUsageDaily.objects.get(dataset=dataset, machine=False)
    assert (people.investigations, people.unique_investigations) == (3, 1)
    assert (people.requests, people.unique_requests) == (2, 1)
    machines = DatasetUsageDaily.objects.get(dataset=dataset, machine=True)
    assert (machines.investigations, machines.requests) == (1, 1)
    per_file = FileUsageDaily.objects.get(datafile=datafile)
    assert (per_file.requests, per_file.unique_requests) == (1, 1)
    assert dataset_usage(dataset).as_dict() == {
        "views": 4,
        "unique_views": 2,
        "downloads": 3,
        "unique_downloads": 2,
    }


def add_file_row(dataset: Any) -> Any:
    from tests.factories import DataFileFactory

    return DataFileFactory(dataset=dataset)


def test_aggregation_is_idempotent_and_follows_new_events() -> None:
    dataset = DatasetFactory()
    _record(dataset, at=NOW)
    services.usage_aggregate(today=_day(NOW))
    services.usage_aggregate(today=_day(NOW))
    assert DatasetUsageDaily.objects.get(dataset=dataset).investigations == 1
    _record(dataset, at=NOW + 100)
    result = services.usage_aggregate(today=_day(NOW))
    assert result.events == 1
    assert DatasetUsageDaily.objects.get(dataset=dataset).investigations == 2


def test_events_of_unknown_datasets_are_left_out_of_the_rows() -> None:
    usage_record(
        FakeRequest(), kind=UsageKind.INVESTIGATION, dataset_pid="oem-nosuchthing", now=NOW
    )
    services.usage_aggregate(today=_day(NOW))
    assert DatasetUsageDaily.objects.count() == 0


def test_closed_days_lose_their_raw_events_and_salts_but_keep_their_rows() -> None:
    dataset = DatasetFactory()
    _record(dataset, at=NOW)
    services.usage_aggregate(today=_day(NOW))
    later = _day(NOW) + dt.timedelta(days=services.RAW_EVENT_DAYS + 1)
    result = services.usage_aggregate(today=later)
    assert result.pruned_events == 1
    assert UsageEvent.objects.count() == 0
    assert DailySalt.objects.count() == 0
    assert DatasetUsageDaily.objects.get(dataset=dataset).investigations == 1


# --- the portal counts what it serves ----------------------------------------------------------


@pytest.fixture
def browser_client() -> Client:
    return Client(HTTP_USER_AGENT=BROWSER)


def test_landing_page_views_and_downloads_are_counted_and_shown(
    world: Any, local_storage: Any, browser_client: Client
) -> None:
    dataset = DatasetFactory(facility=world.facility, owner=world["staff"])
    datafile = add_file(dataset, "Images-Disc1/a.mrc", b"x" * 2048)
    landing = reverse("dataset-detail", args=[dataset.pid])
    assert browser_client.get(landing).status_code == 200
    download = reverse("datafile-download", args=[dataset.pid, datafile.pk])
    assert browser_client.get(download).status_code == 200
    # a second ranged chunk of the same download is not a new request
    assert browser_client.get(download, HTTP_RANGE="bytes=1024-").status_code == 206
    zip_url = reverse("dataset-zip", args=[dataset.pid])
    assert browser_client.get(zip_url).status_code == 200
    assert browser_client.get(reverse("dataset-files", args=[dataset.pid])).status_code == 200
    kinds = sorted(UsageEvent.objects.values_list("kind", "file_id"), key=str)
    assert kinds == sorted([("i", None), ("r", datafile.pk), ("r", None)], key=str)

    before = browser_client.get(landing).content.decode()
    assert 'data-usage="downloads">0<' in before
    services.usage_aggregate()
    after = browser_client.get(landing).content.decode()
    assert 'data-usage="downloads">2<' in after  # the file and the ZIP
    assert 'data-usage="views">' in after and 'data-usage="views">0<' not in after


def test_failed_and_refused_answers_are_not_counted(world: Any, browser_client: Client) -> None:
    private = DatasetFactory(
        facility=world.facility, owner=world["staff"], visibility=Visibility.PRIVATE
    )
    assert browser_client.get(reverse("dataset-detail", args=[private.pid])).status_code == 404
    assert (
        browser_client.get(reverse("dataset-detail", args=["oem-nosuchthing"])).status_code == 404
    )
    assert UsageEvent.objects.count() == 0


def test_the_api_gives_a_datasets_usage_to_whoever_may_see_it(world: Any) -> None:
    public = DatasetFactory(facility=world.facility, owner=world["staff"])
    private = DatasetFactory(
        facility=world.facility, owner=world["staff"], visibility=Visibility.PRIVATE
    )
    for dataset in (public, private):
        _record(dataset, at=NOW)
        _record(dataset, at=NOW + 40, kind=UsageKind.REQUEST)
    services.usage_aggregate(today=_day(NOW))
    client = Client()
    body = client.get(reverse("api:dataset-usage", args=[public.pid])).json()
    assert body["views"] == 2 and body["downloads"] == 1 and body["unique_downloads"] == 1
    assert body["by_month"] == [
        {"month": "2026-05", "views": 2, "unique_views": 1, "downloads": 1, "unique_downloads": 1}
    ]
    refused = client.get(reverse("api:dataset-usage", args=[private.pid]))
    assert refused.status_code == 404
    assert private.pid in refused.json()["error"]["message"]
    client.force_login(world["staff"])
    assert client.get(reverse("api:dataset-usage", args=[private.pid])).json()["views"] == 2


def test_the_monthly_report_lists_visible_datasets_in_the_sushi_shape(world: Any) -> None:
    public = DatasetFactory(facility=world.facility, owner=world["staff"])
    private = DatasetFactory(
        facility=world.facility, owner=world["staff"], visibility=Visibility.PRIVATE
    )
    for dataset in (public, private):
        _record(dataset, at=NOW)
    services.usage_aggregate(today=_day(NOW))
    report = Client().get(
        reverse("api:stats-report"), {"begin_date": "2026-05", "end_date": "2026-06"}
    )
    assert report.status_code == 200
    body = report.json()
    assert body["report-header"]["reporting-period"] == {
        "begin-date": "2026-05-01",
        "end-date": "2026-06-30",
    }
    (entry,) = body["report-datasets"]
    assert entry["dataset-id"] == [{"type": "pid", "value": public.pid}]
    (performance,) = entry["performance"]
    assert performance["period"] == {"begin-date": "2026-05-01", "end-date": "2026-05-31"}
    counts = {item["metric-type"]: item["count"] for item in performance["instance"]}
    assert counts == {
        "total-dataset-investigations": 1,
        "unique-dataset-investigations": 1,
        "total-dataset-requests": 0,
        "unique-dataset-requests": 0,
    }
    outside = Client().get(reverse("api:stats-report"), {"begin_date": "2026-07"}).json()
    assert outside["report-datasets"] == []


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({}, "begin_date", "required"),
        ({"begin_date": "May 2026"}, "begin_date", "like 2026-11"),
        ({"begin_date": "2026-13"}, "begin_date", "not a month"),
        ({"begin_date": "2026-05", "end_date": "2026-04"}, "end_date", "before begin_date"),
        ({"begin_date": "2020-01", "end_date": "2026-01"}, "end_date", "at most 36 months"),
        ({"begin_date": "2999-01"}, "begin_date", "in the future"),
    ],
)
def test_report_dates_are_validated(query: dict[str, str], field: str, words: str) -> None:
    response = Client().get(reverse("api:stats-report"), query)
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert words in " ".join(details[field])
