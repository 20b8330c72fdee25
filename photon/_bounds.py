"""Fixed bounds on what PHOTON parses, and JSON read within bounds.

The hub's limits (`photon.hub.core.Limits`) take their defaults from these numbers, and the
client and photonctl, which cannot read the hub's config, check what they send against them:
so a hub at its defaults and photonctl refuse the same things. What a client or an agent reads
from a peer is held to `MAX_READ_DEPTH`, deeper than anything it may send (a hub may be set to
take more) and shallow enough for everything that walks it recursively (dataclasses.asdict,
the YAML dumper, jsonschema, photonctl's tables).

`json.loads` recurses in C: it only gives up, with RecursionError, about a thousand levels
down, and `json.dumps` of what it returned fails sooner still. `load_json` measures the depth
of the text first with a scan that is linear and does not recurse.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 32  # nesting of lists and objects in one document (inputs, a workflow)
MAX_READ_DEPTH = 128  # nesting of what a client or an agent reads from a peer
MAX_DOCUMENT_BYTES = 1024 * 1024  # one document as JSON: a task's inputs, a workflow
MAX_NAME_LENGTH = 63  # a name, a label's key or value
MAX_LABELS = 64
MAX_SELECTOR_LENGTH = 1024
MAX_HOSTNAME_LENGTH = 253  # as DNS allows
MAX_QUOTE = 200  # what an error quotes of what it was given
MAX_PATTERN_DEPTH = 200

_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))


def exceeds(what: str, limit_name: str, value: int, limit: int) -> str:
    """The one wording of a value over a limit: `what exceeds the limit name (value > limit)`."""
    return f"{what} exceeds the limit {limit_name} ({value} > {limit})"


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonBounds:
    """How deep and how large one JSON document may be, and what errors call those limits
    (bounds no one can set have no name)."""

    max_depth: int = MAX_JSON_DEPTH
    max_bytes: int = MAX_DOCUMENT_BYTES
    depth_limit: str = "max-input-depth"
    bytes_limit: str = "max-input-bytes"

    def too_deep(self) -> str:
        if not self.depth_limit:
            return f"nested deeper than {self.max_depth} levels"
        return f"nested deeper than the limit {self.depth_limit} ({self.max_depth})"

    def too_large(self, size: int) -> str:
        if not self.bytes_limit:
            return f"{size} bytes, more than {self.max_bytes}"
        return exceeds("size", self.bytes_limit, size, self.max_bytes)


DOCUMENT = JsonBounds()
"""What photonctl and the client send as a task's or a workflow's inputs: what a hub at its
default limits takes."""

WORKFLOW = JsonBounds(bytes_limit="max-workflow-bytes")
"""What photonctl and the client send as a workflow document."""

READ = JsonBounds(
    max_depth=MAX_READ_DEPTH,
    max_bytes=64 * MAX_DOCUMENT_BYTES,  # above any gRPC message: depth is what matters here
    depth_limit="",
    bytes_limit="",
)
"""What a client or an agent takes from a peer."""


class OutOfBounds(ValueError):
    """A document is nested too deeply or is too large; the message says which, naming the
    limit."""


def utf8_size(text: str) -> int:
    """The size of `text` in UTF-8 (a lone surrogate counts as three bytes)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _brackets(text: str) -> bytes:
    """The text's brackets outside strings, `{}` written as `[]`."""
    # Without its escapes (`\\` first, as JSON reads them left to right), every quote left
    # opens or closes a string: what is outside them is every second piece between quotes. Up
    # to the first point where a text and JSON part ways, this sees what json.loads would.
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(unescaped.split('"')[::2]).encode("utf-8", "surrogatepass")
    return outside.translate(_SQUARE, _NOT_BRACKETS)


def json_depth(text: str, most: int | None = None) -> int:
    """How deeply the JSON text nests lists and objects (0 for a scalar), without parsing it
    and without recursing: brackets inside strings do not count. For text that is not JSON, at
    least as deep as json.loads would get before it failed. With `most`, it stops counting past
    `most` (the cost is then at most `most` + 1 passes over the text's brackets)."""
    brackets = _brackets(text)
    # Each pass takes out the innermost pairs: a balanced text is empty after as many passes as
    # it is deep. What is left unbalanced is `]]][[[`, and its openers are levels too.
    passes = 0
    while most is None or passes <= most:
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):
            return passes + brackets.count(b"[")
        brackets, passes = inner, passes + 1
    return passes


@functools.lru_cache(maxsize=8)
def _shallow(most: int) -> re.Pattern[bytes]:
    """What brackets are when json_depth would say at most `most`: a group opened at each
    level closes or the text ends inside it, and closers with no group open are passed over.
    Each character has one reading, and a level too many fails every enclosing group at once
    (no level reads again what another has read): one linear pass, at the regex engine's
    speed, where json_depth takes `most` + 1 of them."""
    inside = b""  # what a group at the deepest level allowed may hold: nothing
    for _ in range(most - 1):
        inside = rb"(?:\[" + inside + rb"(?:\]|\Z))*+"
    top = rb"\]" if most == 0 else rb"\]|\[" + inside + rb"(?:\]|\Z)"
    return re.compile(rb"(?:" + top + rb")*+")


def _deeper(text: str, most: int) -> bool:
    """Whether json_depth(text) > most, in one pass."""
    if most > MAX_PATTERN_DEPTH:  # beyond what the regex compiler nests
        return json_depth(text, most) > most
    return _shallow(most).fullmatch(_brackets(text)) is None


def check_json_text(text: str, bounds: JsonBounds = DOCUMENT) -> None:
    """Raise OutOfBounds when the JSON text is larger or deeper than `bounds` allow."""
    size = utf8_size(text)
    if size > bounds.max_bytes:
        raise OutOfBounds(bounds.too_large(size))
    # No more opening brackets than levels allowed: nothing to measure.
    if text.count("[") + text.count("{") <= bounds.max_depth:
        return
    if _deeper(text, bounds.max_depth):
        raise OutOfBounds(bounds.too_deep())


def load_json(text: str, bounds: JsonBounds = DOCUMENT) -> Any:
    """The value of the JSON text. Raises OutOfBounds (checked before parsing) and ValueError
    (json.JSONDecodeError) for text that is not JSON."""
    check_json_text(text, bounds)
    try:
        return json.loads(text)
    except RecursionError:  # bounds set deeper than this process can parse
        raise OutOfBounds(bounds.too_deep()) from None


def dump_json(value: Any, bounds: JsonBounds = DOCUMENT) -> str:
    """The JSON text of `value`. Raises OutOfBounds when it is too deep (also before
    json.dumps would recurse too far) or too large, and ValueError when it is not JSON
    (TypeError for a value of another type, ValueError for one that contains itself)."""
    try:
        text = json.dumps(value)
    except RecursionError:
        raise OutOfBounds(bounds.too_deep()) from None
    check_json_text(text, bounds)
    return text
