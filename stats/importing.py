"""Reading an EMDB/EMPIAR cross-reference export (CSV or JSON) into clean rows, each bad row
reported with its line number and left out whole."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EMDB_ID = re.compile(r"^EMD-\d{4,6}$")
EMPIAR_ID = re.compile(r"^EMPIAR-\d{5,6}$")
REQUIRED_COLUMNS = ("emdb_id", "deposition_date")
LIST_SEPARATORS = re.compile(r"[;|]")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (nothing is imported)."""


@dataclass
class ParsedRows:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(item).strip() for item in value if str(item).strip()]
    if isinstance(value, str):
        return [part.strip() for part in LIST_SEPARATORS.split(value) if part.strip()]
    raise ValueError(f"expected a list or a ';'-separated text, not {type(value).__name__}")


def clean_row(raw: dict[str, Any]) -> dict[str, Any]:
    """The row as stored, or ValueError naming the first problem."""
    emdb_id = str(raw.get("emdb_id") or "").strip().upper()
    if not EMDB_ID.match(emdb_id):
        raise ValueError(f"emdb_id {emdb_id!r} is not an EMDB id like EMD-1234")
    date_text = str(raw.get("deposition_date") or "").strip()
    try:
        deposition_date = dt.date.fromisoformat(date_text[:10])
    except ValueError:
        raise ValueError(f"deposition_date {date_text!r} is not a date like 2024-05-31") from None
    if deposition_date > dt.date.today():
        raise ValueError(f"deposition_date {date_text} is in the future")
    empiar_ids = [item.upper() for item in _as_list(raw.get("empiar_ids"))]
    for empiar_id in empiar_ids:
        if not EMPIAR_ID.match(empiar_id):
            raise ValueError(f"empiar id {empiar_id!r} is not like EMPIAR-10001")
    countries = _as_list(raw.get("funding_countries"))
    title = str(raw.get("title") or "").strip()
    if len(title) > 500:
        raise ValueError("title is longer than 500 characters")
    return {
        "emdb_id": emdb_id,
        "title": title,
        "deposition_date": deposition_date,
        "funding_countries": countries,
        "empiar_ids": sorted(set(empiar_ids)),
    }


def _parse(records: list[tuple[int, Any]]) -> ParsedRows:
    parsed = ParsedRows()
    seen: dict[str, int] = {}
    for line, raw in records:
        if isinstance(raw, str):
            parsed.errors.append(f"line {line}: {raw}")
            continue
        if not isinstance(raw, dict):
            parsed.errors.append(f"line {line}: expected an object with emdb_id, deposition_date")
            continue
        try:
            row = clean_row(raw)
        except ValueError as exc:
            parsed.errors.append(f"line {line}: {exc}")
            continue
        if row["emdb_id"] in seen:
            parsed.errors.append(
                f"line {line}: {row['emdb_id']} repeats line {seen[row['emdb_id']]}"
            )
            continue
        seen[row["emdb_id"]] = line
        parsed.rows.append((line, row))
    return parsed


def read_export(path: Path) -> ParsedRows:
    """Rows of a CSV (header: emdb_id, deposition_date, funding_countries, empiar_ids[, title];
    lists separated by ';') or a JSON list of such objects (lists as JSON arrays)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportFileError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        return _parse_json(path, text)
    return _parse_csv(path, text)


def _parse_csv(path: Path, text: str) -> ParsedRows:
    reader = csv.DictReader(text.splitlines())
    columns = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ImportFileError(
            f"{path}: the header needs the columns {', '.join(REQUIRED_COLUMNS)} "
            f"(missing: {', '.join(missing)}); found: {', '.join(columns) or 'nothing'}"
        )
    reader.fieldnames = columns
    records: list[tuple[int, Any]] = []
    for raw in reader:
        if None in raw:  # more cells than columns
            records.append((reader.line_num, f"{len(raw[None])} more cells than columns"))
            continue
        records.append((reader.line_num, raw))
    return _parse(records)


def _line_numbers(text: str) -> list[int]:
    """The line of each top-level object of a JSON array (for messages)."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return lines
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)


def _parse_json(path: Path, text: str) -> ParsedRows:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, list):
        raise ImportFileError(f"{path}: expected a JSON list of entries")
    lines = _line_numbers(text)
    return _parse(list(zip(lines, data, strict=True)))
