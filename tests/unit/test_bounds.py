"""The shared bounds: JSON depth and size measured before parsing, names and labels, text made
safe to show, and status messages cut to fit a trailer."""

from __future__ import annotations

import json
import random
import re
import time
from typing import Any

import pytest

from photon._bounds import (
    DOCUMENT,
    MAX_JSON_DEPTH,
    READ,
    JsonBounds,
    OutOfBounds,
    check_json_text,
    dump_json,
    json_depth,
    load_json,
)
from photon._names import check_hostname, check_labels, check_name, check_selector
from photon._selector import parse_selector
from photon._text import escape_controls, has_controls, shorten
from photon.errors import InvalidArgumentError
from photon.hub.core import DEFAULT_LIMITS
from photon.wire import json_object, lenient_json, lenient_object, status_details

DEEPER = "nested deeper than the limit max-input-depth (32)"


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ('"[[[[["', 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["]", "\\"[", "\\\\", [[]]]', 3),  # brackets and escaped quotes inside strings
        ("[[[" + "]" * 3 + "[[" + "]]", 3),
        ("[" * 5000, 5000),  # unterminated: json.loads would recurse 5,000 deep
        ("]]][[[", 3),  # not JSON: its openers count
        ('"\\"[", [1]', 1),
    ],
)
def test_json_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def _depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth_of, value), default=0)
    return 0


def test_json_depth_agrees_with_the_nesting_json_loads_builds() -> None:
    for value in ({"a": [{"b": "[{"}, [[], {}]]}, [[[[["x"]]]], 1], {"k": {"k": {"k": {}}}}):
        assert json_depth(json.dumps(value)) == _depth_of(value)
    # Strings full of brackets, quotes and backslashes, as keys and values, nested at random.
    rng = random.Random(7)
    pieces = ["[", "]", "{", "}", '"', "\\", "\\\\", '\\"', "a", ",", ":", "é"]

    def text() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 6 or roll < 0.3:
            return text()
        if roll < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

    for _ in range(2_000):
        item = value(0)
        for ascii_only in (True, False):
            dumped = json.dumps(item, ensure_ascii=ascii_only)
            assert json_depth(dumped) == _depth_of(item), dumped
            assert (json_depth(dumped, 3) > 3) == (_depth_of(item) > 3), dumped


def test_load_json_refuses_before_parsing() -> None:
    assert load_json(_nested(MAX_JSON_DEPTH)) == json.loads(_nested(MAX_JSON_DEPTH))
    for depth in (33, 900, 100_000):
        with pytest.raises(OutOfBounds, match=r"^nested deeper than the limit max-input-depth"):
            load_json(_nested(depth))
    with pytest.raises(OutOfBounds) as info:
        load_json(json.dumps("x" * DOCUMENT.max_bytes))
    assert str(info.value) == "size exceeds the limit max-input-bytes (1048578 > 1048576)"
    # UTF-8 bytes count, not characters.
    with pytest.raises(OutOfBounds):
        load_json(json.dumps("é" * 600_000, ensure_ascii=False))
    with pytest.raises(json.JSONDecodeError):
        load_json("[1,")


@pytest.mark.parametrize(
    "text",
    [
        "[" + ",".join(["[1,[2,{}]]"] * 100_000) + "]",
        "[" + ",".join(["[" * 31 + "]" * 31] * 16_000) + "]",  # 32 deep all along
        "[" * 1_000_000,
    ],
)
def test_measuring_a_megabyte_is_quick(text: str) -> None:
    started = time.perf_counter()
    deeper = json_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH
    assert time.perf_counter() - started < 0.5
    assert deeper == (json_depth(text) > MAX_JSON_DEPTH)


def test_dump_json_refuses_what_json_dumps_would_recurse_on() -> None:
    deep: Any = []
    for _ in range(5_000):
        deep = [deep]
    with pytest.raises(OutOfBounds, match=re.escape(DEEPER)):
        dump_json(deep)
    with pytest.raises(OutOfBounds, match=re.escape(DEEPER)):
        dump_json({"a": json.loads(_nested(40))})
    unnamed = JsonBounds(max_depth=2, max_bytes=10, depth_limit="", bytes_limit="")
    with pytest.raises(OutOfBounds, match=r"^nested deeper than 2 levels$"):
        dump_json([[[]]], unnamed)
    with pytest.raises(OutOfBounds, match=r"^12 bytes, more than 10$"):
        dump_json(["x" * 8], unnamed)


def test_json_object_names_the_field_and_the_limit() -> None:
    assert json_object(_nested(3), "inputs") == {"a": {"a": {"a": 1}}}
    with pytest.raises(InvalidArgumentError) as info:
        json_object(_nested(10_000), "inputs")
    assert str(info.value) == f"inputs: {DEEPER}"
    with pytest.raises(InvalidArgumentError) as info:
        json_object("{" * 10, "workflow", DEFAULT_LIMITS.workflow)
    assert str(info.value) == "workflow is not valid JSON: Expecting property name enclosed in"\
        " double quotes: line 1 column 2 (char 1)"  # fmt: skip


def test_lenient_reading_keeps_a_marker_instead() -> None:
    assert lenient_object(_nested(10_000), DEFAULT_LIMITS.event_data) == {
        "omitted": "size exceeds the limit max-event-bytes (60001 > 16384)"
    }
    assert lenient_object(_nested(100), DEFAULT_LIMITS.outputs) == {"omitted": DEEPER}
    assert lenient_object("[1]") == {"value": [1]}
    assert lenient_object("[1,") == {"raw": "[1,"}
    assert lenient_json(_nested(129), READ) == {"omitted": "nested deeper than 128 levels"}
    assert lenient_json(_nested(128), READ) == json.loads(_nested(128))
    assert lenient_json("") is None


def test_escape_controls() -> None:
    assert escape_controls("plain é ✓") == "plain é ✓"
    assert escape_controls("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m"
    assert escape_controls("a\nb\rc\td\x00e\x7f\x9b") == "a\\nb\\rc\\td\\x00e\\x7f\\x9b"
    assert escape_controls("\u202eevil\u2028x") == "\\u202eevil\\u2028x"
    assert escape_controls("one\ntwo\x1b", keep_newlines=True) == "one\ntwo\\x1b"
    assert has_controls("a\x07") and not has_controls("a b")


def test_shorten_says_how_long_it_was() -> None:
    assert shorten("abc", 3) == "abc"
    assert shorten("abcd", 3) == "abc... (4 characters)"


@pytest.mark.parametrize(
    "message",
    [
        "x" * 600_000,
        "\x1b" * 5_000,  # three bytes each, percent-encoded
        "€" * 5_000,  # nine bytes each
        "%" * 5_000,
        "ok " * 400 + "😀" * 1000,
    ],
)
def test_status_details_fit_a_trailer(message: str) -> None:
    cut = status_details(message)
    assert len(cut) <= 1000
    encoded = sum(1 if " " <= c <= "~" and c != "%" else 3 * len(c.encode()) for c in cut)
    assert encoded <= 3000
    assert cut.endswith(f"... ({len(message)} characters)")
    assert status_details("short") == "short"


def test_a_selector_error_quotes_its_term_briefly() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_selector("a=(" + "b" * 600_000)
    assert len(str(info.value)) < 300
    assert str(info.value).startswith("selector term 'a=(bbb")
    assert "(600003 characters)" in str(info.value)


def test_names() -> None:
    for name in ("a", "build-7", "host.example.com", "A_1", "9"):
        check_name(name, "name")
    for bad in ("", "-x", ".x", "a b", "a/b", "é", "\x1b[31m", "a\n"):
        with pytest.raises(InvalidArgumentError, match=r"^name: must be letters"):
            check_name(bad, "name")
    with pytest.raises(InvalidArgumentError) as info:
        check_name("n" * 64, "name")
    assert str(info.value) == "name: length exceeds the limit max-name-length (64 > 63)"


def test_labels() -> None:
    check_labels({"a/b.c-d_e": "any printable text, é", "empty": ""})
    cases = [
        ({"bad key": "x"}, "labels: key 'bad key' must be letters, digits and ._/- (not first)"),
        ({"\x1b[2J": "x"}, "labels: key '\\x1b[2J' must be letters, digits and ._/- (not first)"),
        ({"k": "a\nb"}, "labels: the value of 'k' has a control character"),
        ({"k": "\u202e"}, "labels: the value of 'k' has a control character"),
        ({"k": "v" * 64}, "labels: the value of 'k': length exceeds the limit max-name-length"
         " (64 > 63)"),
        ({f"k{i}": "" for i in range(65)}, "labels: count exceeds the limit max-labels (65 > 64)"),
    ]  # fmt: skip
    for labels, message in cases:
        with pytest.raises(InvalidArgumentError) as info:
            check_labels(labels)
        assert str(info.value) == message


def test_hostnames_and_selectors() -> None:
    check_hostname("")
    check_hostname("build-7.example.com")
    with pytest.raises(InvalidArgumentError, match=r"^hostname: has a control character$"):
        check_hostname("a\nb")
    with pytest.raises(InvalidArgumentError, match=r"^hostname: length exceeds"):
        check_hostname("h" * 254)
    check_selector("kind=local,!gpu", "selector")
    with pytest.raises(InvalidArgumentError, match=r"^--selector: has a control character$"):
        check_selector("k=\x1b", "--selector")


def _clamped_depth(text: str) -> int:
    """The deepest json.loads could recurse into the brackets of `text` (which hold no
    strings): closers with nothing open are passed over, as json.loads would fail there."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
    return deepest


def test_the_depth_check_refuses_exactly_what_nests_too_deep() -> None:
    rng = random.Random(11)
    for _ in range(5000):
        text = "".join(rng.choice("[]{}") for _ in range(rng.randint(0, 16)))
        for most in range(5):
            bounds = JsonBounds(max_depth=most, max_bytes=100)
            if _clamped_depth(text) > most:
                with pytest.raises(OutOfBounds, match="nested deeper"):
                    check_json_text(text, bounds)
            else:
                check_json_text(text, bounds)
