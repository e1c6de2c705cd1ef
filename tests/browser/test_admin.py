"""The Django admin's dataset list, as a site admin sees it in Chromium (issue 18)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import DatasetFactory
from tests.support.browser import log_in, screenshot

pytestmark = pytest.mark.browser

LONG_TITLE = (
    "Cryo-EM of the apoferritin control grid, Krios G4 with Falcon 4i and Selectris X, "
    "session of 3 December with 12,000 EER movies and an atlas of the whole grid"
)


def test_the_dataset_list_fits_the_window_with_long_titles(page: Any, world: Any) -> None:
    for n in range(30):
        DatasetFactory(facility=world.facility, title=f"{LONG_TITLE} ({n})")
    world["admin"].set_password("correct horse battery")
    world["admin"].save()
    log_in(page, world["admin"].username)
    page.goto("/admin/repository/dataset/")
    page.wait_for_selector("#result_list")
    screenshot(page, "admin-dataset-list")
    width = page.evaluate("document.documentElement.clientWidth")
    # Every column header and the filters are inside the window, nothing hidden under another.
    headers = page.locator("#result_list thead th")
    assert headers.count() == 8  # the action checkbox and the seven columns
    for index in range(headers.count()):
        box = headers.nth(index).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1, (
            f"column {index} is cut off: {box} in a {width}px window"
        )
    table = page.locator("#result_list").bounding_box()
    filters = page.locator("#changelist-filter").bounding_box()
    assert table and filters and table["x"] + table["width"] <= filters["x"] + 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # All 30 rows are listed, each a line or two tall; a title is shortened in the list (not
    # clipped) and whole on hover.
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 30
    assert max(rows.nth(i).bounding_box()["height"] for i in range(30)) < 80
    cell = page.locator("#result_list tbody tr td.field-short_title span").first
    assert cell.evaluate("c => c.scrollWidth <= c.clientWidth + 1")
    assert cell.get_attribute("title").startswith(LONG_TITLE)
    assert cell.inner_text().endswith("…") and len(cell.inner_text()) == 80
