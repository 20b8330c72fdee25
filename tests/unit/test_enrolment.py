"""Enrolment's rules with a real store and a CA made here (no network)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from photon.certs import agent_id_of, create_ca, create_csr, generate_private_key, load_certificate
from photon.errors import AuthError, ConflictError, InvalidArgumentError
from photon.hub.core import JoinTokenRecord
from photon.hub.security import Enrolment, JoinRequest, hash_secret
from photon.hub.store import SqliteStore

CA_KEY, CA_CERT = create_ca()
SECRET = "s" * 43


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "hub.db")
    await store.open()
    await store.add_join_token(
        JoinTokenRecord(
            id="tok",
            secret_hash=hash_secret(SECRET),
            labels={"pool": "ci"},
            uses_left=3,
            expires_at=time.time() + 600,
            created_at=time.time(),
        )
    )
    try:
        yield store
    finally:
        await store.close()


def request(*, name: str = "", hostname: str = "", secret: str = SECRET) -> JoinRequest:
    return JoinRequest(
        token_id="tok",
        token_secret=secret,
        csr_pem=create_csr(key=generate_private_key(), common_name="x"),
        name=name,
        labels={"os": "linux"},
        hostname=hostname,
    )


async def test_an_agent_that_sends_no_hostname_is_not_given_the_hubs(store: SqliteStore) -> None:
    joined = await Enrolment(store=store, ca_key=CA_KEY, ca_cert=CA_CERT).join(request())
    assert joined.agent.hostname == ""
    assert joined.agent.name == joined.agent.id  # no name either: it goes by its id
    assert agent_id_of(load_certificate(joined.certificate_pem)) == joined.agent.id
    assert joined.agent.labels == {"os": "linux", "pool": "ci"}


async def test_the_name_defaults_to_the_hostname(store: SqliteStore) -> None:
    enrolment = Enrolment(store=store, ca_key=CA_KEY, ca_cert=CA_CERT)
    joined = await enrolment.join(request(hostname="build-7"))
    assert (joined.agent.name, joined.agent.hostname) == ("build-7", "build-7")
    with pytest.raises(ConflictError, match="an agent named 'build-7' is already a member"):
        await enrolment.join(request(hostname="build-7"))
    assert (await store.get_join_token("tok")).uses_left == 2


async def test_a_wrong_secret_and_a_bad_request_are_refused(store: SqliteStore) -> None:
    enrolment = Enrolment(store=store, ca_key=CA_KEY, ca_cert=CA_CERT)
    with pytest.raises(AuthError, match="join token is invalid"):
        await enrolment.join(request(secret="wrong"))
    bad = JoinRequest(
        token_id="tok", token_secret=SECRET, csr_pem=b"junk", name="", labels={}, hostname=""
    )
    with pytest.raises(InvalidArgumentError, match="certificate request refused"):
        await enrolment.join(bad)
    assert (await store.get_join_token("tok")).uses_left == 3
    assert await store.list_agents() == []


NOT_A_NAME = "name: must be letters, digits and ._- (not first)"
NOT_A_KEY = "labels: key 'no key' must be letters, digits and ._/- (not first)"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "\x1b[31mred"}, NOT_A_NAME),
        ({"name": "two\nlines"}, NOT_A_NAME),
        ({"name": "n" * 64}, "name: length exceeds the limit max-name-length (64 > 63)"),
        ({"hostname": "host\x00"}, "hostname: has a control character"),
        ({"name": "", "hostname": "my host"}, NOT_A_NAME),
        (
            {"labels": {"os": "linux\x1b]0;x\x07"}},
            "labels: the value of 'os' has a control character",
        ),
        ({"labels": {"no key": "x"}}, NOT_A_KEY),
        (
            {"labels": {f"k{i}": "v" for i in range(64)}},
            "labels: count exceeds the limit max-labels (65 > 64)",
        ),
    ],
)
async def test_names_labels_and_hostnames_a_terminal_would_obey_are_refused(
    store: SqliteStore, fields: dict[str, Any], message: str
) -> None:
    enrolment = Enrolment(store=store, ca_key=CA_KEY, ca_cert=CA_CERT)
    with pytest.raises(InvalidArgumentError) as info:
        await enrolment.join(replace(request(name="ok"), **fields))
    assert str(info.value) == message
    assert (await store.get_join_token("tok")).uses_left == 3
    assert await store.list_agents() == []
