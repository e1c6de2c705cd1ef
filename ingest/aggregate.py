"""Dataset-level OSC-EM metadata from the sidecars of a session (EPU XML, SerialEM mdoc).

A session has up to ~10^5 sidecars, so headers are streamed through running accumulators
(first/min/max/mean/any/bounded set/count): memory stays constant per OSC-EM field, however
many files there are. What each field takes from which value, in which unit and how values of
many files combine, is the mapping table's business (:mod:`metadata.mapping`); this module only
runs the accumulators and writes the result.

Each image is one record: an EPU XML is one movie; an mdoc contributes one record per image
section (``[ZValue]``/``[FrameSet]``) on top of its global values. ``images_generated`` counts
sidecar files (movies for EPU, tilt series for mdoc), as the OpenEM reference extractor does.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from ingest.formats.epu import NAVIGATION_KINDS, name_the_microscope
from ingest.formats.mdoc import IMAGE_SECTION_KINDS
from metadata.mapping import (
    DEFAULT_SCHEMA_VERSION,
    TECHNIQUES,
    MappingTable,
    TargetRule,
    apply_fields,
    drop_incomplete,
    load_mapping,
    set_path,
)
from metadata.units import clean_float, quantity

logger = logging.getLogger(__name__)

#: Sources with a mapping table, as parsers name them in ``header["sidecar"]``.
SIDECAR_SOURCES = frozenset({"epu", "mdoc"})
#: Distinct values kept by a ``set`` aggregate (detector names): a few, never one per file.
MAX_DISTINCT = 16
#: Relative difference under which two numbers count as "the same" for ``first``.
SAME_NUMBER = 1e-6


# ---------------------------------------------------------------------------------------------
# Accumulators: O(1) memory each


class First:
    """The first value; remembers one differing value, so that disagreement can be reported."""

    def __init__(self) -> None:
        self.value: Any = None
        self.other: Any = None

    def add(self, value: Any) -> None:
        if self.value is None:
            self.value = value
        elif self.other is None and not _same(value, self.value):
            self.other = value

    def result(self) -> Any:
        return self.value


class Extreme:
    """Running minimum or maximum; datetimes compare as instants (naive ones as UTC)."""

    def __init__(self, *, largest: bool, moments: bool = False) -> None:
        self.largest = largest
        self.moments = moments
        self.best: Any = None
        self.best_key: Any = None

    def add(self, value: Any) -> None:
        key = _instant(value) if self.moments else value
        if (
            self.best_key is None
            or (self.largest and key > self.best_key)
            or (not self.largest and key < self.best_key)
        ):
            self.best, self.best_key = value, key

    def result(self) -> Any:
        return self.best


class Mean:
    """Running mean with Neumaier compensation (10^5 additions of 2.6 should give 2.6)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.compensation = 0.0
        self.count = 0

    def add(self, value: Any) -> None:
        number = float(value)
        total = self.total + number
        if abs(self.total) >= abs(number):
            self.compensation += (self.total - total) + number
        else:
            self.compensation += (number - total) + self.total
        self.total = total
        self.count += 1

    def result(self) -> float | None:
        return (self.total + self.compensation) / self.count if self.count else None


class AnyTrue:
    """True if any value is true; False once a value was seen and none was."""

    def __init__(self) -> None:
        self.value: bool | None = None

    def add(self, value: Any) -> None:
        self.value = bool(value) or bool(self.value)

    def result(self) -> bool | None:
        return self.value


class Distinct:
    """Distinct values in order of appearance, at most :data:`MAX_DISTINCT`."""

    def __init__(self) -> None:
        self.values: dict[Any, None] = {}
        self.overflow = False

    def add(self, value: Any) -> None:
        if value in self.values:
            return
        if len(self.values) < MAX_DISTINCT:
            self.values[value] = None
        else:
            self.overflow = True

    def result(self) -> list[Any] | None:
        return list(self.values) or None


class Count:
    """How many values (``count``) or files (``count_files``) were seen."""

    def __init__(self) -> None:
        self.count = 0

    def add(self, value: Any = None) -> None:
        self.count += 1

    def result(self) -> int | None:
        return self.count or None


Accumulator = First | Extreme | Mean | AnyTrue | Distinct | Count


def make_accumulator(rule: TargetRule) -> Accumulator:
    """The accumulator for a target rule's ``aggregate``."""
    moments = rule.output == "datetime"
    factories: dict[str, Callable[[], Accumulator]] = {
        "first": First,
        "min": lambda: Extreme(largest=False, moments=moments),
        "max": lambda: Extreme(largest=True, moments=moments),
        "mean": Mean,
        "any": AnyTrue,
        "set": Distinct,
        "count": Count,
        "count_files": Count,
    }
    return factories[rule.aggregate]()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=SAME_NUMBER, abs_tol=1e-12)
    return bool(a == b)


def _instant(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# The aggregation


class SidecarAggregator:
    """Feed parsed sidecar headers one by one with :meth:`add`; read :meth:`document`.

    Usable from a task that pages through DataFile rows: nothing per file is kept.
    """

    def __init__(
        self,
        *,
        technique: str,
        cs_mm: float | None = None,
        schema_version: str = DEFAULT_SCHEMA_VERSION,
    ) -> None:
        if technique not in TECHNIQUES:
            raise ValueError(
                f"unknown technique {technique!r}: use one of {', '.join(sorted(TECHNIQUES))}"
            )
        if cs_mm is not None and (not math.isfinite(cs_mm) or cs_mm < 0):
            raise ValueError(f"cs_mm must be a finite number >= 0, not {cs_mm!r}")
        self.technique = technique
        self.schema_version = schema_version
        self.parameters: dict[str, Any] = {"technique": technique, "cs_mm": cs_mm}
        self.files = 0
        self.images = 0
        self.skipped: Counter[str] = Counter()
        self._tables: dict[str, MappingTable] = {}
        self._targets: dict[str, tuple[TargetRule, Accumulator]] = {}
        self._plans: dict[str, list[tuple[str, Accumulator]]] = {}
        self._per_file: dict[str, list[Count]] = {}
        # OSC-EM has one date_time (the start); progress pages also want the end.
        self._started = Extreme(largest=False, moments=True)
        self._ended = Extreme(largest=True, moments=True)

    def add(self, item: Any) -> bool:
        """Take one parsed sidecar (a header dict or a FormatResult); False if it was skipped."""
        header = getattr(item, "header", item)
        if getattr(item, "errors", None):
            self.skipped["unreadable"] += 1
            return False
        if not isinstance(header, Mapping) or header.get("sidecar") not in SIDECAR_SOURCES:
            self.skipped["not a sidecar"] += 1
            return False
        if header.get("epu_image_kind") in NAVIGATION_KINDS:
            self.skipped["EPU navigation image"] += 1
            return False
        source = header["sidecar"]
        plan = self._plan(source)
        for counter in self._per_file[source]:
            counter.add()
        for image_values, file_values in _records(header, self._tables[source]):
            self.images += 1
            for field_name, accumulator in plan:
                value = image_values.get(field_name)
                if value is None:
                    value = file_values.get(field_name)
                if value is not None:
                    accumulator.add(value)
            moment = image_values.get("acquisition_time") or file_values.get("acquisition_time")
            if moment:
                self._started.add(moment)
                self._ended.add(moment)
        self.files += 1
        return True

    def _plan(self, source: str) -> list[tuple[str, Accumulator]]:
        """Accumulators for a source's table, shared by target path with other sources."""
        if source not in self._plans:
            table = load_mapping(self.schema_version, source)
            self._tables[source] = table
            plan: list[tuple[str, Accumulator]] = []
            per_file: list[Count] = []
            for rule in table.targets:
                if not rule.applies_to(self.technique):
                    continue
                if rule.target not in self._targets:
                    self._targets[rule.target] = (rule, make_accumulator(rule))
                accumulator = self._targets[rule.target][1]
                if rule.aggregate == "count_files" and isinstance(accumulator, Count):
                    per_file.append(accumulator)
                elif rule.field is not None:
                    plan.append((rule.field, accumulator))
            self._plans[source], self._per_file[source] = plan, per_file
        return self._plans[source]

    def document(self) -> dict[str, Any]:
        """The dataset-level OSC-EM document (``{}`` when no sidecar was accepted)."""
        if not self.files:
            return {}
        document: dict[str, Any] = {}
        for target, (rule, accumulator) in self._targets.items():
            value = self.parameters.get(rule.parameter) if rule.parameter else accumulator.result()
            if value is not None:
                set_path(document, target, render(rule, value))
        requires: dict[str, tuple[str, ...]] = {}
        for table in self._tables.values():
            requires.update(table.requires)
        for note in drop_incomplete(document, requires):
            logger.info("aggregation: %s", note)
        return document

    def warnings(self) -> list[str]:
        """Disagreements between files and truncated sets, in words for a curator."""
        notes = []
        for target, (_rule, accumulator) in self._targets.items():
            if isinstance(accumulator, First) and accumulator.other is not None:
                notes.append(
                    f"{target}: files disagree ({accumulator.value!r} and "
                    f"{accumulator.other!r}); the first is reported"
                )
            if isinstance(accumulator, Distinct) and accumulator.overflow:
                notes.append(f"{target}: more than {MAX_DISTINCT} distinct values; first kept")
        return notes

    def summary(self) -> dict[str, Any]:
        """Counts for progress pages and logs (not part of the OSC-EM document)."""
        started, ended = self._started.result(), self._ended.result()
        return {
            "files": self.files,
            "images": self.images,
            "acquired_from": format_datetime(started) if started else None,
            "acquired_until": format_datetime(ended) if ended else None,
            "skipped": dict(self.skipped),
            "warnings": self.warnings(),
        }


def _records(
    header: Mapping[str, Any], table: MappingTable
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """``(image values, file values)`` per image of a sidecar; image values win.

    Headers written with this schema version's table carry normalised values already; older
    ones are normalised again from their raw values, so a new table applies to old files too.
    """
    current = header.get("mapping") == table.schema_version
    file_values = (
        header if current else name_the_microscope(apply_fields(table, header.get("raw") or {})[0])
    )
    sections = [
        section
        for section in header.get("sections") or ()
        if isinstance(section, Mapping) and section.get("kind") in IMAGE_SECTION_KINDS
    ]
    if not sections:
        yield {}, file_values
        return
    for section in sections:
        values = section if current else apply_fields(table, section.get("raw") or {})[0]
        yield values, file_values


def render(rule: TargetRule, value: Any) -> Any:
    """An aggregated value in the shape OSC-EM wants at ``rule.target``."""
    output = rule.output
    if output == "quantity":
        assert rule.unit is not None  # checked when the table loaded
        number = float(value) if rule.factor == 1.0 else clean_float(float(value) * rule.factor)
        return quantity(number, rule.unit)
    if output == "number":
        return float(value)
    if output == "int":
        return int(round(float(value)))
    if output == "bool":
        return bool(value)
    if output == "datetime":
        return format_datetime(value)
    if output == "objects":
        return [{rule.item_key: item} for item in value]
    if output == "used_instrument":
        # OSC-EM requires instrument_type; the files only say whether one was used.
        return {"used": bool(value), "instrument_type": "unknown" if value else "none"}
    return str(value)


def format_datetime(value: Any) -> str:
    """RFC 3339 to the second, keeping the file's offset.

    SerialEM writes local time without a zone; OSC-EM's ``date-time`` needs one, and like the
    reference extractor we label such times UTC ("Z").
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.isoformat(timespec="seconds") + "Z"
    text = moment.isoformat(timespec="seconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def aggregate_sidecars(
    parsed: Iterable[Any],
    *,
    technique: str,
    cs_mm: float | None,
    schema_version: str = DEFAULT_SCHEMA_VERSION,
) -> dict[str, Any]:
    """The dataset-level OSC-EM document for a stream of parsed EPU/mdoc headers."""
    aggregator = SidecarAggregator(technique=technique, cs_mm=cs_mm, schema_version=schema_version)
    for item in parsed:
        aggregator.add(item)
    return aggregator.document()
