"""The pages whose JavaScript is not driven by the other browser tests work under the CSP:
Swagger UI and ReDoc render the API (the ``page`` fixture fails any browser test that saw a
Content-Security-Policy violation, so the search, landing and upload tests check the rest)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def _no_violation_yet(page: Any) -> None:
    page.wait_for_timeout(300)  # violation events are dispatched asynchronously
    assert page.csp_violations == []
    assert page.js_errors == []


def test_swagger_ui_renders_the_api_under_the_csp(page: Any, db: Any) -> None:
    response = page.goto("/api/docs/")
    assert "script-src 'self' 'nonce-" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock-tag", timeout=30_000)
    assert page.locator(".opblock").count() > 10  # operations rendered from the schema
    page.locator(".opblock-summary").first.click()  # and the UI reacts
    page.wait_for_selector(".opblock-body")
    _no_violation_yet(page)


def test_redoc_renders_the_api_under_the_csp(page: Any, db: Any, live_server: Any) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/redoc/")
    page.wait_for_selector("[data-section-id]", timeout=30_000)
    assert page.locator("[data-section-id]").count() > 10
    page.wait_for_timeout(300)
    # The portal's copy of ReDoc's bundle asks no CDN for Redocly's logo: no violation at all,
    # and no request leaves the portal's origin.
    assert page.csp_violations == []
    assert page.js_errors == []
    same_origin = (live_server.url, f"blob:{live_server.url}")  # ReDoc's worker is a blob:
    assert requested and [url for url in requested if not url.startswith(same_origin)] == []


def test_a_page_with_an_injected_script_does_not_run_it(page: Any, db: Any) -> None:
    """The CSP is really enforced: an inline script without the nonce is blocked and reported."""
    page.goto("/datasets/")
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__ran = true'; document.body.appendChild(s); }"
    )
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__ran === true") is False
    assert any("script-src" in v for v in page.csp_violations)
    page.csp_violations.clear()  # expected here; the fixture checks the rest
