"""The API's JSON renderer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import renderers


class _EscapedJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True


class JSONRenderer(renderers.JSONRenderer):
    """DRF's, except for text holding a lone UTF-16 surrogate: a JSON body may carry one
    (``"\\ud800"``) and an error message may echo it back ("... is not a valid choice"); it has
    no UTF-8 form, so DRF's renderer fails with a 500. Such a response is written with every
    non-ASCII character escaped instead, which is the same JSON."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _EscapedJSONRenderer().render(data, accepted_media_type, renderer_context)
