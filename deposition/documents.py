"""Build a deposition document for a dataset and check it: one entry point for every surface.

``build_document(dataset, "empiar" | "emdb" | "mmcif")`` returns the document's bytes and a
report that combines what the builder found (missing metadata, contradictions in the files)
with what the official schema and the stricter checks say. ``valid`` is true only when there
is no error at all, so an invalid document is never handed out as a valid one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from deposition import orgmeta
from deposition.emdb.builder import EmdbBuild, build_emdb
from deposition.emdb.facts import EmFacts
from deposition.emdb.validation import validate_emdb_xml
from deposition.empiar.builder import EmpiarBuild, build_empiar
from deposition.empiar.validation import validate_empiar
from deposition.mmcif import build_mmcif, check_mmcif
from deposition.report import Issue, Report
from repository.models import Dataset

EXPORT_TARGETS = ("empiar", "emdb", "mmcif")


@dataclass
class BuiltDocument:
    target: str
    content: bytes
    media_type: str
    filename: str
    report: Report
    empiar: EmpiarBuild | None = None
    emdb: EmdbBuild | None = None
    facts: EmFacts | None = None

    @property
    def valid(self) -> bool:
        return self.report.valid

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


def _field_for(path: str, hints: dict[str, str]) -> str:
    """The metadata field of the longest hinted JSON path that ``path`` starts with."""
    best = ""
    for prefix in hints:
        if (path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")) and (
            len(prefix) > len(best)
        ):
            best = prefix
    return hints.get(best, "")


def _with_links(report: Report, pid: str, hints: dict[str, str]) -> Report:
    """Every entry with a link to the place that cures it."""
    linked = Report(provenance=list(report.provenance))
    for issue in report.issues:
        field = issue.field or _field_for(issue.path, hints)
        url = issue.fix_url or (
            orgmeta.metadata_form_url(pid, field) if field else orgmeta.dataset_page_url(pid)
        )
        linked.add(
            Issue(
                path=issue.path,
                message=issue.message,
                severity=issue.severity,
                field=field,
                fix_url=url,
                source=issue.source,
            )
        )
    return linked


def _merge(report: Report, checks: list[Issue]) -> None:
    """Add the validators' findings, except where the builder already explained the same
    place in its own words (one clear entry rather than three)."""
    explained = {issue.path for issue in report.errors}
    for issue in checks:
        if issue.path not in explained:
            report.add(issue)


def _empiar(dataset: Dataset) -> BuiltDocument:
    build = build_empiar(dataset)
    report = Report(issues=list(build.report.issues), provenance=list(build.report.provenance))
    _merge(report, validate_empiar(build.document))
    content = json.dumps(build.document, indent=2, ensure_ascii=False).encode("utf-8")
    return BuiltDocument(
        target="empiar",
        content=content + b"\n",
        media_type="application/json",
        filename=f"{dataset.pid}-empiar.json",
        report=_with_links(report, dataset.pid, build.hints),
        empiar=build,
    )


def _emdb(dataset: Dataset) -> BuiltDocument:
    build = build_emdb(dataset)
    report = Report(issues=list(build.report.issues), provenance=list(build.report.provenance))
    _merge(report, validate_emdb_xml(build.xml))
    digits = build.facts.entry_digits
    return BuiltDocument(
        target="emdb",
        content=build.xml,
        media_type="application/xml",
        filename=f"emd-{digits}-v30.xml",
        report=_with_links(report, dataset.pid, {}),
        emdb=build,
        facts=build.facts,
    )


def _mmcif(dataset: Dataset) -> BuiltDocument:
    build = build_mmcif(dataset)
    report = Report(issues=list(build.report.issues), provenance=list(build.report.provenance))
    _merge(report, check_mmcif(build.text))
    return BuiltDocument(
        target="mmcif",
        content=build.text.encode("utf-8"),
        media_type="chemical/x-mmcif",
        filename=f"{dataset.pid}-em.cif",
        report=_with_links(report, dataset.pid, {}),
        facts=build.facts,
    )


BUILDERS = {"empiar": _empiar, "emdb": _emdb, "mmcif": _mmcif}


def build_document(dataset: Dataset, target: str) -> BuiltDocument:
    """The document of ``target`` for ``dataset``, checked; never raises on bad metadata."""
    try:
        builder = BUILDERS[target]
    except KeyError:
        raise ValueError(f"unknown deposition target {target!r}") from None
    return builder(dataset)


def parsed(document: BuiltDocument) -> Any:
    return json.loads(document.content) if document.target == "empiar" else document.text
