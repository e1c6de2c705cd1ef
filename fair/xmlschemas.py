"""The vendored XML schemas (fair/schemas/), loaded offline: remote ``schemaLocation`` URLs
of the imports are mapped to the local copies."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from lxml import etree

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
LOCAL_COPIES = {
    "http://dublincore.org/schemas/xmls/simpledc20021212.xsd": "oai/simpledc20021212.xsd",
    "http://www.w3.org/2001/03/xml.xsd": "datacite-4.6/include/xml.xsd",
    "http://www.w3.org/2001/xml.xsd": "datacite-4.6/include/xml.xsd",
}


class _LocalResolver(etree.Resolver):
    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        local = LOCAL_COPIES.get(system_url)
        if local is None:
            return None
        return self.resolve_filename(str(SCHEMA_DIR / local), context)


def _load(relative: str) -> etree.XMLSchema:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalResolver())
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / relative), parser))


@functools.cache
def schema(name: str) -> etree.XMLSchema:
    """``oai-pmh``, ``oai_dc`` or ``datacite-4.6``."""
    return _load(
        {
            "oai-pmh": "oai/OAI-PMH.xsd",
            "oai_dc": "oai/oai_dc.xsd",
        }.get(name)
        or f"{name}/metadata.xsd"
    )


def errors(name: str, document: bytes | etree._Element) -> list[str]:
    """The schema's complaints about a document (``line N: message``); empty when valid."""
    if isinstance(document, bytes):
        try:
            tree = etree.fromstring(document, parser=etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError as error:
            return [f"not well-formed XML: {error}"]
    else:
        tree = document
    checker = schema(name)
    if checker.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]


@functools.cache
def oai_response_schema() -> etree.XMLSchema:
    """OAI-PMH 2.0 with the formats it carries: its ``<metadata>`` is validated strictly, so
    the envelope schema needs oai_dc's and DataCite's beside it."""
    imports = {
        "http://www.openarchives.org/OAI/2.0/": "oai/OAI-PMH.xsd",
        "http://www.openarchives.org/OAI/2.0/oai_dc/": "oai/oai_dc.xsd",
        "http://datacite.org/schema/kernel-4": "datacite-4.6/metadata.xsd",
    }
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        + "".join(
            f'<xs:import namespace="{ns}" schemaLocation="{(SCHEMA_DIR / path).as_uri()}"/>'
            for ns, path in imports.items()
        )
        + "</xs:schema>"
    )
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(_LocalResolver())
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), parser))


def oai_errors(document: bytes) -> list[str]:
    """Complaints of the OAI-PMH 2.0 schema (with oai_dc and DataCite 4.6) about a response."""
    try:
        tree = etree.fromstring(document, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    checker = oai_response_schema()
    if checker.validate(tree):
        return []
    return [f"line {e.line}: {e.message}" for e in checker.error_log]
