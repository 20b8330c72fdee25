"""Parse `--input` items (httpie's k=v, k:=JSON, k=@file), `--labels`, durations and YAML.

What is parsed is held to photonctl's fixed bounds (`photon._bounds`), which are the limits a
hub takes by default: files up to MAX_DOCUMENT_BYTES, documents nested up to MAX_JSON_DEPTH
levels. A YAML alias repeats what its anchor names: a few lines of aliases of aliases expand to
gigabytes ("billion laughs"), so a YAML document's expanded size is counted on its composed
nodes, where an alias is one shared node, before any of it is built.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._bounds import (
    DOCUMENT,
    MAX_DOCUMENT_BYTES,
    MAX_JSON_DEPTH,
    JsonBounds,
    OutOfBounds,
    dump_json,
    load_json,
)
from .._duration import parse_duration as _parse_duration
from .._env import check_env
from .._text import escape_controls, has_controls
from ..errors import InvalidArgumentError, UsageError

_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_LABEL_MAX = 63
_SHOWN_ITEM_MAX = 60

if TYPE_CHECKING:
    import yaml


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """A SafeLoader that keeps timestamps as strings, so every value stays JSON-compatible, and
    that refuses (OutOfBounds) a document nested deeper than MAX_JSON_DEPTH or expanding to
    more than MAX_DOCUMENT_BYTES, before constructing it."""
    # yaml is imported only for an --inputs-file that is not JSON: photon-agent imports this
    # module for its labels, and yaml would stay in the daemon's memory for nothing.
    import yaml

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers = {
            first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        _composing = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            # Composing recurses once a level: stop before Python's recursion limit does (a
            # scalar is one call below its collection, hence the one more).
            self._composing += 1
            try:
                if self._composing > MAX_JSON_DEPTH + 1:
                    raise OutOfBounds(DOCUMENT.too_deep())
                return super().compose_node(parent, index)
            finally:
                self._composing -= 1

        def compose_document(self) -> Any:
            node = super().compose_document()
            if node is not None:
                _check_expansion(node)
            return node

    return Loader


def _check_expansion(root: yaml.Node) -> None:
    """Raise OutOfBounds when the composed document would be deeper than MAX_JSON_DEPTH or,
    through its aliases, larger than MAX_DOCUMENT_BYTES once they are expanded (without
    aliases it is no larger than its text, and its JSON is measured exactly later). Each node is
    measured once (an alias is the node it names), without recursion: linear in the composed
    document. A node that contains itself counts once; building it then says it is circular."""
    import yaml  # see _loader

    measured: dict[int, tuple[int, int]] = {}  # node id -> (depth, bytes as JSON, roughly)
    visiting: set[int] = set()
    reached: set[int] = set()
    aliased = False  # some node is reached twice: an alias repeats it
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack[-1]
        key = id(node)
        if key in measured:
            stack.pop()
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if key not in visiting:
            visiting.add(key)
            for child in children:
                aliased = aliased or id(child) in reached
                reached.add(id(child))
            stack += [c for c in children if id(c) not in measured and id(c) not in visiting]
            continue
        stack.pop()
        visiting.discard(key)
        parts = [measured.get(id(c), (0, 0)) for c in children]
        if isinstance(node, yaml.ScalarNode):
            depth, size = 0, len(node.value)
        else:
            depth = 1 + max((d for d, _ in parts), default=0)
            size = 2 + len(children) + sum(b for _, b in parts)
        if depth > MAX_JSON_DEPTH:
            raise OutOfBounds(DOCUMENT.too_deep())
        if aliased and size > MAX_DOCUMENT_BYTES:
            raise OutOfBounds(
                f"expands to more than {MAX_DOCUMENT_BYTES} bytes (aliases repeat what they name)"
            )
        measured[key] = depth, size


def read_text_file(path: str, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> str:
    """Return the UTF-8 text of the file at `path` (`~` expanded), if it is no larger than
    `max_bytes`; raises UsageError."""
    try:
        with open(os.path.expanduser(path), "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > max_bytes:
        raise UsageError(f"cannot read {path}: larger than {max_bytes} bytes")
    try:
        return data.decode("utf-8")
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
    if items:
        check_json(inputs, "inputs")
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
        return key, load_json(value)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{_show(item)}: not valid JSON ({exc.msg} at char {exc.pos + 1})"
        ) from None
    except OutOfBounds as exc:
        raise UsageError(f"{_show(item)}: {exc}") from None


def _show(item: str) -> str:
    """Quote an item for a one-line error message, shortening long ones."""
    if len(item) > _SHOWN_ITEM_MAX:
        item = item[: _SHOWN_ITEM_MAX - 3] + "..."
    return "--input '" + escape_controls(item) + "'"


def _parse_inputs_file(text: str) -> dict[str, Any]:
    """Parse an `--inputs-file` holding a JSON or YAML object; raises UsageError."""
    try:
        data = load_json(text)
    except json.JSONDecodeError:
        data = _parse_inputs_yaml(text)
    except OutOfBounds as exc:
        raise UsageError(f"--inputs-file: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError("--inputs-file: expected a JSON or YAML object")
    for key in data:
        if not isinstance(key, str):
            raise UsageError(
                f"--inputs-file: keys must be strings, got {escape_controls(repr(key))}"
            )
    check_json(data, "--inputs-file")
    return data


def _parse_inputs_yaml(text: str) -> Any:
    import yaml  # see _loader

    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        reason = _yaml_reason(exc)
        raise UsageError(f"--inputs-file: not valid JSON or YAML ({reason})") from None
    except OutOfBounds as exc:
        raise UsageError(f"--inputs-file: {exc}") from None


def load_yaml(text: str) -> Any:
    """Parse YAML (or JSON) text, keeping timestamps as text; raises yaml.YAMLError, and
    OutOfBounds for a document nested deeper than MAX_JSON_DEPTH or expanding (its aliases
    repeated) to more than MAX_DOCUMENT_BYTES: that is found before the document is built."""
    import yaml  # see _loader

    return yaml.load(text, Loader=_loader())  # noqa: S506 - _loader() is a SafeLoader


def check_json(data: Any, where: str, bounds: JsonBounds = DOCUMENT) -> None:
    """Raise UsageError naming `where` unless `data` can be sent as JSON within `bounds`: YAML
    can also hold binary values, sets and anchors that refer to themselves."""
    try:
        dump_json(data, bounds)
    except OutOfBounds as exc:
        raise UsageError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
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
        if has_controls(value):
            raise UsageError(f"label {key!r}: value has a control character")
        if key in labels:
            raise UsageError(f"label '{part}': duplicate key '{key}'")
        labels[key] = value
    return labels


def parse_env(items: Sequence[str]) -> dict[str, str]:
    """Parse `--env NAME=VALUE` items (a value `secret:NAME` references a secret) into a dict;
    raises UsageError for an item without "=", an empty or repeated name, or a NUL byte."""
    env: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"--env {_show_env(item)}: expected NAME=VALUE")
        if key in env:
            raise UsageError(f"--env {_show_env(key)}: given twice")
        env[key] = value
    try:
        check_env(env)
    except InvalidArgumentError as exc:
        raise UsageError(f"--{exc}") from None
    return env


def _show_env(item: str) -> str:
    if len(item) > _SHOWN_ITEM_MAX:
        item = item[: _SHOWN_ITEM_MAX - 3] + "..."
    return "'" + escape_controls(item) + "'"


def parse_duration(text: str) -> float:
    """Parse `90`, `90s`, `15m`, `1h30m`, `500ms` or `2d` into seconds; raises UsageError."""
    try:
        return _parse_duration(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
