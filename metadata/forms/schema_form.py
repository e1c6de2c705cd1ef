"""A web form generated from a metadata JSON Schema, and the document it posts back.

The form is a tree of :class:`FormNode` built from the schema's fields (:mod:`metadata.fields`)
and the dataset's stored document (or, after a POST, what was posted, so nothing typed is lost):

- objects are fieldsets; lists of objects are rows with "remove" boxes and an "add another"
  submit button (``_add=<list path>``), which works without JavaScript; ``metadata-form.js``
  adds rows in place from a ``<template>`` instead;
- enumerations are selects, booleans a yes/no select, lists of text one item per line;
- quantities are a number and a unit select (the field's ``x-units``; a text box without them);
- values ingest extracted (listed in the provenance map) are pre-filled and show their file,
  once per group where a whole group came from one file; a curator may correct them (the
  provenance entry is then marked as edited);
- numbers are shown rounded (six significant digits); a rounded value posted back unchanged
  keeps the stored, unrounded one;
- an input that cannot be read (a number that is not one) keeps what was stored;
- mode ``required`` shows the required fields and those that have a value; the others keep
  their stored values.

Input names are document paths (``organizational.authors[0].orcid``), so validation problems
(:class:`metadata.validation.Problem`) land next to their field. Posting merges into the stored
document: what the form did not render (hidden fields, free-form parts) stays as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import display
from ..fields import Field, Kind, join_path, schema_fields
from ..units import display_unit
from ..validation import PROVENANCE_KEY, Problem, oscem_document

MODES = ("all", "required")
ROWS_SUFFIX = "._rows"
ORIGIN_SUFFIX = "._origin"
REMOVE_SUFFIX = "._remove"
ADD_ACTION = "_add"
INDEX_PLACEHOLDER = "__index__"
_UNSET = object()  # remove the key
_KEEP = object()  # not in the post: keep what is stored
_TRUE, _FALSE = "true", "false"


@dataclass
class FormNode:
    field: Field
    name: str
    widget: (
        str  # fieldset, list, text, date, number, integer, select, boolean, quantity, lines, const
    )
    value: str = ""
    unit: str = ""
    unit_choices: list[str] = dataclasses.field(default_factory=list)
    choices: list[str] = dataclasses.field(default_factory=list)
    read_only: bool = False
    source: str = ""
    errors: list[str] = dataclasses.field(default_factory=list)
    children: list[FormNode] = dataclasses.field(default_factory=list)
    rows: list[FormNode] = dataclasses.field(default_factory=list)
    template: FormNode | None = None
    origin: int | None = None
    removed: bool = False
    #: the file to name beside this node (blank where its group already names it)
    source_note: str = ""
    #: the stored value (before rounding for display), to recognise an unchanged post
    stored: Any = None

    @property
    def label(self) -> str:
        return self.field.label

    @property
    def help(self) -> str:
        return self.field.description

    @property
    def required(self) -> bool:
        return self.field.required

    @property
    def item_label(self) -> str:
        """What one row of a list is called ("Authors" -> "author")."""
        item = self.field.item
        if item is not None and item.title:
            return item.title.lower()
        label = self.field.label.lower()
        return label[:-1] if label.endswith("s") and not label.endswith("ss") else label

    @property
    def input_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("[", "-").replace("]", "")

    @property
    def is_container(self) -> bool:
        return self.widget in ("fieldset", "list")

    @property
    def rows_name(self) -> str:
        return self.name + ROWS_SUFFIX

    def all_nodes(self) -> Any:
        yield self
        for child in (*self.children, *self.rows):
            yield from child.all_nodes()

    # -- groups: what a collapsed group says about itself ----------------------------------

    @property
    def ordered_children(self) -> list[FormNode]:
        """Single values first, then the groups: values no longer hide between folded groups."""
        return [c for c in self.children if not c.is_container] + [
            c for c in self.children if c.is_container
        ]

    def _leaves(self) -> list[FormNode]:
        return [n for n in self.all_nodes() if not n.is_container and n.widget != "fieldset"]

    @property
    def filled_count(self) -> int:
        return sum(1 for leaf in self._leaves() if leaf.value.strip())

    @property
    def field_count(self) -> int:
        return len(self._leaves())

    @property
    def has_errors(self) -> bool:
        return any(node.errors for node in self.all_nodes())

    @property
    def missing_required(self) -> bool:
        """A required value is empty where the schema asks for it: on a required path, or in
        a group that holds other values (its required fields then apply)."""
        if self.widget == "list":
            if self.required and not self.rows:
                return True
            return any(row.missing_required for row in self.rows if not row.removed)
        if self.is_container or self.widget == "fieldset" or self.children:
            applies = self.required or self.filled_count > 0 or self.origin is not None
            return applies and any(
                child.missing_required
                for child in self.children
                if child.required or child.is_container or child.widget == "fieldset"
            )
        return self.required and not self.value.strip()

    @property
    def needs_attention(self) -> bool:
        """Open this group: it has a problem or a required value still to fill."""
        return self.has_errors or self.missing_required


def _provenance_source(entry: Any) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, Mapping):
        return str(entry.get("file") or entry.get("source") or "instrument file")
    return "instrument file"


SIGNIFICANT_DIGITS = 6


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        return display_number(value)
    return str(value)


def display_number(value: float, digits: int = SIGNIFICANT_DIGITS) -> str:
    """Rounded for reading: :func:`metadata.display.number`, the one helper of every page."""
    return display.number(value, digits)


def _widget(node: Field) -> str | None:
    if node.kind is Kind.OBJECT:
        return "fieldset"
    if node.kind is Kind.QUANTITY:
        return "quantity"
    if node.kind is Kind.ARRAY and node.item is not None:
        if node.item.kind is Kind.OBJECT:
            return "list"
        if node.item.kind in (Kind.STRING, Kind.NUMBER, Kind.INTEGER):
            return "lines"
        return None
    if node.has_const:
        return "const"
    if node.enum:
        return "select"
    if node.kind is Kind.BOOLEAN:
        return "boolean"
    if node.kind in (Kind.NUMBER, Kind.INTEGER):
        return node.kind.value
    if node.kind is Kind.STRING:
        return "date" if node.format == "date" else "text"
    return None  # free-form values are kept, not edited


def _has_value(value: Any) -> bool:
    return value not in (None, "", [], {})


class MetadataForm:
    """Build with the schema document and the dataset's metadata; pass ``data`` (request.POST)
    to bind it. :meth:`parse` returns the document to save and the input problems."""

    def __init__(
        self,
        *,
        schema: Mapping[str, Any],
        metadata: Mapping[str, Any],
        data: Mapping[str, Any] | None = None,
        mode: str = "all",
    ) -> None:
        self.fields = schema_fields(dict(schema))
        self.stored = oscem_document(metadata or {})
        provenance = (metadata or {}).get(PROVENANCE_KEY)
        self.provenance: dict[str, Any] = provenance if isinstance(provenance, dict) else {}
        self.data = data
        self.mode = mode if mode in MODES else "all"
        self.add_to = data.get(ADD_ACTION, "") if data is not None else ""
        self.errors: list[Problem] = []
        self.sections = self._children(self.fields, "", self.stored, shown=True, in_template=False)
        for section in self.sections:
            _note_sources(section, "")

    @property
    def is_bound(self) -> bool:
        return self.data is not None

    @property
    def adding_row(self) -> bool:
        return bool(self.add_to)

    # -- building -----------------------------------------------------------------------------

    def _source_of(self, path: str) -> str | None:
        """The file a value came from, if ingest extracted it (or anything above it)."""
        candidate = path
        while candidate:
            if candidate in self.provenance:
                return _provenance_source(self.provenance[candidate])
            cut = max(candidate.rfind("."), candidate.rfind("["))
            candidate = candidate[:cut] if cut > 0 else ""
        return None

    def _posted(self, name: str) -> str | None:
        if self.data is None:
            return None
        value = self.data.get(name)
        return None if value is None else str(value)

    def _visible(self, node: Field, stored: Any, name: str, shown: bool) -> bool:
        if self.mode == "all":
            return True
        if node.required and shown:
            return True
        if _has_value(stored):
            return True
        posted = self._posted(name) or self._posted(join_path(name, "value"))
        return bool(posted and posted.strip())

    def _children(
        self, node: Field, name: str, stored: Any, *, shown: bool, in_template: bool
    ) -> list[FormNode]:
        stored_map = stored if isinstance(stored, dict) else {}
        built = []
        for child in node.children:
            child_name = join_path(name, child.name)
            child_stored = stored_map.get(child.name)
            if not self._visible(child, child_stored, child_name, shown):
                continue
            form_node = self._node(
                child,
                child_name,
                child_stored,
                shown=shown and child.required,
                in_template=in_template,
            )
            if form_node is not None:
                built.append(form_node)
        return built

    def _node(
        self, node: Field, name: str, stored: Any, *, shown: bool, in_template: bool
    ) -> FormNode | None:
        widget = _widget(node)
        if widget is None:
            return None
        source = self._source_of(name) if _has_value(stored) else None
        form_node = FormNode(
            field=node, name=name, widget=widget, source=source or "", stored=stored
        )
        use_post = self.is_bound
        if widget == "fieldset":
            form_node.children = self._children(
                node, name, stored, shown=shown, in_template=in_template
            )
            return form_node if form_node.children else None
        if widget == "list":
            # A list the post did not include (the stored data changed meanwhile) is kept.
            use_post = use_post and self._posted(form_node.rows_name) is not None
            self._rows(form_node, stored, use_post=use_post, in_template=in_template)
            return form_node
        if widget == "quantity":
            stored_map = stored if isinstance(stored, dict) else {}
            posted_value = self._posted(join_path(name, "value")) if use_post else None
            posted_unit = self._posted(join_path(name, "unit")) if use_post else None
            form_node.value = (
                posted_value if posted_value is not None else _display(stored_map.get("value"))
            )
            form_node.unit = (
                posted_unit if posted_unit is not None else _display(stored_map.get("unit"))
            )
            form_node.unit_choices = list(node.units)
            if form_node.unit and form_node.unit not in form_node.unit_choices and node.units:
                spelled = [display_unit(u) for u in form_node.unit_choices]
                if display_unit(form_node.unit) in spelled:
                    # "um" stored where "µm" is offered: the stored spelling takes that
                    # choice's place (one choice, spelled once, posted back unchanged)
                    form_node.unit_choices[spelled.index(display_unit(form_node.unit))] = (
                        form_node.unit
                    )
                else:
                    form_node.unit_choices.append(form_node.unit)
            return form_node
        if widget == "lines":
            posted = self._posted(name) if use_post else None
            items = stored if isinstance(stored, list) else []
            form_node.value = (
                posted if posted is not None else "\n".join(_display(i) for i in items)
            )
            return form_node
        if widget == "const":
            form_node.value = _display(node.const)
            return form_node
        posted = self._posted(name) if use_post else None
        form_node.value = posted if posted is not None else _display(stored)
        if widget == "select":
            form_node.choices = [str(choice) for choice in node.enum or ()]
        return form_node

    def _row_count(self, form_node: FormNode, stored_rows: list[Any], use_post: bool) -> int:
        if not use_post:
            return len(stored_rows) or (1 if form_node.required else 0)
        try:
            count = int(self._posted(form_node.rows_name) or 0)
        except ValueError:
            count = 0
        return max(0, min(count, 500))

    def _rows(self, form_node: FormNode, stored: Any, *, use_post: bool, in_template: bool) -> None:
        item = form_node.field.item
        assert item is not None
        stored_rows = stored if isinstance(stored, list) else []
        count = self._row_count(form_node, stored_rows, use_post)
        if use_post and self.add_to == form_node.name:
            count += 1
        for index in range(count):
            row_name = join_path(form_node.name, index)
            origin: int | None = index if not use_post and index < len(stored_rows) else None
            if use_post:
                origin = _int_or_none(self._posted(row_name + ORIGIN_SUFFIX), len(stored_rows))
            row_stored = stored_rows[origin] if origin is not None else {}
            row = FormNode(
                field=item, name=row_name, widget="fieldset", origin=origin, stored=row_stored
            )
            row.removed = bool(use_post and self._posted(row_name + REMOVE_SUFFIX))
            row.children = self._children(
                item, row_name, row_stored, shown=True, in_template=in_template
            )
            form_node.rows.append(row)
        if not form_node.read_only and not in_template:
            template_name = f"{form_node.name}[{INDEX_PLACEHOLDER}]"
            template = FormNode(field=item, name=template_name, widget="fieldset")
            saved, self.data = self.data, None  # a blank row, whatever was posted
            template.children = self._children(
                item, template_name, {}, shown=True, in_template=True
            )
            self.data = saved
            form_node.template = template

    # -- parsing ------------------------------------------------------------------------------

    def parse(self) -> tuple[dict[str, Any], list[Problem]]:
        """The document to save (the stored one with the posted values merged in) and the
        problems of the input itself (a number that is not one)."""
        assert self.data is not None, "parse() needs a bound form"
        problems: list[Problem] = []
        document = self._parse_object(self.sections, self.stored, problems, keep_empty=True)
        return document, problems

    def _parse_object(
        self, nodes: list[FormNode], stored: Any, problems: list[Problem], *, keep_empty: bool
    ) -> Any:
        result = copy.deepcopy(stored) if isinstance(stored, dict) else {}
        for node in nodes:
            if node.read_only:
                continue
            value = self._parse_node(node, result.get(node.field.name), problems)
            if value is _KEEP:
                continue
            if value is _UNSET:
                result.pop(node.field.name, None)
            else:
                result[node.field.name] = value
        consts = [n for n in nodes if n.widget == "const"]
        if not keep_empty and all(key in {n.field.name for n in consts} for key in result):
            return _UNSET  # nothing but constants: the object was left empty
        return result

    def _was_posted(self, node: FormNode) -> bool:
        """Whether the post carried this field: inputs the form did not render (the document
        changed after the page was loaded) must not erase what is stored."""
        assert self.data is not None
        if node.widget in ("fieldset", "const"):
            return True
        if node.widget == "list":
            return node.rows_name in self.data
        if node.widget == "quantity":
            return join_path(node.name, "value") in self.data
        return node.name in self.data

    def _parse_node(self, node: FormNode, stored: Any, problems: list[Problem]) -> Any:
        if not self._was_posted(node):
            return _KEEP
        widget = node.widget
        if widget == "fieldset":
            return self._parse_object(node.children, stored, problems, keep_empty=False)
        if widget == "list":
            return self._parse_rows(node, stored, problems)
        if widget == "const":
            return node.field.const
        if widget == "quantity":
            return self._parse_quantity(node, stored, problems)
        if widget == "lines":
            return self._parse_lines(node, problems)
        return self._parse_scalar(node, node.value, problems)

    def _parse_rows(self, node: FormNode, stored: Any, problems: list[Problem]) -> Any:
        stored_rows = stored if isinstance(stored, list) else []
        items = []
        for row in node.rows:
            if row.removed:
                continue
            row_stored = (
                stored_rows[row.origin]
                if row.origin is not None and row.origin < len(stored_rows)
                else {}
            )
            value = self._parse_object(row.children, row_stored, problems, keep_empty=False)
            if value is not _UNSET:
                items.append(value)
        return items or _UNSET

    def _parse_quantity(self, node: FormNode, stored: Any, problems: list[Problem]) -> Any:
        raw, unit = node.value.strip(), node.unit.strip()
        if not raw:
            return _UNSET
        previous = stored if isinstance(stored, dict) else {}
        if raw == _display(previous.get("value")) and display_unit(unit) == display_unit(
            previous.get("unit")
        ):
            return _KEEP  # shown rounded, posted back as it was: the stored value stays
        number = _parse_number(raw)
        if number is None:
            problems.append(Problem(join_path(node.name, "value"), "enter a number"))
            return _KEEP
        if not unit:
            problems.append(Problem(join_path(node.name, "unit"), "choose a unit"))
            return _KEEP
        keep = {
            k: v for k, v in previous.items() if k not in ("value", "unit", "valueSI", "unitSI")
        }
        return {**keep, "value": number, "unit": unit}

    def _parse_lines(self, node: FormNode, problems: list[Problem]) -> Any:
        item = node.field.item
        lines = [line.strip() for line in node.value.splitlines() if line.strip()]
        if not lines:
            return _UNSET
        if item is None or item.kind is Kind.STRING:
            return lines
        values = []
        for line in lines:
            number = _parse_number(line, integer=item.kind is Kind.INTEGER)
            if number is None:
                problems.append(Problem(node.name, f"{line!r} is not a {_number_word(item)}"))
                return _KEEP
            values.append(number)
        return values

    def _parse_scalar(self, node: FormNode, raw: str, problems: list[Problem]) -> Any:
        text = raw.strip()
        if not text:
            return _UNSET
        widget = node.widget
        if widget in ("number", "integer"):
            if text == _display(node.stored) and isinstance(node.stored, int | float):
                return node.stored  # shown rounded, posted back unchanged
            number = _parse_number(text, integer=widget == "integer")
            if number is None:
                problems.append(Problem(node.name, f"enter a {_number_word(node.field)}"))
                return _KEEP
            return number
        if widget == "boolean":
            if text not in (_TRUE, _FALSE):
                problems.append(Problem(node.name, "choose yes or no"))
                return _KEEP
            return text == _TRUE
        if widget == "select" and text not in node.choices:
            problems.append(Problem(node.name, f"choose one of: {', '.join(node.choices)}"))
            return _KEEP
        return text

    # -- problems -----------------------------------------------------------------------------

    def add_problems(self, problems: list[Problem]) -> None:
        """Put each problem on the deepest rendered field its path is in; the rest on top."""
        nodes = [n for section in self.sections for n in section.all_nodes()]
        for problem in problems:
            owner = None
            for node in nodes:
                if _covers(node.name, problem.path) and (
                    owner is None or len(node.name) > len(owner.name)
                ):
                    owner = node
            if owner is None:
                self.errors.append(problem)
            else:
                owner.errors.append(_message_for(owner, problem))

    @property
    def error_count(self) -> int:
        nodes = (n for section in self.sections for n in section.all_nodes())
        return len(self.errors) + sum(len(n.errors) for n in nodes)


def _note_sources(node: FormNode, shown_above: str) -> None:
    """Name each file once: on a group whose every extracted value came from one file, and on
    a value whose file differs from its group's."""
    if node.is_container or node.widget == "fieldset":
        sources = {n.source for n in node.all_nodes() if n.source and not n.is_container}
        group = next(iter(sources)) if len(sources) == 1 else ""
        if group and group != shown_above:
            node.source_note = group
        for child in (*node.children, *node.rows):
            _note_sources(child, group or shown_above)
        return
    if node.source and node.source != shown_above:
        node.source_note = node.source


def _covers(name: str, path: str) -> bool:
    return path == name or path.startswith(name + ".") or path.startswith(name + "[")


def _message_for(owner: FormNode, problem: Problem) -> str:
    if problem.path == owner.name or owner.widget == "quantity":
        return problem.message
    return f"{problem.path[len(owner.name) :].lstrip('.')}: {problem.message}"


def _int_or_none(raw: str | None, limit: int) -> int | None:
    try:
        value = int(raw or "")
    except ValueError:
        return None
    return value if 0 <= value < limit else None


def _number_word(node: Field) -> str:
    return "whole number" if node.kind is Kind.INTEGER else "number"


def _parse_number(text: str, *, integer: bool = False) -> int | float | None:
    try:
        number = int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        return None
    if isinstance(number, float):
        if not math.isfinite(number):
            return None
        if integer:
            return int(number) if number.is_integer() else None
    return number
