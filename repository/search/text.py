"""The words of a search: which datasets match them, and how well.

- PostgreSQL: ranked full-text search on ``repository_dataset.search_document``, a stored
  generated ``tsvector`` column with a GIN index (migration 0004, :data:`DOCUMENT_SQL`) over
  the title and keywords (weight A), authors and sample (B), microscope, detectors and
  description (C). ``websearch_to_tsquery`` syntax: ``"exact phrase"``, ``or``, ``-word``.
  A dataset also matches when its instrument (name, manufacturer, model) matches the query,
  and a query that is a PID finds that dataset.
- SQLite (the embedded default): every word must occur, case-insensitively, in one of the
  same fields (no ranking: relevance falls back to newest first).
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.search import (
    SearchQuery,
    SearchRank,
    SearchVector,
    SearchVectorExact,
)
from django.db.models import Q, QuerySet

from ..models import Dataset, Instrument
from .columns import SearchDocument, uses_full_text
from .query import MAX_QUERY_LENGTH

SEARCH_CONFIG = "english"

#: The generated column of migration 0004 (the same text: a test compares them).
DOCUMENT_SQL = """
setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(keywords, '[]'::jsonb), '["string"]'::jsonb), 'A')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{organizational,authors}', '[]'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata -> 'sample', '{}'::jsonb), '["string"]'::jsonb), 'B')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{instrument,microscope}', '{}'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(jsonb_to_tsvector('english'::regconfig, coalesce(metadata #> '{acquisition,detectors}', '[]'::jsonb), '["string"]'::jsonb), 'C')
|| setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
""".strip()


def text_search(queryset: QuerySet[Dataset], q: str) -> tuple[QuerySet[Dataset], Any]:
    """``queryset`` narrowed to the datasets matching ``q`` as the search page matches them
    (ranked full text on PostgreSQL, every word somewhere on SQLite); with the rank expression
    (None when there is no ranking)."""
    return text_filter(queryset, " ".join(q.split())[:MAX_QUERY_LENGTH])


def text_filter(queryset: QuerySet[Dataset], q: str) -> tuple[QuerySet[Dataset], Any]:
    """:func:`text_search` for words already normalised (a :class:`DatasetQuery`'s)."""
    if not q:
        return queryset, None
    if uses_full_text():
        query = SearchQuery(q, config=SEARCH_CONFIG, search_type="websearch")
        instruments = Instrument.objects.annotate(
            document=SearchVector("name", "manufacturer", "model", config=SEARCH_CONFIG)
        ).filter(document=query)
        # Instruments are few: their ids as a literal list keep every branch of the OR
        # indexable (GIN on the document, b-trees on instrument and pid: a BitmapOr).
        instrument_ids = list(instruments.values_list("pk", flat=True)[:1000])
        queryset = queryset.filter(
            Q(SearchVectorExact(SearchDocument(), query))
            | Q(instrument_id__in=instrument_ids)
            | Q(pid=q.lower())
        )
        return queryset, SearchRank(SearchDocument(), query, cover_density=True)
    words = q.split()[:10]
    for word in words:
        queryset = queryset.filter(_word_q(word.strip('"')))
    return queryset, None


def _word_q(word: str) -> Q:
    return (
        Q(title__icontains=word)
        | Q(description__icontains=word)
        | Q(keywords__icontains=word)
        | Q(metadata__organizational__authors__icontains=word)
        | Q(metadata__sample__icontains=word)
        | Q(metadata__instrument__microscope__icontains=word)
        | Q(metadata__acquisition__detectors__icontains=word)
        | Q(instrument__name__icontains=word)
        | Q(instrument__model__icontains=word)
        | Q(instrument__manufacturer__icontains=word)
        | Q(pid__iexact=word)
    )
