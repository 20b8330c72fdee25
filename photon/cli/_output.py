"""Render command results as a kubectl-style table, JSON, YAML or CSV, and humanize numbers."""

from __future__ import annotations

import csv
import enum
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .._text import escape_controls
from ..errors import UsageError
from ._colour import paint_state

FORMATS = ("table", "json", "yaml", "csv")
_FORMULA_START = ("=", "+", "-", "@")  # what a spreadsheet would run as a formula
_INDENT = "  "
_GAP = "  "
_BYTE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


class _Dumper(yaml.SafeDumper):
    """A SafeDumper that writes enums (our StrEnum states) as their values."""


_Dumper.add_multi_representer(enum.Enum, lambda dumper, value: dumper.represent_data(value.value))


def render(
    data: Any,
    fmt: str,
    *,
    columns: Sequence[tuple[str, str]] | None = None,
    colour: bool = False,
) -> str:
    """Render `data` as "table", "json", "yaml" or "csv", without a trailing newline; raises
    UsageError.

    For a table or CSV, `data` is a list of rows shown through `columns` (header, dotted key)
    or a dict shown as `key: value` lines (CSV: `key,value` rows); every key and value shown
    there has its control characters escaped (`\x1b`), so what an agent or a tool wrote cannot
    move the cursor, recolour the terminal or forge a line. JSON and YAML escape them in their
    own way. CSV cells keep full precision (no humanizing) and nested values as JSON. With
    `colour`, a table's STATE column is in its states' colours.
    """
    if fmt == "json":
        return json.dumps(data, indent=2, sort_keys=False)
    if fmt == "yaml":
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
        return text.rstrip("\n")
    if fmt == "table":
        if isinstance(data, Mapping):
            return "\n".join(_show_lines(data))
        if isinstance(data, list | tuple):
            return "\n".join(_table_lines(data, columns, colour=colour))
        return cell(data)
    if fmt == "csv":
        return _csv(data, columns)
    raise UsageError(f"unknown output format '{fmt}' (expected {', '.join(FORMATS)})")


def _table_lines(
    rows: Sequence[Any], columns: Sequence[tuple[str, str]] | None, *, colour: bool = False
) -> list[str]:
    """Lay rows out in aligned columns under uppercase headers; non-dict rows one per line."""
    if not all(isinstance(row, Mapping) for row in rows):
        return [cell(row) for row in rows]
    if columns is None:
        keys = dict.fromkeys(key for row in rows for key in row)
        columns = [(str(key), str(key)) for key in keys]
    grid = [[escape_controls(header.upper()) for header, _ in columns]]
    grid += [[cell(lookup(row, key)) for _, key in columns] for row in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    # Padded by the text's own width, so a colour's escape codes do not count.
    paint = [colour and header.lower() == "state" for header, _ in columns]
    return [
        _GAP.join(
            (paint_state(text) if painted and index else text) + " " * (width - len(text))
            for text, width, painted in zip(line, widths, paint, strict=True)
        ).rstrip()
        for index, line in enumerate(grid)
    ]


def _csv(data: Any, columns: Sequence[tuple[str, str]] | None) -> str:
    if isinstance(data, Mapping):
        records: list[list[Any]] = [["key", "value"], *([k, v] for k, v in data.items())]
    elif isinstance(data, list | tuple) and all(isinstance(row, Mapping) for row in data):
        if columns is None:
            keys = dict.fromkeys(key for row in data for key in row)
            columns = [(str(key), str(key)) for key in keys]
        records = [[header for header, _ in columns]]
        records += [[lookup(row, key) for _, key in columns] for row in data]
    else:
        records = [[item] for item in (data if isinstance(data, list | tuple) else [data])]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows([[csv_cell(value) for value in record] for record in records])
    return out.getvalue().rstrip("\n")


def csv_cell(value: Any) -> str:
    """One CSV cell: None as empty, numbers in full, nested values as JSON; text has its
    control characters escaped and, when a spreadsheet would take it for a formula, a leading
    apostrophe."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping | list | tuple):
        value = json.dumps(value, sort_keys=False)
    text = escape_controls(str(value))
    return "'" + text if len(text) > 1 and text.startswith(_FORMULA_START) else text


def _show_lines(data: Mapping[Any, Any]) -> list[str]:
    """Show a mapping as aligned `key: value` lines, nesting indented by two spaces."""
    keys = [escape_controls(str(key)) for key in data]
    width = max((len(key) for key in keys), default=0) + 1
    lines: list[str] = []
    for key, value in zip(keys, data.values(), strict=True):
        label = f"{key}:"
        nested: list[str] = []
        if isinstance(value, Mapping) and value:
            nested = _show_lines(value)
        elif _is_table(value):
            nested = _table_lines(value, None)
        elif isinstance(value, str) and "\n" in value:
            nested = [escape_controls(line) for line in value.rstrip("\n").split("\n")]
        if nested:
            lines.append(label)
            lines += [_INDENT + line if line else line for line in nested]
        else:
            lines.append(f"{label.ljust(width)} {cell(value)}")
    return lines


def _is_table(value: Any) -> bool:
    """Tell whether a value is a non-empty list of mappings."""
    return (
        isinstance(value, list | tuple)
        and bool(value)
        and all(isinstance(item, Mapping) for item in value)
    )


def lookup(row: Mapping[Any, Any], key: str) -> Any:
    """Return `row[key]`, else follow the dotted path `a.b.c` into nested dicts; None if missing."""
    if key in row:
        return row[key]
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def cell(value: Any) -> str:
    """Format one value on one line: None and empties as "-", lists joined by ",", dicts as k=v;
    a tab shows as a space, other control characters escaped (`\n`, `\x1b`)."""
    if value is None or (isinstance(value, str | list | tuple | dict) and not value):
        return "-"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _short_float(value)
    if isinstance(value, Mapping):
        return ",".join(f"{escape_controls(str(k))}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value)
    return escape_controls(str(value).replace("\t", " "))


def _short_float(value: float) -> str:
    """Format a float with at most two decimals and no trailing zeros; one under a hundredth
    to two significant digits (a cost of $0.0003 is not 0)."""
    if not math.isfinite(value):
        return str(value)
    if 0 < abs(value) < 0.005:
        return f"{value:.2g}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def human_duration(seconds: float | None) -> str:
    """Format a duration as "850ms", "4.2s", "3m12s", "2h05m" or "1d04h"; None gives "-"."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(seconds, 0.0)
    if round(seconds * 1000) < 1000:
        return f"{round(seconds * 1000)}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    total = round(seconds)
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    minutes = total // 60
    if minutes < 24 * 60:
        return f"{minutes // 60}h{minutes % 60:02d}m"
    hours = minutes // 60
    return f"{hours // 24}d{hours % 24:02d}h"


def human_age(ts: float | None, now: float) -> str:
    """Format the time since `ts` in its largest unit ("12s", "5m", "3h", "2d"); None gives "-"."""
    if ts is None or not math.isfinite(ts):
        return "-"
    return _largest_unit(now - ts)


def human_time_left(ts: float | None, now: float) -> str:
    """Format the time until `ts` as `human_age` does ("14m"; "0s" once past); None gives "-"."""
    if ts is None or not math.isfinite(ts):
        return "-"
    return _largest_unit(ts - now)


def _largest_unit(seconds: float) -> str:
    whole = int(max(seconds, 0.0))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def human_bytes(n: int | None) -> str:
    """Format a byte count in binary units ("512B", "1.5KiB", "3.2GiB"); None gives "-"."""
    if n is None:
        return "-"
    if n < 0:
        return "-" + human_bytes(-n)
    if n < 1024:
        return f"{n}B"
    value = float(n)
    for unit in _BYTE_UNITS:
        value /= 1024
        if round(value, 1) < 1024 or unit == _BYTE_UNITS[-1]:
            return f"{value:.1f}".removesuffix(".0") + unit
    raise AssertionError("unreachable")
