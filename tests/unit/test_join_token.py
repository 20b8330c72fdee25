import base64
import json
from typing import Any

import pytest

from photon._join_token import PREFIX, JoinToken
from photon.errors import UsageError

PIN = "sha256:" + "ab" * 32
TOKEN = JoinToken(
    api_addresses=("hub.example:7443", "10.0.0.1:7443"),
    ca_pin=PIN,
    token_id="01jtoken",
    secret="s3cr3t-_~",
)
CORRUPTED = "join token is corrupted (copy it again in full)"


def _encode_body(body: Any) -> str:
    raw = json.dumps(body).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _fields(**override: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "api": ["hub:7443"],
        "ca": PIN,
        "id": "t",
        "secret": "s",
    }
    fields.update(override)
    return {k: v for k, v in fields.items() if v is not None}


def test_round_trip() -> None:
    text = TOKEN.encode()
    assert text.startswith("photon1.")
    assert "=" not in text  # padding is stripped: one opaque, copy-friendly line
    assert JoinToken.decode(text) == TOKEN


def test_surrounding_whitespace_is_ignored() -> None:
    assert JoinToken.decode(f"  {TOKEN.encode()}\n") == TOKEN


def test_decoded_addresses_are_a_tuple_of_str() -> None:
    decoded = JoinToken.decode(_encode_body(_fields(api=["a:1", 2])))
    assert decoded.api_addresses == ("a:1", "2")


@pytest.mark.parametrize(
    "text",
    ["", "photon2." + TOKEN.encode().removeprefix(PREFIX), "phk_abc.def", "PHOTON1.abc"],
)
def test_wrong_prefix(text: str) -> None:
    with pytest.raises(UsageError) as info:
        JoinToken.decode(text)
    assert str(info.value) == "not a PHOTON join token (expected it to start with 'photon1.')"


def test_every_truncation_is_reported_as_corrupted() -> None:
    text = TOKEN.encode()
    for end in range(len(PREFIX), len(text)):
        with pytest.raises(UsageError) as info:
            JoinToken.decode(text[:end])
        assert str(info.value) == CORRUPTED, end


@pytest.mark.parametrize(
    "body",
    [
        "%%%%",
        "a",  # one char more than a multiple of four: not base64 at all
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    ],
)
def test_garbled_body(body: str) -> None:
    with pytest.raises(UsageError, match=r"^join token is corrupted \(copy it again in full\)$"):
        JoinToken.decode(PREFIX + body)


def test_a_garbled_character_is_reported_as_corrupted() -> None:
    text = TOKEN.encode()
    middle = len(text) // 2
    with pytest.raises(UsageError, match="corrupted"):
        JoinToken.decode(text[:middle] + "!" + text[middle + 1 :])


@pytest.mark.parametrize("missing", ["api", "ca", "id", "secret"])
def test_missing_field(missing: str) -> None:
    body = _fields()
    del body[missing]
    with pytest.raises(UsageError) as info:
        JoinToken.decode(_encode_body(body))
    assert str(info.value) == CORRUPTED


@pytest.mark.parametrize("body", [[1, 2], "text", 7, None, _fields(api=5), _fields(api=[])])
def test_wrong_shapes(body: Any) -> None:
    with pytest.raises(UsageError) as info:
        JoinToken.decode(_encode_body(body))
    assert str(info.value) == CORRUPTED


@pytest.mark.parametrize("pin", ["ab" * 32, "sha1:abcd", "SHA256:" + "ab" * 32, ""])
def test_pin_without_sha256_prefix(pin: str) -> None:
    with pytest.raises(UsageError) as info:
        JoinToken.decode(_encode_body(_fields(ca=pin)))
    assert str(info.value) == CORRUPTED


def test_a_token_nested_too_deeply_is_corrupted_not_a_traceback() -> None:
    body = "[" * 5_000 + "]" * 5_000
    text = PREFIX + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    with pytest.raises(UsageError) as info:
        JoinToken.decode(text)
    assert str(info.value) == CORRUPTED
