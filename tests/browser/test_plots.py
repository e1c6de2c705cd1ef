"""Every demo dataset shows plots in a real browser: the images load under the portal's CSP
and their numbers sit beside them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command

from demo import seed as demo
from repository.models import Dataset
from tests.support.browser import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_data(local_storage: Any) -> None:
    call_command("load_builtin_schemas", verbosity=0)
    demo.load_demo(stdout=lambda _line: None)


@pytest.mark.usefixtures("demo_data")
def test_every_demo_dataset_shows_plots(page: Any) -> None:
    log_in(page, "curator", demo.DEMO_PASSWORD)
    for index, dataset in enumerate(Dataset.objects.order_by("pk")):
        page.goto(dataset.get_absolute_url())
        figures = page.locator("#plots [data-plot] img")
        assert figures.count() >= 1, dataset.title
        for number in range(figures.count()):
            image = figures.nth(number)
            image.scroll_into_view_if_needed()
            for _ in range(100):
                if image.evaluate("i => i.complete && i.naturalWidth > 0"):
                    break
                page.wait_for_timeout(100)
            assert image.evaluate("i => i.naturalWidth > 0"), (dataset.title, number)
        tables = page.locator("#plots [data-plot] table")
        assert tables.count() == figures.count()
        page.locator("#plots").scroll_into_view_if_needed()
        screenshot(page, f"30-plots-demo-{index + 1}")
    assert page.js_errors == []
