"""What a build says about itself: the validation report and where each value came from.

A report entry names the place in the generated document (a JSON path such as
``$.imagesets[0].pixel_width`` or an XML path such as ``/emd/map/data_type``), says what is
wrong in words a curator can act on, and, where the cure is a metadata value, links to that
field of the dataset's metadata form. Builders never raise on bad input: they add an entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"  # the document is not valid (or would be rejected): blocks packaging
    WARNING = "warning"  # valid, but a curator should look


@dataclass(frozen=True)
class Issue:
    path: str
    message: str
    severity: Severity = Severity.ERROR
    #: The metadata form field that cures it (a document path of the dataset's metadata, e.g.
    #: ``organizational.authors[0].orcid``), or "" when the cure is elsewhere (the files).
    field: str = ""
    #: A link to that field of the metadata form (or to the dataset page), filled by the builder.
    fix_url: str = ""
    #: Which check found it: builder, schema, strict, xsd, xsd-relaxed, mmcif.
    source: str = "builder"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


@dataclass(frozen=True)
class Provenance:
    """A value the portal filled in, and from where (a file, a metadata field, a rule)."""

    path: str
    value: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value, "source": self.source}


@dataclass
class Report:
    issues: list[Issue] = field(default_factory=list)
    provenance: list[Provenance] = field(default_factory=list)

    def add(self, issue: Issue) -> None:
        if issue not in self.issues:
            self.issues.append(issue)

    def error(self, path: str, message: str, **kwargs: Any) -> None:
        self.add(Issue(path=path, message=message, severity=Severity.ERROR, **kwargs))

    def warning(self, path: str, message: str, **kwargs: Any) -> None:
        self.add(Issue(path=path, message=message, severity=Severity.WARNING, **kwargs))

    def filled(self, path: str, value: Any, source: str) -> None:
        self.provenance.append(Provenance(path=path, value=value, source=source))

    def extend(self, other: Report) -> None:
        for issue in other.issues:
            self.add(issue)
        self.provenance.extend(other.provenance)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity is Severity.WARNING]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "issues": [issue.to_dict() for issue in self.issues],
            "provenance": [entry.to_dict() for entry in self.provenance],
        }

    def as_text(self) -> str:
        """The report as lines for a terminal (the export command prints this)."""
        lines = [
            f"{'VALID' if self.valid else 'INVALID'}: "
            f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        ]
        for issue in self.issues:
            line = f"  {issue.severity.value.upper():7} {issue.path}: {issue.message}"
            if issue.fix_url:
                line += f"\n          fix: {issue.fix_url}"
            lines.append(line)
        return "\n".join(lines)
