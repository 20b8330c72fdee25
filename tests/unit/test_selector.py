import pytest

from photon._selector import parse_selector
from photon.errors import InvalidArgumentError

GPU_LINUX = {"os": "linux", "gpu": "a100", "zone": "eu-1"}
MAC = {"os": "darwin", "zone": "us-2"}
BARE: dict[str, str] = {}


def _matching(text: str) -> list[str]:
    selector = parse_selector(text)
    fleet = {"gpu_linux": GPU_LINUX, "mac": MAC, "bare": BARE}
    return sorted(name for name, labels in fleet.items() if selector.matches(labels))


@pytest.mark.parametrize("text", ["os=linux", "os==linux", " os = linux ", "os  ==  linux"])
def test_equality(text: str) -> None:
    assert _matching(text) == ["gpu_linux"]


def test_inequality_is_true_when_the_key_is_absent() -> None:
    assert _matching("os!=linux") == ["bare", "mac"]
    assert _matching("gpu != a100") == ["bare", "mac"]


def test_in_list() -> None:
    assert _matching("zone in (eu-1,us-2)") == ["gpu_linux", "mac"]
    assert _matching("zone in ( us-2 , ap-3 )") == ["mac"]
    assert _matching("zone in (ap-3)") == []


def test_notin_list_is_true_when_the_key_is_absent() -> None:
    assert _matching("zone notin (eu-1)") == ["bare", "mac"]
    assert _matching("zone notin (eu-1, us-2)") == ["bare"]


def test_exists_and_not_exists() -> None:
    assert _matching("gpu") == ["gpu_linux"]
    assert _matching("!gpu") == ["bare", "mac"]
    assert _matching("! gpu") == ["bare", "mac"]


def test_terms_are_anded() -> None:
    assert _matching("os=darwin,zone=us-2") == ["mac"]
    assert _matching("os=darwin,zone=eu-1") == []
    assert _matching(" zone , !gpu ") == ["mac"]


def test_commas_inside_parentheses_do_not_split_terms() -> None:
    selector = parse_selector("zone in (eu-1,us-2),os notin (darwin,windows),gpu")
    assert len(selector.terms) == 3
    assert selector.matches(GPU_LINUX)
    assert not selector.matches(MAC)
    assert not selector.matches({"zone": "eu-1", "os": "linux"})


def test_keys_may_hold_dots_slashes_and_dashes() -> None:
    selector = parse_selector("photon.dev/pool-name=build_1")
    assert selector.matches({"photon.dev/pool-name": "build_1"})
    assert not selector.matches({"photon.dev/pool-name": "build_2"})


def test_empty_value_matches_only_an_empty_label() -> None:
    selector = parse_selector("os=")
    assert selector.matches({"os": ""})
    assert not selector.matches({"os": "linux"})
    assert not selector.matches({})


@pytest.mark.parametrize("text", ["", "   ", ",", " , ,"])
def test_empty_selector_matches_everything(text: str) -> None:
    selector = parse_selector(text)
    assert selector.terms == ()
    assert selector.text == text
    assert selector.matches(GPU_LINUX)
    assert selector.matches({})


@pytest.mark.parametrize(
    "text, term",
    [
        ("os=linux,=linux", "=linux"),
        ("os linux", "os linux"),
        # An unbalanced ')' keeps the rest of the text in one term.
        ("os=linux, zone in eu-1 ), gpu", "zone in eu-1 ), gpu"),
        ("zone in (eu-1", "zone in (eu-1"),
        ("os=(linux", "os=(linux"),
        ("-os=linux", "-os=linux"),
        ("os<linux", "os<linux"),
        ("!!os", "!!os"),
        ("zone in(eu-1)", "zone in(eu-1)"),
    ],
)
def test_invalid_term_is_named(text: str, term: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_selector(text)
    assert str(info.value) == f"selector term {term!r} is not valid"


@pytest.mark.parametrize("op", ["in", "notin"])
def test_set_operator_needs_a_parenthesised_list(op: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"needs a \\(list\\) after {op}: zone"):
        parse_selector(f"zone {op} eu-1")


@pytest.mark.parametrize(
    "text",
    [
        "a" + " " * 200_000 + "x",  # two ways to read each space before an operator
        "a" + " " * 200_000 + "= " + " " * 200_000 + "x y",  # and after it
        "a in" + " " * 200_000 + "(b" + " " * 200_000,
    ],
)
def test_a_long_run_of_spaces_is_read_in_linear_time(text: str) -> None:
    # 200,000 spaces read quadratically take minutes; linearly, milliseconds.
    with pytest.raises(InvalidArgumentError, match="selector term"):
        parse_selector(text)
