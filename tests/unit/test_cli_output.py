import enum
import json
from typing import Any

import pytest
import yaml

from photon._utc import rfc3339
from photon.cli._output import (
    cell,
    human_age,
    human_bytes,
    human_duration,
    human_time_left,
    render,
)
from photon.errors import UsageError


class _State(enum.StrEnum):
    READY = "READY"


ROWS: list[dict[str, Any]] = [
    {
        "id": "a-1",
        "status": {"state": "READY", "load": 0.5},
        "labels": {"gpu": "a100", "zone": "x"},
        "tools": ["sh", "echo"],
        "seen": None,
    },
    {
        "id": "agent-22",
        "status": {"state": "DRAINING", "load": 1.23456},
        "labels": {},
        "tools": [],
        "seen": 3,
    },
]
COLUMNS = [
    ("Id", "id"),
    ("State", "status.state"),
    ("Load", "status.load"),
    ("Labels", "labels"),
    ("Tools", "tools"),
    ("Seen", "seen"),
]


# table: lists


def test_table_is_aligned_with_uppercase_headers_and_no_borders() -> None:
    assert render(ROWS, "table", columns=COLUMNS).splitlines() == [
        "ID        STATE     LOAD  LABELS           TOOLS    SEEN",
        "a-1       READY     0.5   gpu=a100,zone=x  sh,echo  -",
        "agent-22  DRAINING  1.23  -                -        3",
    ]


def test_table_columns_start_at_the_same_offset_on_every_line() -> None:
    lines = render(ROWS, "table", columns=COLUMNS).splitlines()
    for header in ("STATE", "LOAD", "LABELS", "TOOLS", "SEEN"):
        offset = lines[0].index(header)
        for line in lines[1:]:
            assert line[offset - 2 : offset] == "  "
            assert line[offset] != " "


def test_empty_list_renders_only_the_header() -> None:
    assert render([], "table", columns=[("ID", "id"), ("State", "status.state")]) == "ID  STATE"


def test_dotted_keys_follow_nested_dicts_and_missing_parts_show_dash() -> None:
    rows = [{"a": {"b": {"c": 1}}}, {"a": {"b": None}}, {"a": "flat"}, {}]
    assert render(rows, "table", columns=[("C", "a.b.c")]).splitlines() == ["C", "1", "-", "-", "-"]


def test_a_literal_dotted_key_wins_over_the_path() -> None:
    rows = [{"photon.io/zone": "eu", "photon": {"io/zone": "no"}}]
    assert render(rows, "table", columns=[("Zone", "photon.io/zone")]) == "ZONE\neu"


def test_cell_formatting() -> None:
    rows = [
        {
            "f": 2.0,
            "g": 3.14159,
            "n": -0.004,
            "b": True,
            "e": _State.READY,
            "s": "two\nlines",
            "mixed": [1.005, None, "x"],
            "empty": "",
        }
    ]
    columns = [(key, key) for key in rows[0]]
    assert render(rows, "table", columns=columns).splitlines()[1].split() == [
        "2",
        "3.14",
        "-0.004",
        "true",
        "READY",
        "two\\nlines",
        "1,-,x",
        "-",
    ]


def test_columns_default_to_the_rows_keys() -> None:
    rows = [{"id": "t-1", "state": "OK"}, {"id": "t-22", "extra": 1}]
    assert render(rows, "table").splitlines() == [
        "ID    STATE  EXTRA",
        "t-1   OK     -",
        "t-22  -      1",
    ]


# table: show (a dict)


def test_show_renders_key_value_lines_in_order() -> None:
    data = {
        "id": "t-1",
        "state": _State.READY,
        "labels": {"gpu": "a100", "zone": "eu"},
        "attempts": [{"n": 1, "agent": "a-1"}, {"n": 2, "agent": "agent-22"}],
        "error": "line 1\nline 2\n",
        "tags": ["x", "y"],
        "duration": 4.25,
        "empty": {},
        "result": None,
    }
    assert render(data, "table").splitlines() == [
        "id:       t-1",
        "state:    READY",
        "labels:",
        "  gpu:  a100",
        "  zone: eu",
        "attempts:",
        "  N  AGENT",
        "  1  a-1",
        "  2  agent-22",
        "error:",
        "  line 1",
        "  line 2",
        "tags:     x,y",
        "duration: 4.25",
        "empty:    -",
        "result:   -",
    ]


def test_show_nests_dicts_two_spaces_per_level() -> None:
    data = {"spec": {"limits": {"cpu": 2}}}
    assert render(data, "table").splitlines() == ["spec:", "  limits:", "    cpu: 2"]


def test_show_of_an_empty_dict_is_empty() -> None:
    assert render({}, "table") == ""


# json and yaml


@pytest.mark.parametrize("data", [ROWS, ROWS[0], [], {}, {"unicode": "héllo ✓", "n": [1, 2.5]}])
def test_json_round_trips(data: Any) -> None:
    text = render(data, "json")
    assert json.loads(text) == data
    assert text == json.dumps(data, indent=2)


@pytest.mark.parametrize("data", [ROWS, ROWS[0], [], {}, {"unicode": "héllo ✓", "n": [1, 2.5]}])
def test_yaml_round_trips(data: Any) -> None:
    assert yaml.safe_load(render(data, "yaml")) == data


def test_yaml_keeps_key_order_and_writes_enums_as_values() -> None:
    text = render({"z": 1, "a": _State.READY}, "yaml")
    assert text == "z: 1\na: READY"


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as info:
        render(ROWS, "xml")
    assert str(info.value) == "unknown output format 'xml' (expected table, json, yaml, csv)"


def test_csv_keeps_numbers_in_full_and_nests_as_json() -> None:
    rows = [
        {"key": "claude-code", "cost": 0.012345, "n": 3, "ok": True, "tags": {"a": 1}},
        {"key": None, "cost": -1.5, "n": 0, "ok": False, "tags": [1, "x"]},
    ]
    columns = [("tool", "key"), ("cost", "cost"), ("n", "n"), ("ok", "ok"), ("tags", "tags")]
    assert render(rows, "csv", columns=columns).splitlines() == [
        "tool,cost,n,ok,tags",
        'claude-code,0.012345,3,true,"{""a"": 1}"',
        ',-1.5,0,false,"[1, ""x""]"',
    ]
    shown = render({"state": "SUCCEEDED", "attempt": 2}, "csv")
    assert shown == "key,value\nstate,SUCCEEDED\nattempt,2"


def test_csv_text_cannot_forge_lines_colours_or_formulas() -> None:
    text = render([{"name": "a,b\nc\x1b[31m"}, {"name": "=HYPERLINK(1)"}, {"name": "-"}], "csv")
    assert text.splitlines() == ["name", '"a,b\\nc\\x1b[31m"', "'=HYPERLINK(1)", "-"]


# human-readable numbers


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0ms"),
        (0.85, "850ms"),
        (0.9996, "1.0s"),
        (4.2, "4.2s"),
        (59.96, "1m00s"),
        (192, "3m12s"),
        (7500, "2h05m"),
        (86400 * 2 + 3600 * 4 + 59, "2d04h"),
        (-3, "0ms"),
        (float("nan"), "-"),
    ],
)
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (None, "-"),
        (1000 - 12, "12s"),
        (1000 - 0.4, "0s"),
        (1000 - 5 * 60 - 59, "5m"),
        (1000 - 3 * 3600 - 10, "3h"),
        (1000 - 2 * 86400 - 7200, "2d"),
        (1000 + 30, "0s"),
    ],
)
def test_human_age(ts: float | None, text: str) -> None:
    assert human_age(ts, 1000) == text


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (None, "-"),
        (1000 + 14 * 60 + 59.9, "14m"),  # a 15-minute join token just after it was made
        (1000 + 12, "12s"),
        (1000 + 3 * 3600 + 10, "3h"),
        (1000 + 7 * 86400, "7d"),
        (1000 + 0.4, "0s"),
        (1000 - 30, "0s"),
    ],
)
def test_human_time_left(ts: float | None, text: str) -> None:
    assert human_time_left(ts, 1000) == text


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, "-"),
        (0, "0B"),
        (512, "512B"),
        (1023, "1023B"),
        (1024, "1KiB"),
        (1536, "1.5KiB"),
        (int(3.2 * 1024**3), "3.2GiB"),
        (1024 * 1024 - 1, "1MiB"),
        (-2048, "-2KiB"),
    ],
)
def test_human_bytes(n: int | None, text: str) -> None:
    assert human_bytes(n) == text


# what peers wrote, shown safely


EVIL = "\x1b[2J\x1b[31mred\x07\x00\r\u202e"
EVIL_SHOWN = "\\x1b[2J\\x1b[31mred\\x07\\x00\\r\\u202e"


def test_table_cells_and_headers_escape_every_control_character() -> None:
    rows = [{"name": EVIL, "labels": {EVIL: EVIL}, "tools": [EVIL]}]
    text = render(rows, "table", columns=[("name" + EVIL, "name"), ("labels", "labels"),
                                          ("tools", "tools")])  # fmt: skip
    assert "\x1b" not in text and "\x00" not in text and "\r" not in text
    assert "\u202e" not in text and "\x07" not in text
    header, row = text.splitlines()
    assert header.startswith("NAME\\x1b[2J\\x1b[31MRED\\x07\\x00\\r\\u202e  LABELS")
    assert row.split() == [EVIL_SHOWN, f"{EVIL_SHOWN}={EVIL_SHOWN}", EVIL_SHOWN]


def test_show_escapes_keys_values_and_each_line_of_a_long_text() -> None:
    text = render(
        {EVIL: "x", "name": EVIL, "log": "first\x1b[A\nsecond\x1b[K\n", "nested": {"k": EVIL}},
        "table",
    )
    assert "\x1b" not in text
    assert text.splitlines() == [
        f"{EVIL_SHOWN}: x",
        f"name:{' ' * (len(EVIL_SHOWN) - 4)} {EVIL_SHOWN}",
        "log:",
        "  first\\x1b[A",
        "  second\\x1b[K",
        "nested:",
        f"  k: {EVIL_SHOWN}",
    ]


def test_json_and_yaml_escape_control_characters_their_own_way() -> None:
    for fmt in ("json", "yaml"):
        text = render({"name": "\x1b[31mred\x00", EVIL[:8]: 1}, fmt)
        assert "\x1b" not in text and "\x00" not in text, fmt


def test_data_as_deep_as_a_client_reads_can_be_shown_in_every_format() -> None:
    value: Any = "leaf"
    for _ in range(128):
        value = {"a": value}
    for fmt in ("table", "json", "yaml"):
        assert render({"outputs": value}, fmt)


def test_rfc3339_is_utc_with_milliseconds_only_when_there_are_some() -> None:
    assert rfc3339(1_796_142_000.0, millis=True) == "2026-12-01T16:20:00Z"
    assert rfc3339(1_796_142_000.25, millis=True) == "2026-12-01T16:20:00.250Z"
    assert rfc3339(1_796_142_000.9996, millis=True) == "2026-12-01T16:20:01Z"  # rounded
    assert rfc3339(1_796_142_000.25) == "2026-12-01T16:20:00Z"  # to the second by default
    assert rfc3339(float("nan"), millis=True) == "nan"


def test_colour_only_on_a_terminal_without_no_color() -> None:
    import os

    from photon.cli._colour import use_colour

    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal, open(os.devnull, "w") as piped:
        assert use_colour(terminal, {})
        assert not use_colour(terminal, {"NO_COLOR": "1"})
        assert not use_colour(terminal, {"TERM": "dumb"})
        assert not use_colour(piped, {})
    os.close(leader)
    rows = [{"id": "a", "state": "FAILED"}, {"id": "bb", "state": "SUCCEEDED"}]
    coloured = render(rows, "table", colour=True).splitlines()
    assert coloured[1] == "a   \x1b[31mFAILED\x1b[0m"
    assert coloured[2] == "bb  \x1b[32mSUCCEEDED\x1b[0m"
    assert "\x1b" not in render(rows, "table")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (52.125, "52.12"),
        (0.5, "0.5"),
        (2.0, "2"),
        (0.0, "0"),
        (0.0003, "0.0003"),
        (-0.0012, "-0.0012"),
        (0.005, "0.01"),
        (-0.005, "-0.01"),
    ],
)
def test_a_small_number_is_not_rounded_to_nothing(value: float, text: str) -> None:
    assert cell(value) == text
