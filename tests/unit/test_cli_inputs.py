import json
import time
import tracemalloc
from pathlib import Path

import pytest

from photon.cli._inputs import parse_duration, parse_inputs, parse_labels, read_text_file
from photon.errors import UsageError


def _no_files(path: str) -> str:
    raise AssertionError(f"unexpected read of {path}")


def _usage_error(fn: object, *args: object, **kwargs: object) -> str:
    assert callable(fn)
    with pytest.raises(UsageError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --input items


def test_plain_item_is_a_string() -> None:
    assert parse_inputs(["name=world", "n=3", "empty="]) == {"name": "world", "n": "3", "empty": ""}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("n:=3", 3),
        ("ratio:=0.5", 0.5),
        ("ok:=true", True),
        ("none:=null", None),
        ('argv:=["uname","-a"]', ["uname", "-a"]),
        ('obj:={"a": {"b": 1}}', {"a": {"b": 1}}),
        ('s:="@literal"', "@literal"),
    ],
)
def test_typed_item_is_json(item: str, expected: object) -> None:
    key = item.split(":=", 1)[0]
    assert parse_inputs([item]) == {key: expected}


def test_colon_equals_counts_only_before_the_first_equals() -> None:
    got = parse_inputs(["url=http://x:=y", "a:=1", "b=c:=d"])
    assert got == {"url": "http://x:=y", "a": 1, "b": "c:=d"}
    assert parse_inputs(["a:=1"])["a"] == 1


def test_value_may_contain_equals_and_keys_may_contain_dots_and_dashes() -> None:
    got = parse_inputs(["q=a=b", "model.name=gpt", "max-tokens:=10", "x.y-z=1"])
    assert got == {"q": "a=b", "model.name": "gpt", "max-tokens": 10, "x.y-z": "1"}


def test_at_reads_the_file_text(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("fix the bug\nplease\n", encoding="utf-8")
    assert parse_inputs([f"prompt=@{prompt}"]) == {"prompt": "fix the bug\nplease\n"}


def test_typed_at_reads_the_file_as_json() -> None:
    files = {"cfg.json": '{"retries": 2}'}
    assert parse_inputs(["cfg:=@cfg.json"], read_file=files.__getitem__) == {"cfg": {"retries": 2}}


def test_read_file_is_injectable() -> None:
    seen: list[str] = []

    def read(path: str) -> str:
        seen.append(path)
        return "TEXT"

    assert parse_inputs(["a=@x/y.txt"], read_file=read) == {"a": "TEXT"}
    assert seen == ["x/y.txt"]


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    message = _usage_error(parse_inputs, [f"p=@{missing}"])
    assert message == f"cannot read {missing}: No such file or directory"


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\xff\xfe\x00")
    assert _usage_error(read_text_file, str(blob)).startswith(f"cannot read {blob}: not UTF-8 text")


def test_later_items_override_earlier_ones() -> None:
    assert parse_inputs(["a=1", "a:=2"]) == {"a": 2}


def test_no_items_gives_an_empty_dict() -> None:
    assert parse_inputs([]) == {}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("argv:=[1,", "--input 'argv:=[1,': not valid JSON (Expecting value at char 4)"),
        ("n:=three", "--input 'n:=three': not valid JSON (Expecting value at char 1)"),
        ("novalue", "--input 'novalue': expected k=v, k:=JSON or k=@file"),
        ("=x", "--input '=x': empty key"),
        (":=1", "--input ':=1': empty key"),
        ("f=@", "--input 'f=@': empty file path after '@'"),
    ],
)
def test_bad_items_are_named_in_one_line(item: str, message: str) -> None:
    assert _usage_error(parse_inputs, [item], read_file=_no_files) == message


def test_long_items_are_shortened_in_messages() -> None:
    item = "k:=" + "[1," * 30
    message = _usage_error(parse_inputs, [item])
    assert message.startswith("--input 'k:=[1,[1,")
    assert "...': not valid JSON" in message
    assert "\n" not in message


# --inputs-file


def test_inputs_file_json_is_the_base_and_items_override() -> None:
    text = '{"a": 1, "b": [1, 2], "c": "keep"}'
    got = parse_inputs(["a=one", "d:=4"], inputs_file_text=text)
    assert got == {"a": "one", "b": [1, 2], "c": "keep", "d": 4}
    assert list(got) == ["a", "b", "c", "d"]


def test_inputs_file_yaml_object() -> None:
    text = "prompt: |\n  line 1\n  line 2\nn: 3\nflags: [x, y]\nwhen: 2024-01-02\n"
    assert parse_inputs([], inputs_file_text=text) == {
        "prompt": "line 1\nline 2\n",
        "n": 3,
        "flags": ["x", "y"],
        # Timestamps stay text so every input is JSON-compatible.
        "when": "2024-01-02",
    }


@pytest.mark.parametrize("text", ["[1, 2]", "- a\n- b\n", "42", '"s"', "", "null"])
def test_inputs_file_must_be_an_object(text: str) -> None:
    message = _usage_error(parse_inputs, [], inputs_file_text=text)
    assert message == "--inputs-file: expected a JSON or YAML object"


def test_inputs_file_syntax_error_is_one_line() -> None:
    message = _usage_error(parse_inputs, [], inputs_file_text="a: [1,\nb: : :")
    assert message.startswith("--inputs-file: not valid JSON or YAML (")
    assert "at line 2 column" in message
    assert "\n" not in message


def test_inputs_file_keys_must_be_strings() -> None:
    message = _usage_error(parse_inputs, [], inputs_file_text="1: a\n")
    assert message == "--inputs-file: keys must be strings, got 1"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("data: !!binary aGk=\n", "Object of type bytes is not JSON serializable"),
        ("tags: !!set {a, b}\n", "Object of type set is not JSON serializable"),
        ("loop: &x [*x]\n", "Circular reference detected"),
    ],
)
def test_inputs_file_values_must_be_json(text: str, reason: str) -> None:
    # YAML holds more than JSON does; these used to end in a traceback when the task was sent.
    message = _usage_error(parse_inputs, [], inputs_file_text=text)
    assert message == f"--inputs-file: not JSON-compatible ({reason})"


DEEPER = "nested deeper than the limit max-input-depth (32)"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "a: " + "[" * 5_000,
        '{"a":' * 33 + "1" + "}" * 33,  # json.loads takes this; a hub would not
        "a:\n" + "".join(f"{'  ' * i}- \n" for i in range(1, 33)),  # 33 levels of YAML
        "x: &x [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\ny: [[*x]]\n",
    ],
)
def test_inputs_file_nested_too_deeply(text: str) -> None:
    assert _usage_error(parse_inputs, [], inputs_file_text=text) == f"--inputs-file: {DEEPER}"


def test_inputs_file_at_the_depth_limit_is_taken() -> None:
    text = '{"a":' * 31 + "[1]" + "}" * 31
    assert parse_inputs([], inputs_file_text=text) == json.loads(text)


@pytest.mark.parametrize("depth", [33, 900, 100_000])
def test_item_nested_too_deeply(depth: int) -> None:
    message = _usage_error(parse_inputs, ["k:=" + "[" * depth + "]" * depth])
    assert message.startswith("--input 'k:=[[[")
    assert message.endswith(f"...': {DEEPER}")


def test_items_that_nest_the_inputs_too_deeply() -> None:
    # Each item is within the limit; under its key, the inputs are one level deeper.
    assert parse_inputs(["k:=" + "[" * 31 + "]" * 31])["k"] is not None
    message = _usage_error(parse_inputs, ["k:=" + "[" * 32 + "]" * 32])
    assert message == f"inputs: {DEEPER}"


def test_items_and_files_larger_than_a_hub_takes(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("x" * (1024 * 1024 + 1))
    assert _usage_error(parse_inputs, [f"k=@{big}"]) == (
        f"cannot read {big}: larger than 1048576 bytes"
    )
    half = tmp_path / "half.txt"
    half.write_text("x" * (600 * 1024))
    message = _usage_error(parse_inputs, [f"a=@{half}", f"b=@{half}"])
    assert message == "inputs: size exceeds the limit max-input-bytes (1228818 > 1048576)"


def _laughs(levels: int) -> str:
    """A YAML "billion laughs": each anchor a list of ten aliases of the one before."""
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused_before_it_is_built() -> None:
    # Nine levels expand to 10**9 strings: json.dumps of it grew photonctl to 2.2 GB.
    tracemalloc.start()
    started = time.perf_counter()
    try:
        message = _usage_error(parse_inputs, [], inputs_file_text=_laughs(9))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert message == (
        "--inputs-file: expands to more than 1048576 bytes (aliases repeat what they name)"
    )
    assert time.perf_counter() - started < 1.0
    assert peak < 5 * 1024 * 1024


def test_aliases_within_the_budget_are_expanded() -> None:
    assert parse_inputs([], inputs_file_text=_laughs(3))["a2"] == [[["lol"] * 10] * 10] * 10


# --labels


def test_labels_parse_and_strip_spaces() -> None:
    got = parse_labels(" gpu = a100 , zone=eu-west-1,photon.io/tier=gold ")
    assert got == {"gpu": "a100", "zone": "eu-west-1", "photon.io/tier": "gold"}


@pytest.mark.parametrize("text", ["", "   ", ","])
def test_empty_labels(text: str) -> None:
    assert parse_labels(text) == {}


def test_label_limits_are_inclusive_at_63() -> None:
    key, value = "k" * 63, "v" * 63
    assert parse_labels(f"{key}={value}") == {key: value}


KEY_RULE = "(letters, digits and ._/- not first, at most 63 chars)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gpu", "label 'gpu': expected k=v"),
        ("-x=1", f"label '-x=1': invalid key '-x' {KEY_RULE}"),
        ("=1", f"label '=1': invalid key '' {KEY_RULE}"),
        ("a b=1", f"label 'a b=1': invalid key 'a b' {KEY_RULE}"),
        ("k=a=b", "label 'k=a=b': value must not contain '='"),
        ("a=1,a=2", "label 'a=2': duplicate key 'a'"),
    ],
)
def test_bad_labels_name_the_part(text: str, message: str) -> None:
    assert _usage_error(parse_labels, text) == message


def test_too_long_label_key_and_value() -> None:
    long_key = "k" * 64
    assert _usage_error(parse_labels, f"{long_key}=v").startswith(
        f"label '{long_key}=v': invalid key '{long_key}'"
    )
    long_value = "v" * 64
    assert (
        _usage_error(parse_labels, f"ok=1,k={long_value}")
        == f"label 'k={long_value}': value longer than 63 chars"
    )


# durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("2d", 172800.0),
        ("1.5h", 5400.0),
        ("1m30s", 90.0),
        (" 10s ", 10.0),
        ("0.25", 0.25),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "1h30", "h", "-5", "5 m", "1H", "inf", "1e3"])
def test_bad_duration(text: str) -> None:
    message = f"invalid duration '{text}': expected e.g. 90, 90s, 15m, 1h30m, 500ms or 2d"
    assert _usage_error(parse_duration, text) == message


@pytest.mark.parametrize("text", ["0", "0s", "0ms", "0h0m"])
def test_zero_duration_is_refused(text: str) -> None:
    message = f"invalid duration '{text}': must be greater than zero"
    assert _usage_error(parse_duration, text) == message


@pytest.mark.parametrize("value", ["\x1b[31mred", "a\tb", "nul\x00", "\u202eabc"])
def test_label_values_with_control_characters_are_refused(value: str) -> None:
    assert _usage_error(parse_labels, f"team={value}") == (
        "label 'team': value has a control character"
    )


def test_an_item_with_control_characters_is_shown_escaped() -> None:
    message = _usage_error(parse_inputs, ["\x1b[2Jnovalue"])
    assert message == "--input '\\x1b[2Jnovalue': expected k=v, k:=JSON or k=@file"
