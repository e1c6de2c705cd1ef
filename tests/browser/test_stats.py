"""The statistics dashboard and a landing page's usage in a real browser: the charts load as
images, the numbers are in tables beside them, and a download changes the landing page's count."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from repository.models import DatasetKind
from stats import dashboard
from stats.models import UsageEvent
from tests.factories import DatasetFactory
from tests.support.browser import screenshot
from tests.support.catalogue import add_file

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SAMPLE_LIST = Path(__file__).resolve().parents[2] / "stats" / "demo" / "emdb_sample.csv"


def test_dashboard_charts_and_tables(page: Any, world: Any) -> None:
    call_command("import_emdb_entries", str(SAMPLE_LIST), stdout=io.StringIO())
    DatasetFactory(
        facility=world.facility,
        owner=world["staff"],
        kind=DatasetKind.MAP,
        emdb_ids=["EMD-90005"],
        empiar_id="EMPIAR-19990",
        published_at=timezone.make_aware(dt.datetime(2019, 6, 1)),
    )
    dashboard.forget()
    page.goto("/")
    page.get_by_role("link", name="Statistics").click()
    page.wait_for_url("**/stats/")
    page.wait_for_function(
        "[...document.querySelectorAll('.stats-section img')]"
        ".every(i => i.complete && i.naturalWidth > 100)"
    )
    images = page.locator(".stats-section img")
    assert images.count() >= 6
    rows = page.locator('[data-table="coverage"] tbody tr')
    assert rows.count() == 8  # 2019 to 2026 in the sample list
    first_year = rows.first.locator("th").inner_text()
    assert first_year == "2019"
    # the portal's map with its EMPIAR id lifts 2019 from 0 to 1 entry with raw data
    assert rows.first.locator("td").nth(1).inner_text() == "1"
    assert page.js_errors == []
    screenshot(page, "30-stats-dashboard")


PERSON_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def test_a_download_changes_the_landing_pages_usage(
    browser: Any, live_server: Any, world: Any, local_storage: Any
) -> None:
    dataset = DatasetFactory(facility=world.facility, owner=world["staff"])
    add_file(dataset, "Images-Disc1/a.mrc", b"x" * 4096)
    # Headless Chromium announces itself as "HeadlessChrome": a robot to COUNTER, not counted.
    robot = browser.new_context(base_url=live_server.url)
    robot.new_page().goto(dataset.get_absolute_url())
    robot.close()
    assert not UsageEvent.objects.exists()

    context = browser.new_context(
        base_url=live_server.url, user_agent=PERSON_AGENT, accept_downloads=True
    )
    page = context.new_page()
    page.goto(dataset.get_absolute_url())
    views_before = int(page.locator('[data-usage="views"]').inner_text())
    assert page.locator('[data-usage="downloads"]').inner_text() == "0"
    with page.expect_download() as download:
        page.locator("a.button", has_text="ZIP").first.click()
    assert download.value.suggested_filename.endswith(".zip")
    page.reload()
    assert page.locator('[data-usage="downloads"]').inner_text() == "1"
    assert int(page.locator('[data-usage="views"]').inner_text()) > views_before
    screenshot(page, "31-landing-usage")
    context.close()
