"""The metadata of a dataset as grouped tables with units and where each value came from
(extracted from the files' headers and sidecars, or entered by a person), and a file's header
as rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from metadata import display, privacy

from .models import Dataset

OSCEM_GROUPS = (
    ("instrument", "Instrument"),
    ("acquisition", "Acquisition"),
    ("sample", "Sample"),
    ("organizational", "People and funding"),
    ("processing", "Processing"),
)


@dataclass(frozen=True)
class MetadataRow:
    path: str
    label: str
    value: str
    unit: str
    source: str  # "extracted" | "entered"


@dataclass
class MetadataGroup:
    key: str
    title: str
    rows: list[MetadataRow] = field(default_factory=list)

    @property
    def extracted_count(self) -> int:
        return sum(1 for row in self.rows if row.source == "extracted")


#: Contact details of people stay with those who work on the dataset (metadata.privacy).
PERSONAL_KEYS = privacy.PERSONAL_KEYS


def metadata_groups(
    dataset: Dataset, *, labels: dict[str, str] | None = None, personal: bool = False
) -> list[MetadataGroup]:
    """The OSC-EM document as tables per top-level section (instrument, acquisition, ...).

    A value is *extracted* when the ingest derived it (the ``_derived`` copy holds the same
    value), otherwise *entered* by a person. Quantities show their value and unit as stored.
    """
    metadata = dataset.metadata or {}
    derived = metadata.get("_derived") or {}
    labels = labels or {}
    known = dict(OSCEM_GROUPS)
    order = [key for key, _ in OSCEM_GROUPS] + sorted(
        k for k in metadata if k not in known and not str(k).startswith("_")
    )
    groups = []
    for key in order:
        section = metadata.get(key)
        if section in (None, {}, []):
            continue
        group = MetadataGroup(key, known.get(key) or _humanize(key))
        for path, value in _leaves(section, key):
            shown, unit = _display(value)
            if shown == "" or (not personal and path.rsplit(".", 1)[-1] in PERSONAL_KEYS):
                continue
            extracted = _at(derived, path) == value
            group.rows.append(
                MetadataRow(
                    path=path,
                    label=_label(path, labels),
                    value=shown,
                    unit=unit,
                    source="extracted" if extracted else "entered",
                )
            )
        if group.rows:
            groups.append(group)
    return groups


def schema_labels(dataset: Dataset) -> dict[str, str]:
    """Field titles from the dataset's metadata schema, by field path (``a.b[].c``)."""
    try:
        from metadata.fields import schema_fields
        from metadata.selectors import schema_for_dataset
    except ImportError:  # the metadata app's registry is optional for the landing page
        return {}
    schema = schema_for_dataset(dataset)
    if schema is None:
        return {}
    return {node.path: node.label for node in schema_fields(schema.document).walk() if node.path}


def _is_quantity(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and "unit" in value


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    if _is_quantity(value):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}")
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            yield path, value
        else:
            for index, item in enumerate(value):
                yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def _at(document: Any, path: str) -> Any:
    node = document
    for part in path.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(node, list) or index >= len(node):
                return None
            node = node[index]
        else:
            if not isinstance(node, dict):
                return None
            node = node.get(part)
    return node


def _display(value: Any) -> tuple[str, str]:
    """Rounded and with units as people write them: the one helper the form uses too."""
    return display.value_and_unit(value)


def _label(path: str, labels: dict[str, str]) -> str:
    field_path = "".join("[]" if part.startswith("[") else part for part in _split_keep_index(path))
    parts = path.split(".")[1:]
    label = labels.get(field_path)
    if label:
        parent = parts[-2] if len(parts) > 1 else ""
        if parent and _humanize(parent.split("[")[0]) not in label:
            return f"{_humanize(parent)} · {label}"
        return label
    return " · ".join(_humanize(p) for p in parts) or _humanize(path)


def _split_keep_index(path: str) -> list[str]:
    out: list[str] = []
    buffer = ""
    for char in path:
        if char == "[":
            out.append(buffer)
            buffer = "["
        elif char == "]":
            out.append(buffer + "]")
            buffer = ""
        else:
            buffer += char
    out.append(buffer)
    return [p for p in out if p]


def _humanize(key: str) -> str:
    """``authors[0]`` -> ``Authors #1`` (people count from one)."""
    name, _, index = key.partition("[")
    text = name.replace("_", " ").strip().capitalize()
    if index:
        number = f"#{int(index.rstrip(']')) + 1}"
        return f"{text} {number}".strip()
    return text


def header_rows(header: dict[str, Any], limit: int = 400) -> tuple[list[MetadataRow], bool]:
    """A file's extracted header as rows (path, value, unit); True when cut at ``limit``."""
    rows: list[MetadataRow] = []
    for path, value in _leaves(header, ""):
        shown, unit = _display(value)
        rows.append(MetadataRow(path.lstrip("."), path.lstrip("."), shown, unit, "extracted"))
        if len(rows) >= limit:
            return rows, True
    return rows, False
