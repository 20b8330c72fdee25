"""Parse `--input` items (httpie's k=v, k:=JSON, k=@file), `--labels`, durations and YAML."""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._duration import parse_duration as _parse_duration
from ..errors import UsageError

_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_LABEL_MAX = 63
_SHOWN_ITEM_MAX = 60

if TYPE_CHECKING:
    import yaml


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """A SafeLoader that keeps timestamps as strings, so every value stays JSON-compatible."""
    # yaml is imported only for an --inputs-file that is not JSON: photon-agent imports this
    # module for its labels, and yaml would stay in the daemon's memory for nothing.
    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

    return Loader


def read_text_file(path: str) -> str:
    """Return the UTF-8 text of the file at `path` (`~` expanded); raises UsageError."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageError(f"cannot read {path}: not UTF-8 text ({exc.reason})") from exc


def parse_inputs(
    items: Sequence[str],
    *,
    inputs_file_text: str | None = None,
    read_file: Callable[[str], str] = read_text_file,
) -> dict[str, Any]:
    """Merge the `--inputs-file` object with `--input` items (later ones win); raises UsageError.

    `k=v` is a string, `k:=JSON` a typed value, `k=@path` the file's text and `k:=@path` the
    file's JSON. A string that starts with `@` is passed as `k:='"@text"'`.
    """
    inputs = _parse_inputs_file(inputs_file_text) if inputs_file_text is not None else {}
    for item in items:
        key, value = _parse_item(item, read_file)
        inputs[key] = value
    return inputs


def _parse_item(item: str, read_file: Callable[[str], str]) -> tuple[str, Any]:
    """Split one `--input` item into its key and value; raises UsageError."""
    eq = item.find("=")
    if eq < 0:
        raise UsageError(f"{_show(item)}: expected k=v, k:=JSON or k=@file")
    # `:=` counts only when it is the first `=`: `url=http://x:=y` is a plain string.
    typed = eq > 0 and item[eq - 1] == ":"
    key = item[: eq - 1] if typed else item[:eq]
    value = item[eq + 1 :]
    if not key:
        raise UsageError(f"{_show(item)}: empty key")
    if value.startswith("@"):
        path = value[1:]
        if not path:
            raise UsageError(f"{_show(item)}: empty file path after '@'")
        value = read_file(path)
    if not typed:
        return key, value
    try:
        return key, json.loads(value)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{_show(item)}: not valid JSON ({exc.msg} at char {exc.pos + 1})"
        ) from None
    except RecursionError:
        raise UsageError(f"{_show(item)}: JSON nested too deeply") from None


def _show(item: str) -> str:
    """Quote an item for a one-line error message, shortening long ones."""
    if len(item) > _SHOWN_ITEM_MAX:
        item = item[: _SHOWN_ITEM_MAX - 3] + "..."
    return "--input '" + item.replace("\n", "\\n") + "'"


def _parse_inputs_file(text: str) -> dict[str, Any]:
    """Parse an `--inputs-file` holding a JSON or YAML object; raises UsageError."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = _parse_inputs_yaml(text)
    except RecursionError:
        raise UsageError("--inputs-file: nested too deeply") from None
    if not isinstance(data, dict):
        raise UsageError("--inputs-file: expected a JSON or YAML object")
    for key in data:
        if not isinstance(key, str):
            raise UsageError(f"--inputs-file: keys must be strings, got {key!r}")
    check_json(data, "--inputs-file")
    return data


def _parse_inputs_yaml(text: str) -> Any:
    import yaml  # see _loader

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        reason = _yaml_reason(exc)
        raise UsageError(f"--inputs-file: not valid JSON or YAML ({reason})") from None
    except RecursionError:
        raise UsageError("--inputs-file: nested too deeply") from None


def load_yaml(text: str) -> Any:
    """Parse YAML (or JSON) text, keeping timestamps as text; raises yaml.YAMLError, and
    RecursionError for a document nested too deeply."""
    import yaml  # see _loader

    return yaml.load(text, Loader=_loader())  # noqa: S506 - _loader() is a SafeLoader


def check_json(data: Any, where: str) -> None:
    """Raise UsageError naming `where` unless `data` can be sent as JSON: YAML can also hold
    binary values, sets and anchors that refer to themselves."""
    try:
        json.dumps(data)
    except (TypeError, ValueError, RecursionError) as exc:
        raise UsageError(f"{where}: not JSON-compatible ({exc})") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """Describe a YAML error on one line."""
    import yaml  # see _loader; already loaded when there is a YAML error

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem and exc.problem_mark:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1} column {mark.column + 1}"
    return " ".join(str(exc).split())


def parse_labels(text: str) -> dict[str, str]:
    """Parse `k=v,k2=v2` into a dict (empty text gives {}); raises UsageError."""
    labels: dict[str, str] = {}
    for raw in text.split(","):
        part = raw.strip()
        if not part:
            continue
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq:
            raise UsageError(f"label '{part}': expected k=v")
        if len(key) > _LABEL_MAX or not _LABEL_KEY.fullmatch(key):
            raise UsageError(
                f"label '{part}': invalid key '{key}' (letters, digits and ._/- not first, "
                f"at most {_LABEL_MAX} chars)"
            )
        if "=" in value:
            raise UsageError(f"label '{part}': value must not contain '='")
        if len(value) > _LABEL_MAX:
            raise UsageError(f"label '{part}': value longer than {_LABEL_MAX} chars")
        if key in labels:
            raise UsageError(f"label '{part}': duplicate key '{key}'")
        labels[key] = value
    return labels


def parse_duration(text: str) -> float:
    """Parse `90`, `90s`, `15m`, `1h30m`, `500ms` or `2d` into seconds; raises UsageError."""
    try:
        return _parse_duration(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
