"""Label selectors: `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, comma-separated."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._text import shorten
from .errors import InvalidArgumentError

Labels = Mapping[str, str]

_KEY = r"[A-Za-z0-9][A-Za-z0-9._/-]*+"
# Matched against a stripped term, with possessive quantifiers and one way to read each space:
# linear in the term's length (`\s*` next to `\s+` backtracked quadratically on long runs of
# spaces).
_TERM = re.compile(
    rf"""(?P<neg>!)\s*+(?P<nkey>{_KEY})
      | (?P<skey>{_KEY})
        (?:\s*+(?P<op>!=|==|=)|\s++(?P<word>in|notin)\s++)
        \s*+(?P<value>\([^)]*+\)|[^\s,()]*+)
      | (?P<ekey>{_KEY})""",
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Selector:
    """A parsed selector; `matches(labels)` is true when every term holds."""

    text: str
    terms: tuple[Callable[[Labels], bool], ...]

    def matches(self, labels: Labels) -> bool:
        return all(term(labels) for term in self.terms)


def _split_terms(text: str) -> list[str]:
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_selector(text: str) -> Selector:
    """Raises InvalidArgumentError naming the term that does not parse."""
    terms: list[Callable[[Labels], bool]] = []
    for raw in _split_terms(text):
        match = _TERM.fullmatch(raw.strip())
        if match is None:
            raise InvalidArgumentError(f"selector term {shorten(raw.strip())!r} is not valid")
        terms.append(_term(match))
    return Selector(text, tuple(terms))


def _term(match: re.Match[str]) -> Callable[[Labels], bool]:
    if key := match["nkey"]:
        return lambda labels: key not in labels
    if key := match["ekey"]:
        return lambda labels: key in labels
    key, op, value = match["skey"], match["op"] or match["word"], match["value"]
    if op in {"in", "notin"}:
        if not (value.startswith("(") and value.endswith(")")):
            raise InvalidArgumentError(f"selector term needs a (list) after {op}: {shorten(key)}")
        options = frozenset(v.strip() for v in value[1:-1].split(",") if v.strip())
        if op == "in":
            return lambda labels: labels.get(key) in options
        return lambda labels: labels.get(key) not in options
    if op == "!=":
        return lambda labels: labels.get(key) != value
    return lambda labels: labels.get(key) == value
