"""Personal contact data in metadata documents (authors' e-mail addresses, telephone numbers).

Who may see them is decided by :func:`repository.access.sees_personal_data`; this module only
knows which keys hold them and removes them from a document for everyone else (API, landing
pages, JSON-LD, exports).
"""

from __future__ import annotations

from typing import Any

#: Keys whose values are a person's contact details, wherever they sit in a document.
PERSONAL_KEYS = frozenset({"email", "telephone", "phone", "contact_email"})


def without_personal_data(document: Any) -> Any:
    """A copy of ``document`` without any value under a :data:`PERSONAL_KEYS` key."""
    if isinstance(document, dict):
        return {
            key: without_personal_data(value)
            for key, value in document.items()
            if key not in PERSONAL_KEYS
        }
    if isinstance(document, list):
        return [without_personal_data(item) for item in document]
    return document
