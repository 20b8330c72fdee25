"""Renewal's rules with a real store and a CA made here (no network): whose certificate it is,
which requests are refused, which agents are refused, and how often one may renew."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from photon.certs import (
    agent_id_of,
    certifies_key,
    create_ca,
    create_csr,
    generate_private_key,
    is_issued_by,
    load_certificate,
)
from photon.errors import ConflictError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from photon.hub.core import AgentRecord, JoinTokenRecord
from photon.hub.security import (
    MAX_CSR_BYTES,
    AgentIssuer,
    Enrolment,
    JoinRequest,
    Renewal,
    RenewalGate,
    RenewalRequest,
    check_agent_cert_ttl,
    hash_secret,
)
from photon.hub.store import SqliteStore

CA_KEY, CA_CERT = create_ca()
SECRET = "s" * 43
TTL = timedelta(minutes=10)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "hub.db")
    await store.open()
    await store.add_join_token(
        JoinTokenRecord(
            id="tok",
            secret_hash=hash_secret(SECRET),
            labels={},
            uses_left=5,
            expires_at=time.time() + 600,
            created_at=time.time(),
        )
    )
    try:
        yield store
    finally:
        await store.close()


async def joined(store: SqliteStore, name: str) -> AgentRecord:
    enrolment = Enrolment(store=store, ca_key=CA_KEY, ca_cert=CA_CERT, cert_ttl=TTL)
    request = JoinRequest(
        token_id="tok",
        token_secret=SECRET,
        csr_pem=create_csr(key=generate_private_key(), common_name=name),
        name=name,
        labels={},
        hostname="",
    )
    return (await enrolment.join(request)).agent


def renewal(store: SqliteStore, gate: RenewalGate | None = None) -> Renewal:
    return Renewal(
        store=store, issuer=AgentIssuer(ca_key=CA_KEY, ca_cert=CA_CERT, ttl=TTL), gate=gate
    )


def claiming(key: ec.EllipticCurvePrivateKey, agent_id: str) -> bytes:
    """A request that names another agent every way a CSR can."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, agent_id)]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://photon/agent/{agent_id}")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


async def test_the_certificate_is_for_the_streams_agent_whatever_the_request_says(
    store: SqliteStore,
) -> None:
    mine, other = await joined(store, "mine"), await joined(store, "other")
    key = generate_private_key()
    renewed = await renewal(store).renew(
        RenewalRequest(agent_id=mine.id, csr_pem=claiming(key, other.id))
    )
    cert = load_certificate(renewed.certificate_pem)
    assert agent_id_of(cert) == mine.id
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == mine.id
    assert certifies_key(cert, key)
    assert is_issued_by(cert, CA_CERT)
    lifetime = cert.not_valid_after_utc - datetime.now(UTC)
    assert TTL - timedelta(seconds=5) < lifetime <= TTL
    # Recorded on the agent it is for, and nothing else about it changed.
    assert renewed.serial == format(cert.serial_number, "x") != mine.certificate_serial
    after = await store.get_agent(mine.id)
    assert after == replace(
        mine, certificate_serial=renewed.serial, certificate_expires_at=renewed.expires_at
    )
    assert await store.get_agent(other.id) == other


@pytest.mark.parametrize(
    ("csr_pem", "reason"),
    [
        (b"junk", "malformed CSR"),
        (b"-" * (MAX_CSR_BYTES + 1), f"larger than {MAX_CSR_BYTES} bytes"),
        (
            create_csr(key=ec.generate_private_key(ec.SECP384R1()), common_name="x"),
            "CSR key is not an ECDSA P-256 key",
        ),
    ],
    ids=["junk", "too-large", "p384"],
)
async def test_a_bad_request_is_refused_with_one_reason(
    store: SqliteStore, csr_pem: bytes, reason: str
) -> None:
    agent = await joined(store, "a")
    with pytest.raises(InvalidArgumentError) as refused:
        await renewal(store).renew(RenewalRequest(agent_id=agent.id, csr_pem=csr_pem))
    assert str(refused.value) == f"certificate request refused: {reason}"
    assert await store.get_agent(agent.id) == agent


async def test_a_request_its_key_did_not_sign_is_refused(store: SqliteStore) -> None:
    agent = await joined(store, "a")
    good = x509.load_pem_x509_csr(create_csr(key=generate_private_key(), common_name="x"))
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    forged = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(InvalidArgumentError) as refused:
        await renewal(store).renew(RenewalRequest(agent_id=agent.id, csr_pem=forged))
    assert str(refused.value) == "certificate request refused: CSR signature is invalid"


async def test_removed_unknown_and_lapsed_agents_are_refused(store: SqliteStore) -> None:
    csr = create_csr(key=generate_private_key(), common_name="x")
    removed = await joined(store, "removed")
    await store.update_agent(replace(removed, removed=True))
    with pytest.raises(PermissionDeniedError, match="was removed from this mesh"):
        await renewal(store).renew(RenewalRequest(agent_id=removed.id, csr_pem=csr))
    assert (await store.get_agent(removed.id)).certificate_serial == removed.certificate_serial

    with pytest.raises(PermissionDeniedError, match="never-joined is not a member"):
        await renewal(store).renew(RenewalRequest(agent_id="never-joined", csr_pem=csr))

    lapsed = await joined(store, "lapsed")
    await store.update_agent(replace(lapsed, certificate_expires_at=time.time() - 1))
    with pytest.raises(PermissionDeniedError, match="certificate has expired; join again"):
        await renewal(store).renew(RenewalRequest(agent_id=lapsed.id, csr_pem=csr))


async def test_recording_a_renewal_never_undoes_a_removal(store: SqliteStore) -> None:
    agent = await joined(store, "a")
    await store.update_agent(replace(agent, removed=True))
    with pytest.raises(NotFoundError):
        await store.renew_agent_certificate(agent.id, serial="abc", expires_at=1.0)
    assert await store.get_agent(agent.id) == replace(agent, removed=True)


async def test_join_gives_the_configured_lifetime(store: SqliteStore) -> None:
    agent = await joined(store, "a")
    assert (
        TTL - timedelta(seconds=5)
        < timedelta(seconds=agent.certificate_expires_at - time.time())
        <= TTL
    )


def test_one_renewal_at_a_time_and_a_few_a_minute() -> None:
    gate = RenewalGate(per_window=3, window=60.0)
    gate.admit("a", 0.0)
    with pytest.raises(ConflictError, match="already in progress"):
        gate.admit("a", 1.0)
    gate.admit("b", 1.0)  # another agent is not held up
    gate.finish("a")
    gate.admit("a", 2.0)
    gate.finish("a")
    gate.admit("a", 3.0)
    gate.finish("a")
    with pytest.raises(ConflictError, match="too many renewals: at most 3 in 60 s"):
        gate.admit("a", 59.0)
    gate.admit("a", 60.5)  # the first has left the window


async def test_a_refused_renewal_does_not_hold_the_next_one_up(store: SqliteStore) -> None:
    agent = await joined(store, "a")
    renewals = renewal(store)
    with pytest.raises(InvalidArgumentError):
        await renewals.renew(RenewalRequest(agent_id=agent.id, csr_pem=b"junk"))
    csr = create_csr(key=generate_private_key(), common_name="x")
    await renewals.renew(RenewalRequest(agent_id=agent.id, csr_pem=csr))


@pytest.mark.parametrize(
    ("ttl", "ok"),
    [
        (timedelta(seconds=29), False),
        (timedelta(seconds=30), True),
        (timedelta(hours=24), True),
        (timedelta(days=365), True),
        (timedelta(days=366), False),
    ],
)
def test_the_lifetime_a_hub_may_give(ttl: timedelta, ok: bool) -> None:
    if ok:
        check_agent_cert_ttl(ttl)
    else:
        with pytest.raises(InvalidArgumentError, match="lifetime must be from 30s to 365d"):
            check_agent_cert_ttl(ttl)
