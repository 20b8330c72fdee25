"""Secrets on the hub without a network: the AES-GCM box, the service over a real SQLite
store, the env references and the task machine's answer to a secret gone at dispatch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photon._env import check_env, references, secret_name, substitute
from photon.errors import ConfigError, InvalidArgumentError, NotFoundError, SecretError
from photon.hub.core import Limits
from photon.hub.secrets import KEY_BYTES, NONCE_BYTES, SecretBox, Secrets, check_value, load_key
from photon.hub.store import SqliteStore

KEY = bytes(range(KEY_BYTES))


# -- the box ------------------------------------------------------------------------------------


def test_a_sealed_value_opens_with_its_name_and_version_only() -> None:
    box = SecretBox(KEY)
    nonce, ciphertext = box.seal("tok", 1, b"hunter2")
    assert len(nonce) == NONCE_BYTES
    assert b"hunter2" not in ciphertext
    assert box.open("tok", 1, nonce, ciphertext) == b"hunter2"
    # Moved to another name or version, it does not open.
    for name, version in (("other", 1), ("tok", 2)):
        with pytest.raises(SecretError, match="does not open"):
            box.open(name, version, nonce, ciphertext)


def test_each_seal_has_a_fresh_nonce() -> None:
    box = SecretBox(KEY)
    sealed = {box.seal("tok", 1, b"same") for _ in range(50)}
    assert len({nonce for nonce, _ in sealed}) == 50
    assert len({ciphertext for _, ciphertext in sealed}) == 50


def test_a_tampered_value_or_another_key_is_refused() -> None:
    box = SecretBox(KEY)
    nonce, ciphertext = box.seal("tok", 3, b"hunter2")
    for i in (0, len(ciphertext) // 2, len(ciphertext) - 1):
        flipped = bytearray(ciphertext)
        flipped[i] ^= 1
        with pytest.raises(SecretError):
            box.open("tok", 3, nonce, bytes(flipped))
    with pytest.raises(SecretError):
        box.open("tok", 3, bytes(NONCE_BYTES), ciphertext)
    with pytest.raises(SecretError) as refused:
        SecretBox(os.urandom(KEY_BYTES)).open("tok", 3, nonce, ciphertext)
    assert str(refused.value) == (
        "secret 'tok' version 3 does not open: the hub's secrets key is not the one that"
        " sealed it, or the stored value was altered"
    )
    assert "hunter2" not in str(refused.value)


def test_keys_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="32 bytes, not 16"):
        SecretBox(bytes(16))
    short = tmp_path / "secrets.key"
    short.write_bytes(bytes(31))
    with pytest.raises(ConfigError, match="must hold 32 bytes, not 31"):
        load_key(short)
    with pytest.raises(ConfigError, match="is missing; run: photon-hub init"):
        load_key(tmp_path / "absent.key")
    short.write_bytes(KEY)
    assert load_key(short) == KEY
    assert "0001" not in repr(SecretBox(KEY))


# -- values -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"", "must not be empty"),
        (b"\xff", "must be UTF-8 text"),
        (b"a\x00b", "must not contain a NUL byte"),
        (b"x" * 11, "max-secret-bytes"),
    ],
)
def test_bad_values_are_refused_without_quoting_them(value: bytes, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as refused:
        check_value(value, Limits(max_secret_bytes=10))
    if value:
        assert value.decode(errors="replace") not in str(refused.value)


# -- the service over a real store --------------------------------------------------------------


async def test_setting_again_rotates_and_every_version_is_kept_sealed(
    store: SqliteStore, tmp_path: Path
) -> None:
    secrets = Secrets(store=store, box=SecretBox(KEY))
    await secrets.load()
    first = await secrets.set("tok", b"first-value-1234", set_by="alice")
    second = await secrets.set("tok", b"second-value-5678", set_by="bob")
    await secrets.set("other", b"third-value-9012", set_by="alice")
    assert (first.version, second.version, second.set_by) == (1, 2, "bob")
    assert secrets.resolve(["tok", "other"]) == {
        "tok": "second-value-5678",
        "other": "third-value-9012",
    }
    assert [(i.name, i.version) for i in await secrets.list()] == [("other", 1), ("tok", 2)]
    versions = await store.list_secret_versions("tok")
    assert [(v.version, v.set_by) for v in versions] == [(1, "alice"), (2, "bob")]
    assert len({v.nonce for v in versions}) == 2

    # What a restarted hub loads opens the same.
    reloaded = Secrets(store=store, box=SecretBox(KEY))
    await reloaded.load()
    assert reloaded.resolve(["tok"]) == {"tok": "second-value-5678"}
    assert reloaded.version_of("tok") == 2

    assert await secrets.delete("tok") == 2
    assert not secrets.exists("tok")
    assert await store.list_secret_versions("tok") == []
    with pytest.raises(NotFoundError, match="no secret named 'tok'"):
        secrets.resolve(["tok"])
    with pytest.raises(NotFoundError):
        await secrets.delete("tok")
    # A name set again after a delete starts over.
    assert (await secrets.set("tok", b"fourth-value", set_by="alice")).version == 1

    await store.close()
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
    for value in (b"first-value-1234", b"second-value-5678", b"third-value-9012", b"fourth-value"):
        assert value not in on_disk
    await store.open()


async def test_names_are_checked(store: SqliteStore) -> None:
    secrets = Secrets(store=store, box=SecretBox(KEY))
    for bad in ("", "has space", "-first", "x" * 64, "a/b"):
        with pytest.raises(InvalidArgumentError, match="secret name"):
            await secrets.set(bad, b"v", set_by="alice")
    with pytest.raises(InvalidArgumentError, match="secret name"):
        await secrets.delete("no way")


async def test_a_value_sealed_under_another_key_does_not_open(store: SqliteStore) -> None:
    await Secrets(store=store, box=SecretBox(KEY)).set("tok", b"value", set_by="alice")
    other = Secrets(store=store, box=SecretBox(os.urandom(KEY_BYTES)))
    await other.load()
    assert other.exists("tok")
    with pytest.raises(SecretError):
        other.resolve(["tok"])


# -- references in a task's env -----------------------------------------------------------------


def test_references_are_found_checked_and_substituted() -> None:
    env = {"TOKEN": "secret:tok", "PLAIN": "secretive", "EMPTY": ""}
    assert secret_name("secret:tok") == "tok"
    assert secret_name("secretive") is None
    assert references(env) == {"TOKEN": "tok"}
    check_env(env)
    assert substitute(env, {"tok": "v"}) == {"TOKEN": "v", "PLAIN": "secretive", "EMPTY": ""}
    with pytest.raises(InvalidArgumentError, match="env TOKEN: secret 'tok' was not sent"):
        substitute(env, {})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"": "x"}, "a variable's name must not be empty"),
        ({"A=B": "x"}, "env 'A=B': a name must not contain '='"),
        ({"A": "x\x00"}, "env 'A': the value contains a NUL byte"),
        ({"A": "secret:"}, "env 'A': secret name"),
        ({"A": "secret:has space"}, "env 'A': secret name"),
    ],
)
def test_bad_env_is_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        check_env(env)
