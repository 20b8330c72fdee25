"""Times as people and scripts read them: RFC 3339 in UTC (`2026-12-01T16:20:00Z`).

The client hands out epoch floats; what photonctl prints in `show` and in JSON and YAML is the
record with each of its time fields (`time`, `*_at`) as an RFC 3339 string. Only the records'
own fields are converted: a tool's outputs or a task's inputs keep whatever they hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from .._utc import rfc3339
from ..client import Task


def plain(record: Any) -> Any:
    """A client record (and the records it holds) as plain data for JSON and YAML, its time
    fields as RFC 3339 strings; a task's spec fields beside its own, as `Task.to_dict` has
    them."""
    if isinstance(record, Task):
        data = _fields(record)
        spec = data.pop("spec")
        return {"id": data.pop("id"), **spec, **data}
    if is_dataclass(record) and not isinstance(record, type):
        return _fields(record)
    if isinstance(record, Mapping):
        return {key: plain(value) for key, value in record.items()}
    if isinstance(record, list | tuple):
        return [plain(item) for item in record]
    return record


def _fields(record: Any) -> dict[str, Any]:
    return {f.name: _value(f.name, getattr(record, f.name)) for f in fields(record)}


def _value(name: str, value: Any) -> Any:
    is_time = name == "time" or name.endswith("_at")
    if is_time and isinstance(value, int | float) and not isinstance(value, bool):
        return rfc3339(value, millis=True)
    return plain(value)
