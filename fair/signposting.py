"""FAIR Signposting (https://signposting.org/FAIR/): typed links that let a machine find a
landing page's identifier, authors, licence, metadata records and files.

- Level 1: ``Link`` headers on the landing pages (:func:`landing_links`) and on the resources
  they point to (``collection`` on files, ``describes`` on metadata records).
- Level 2: the same links, and the links of every item and metadata record, as an RFC 9264
  linkset, ``application/linkset+json`` (:func:`linkset_json`) and ``application/linkset``
  (:func:`linkset_text`).

Only what the asker may see is linked (the target's ``files_open`` decides ``item`` links), so
a crawler learns nothing the landing page does not show.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse

from openem.site import site_url
from repository import bulk_downloads, citation, selectors, versions

from . import formats, identifiers
from .datacite import ORCID_RE, orcid_checksum_ok
from .targets import Target

#: ``item`` links in a landing page's header (OPENEM_SIGNPOSTING_MAX_ITEMS); with more files
#: the header links the linkset only.
HEADER_ITEM_LIMIT = 50
#: ``item`` links in a linkset (beyond it, the checksum manifest and the bag list every file).
LINKSET_ITEM_LIMIT = 10_000
LINKSET = "application/linkset"
LINKSET_JSON = "application/linkset+json"
SCHEMA_DATASET = "https://schema.org/Dataset"
SCHEMA_ABOUT_PAGE = "https://schema.org/AboutPage"
FILE_MEDIA_TYPES = {
    "tiff": "image/tiff",
    "eer": "image/tiff",
    "mrc.gz": "application/gzip",
    "mrc.bz2": "application/x-bzip2",
    "epu_xml": "application/xml",
    "mdoc": "text/plain",
}
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class Link:
    href: str
    rel: str
    type: str = ""
    profile: str = ""

    def header_value(self) -> str:
        value = f'<{self.href}> ; rel="{self.rel}"'
        if self.type:
            value += f' ; type="{self.type}"'
        if self.profile:
            value += f' ; profile="{self.profile}"'
        return value


def verified_orcids(target: Target) -> list[str]:
    """ORCID URLs of the authors whose iD is well-formed with a correct check digit (a
    placeholder or typo is no identifier of anyone)."""
    found = []
    for author in target.record.authors():
        if author.orcid and ORCID_RE.match(author.orcid) and orcid_checksum_ok(author.orcid):
            found.append(author.orcid_url)
    return list(dict.fromkeys(found))


def linkset_urls(target: Target) -> tuple[str, str]:
    base = site_url() + target.base_path
    return base + "linkset", base + "linkset.json"


def _file_type(file_format: str) -> str:
    return FILE_MEDIA_TYPES.get(file_format, OCTET_STREAM)


def item_links(target: Target, limit: int) -> tuple[list[Link], bool]:
    """``item`` links to the target's files (at most ``limit``), and whether there are more.
    None when the asker may not have the files (embargo, private, withdrawn)."""
    if not target.files_open:
        return [], False
    base = site_url()
    links: list[Link] = []
    if target.version is not None:
        rows = versions.version_files(target.version).only("path", "format")[: limit + 1]
        prefix = base + target.dataset.get_absolute_url() + f"v/{target.version.number}/files/"
        links = [Link(prefix + quote(f.path), "item", _file_type(f.format)) for f in rows]
    else:
        files = (
            bulk_downloads.bulk_files(target.dataset).order_by("path").only("pk", "path", "format")
        )[: limit + 1]
        links = [
            Link(
                base + reverse("datafile-download", args=[target.dataset.pid, f.pk]),
                "item",
                _file_type(f.format),
            )
            for f in files
        ]
    return links[:limit], len(links) > limit


def _describedby(target: Target) -> list[Link]:
    return [
        Link(fmt.url(target), "describedby", fmt.media_type, fmt.profile)
        for fmt in formats.FORMATS
        if fmt.describes
    ]


def landing_links(target: Target, *, item_limit: int | None = None) -> list[Link]:
    """The Level 1 links of a landing page."""
    if item_limit is None:
        item_limit = int(getattr(settings, "OPENEM_SIGNPOSTING_MAX_ITEMS", HEADER_ITEM_LIMIT))
    links = [
        Link(target.cite_as, "cite-as"),
        Link(SCHEMA_DATASET, "type"),
        Link(SCHEMA_ABOUT_PAGE, "type"),
        *(Link(orcid, "author") for orcid in verified_orcids(target)),
        *_describedby(target),
        Link(citation.licence_url(target.record.licence), "license"),
    ]
    items, more = item_links(target, item_limit)
    if not more:
        links.extend(items)
    text, json_url = linkset_urls(target)
    links += [Link(text, "linkset", LINKSET), Link(json_url, "linkset", LINKSET_JSON)]
    return links


def tombstone_links(pid: str, number: int | None) -> list[Link]:
    """On a withdrawn dataset's or version's 410 page: what it is cited as (its DOI keeps
    resolving here) and what it was; no metadata records, files or licence any more."""
    dataset = selectors.dataset_tombstone(pid=pid)
    version = None
    if dataset is None:
        found = selectors.dataset_for_user(user=None, pid=pid)
        if found is None or number is None:
            return []
        dataset = found
    if number is not None:
        version = versions.version_get(dataset, number)
        if version is None:
            return []
    return [
        Link(identifiers.cite_as(dataset, version), "cite-as"),
        Link(SCHEMA_DATASET, "type"),
        Link(SCHEMA_ABOUT_PAGE, "type"),
    ]


def link_header(links: Iterable[Link]) -> str:
    return ", ".join(link.header_value() for link in links)


def collection_link(target: Target) -> Link:
    """On a file: the landing page of the dataset (or version) it belongs to."""
    return Link(target.landing_url, "collection", "text/html")


def describes_link(target: Target) -> Link:
    """On a metadata record: the landing page it describes."""
    return Link(target.landing_url, "describes", "text/html")


# --- Level 2: the linkset ------------------------------------------------------------------


def linkset(target: Target) -> list[tuple[str, list[Link]]]:
    """Every link context of the target: the landing page (with up to LINKSET_ITEM_LIMIT
    items), each metadata record (``describes``) and each listed file (``collection``)."""
    anchor = target.landing_url
    links = [link for link in landing_links(target, item_limit=0) if link.rel != "linkset"]
    items, _ = item_links(target, LINKSET_ITEM_LIMIT)
    contexts: list[tuple[str, list[Link]]] = [(anchor, links + items)]
    back = describes_link(target)
    contexts += [(link.href, [back]) for link in _describedby(target)]
    up = collection_link(target)
    contexts += [(item.href, [up]) for item in items]
    return contexts


def linkset_json(target: Target) -> bytes:
    """RFC 9264 section 4.2: ``{"linkset": [{"anchor": ..., "<rel>": [{"href": ...}]}]}``."""
    document = []
    for anchor, links in linkset(target):
        context: dict[str, object] = {"anchor": anchor}
        for link in links:
            target_object = {"href": link.href}
            if link.type:
                target_object["type"] = link.type
            if link.profile:
                target_object["profile"] = link.profile
            context.setdefault(link.rel, [])
            context[link.rel].append(target_object)  # type: ignore[attr-defined]
        document.append(context)
    return json.dumps({"linkset": document}, ensure_ascii=False, indent=1).encode()


def linkset_text(target: Target) -> bytes:
    """RFC 9264 section 4.1: Link header syntax, every link with its ``anchor``, one a line."""
    lines = []
    for anchor, links in linkset(target):
        for link in links:
            lines.append(link.header_value() + f' ; anchor="{anchor}"')
    return (",\n".join(lines) + "\n").encode()
