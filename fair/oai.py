"""OAI-PMH 2.0 data provider (https://www.openarchives.org/OAI/openarchivesprotocol.html).

All the protocol is here: argument checks, the six verbs, errors, resumption tokens and the
XML (lxml). ``handle(pairs) -> bytes`` takes the request's (name, value) pairs, GET or POST.

- Items: published datasets that are not private (public, or embargoed: metadata is open);
  withdrawn ones stay as deleted records (``deletedRecord=persistent``).
- Formats: ``oai_dc``, ``oai_datacite`` (OpenAIRE's DataCite wrapper) and ``datacite``.
- Sets: ``facility:<slug>``, ``technique:<value>``, ``openaire_data`` (every item).
- Lists are paged by key (the primary key index), never by OFFSET, so page 1,000 costs what
  page 1 costs. Resumption tokens are stateless: the position and the request, signed with
  the secret key, valid for ``OPENEM_OAI_TOKEN_SECONDS`` (at least 10 minutes).

Why not a library: ``oaipmh`` 4.x (pyoai's successor) pages its lists with a cursor that is an
offset into the result, in unsigned tokens that never expire, and its hooks would need most of
its server rewritten; the protocol is small enough to keep in this one module.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core import signing
from django.db.models import Min, Q, QuerySet
from django.utils import timezone
from lxml import etree

from openem.site import site_url
from repository import citation, jsonld
from repository.models import Dataset, DatasetStatus, Facility, Technique, Visibility

from . import datacite
from .records import Record, record_for

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_DATACITE_NS = "http://schema.datacite.org/oai/oai-1.1/"
OAI_DATACITE_SCHEMA = "http://schema.datacite.org/oai/oai-1.1/oai.xsd"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
RESUMPTION_SALT = "openem.fair.oai.resumption"
WITHDRAWN = "withdrawn"  # DatasetStatus value of a withdrawn dataset (the publishing app's)
OPENAIRE_SET = "openaire_data"

VERBS = {
    "Identify": (set(), set()),
    "ListMetadataFormats": (set(), {"identifier"}),
    "ListSets": (set(), {"resumptionToken"}),
    "GetRecord": ({"identifier", "metadataPrefix"}, set()),
    "ListIdentifiers": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
    "ListRecords": ({"metadataPrefix"}, {"from", "until", "set", "resumptionToken"}),
}
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SECOND_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class OaiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Format:
    prefix: str
    schema: str
    namespace: str


FORMATS = {
    "oai_dc": Format("oai_dc", OAI_DC_SCHEMA, OAI_DC_NS),
    "oai_datacite": Format("oai_datacite", OAI_DATACITE_SCHEMA, OAI_DATACITE_NS),
    "datacite": Format(
        "datacite", datacite.SCHEMA_LOCATIONS[datacite.schema_version()], datacite.NAMESPACE
    ),
}


# ---------------------------------------------------------------------------------------------
# Items, identifiers, datestamps


def items() -> QuerySet[Dataset]:
    """Every item the repository exposes, deleted ones included."""
    return (
        Dataset.objects.filter(status__in=[DatasetStatus.PUBLISHED, WITHDRAWN])
        .exclude(visibility=Visibility.PRIVATE)
        .select_related("facility", "instrument")
    )


def namespace_identifier() -> str:
    host = urlparse(settings.OPENEM_SITE_URL).hostname or ""
    # The OAI identifier scheme wants a domain name; a bare IP or localhost gets a stand-in.
    if re.match(r"^[a-zA-Z][a-zA-Z0-9-]*(\.[a-zA-Z0-9-]+)+$", host):
        return host
    return "openem.local"


def oai_identifier(dataset: Dataset) -> str:
    return f"oai:{namespace_identifier()}:{dataset.pid}"


def _pid_from(identifier: str) -> str | None:
    prefix = f"oai:{namespace_identifier()}:"
    return identifier[len(prefix) :] if identifier.startswith(prefix) else None


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _set_specs(dataset: Dataset) -> list[str]:
    return [f"facility:{dataset.facility.slug}", f"technique:{dataset.technique}", OPENAIRE_SET]


def _set_q(spec: str) -> Q | None:
    if spec == OPENAIRE_SET:
        return Q()
    kind, _, value = spec.partition(":")
    if kind == "facility" and value:
        return Q(facility__slug=value)
    if kind == "technique" and value in Technique.values:
        return Q(technique=value)
    return None


def _parse_date(raw: str, name: str, *, upper: bool) -> tuple[dt.datetime, str]:
    if DAY_RE.match(raw):
        granularity = "day"
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError as error:
            raise OaiError("badArgument", f"{name}={raw!r} is not a date.") from error
        moment = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
        if upper:
            moment += dt.timedelta(days=1)
        return moment, granularity
    if SECOND_RE.match(raw):
        try:
            moment = dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        except ValueError as error:
            raise OaiError("badArgument", f"{name}={raw!r} is not a UTC datetime.") from error
        if upper:
            moment += dt.timedelta(seconds=1)
        return moment, "second"
    raise OaiError(
        "badArgument",
        f"{name}={raw!r}: dates are YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ (UTC).",
    )


# ---------------------------------------------------------------------------------------------
# Resumption tokens (stateless, signed, expiring)


def _token(state: dict[str, Any]) -> str:
    return signing.dumps(state, salt=RESUMPTION_SALT, compress=True)


def _untoken(token: str, verb: str) -> dict[str, Any]:
    try:
        state = signing.loads(
            token, salt=RESUMPTION_SALT, max_age=settings.OPENEM_OAI_TOKEN_SECONDS
        )
    except signing.SignatureExpired as error:
        raise OaiError("badResumptionToken", "The resumption token has expired.") from error
    except signing.BadSignature as error:
        raise OaiError("badResumptionToken", "The resumption token is not valid.") from error
    if not isinstance(state, dict) or state.get("verb") != verb:
        raise OaiError("badResumptionToken", f"The resumption token is not one of {verb}.")
    return state


# ---------------------------------------------------------------------------------------------
# The request


def handle(pairs: Sequence[tuple[str, str]], *, base_url: str | None = None) -> bytes:
    """The OAI-PMH response (UTF-8 XML) to a request's (name, value) arguments."""
    base_url = base_url or site_url() + "/oai"
    root = etree.Element(f"{{{OAI_NS}}}OAI-PMH", nsmap={None: OAI_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_NS} {OAI_SCHEMA}")
    etree.SubElement(root, f"{{{OAI_NS}}}responseDate").text = _stamp(timezone.now())
    request = etree.SubElement(root, f"{{{OAI_NS}}}request")
    request.text = base_url
    try:
        args = _arguments(pairs)
        verb = args.pop("verb")
        for name, value in args.items():
            request.set(name, value)
        request.set("verb", verb)
        body = _VERB_HANDLERS[verb](args)
        root.append(body)
    except OaiError as error:
        if error.code in {"badVerb", "badArgument"}:
            for name in list(request.attrib):
                del request.attrib[name]
        _el(root, "error", error.message, code=error.code)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


#: Characters XML 1.0 does not allow (lxml refuses them: a 500 before this check).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _arguments(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    seen: dict[str, str] = {}
    for name, value in pairs:
        if _NOT_XML.search(name) or _NOT_XML.search(value):
            # the response repeats the arguments: XML cannot carry these characters at all
            raise OaiError("badArgument", "An argument contains characters XML cannot carry.")
        if name in seen:
            raise OaiError("badArgument", f"The argument {name} is repeated.")
        seen[name] = value
    verb = seen.get("verb")
    if verb is None:
        raise OaiError("badVerb", "The verb argument is missing.")
    if verb not in VERBS:
        raise OaiError("badVerb", f"{verb!r} is not an OAI-PMH verb.")
    required, optional = VERBS[verb]
    given = set(seen) - {"verb"}
    unknown = given - required - optional
    if unknown:
        raise OaiError("badArgument", f"{verb} does not take {', '.join(sorted(unknown))}.")
    if "resumptionToken" in given:
        if given != {"resumptionToken"}:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument.")
    else:
        missing = required - given
        if missing:
            raise OaiError("badArgument", f"{verb} needs {', '.join(sorted(missing))}.")
    for name, value in seen.items():
        if not value:
            raise OaiError("badArgument", f"The argument {name} is empty.")
    return seen


def _el(parent: Any, name: str, text: str | None = None, ns: str = OAI_NS, **attrs: str) -> Any:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    for key, value in attrs.items():
        element.set(key, value)
    if text is not None:
        element.text = text
    return element


def _new(name: str) -> Any:
    return etree.Element(f"{{{OAI_NS}}}{name}")


# ---------------------------------------------------------------------------------------------
# Verbs


def _identify(args: dict[str, str]) -> Any:
    body = _new("Identify")
    _el(body, "repositoryName", citation.SITE_NAME)
    _el(body, "baseURL", site_url() + "/oai")
    _el(body, "protocolVersion", "2.0")
    _el(body, "adminEmail", settings.OPENEM_OAI_ADMIN_EMAIL)
    earliest = items().order_by().aggregate(first=Min("modified"))["first"]
    _el(body, "earliestDatestamp", _stamp(earliest or dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    _el(body, "deletedRecord", "persistent")
    _el(body, "granularity", "YYYY-MM-DDThh:mm:ssZ")
    description = _el(body, "description")
    ns = "http://www.openarchives.org/OAI/2.0/oai-identifier"
    identifier = etree.SubElement(description, f"{{{ns}}}oai-identifier", nsmap={None: ns})
    identifier.set(
        f"{{{XSI}}}schemaLocation", f"{ns} http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"
    )
    _el(identifier, "scheme", "oai", ns=ns)
    _el(identifier, "repositoryIdentifier", namespace_identifier(), ns=ns)
    _el(identifier, "delimiter", ":", ns=ns)
    _el(identifier, "sampleIdentifier", f"oai:{namespace_identifier()}:oem-0123456789", ns=ns)
    return body


def _list_metadata_formats(args: dict[str, str]) -> Any:
    if "identifier" in args:
        _dataset_for(args["identifier"])
    body = _new("ListMetadataFormats")
    for fmt in FORMATS.values():
        entry = _el(body, "metadataFormat")
        _el(entry, "metadataPrefix", fmt.prefix)
        _el(entry, "schema", fmt.schema)
        _el(entry, "metadataNamespace", fmt.namespace)
    return body


def _list_sets(args: dict[str, str]) -> Any:
    if "resumptionToken" in args:
        raise OaiError("badResumptionToken", "ListSets is answered whole; it has no tokens.")
    body = _new("ListSets")
    entries = [(OPENAIRE_SET, "OpenAIRE data (all published datasets)")]
    entries += [
        (f"facility:{slug}", name)
        for slug, name in Facility.objects.order_by("slug").values_list("slug", "name")
    ]
    entries += [(f"technique:{value}", label) for value, label in Technique.choices]
    for spec, name in entries:
        entry = _el(body, "set")
        _el(entry, "setSpec", spec)
        _el(entry, "setName", name)
    return body


def _dataset_for(identifier: str) -> Dataset:
    pid = _pid_from(identifier)
    dataset = items().filter(pid=pid).first() if pid else None
    if dataset is None:
        raise OaiError("idDoesNotExist", f"{identifier!r} is not an item of this repository.")
    return dataset


def _format(prefix: str) -> Format:
    fmt = FORMATS.get(prefix)
    if fmt is None:
        raise OaiError(
            "cannotDisseminateFormat",
            f"{prefix!r} is not a format of this repository ({', '.join(FORMATS)}).",
        )
    return fmt


def _get_record(args: dict[str, str]) -> Any:
    fmt = _format(args["metadataPrefix"])
    dataset = _dataset_for(args["identifier"])
    body = _new("GetRecord")
    _record(body, dataset, fmt)
    return body


def _list(args: dict[str, str], *, verb: str) -> Any:
    if "resumptionToken" in args:
        state = _untoken(args["resumptionToken"], verb)
    else:
        state = {"verb": verb, "prefix": args["metadataPrefix"], "after": 0, "cursor": 0}
        for name in ("from", "until", "set"):
            if name in args:
                state[name] = args[name]
    fmt = _format(state["prefix"])
    queryset = items()
    granularities = set()
    start = end = None
    if "from" in state:
        start, granularity = _parse_date(state["from"], "from", upper=False)
        granularities.add(granularity)
        queryset = queryset.filter(modified__gte=start)
    if "until" in state:
        end, granularity = _parse_date(state["until"], "until", upper=True)
        granularities.add(granularity)
        queryset = queryset.filter(modified__lt=end)
    if len(granularities) > 1:
        raise OaiError("badArgument", "from and until must have the same granularity.")
    if start is not None and end is not None and start >= end:
        raise OaiError("badArgument", "from is after until.")
    if "set" in state:
        condition = _set_q(state["set"])
        if condition is None:
            raise OaiError("noRecordsMatch", f"There is no set {state['set']!r}.")
        queryset = queryset.filter(condition)
    if "size" not in state:
        state["size"] = queryset.count()
    page_size = settings.OPENEM_OAI_PAGE_SIZE
    page = list(queryset.filter(pk__gt=state["after"]).order_by("pk")[: page_size + 1])
    if not page:
        if state["cursor"] == 0:
            raise OaiError("noRecordsMatch", "No records match the request.")
        raise OaiError("badResumptionToken", "The resumption token points past the list.")
    more = len(page) > page_size
    page = page[:page_size]
    body = _new(verb)
    for dataset in page:
        if verb == "ListIdentifiers":
            _header(body, dataset)
        else:
            _record(body, dataset, fmt)
    if more or state["cursor"]:
        token = _el(
            body,
            "resumptionToken",
            completeListSize=str(state["size"]),
            cursor=str(state["cursor"]),
        )
        if more:
            following = dict(state, after=page[-1].pk, cursor=state["cursor"] + len(page))
            token.text = _token(following)
            expires = timezone.now() + dt.timedelta(seconds=settings.OPENEM_OAI_TOKEN_SECONDS)
            token.set("expirationDate", _stamp(expires))
    return body


def _header(parent: Any, dataset: Dataset) -> Any:
    header = _el(parent, "header")
    if dataset.status == WITHDRAWN:
        header.set("status", "deleted")
    _el(header, "identifier", oai_identifier(dataset))
    _el(header, "datestamp", _stamp(dataset.modified))
    for spec in _set_specs(dataset):
        _el(header, "setSpec", spec)
    return header


def _record(parent: Any, dataset: Dataset, fmt: Format) -> None:
    record = _el(parent, "record")
    _header(record, dataset)
    if dataset.status == WITHDRAWN:
        return
    metadata = _el(record, "metadata")
    source = record_for(dataset)
    if fmt.prefix == "oai_dc":
        metadata.append(oai_dc(source))
    else:
        resource = etree.fromstring(datacite.datacite_xml(dataset))
        if fmt.prefix == "datacite":
            metadata.append(resource)
        else:
            wrapper = etree.SubElement(
                metadata, f"{{{OAI_DATACITE_NS}}}oai_datacite", nsmap={None: OAI_DATACITE_NS}
            )
            wrapper.set(f"{{{XSI}}}schemaLocation", f"{OAI_DATACITE_NS} {OAI_DATACITE_SCHEMA}")
            _el(wrapper, "schemaVersion", datacite.schema_version(), ns=OAI_DATACITE_NS)
            _el(wrapper, "datacentreSymbol", "OPENEM", ns=OAI_DATACITE_NS)
            _el(wrapper, "payload", ns=OAI_DATACITE_NS).append(resource)


def oai_dc(record: Record) -> Any:
    """Simple Dublin Core of a record (OpenAIRE's guidelines for the access rights)."""
    dataset = record.dataset
    root = etree.Element(f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC_NS} {OAI_DC_SCHEMA}")

    def dc(name: str, values: Iterable[str]) -> None:
        for value in values:
            if value:
                etree.SubElement(root, f"{{{DC_NS}}}{name}").text = value

    dc("title", [record.title])
    people = record.authors()
    dc("creator", [a.cited_name for a in people] or [dataset.facility.name])
    dc("subject", [dataset.get_technique_display(), *record.keywords])
    dc("description", [record.description or jsonld._description(dataset)])
    dc("publisher", [f"{citation.SITE_NAME}, {dataset.facility.name}"])
    dc("date", [(record.published_at or dataset.created).date().isoformat()])
    if record.embargo_until:
        dc("date", [f"info:eu-repo/date/embargoEnd/{record.embargo_until.isoformat()}"])
    dc("type", ["Dataset", "info:eu-repo/semantics/other"])
    dc("identifier", [record.url, *([f"https://doi.org/{record.doi}"] if record.doi else [])])
    dc("language", ["eng"])
    dc(
        "relation",
        [ref.url for ref in citation.cross_references(dataset)],
    )
    embargoed = record.visibility == Visibility.EMBARGOED and not dataset.files_are_open()
    dc(
        "rights",
        [
            "info:eu-repo/semantics/embargoedAccess"
            if embargoed
            else "info:eu-repo/semantics/openAccess",
            citation.licence_url(record.licence),
        ],
    )
    return root


_VERB_HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": lambda args: _list(args, verb="ListIdentifiers"),
    "ListRecords": lambda args: _list(args, verb="ListRecords"),
}
