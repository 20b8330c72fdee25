"""`${{ ... }}` in step inputs: which paths a value refers to, and what it becomes."""

from __future__ import annotations

import time
from typing import Any

import pytest

from photon.errors import InvalidArgumentError
from photon.hub.core import DEFAULT_LIMITS, Limits
from photon.hub.workflows._expressions import references, substitute

CONTEXT: dict[str, Any] = {
    "inputs": {"name": "photon", "n": 3, "flag": False, "none": None, "tags": ["a", "b"]},
    "steps": {
        "ui": {"outputs": {"result": "<Button/>", "files": ["ui.tsx", "ui.css"], "meta": {"k": 1}}},
        "fan": {"outputs": [{"i": 0}, {"i": 1}, {"i": 2}]},
    },
    "item": {"path": "src/x.py", "size": 10},
    "matrix": {"os": "linux", "py": "3.12"},
}


# -- substitute -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("${{ inputs.n }}", 3),
        ("${{inputs.flag}}", False),
        ("${{ inputs.none }}", None),
        ("${{ inputs.tags }}", ["a", "b"]),
        ("${{ steps.ui.outputs.meta }}", {"k": 1}),
        ("${{ steps.fan.outputs }}", [{"i": 0}, {"i": 1}, {"i": 2}]),
        ("${{ item }}", {"path": "src/x.py", "size": 10}),
        ("  ${{ inputs.n }}\n", 3),
    ],
)
def test_a_whole_expression_keeps_the_type_of_its_value(text: str, value: Any) -> None:
    result = substitute(text, CONTEXT)
    assert result == value
    assert type(result) is type(value)


def test_interpolation_in_strings() -> None:
    assert substitute("hello ${{ inputs.name }}!", CONTEXT) == "hello photon!"
    assert substitute("${{ matrix.os }}-py${{ matrix.py }}", CONTEXT) == "linux-py3.12"
    assert substitute("Implement: ${{ steps.ui.outputs.result }}", CONTEXT) == (
        "Implement: <Button/>"
    )


def test_two_expressions_in_one_string_are_interpolated_not_taken_as_one() -> None:
    assert substitute("${{ inputs.n }}${{ inputs.name }}", CONTEXT) == "3photon"
    assert substitute("${{ inputs.n }} of ${{ inputs.tags }}", CONTEXT) == '3 of ["a", "b"]'


def test_non_strings_are_interpolated_as_json() -> None:
    assert substitute("n=${{ inputs.n }}", CONTEXT) == "n=3"
    assert substitute("flag=${{ inputs.flag }}", CONTEXT) == "flag=false"
    assert substitute("none=${{ inputs.none }}", CONTEXT) == "none=null"
    assert substitute("tags=${{ inputs.tags }}", CONTEXT) == 'tags=["a", "b"]'
    assert substitute("meta: ${{ steps.ui.outputs.meta }}", CONTEXT) == 'meta: {"k": 1}'


def test_nested_lists_and_maps_are_substituted_throughout() -> None:
    value = {
        "argv": ["deploy", "${{ matrix.os }}", "--files", "${{ steps.ui.outputs.files }}"],
        "opts": {"n": "${{ inputs.n }}", "deep": [{"who": "to ${{ inputs.name }}"}]},
        "plain": 7,
        "off": False,
    }
    assert substitute(value, CONTEXT) == {
        "argv": ["deploy", "linux", "--files", ["ui.tsx", "ui.css"]],
        "opts": {"n": 3, "deep": [{"who": "to photon"}]},
        "plain": 7,
        "off": False,
    }


def test_substitute_does_not_change_its_argument() -> None:
    value = {"a": ["${{ inputs.n }}"]}
    substitute(value, CONTEXT)
    assert value == {"a": ["${{ inputs.n }}"]}


def test_list_items_are_reached_by_index() -> None:
    assert substitute("${{ steps.fan.outputs.1.i }}", CONTEXT) == 1
    assert substitute("${{ steps.ui.outputs.files.0 }}", CONTEXT) == "ui.tsx"
    assert substitute("last: ${{ inputs.tags.1 }}", CONTEXT) == "last: b"


def test_text_without_expressions_is_left_alone() -> None:
    assert substitute("plain ${ not } {{ this }} $x", CONTEXT) == "plain ${ not } {{ this }} $x"
    assert substitute(["a", 1, None], CONTEXT) == ["a", 1, None]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${{ inputs.missing }}", "${{ inputs.missing }} has no value ('missing' is missing)"),
        (
            "x ${{ steps.api.outputs.result }}",
            "${{ steps.api.outputs.result }} has no value ('api' is missing)",
        ),
        (
            "${{ steps.fan.outputs.3.i }}",
            "${{ steps.fan.outputs.3.i }} has no value ('3' is missing)",
        ),
        ("${{ inputs.tags.x }}", "${{ inputs.tags.x }} has no value ('x' is missing)"),
        ("${{ inputs.n.deeper }}", "${{ inputs.n.deeper }} has no value ('deeper' is missing)"),
    ],
)
def test_a_missing_value_raises_naming_the_expression(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        substitute({"deep": [text]}, CONTEXT)
    assert str(caught.value) == message


# -- references -------------------------------------------------------------------------------


def test_references_finds_every_path_in_nested_values() -> None:
    value = {
        "prompt": "Do ${{ steps.ui.outputs.result }} for ${{inputs.name}}",
        "argv": ["x", "${{ matrix.os }}", {"deep": ["${{ item.path }}"]}],
        "n": 3,
        "none": None,
        "all": "${{ steps.fan.outputs.0.i }}",
    }
    assert sorted(references(value)) == sorted(
        [
            ("steps", "ui", "outputs", "result"),
            ("inputs", "name"),
            ("matrix", "os"),
            ("item", "path"),
            ("steps", "fan", "outputs", "0", "i"),
        ]
    )


def test_references_of_plain_values_are_empty() -> None:
    assert list(references({"a": ["b", 1, {"c": "d"}]})) == []
    assert list(references(5)) == []
    assert list(references(None)) == []


@pytest.mark.parametrize(
    "expression",
    [
        "${{ inputs.a || 'b' }}",
        "${{ steps['x'] }}",
        "${{ }}",
        "${{ 0.x }}",
        "${{ inputs..a }}",
        "${{ format('{0}', inputs.a) }}",
        "${{ toJSON(inputs) }}",
    ],
)
def test_references_rejects_expressions_that_are_not_paths(expression: str) -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"^expression \$\{\{ .* \}\} is not a name path$"
    ):
        list(references({"x": ["ok ${{ inputs.a }}", f"then {expression}"]}))


# -- linear scanning and the length limit ------------------------------------------------------

PATHOLOGICAL = [
    "${{ " * 375,  # never closed
    "${{" + " " * 1497,
    "${{" + " " * 1494 + "}}",
    "${{${{" * 250,
    "}}" + "${{ x" * 300,
    "a" * 1500,
]


@pytest.mark.parametrize("text", PATHOLOGICAL)
def test_pathological_text_is_scanned_in_milliseconds(text: str) -> None:
    # Backtracking over `${{` and spaces took 12 s of CPU for 1,500 characters.
    started = time.perf_counter()
    for _ in range(10):
        try:
            list(references({"x": [text]}, DEFAULT_LIMITS))
        except InvalidArgumentError:
            pass
        try:
            substitute(text, CONTEXT)
        except InvalidArgumentError:
            pass
    assert time.perf_counter() - started < 0.5


def test_an_unclosed_expression_and_what_follows_it_are_literal() -> None:
    assert list(references("${{ inputs.n")) == []
    assert substitute("${{ inputs.n }} and ${{ inputs.n", CONTEXT) == "3 and ${{ inputs.n"
    assert substitute("${{ " * 3, CONTEXT) == "${{ " * 3


def test_an_expression_ends_at_the_first_closing_braces() -> None:
    assert substitute("${{ inputs.n }}}", CONTEXT) == "3}"
    assert substitute("{${{inputs.n}}}", CONTEXT) == "{3}"
    assert list(references("${{ inputs.n }}}} ${{ item }}")) == [("inputs", "n"), ("item",)]


def test_references_come_in_the_order_they_are_written() -> None:
    value = {"b": ["${{ inputs.a }}", {"c": "${{ inputs.b }} ${{ inputs.c }}"}], "d": "${{ item }}"}
    assert list(references(value)) == [("inputs", "a"), ("inputs", "b"), ("inputs", "c"), ("item",)]


@pytest.mark.parametrize(
    "path", ["inputs.a-b", "_x", "steps.s-1.outputs.0", "matrix.os_2", "A.B9.-c"]
)
def test_name_paths_of_letters_digits_dashes_and_underscores_are_accepted(path: str) -> None:
    assert list(references(f"${{{{ {path} }}}}")) == [tuple(path.split("."))]


@pytest.mark.parametrize("path", ["-x", "9.a", "a.", ".a", "a b", "inputs.é", "a\n.b", "a.$"])
def test_other_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"is not a name path$"):
        list(references(f"${{{{ {path} }}}}"))


def test_an_expression_is_held_to_the_length_limit_only_when_given_one() -> None:
    long = "${{ inputs." + "a" * 300 + " }}"
    assert list(references(long)) == [("inputs", "a" * 300)]
    with pytest.raises(InvalidArgumentError) as caught:
        list(references(long, Limits(max_expression_length=100)))
    assert str(caught.value) == (
        "expression ${{ inputs.aaaaaaaaaaaaaaaaa... exceeds the limit max-expression-length"
        " (309 > 100)"
    )
