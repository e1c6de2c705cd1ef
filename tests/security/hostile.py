"""The corpus of hostile values that the security tests send through every rendered field, and
the checks of what a page may contain after one was stored.

One list, :data:`CORPUS`; the tests cross it with the fields (``tests/security/
test_hostile_input.py``) and with the upload paths (:data:`PATHS`). A value is either stored
safely (rendered escaped, never a live link) or refused with a clear message; never a 500.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from django.conf import settings
from django.utils.html import escape


@dataclass(frozen=True)
class Hostile:
    id: str
    value: str

    def __str__(self) -> str:
        return self.id


CORPUS: tuple[Hostile, ...] = (
    Hostile("script_tag", "<script>alert(1)</script>"),
    Hostile("img_onerror", '"><img src=x onerror=alert(1)>'),
    Hostile("attribute_break", "' onmouseover='alert(1)' x='"),
    Hostile("closing_textarea", "</textarea><svg onload=alert(1)>"),
    Hostile("javascript_url", "javascript:alert(1)"),
    Hostile("javascript_url_mixed_case", " JaVaScRiPt:alert(document.cookie)"),
    Hostile("data_url", "data:text/html,<script>alert(1)</script>"),
    Hostile("template_syntax", "{{ settings.SECRET_KEY }}{% debug %}"),
    Hostile("sql_quote", "x'); DROP TABLE repository_dataset; --"),
    Hostile("very_long", "A" * 100_000),
    Hostile("rtl_override", "harmless\u202etxt.exe"),
    Hostile("zero_width", "apo\u200bferritin\u200d\ufeff"),
    Hostile("nul_byte", "before\x00after"),
    Hostile("lone_surrogate", "broken \ud800 text"),
    Hostile("crlf_header", "x\r\nSet-Cookie: pwned=1"),
)

#: Upload paths that must never leave the session folder or collapse into another name.
PATHS: tuple[Hostile, ...] = (
    Hostile("parent", "../escape.mrc"),
    Hostile("parent_deep", "Images/../../../../etc/passwd"),
    Hostile("absolute", "/etc/passwd"),
    Hostile("windows_drive", "C:\\Windows\\system.ini"),
    Hostile("backslash_parent", "..\\x.mrc"),
    Hostile("unc", "\\\\server\\share\\x.mrc"),
    Hostile("reserved_con", "CON"),
    Hostile("reserved_nul_ext", "Images/nul.txt"),
    Hostile("reserved_com1", "com1.mrc"),
    Hostile("trailing_dot", "Images/movie.mrc."),
    Hostile("trailing_space", "Images/movie.mrc "),
    Hostile("dot_folder_trailing", "Images./movie.mrc"),
    Hostile("nul_in_name", "movie\x00.mrc"),
    Hostile("rtl_in_name", "movie\u202efig.mrc"),
    Hostile("zero_width_in_name", "mo\u200bvie.mrc"),
    Hostile("newline_in_name", "movie\n.mrc"),
    Hostile("lone_surrogate_in_name", "movie\udcff.mrc"),
    Hostile("script_in_name", "<script>alert(1)</script>.mrc"),
    Hostile("only_dots", "..."),
    Hostile("long_name", "a" * 300 + ".mrc"),
    Hostile("long_path", "/".join(["folder"] * 200) + "/x.mrc"),
)

# -- what a rendered page may not contain ---------------------------------------------------------

#: Markup that would run if a stored value reached the page unescaped (an attribute broken
#: out of is caught by :func:`event_handlers`, which parses the page as a browser would).
LIVE_MARKUP = (
    "<script>alert(",
    "<img src=x onerror",
    "<svg onload=alert",
)

_DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "srcset"}
# Browsers ignore ASCII white space and control characters inside a URL's scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []
        self.handlers: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in _URL_ATTRIBUTES and value is not None:
                self.urls.append((tag, name, value))
            if name.startswith("on"):
                self.handlers.append((tag, name))


def dangerous_urls(page: str) -> list[str]:
    """The URL attributes of ``page`` whose scheme would run code or smuggle a document."""
    parser = _Links()
    parser.feed(page)
    found = []
    for tag, name, value in parser.urls:
        scheme_part = _IGNORED_IN_SCHEME.sub("", html.unescape(value)).lower()
        own_icon = tag in ("link", "img") and scheme_part.startswith("data:image/")
        if scheme_part.startswith(_DANGEROUS_SCHEMES) and not own_icon:
            found.append(f"<{tag} {name}={value[:80]!r}>")
    return found


def event_handlers(page: str) -> list[tuple[str, str]]:
    """Every ``on*=`` attribute of ``page`` (the portal's templates use none)."""
    parser = _Links()
    parser.feed(page)
    return parser.handlers


def assert_page_safe(page: str, *, where: str) -> None:
    """No live markup from the corpus, no script URL, no event handler attribute."""
    lowered = page.lower()
    live = [marker for marker in LIVE_MARKUP if marker.lower() in lowered]
    assert not live, f"{where}: unescaped {live}"
    assert not dangerous_urls(page), f"{where}: {dangerous_urls(page)}"
    assert not event_handlers(page), f"{where}: event handlers {event_handlers(page)}"
    # stored template syntax is shown as text, never evaluated
    assert settings.SECRET_KEY not in page, f"{where}: a template was evaluated"


def shown(value: str) -> str:
    """What a template shows of ``value``: Django's escaped form, white space runs as one."""
    return str(escape(" ".join(value.split())))
