"""What names, labels, hostnames and selectors may hold, checked wherever one arrives.

A name is `[A-Za-z0-9][A-Za-z0-9._-]*` (a label's key may also hold `/`); a label's value and
a hostname are printable text without control characters. The length limits are the hub's
(`photon.hub.core.Limits`); their defaults come from `photon._bounds`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._bounds import (
    MAX_HOSTNAME_LENGTH,
    MAX_LABELS,
    MAX_NAME_LENGTH,
    MAX_SELECTOR_LENGTH,
    exceeds,
)
from ._text import has_controls, shorten
from .errors import InvalidArgumentError

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_LABEL_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")


def _length(text: str, what: str, limit_name: str, limit: int) -> None:
    if len(text) > limit:
        raise InvalidArgumentError(exceeds(what, limit_name, len(text), limit))


def check_name(name: str, field: str, *, max_length: int = MAX_NAME_LENGTH) -> None:
    """Raise InvalidArgumentError naming `field` unless `name` is a name (empty is not)."""
    _length(name, f"{field}: length", "max-name-length", max_length)
    if not _NAME.fullmatch(name):
        raise InvalidArgumentError(f"{field}: must be letters, digits and ._- (not first)")


def check_text(text: str, field: str, *, max_length: int, limit_name: str) -> None:
    """Raise InvalidArgumentError naming `field` when `text` is longer than `max_length` or
    holds a control character."""
    _length(text, f"{field}: length", limit_name, max_length)
    if has_controls(text):
        raise InvalidArgumentError(f"{field}: has a control character")


def check_hostname(hostname: str, *, max_length: int = MAX_HOSTNAME_LENGTH) -> None:
    """Raise InvalidArgumentError unless `hostname` (which may be empty) is printable text."""
    check_text(hostname, "hostname", max_length=max_length, limit_name="max-hostname-length")


def check_selector(selector: str, field: str, *, max_length: int = MAX_SELECTOR_LENGTH) -> None:
    """Raise InvalidArgumentError naming `field` when the selector is too long or holds a
    control character (whether it parses is for `parse_selector`)."""
    check_text(selector, field, max_length=max_length, limit_name="max-selector-length")


def check_labels(
    labels: Mapping[str, str],
    field: str = "labels",
    *,
    max_labels: int = MAX_LABELS,
    max_length: int = MAX_NAME_LENGTH,
) -> None:
    """Raise InvalidArgumentError naming `field` and the key at fault unless every key is a
    label key and every value printable, within the limits."""
    if len(labels) > max_labels:
        raise InvalidArgumentError(
            exceeds(f"{field}: count", "max-labels", len(labels), max_labels)
        )
    for key, value in labels.items():
        if len(key) > max_length:
            raise InvalidArgumentError(
                exceeds(
                    f"{field}: key {shorten(key, 40)!r}: length",
                    "max-name-length",
                    len(key),
                    max_length,
                )
            )
        if not _LABEL_KEY.fullmatch(key):
            raise InvalidArgumentError(
                f"{field}: key {shorten(key, 40)!r} must be letters, digits and ._/- (not first)"
            )
        if len(value) > max_length:
            raise InvalidArgumentError(
                exceeds(
                    f"{field}: the value of {key!r}: length",
                    "max-name-length",
                    len(value),
                    max_length,
                )
            )
        if has_controls(value):
            raise InvalidArgumentError(f"{field}: the value of {key!r} has a control character")
