"""The agent's side of renewal: when it renews, how it stores the new pair (and recovers from a
crash part-way), and a `Renewer` answered by a real CA (no network)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from photon import _x509
from photon.agent.config import AgentPaths
from photon.agent.session import Backoff
from photon.agent.session._convert import RenewAnswer
from photon.agent.session._credentials import (
    check_certificate,
    current_certificate,
    finish_renewal,
    save_renewed,
)
from photon.agent.session._renewal import Renewer
from photon.certs import (
    agent_id_of,
    certificate_to_pem,
    certifies_key,
    create_ca,
    create_csr,
    generate_private_key,
    load_certificate,
    load_private_key,
    private_key_to_pem,
    sign_agent_csr,
)
from photon.errors import ConfigError
from photon.v1 import mesh_pb2

CA_KEY, CA_CERT = create_ca()
START = datetime(2030, 1, 1, tzinfo=UTC)
CERT = _x509.Certificate(
    not_valid_before_utc=START, not_valid_after_utc=START + timedelta(hours=10)
)


class Extreme(random.Random):
    """Always picks one end of the range it is asked for."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high

    def uniform(self, a: float, b: float) -> float:
        return b if self.high else a


def share(at: datetime) -> float:
    return (at - START) / (CERT.not_valid_after_utc - START)


def test_renewal_is_due_between_50_and_70_percent_of_the_lifetime() -> None:
    assert _x509.renewal_time(CERT, rng=Extreme(high=False)) == START + timedelta(hours=5)
    assert _x509.renewal_time(CERT, rng=Extreme(high=True)) == START + timedelta(hours=7)
    shares = [share(_x509.renewal_time(CERT, rng=random.Random(seed))) for seed in range(500)]
    assert all(0.5 <= s <= 0.7 for s in shares)
    # Spread over the whole range, so agents that joined together renew apart.
    assert min(shares) < 0.51 and max(shares) > 0.69
    assert 0.58 < sum(shares) / len(shares) < 0.62


def test_the_same_randomness_gives_the_same_time() -> None:
    first = _x509.renewal_time(CERT, rng=random.Random(7))
    assert _x509.renewal_time(CERT, rng=random.Random(7)) == first


# -- storing the renewed pair ------------------------------------------------------------------


def issue(key_pem: bytes, *, agent_id: str = "a1", ttl: timedelta, now: datetime) -> bytes:
    key = load_private_key(key_pem)
    cert = sign_agent_csr(
        ca_key=CA_KEY,
        ca_cert=CA_CERT,
        csr_pem=create_csr(key=key, common_name="x"),
        agent_id=agent_id,
        ttl=ttl,
        now=now,
    )
    return certificate_to_pem(cert)


def joined(tmp_path: Path, *, ttl: timedelta, age: timedelta) -> AgentPaths:
    """A data dir as join leaves it, with a certificate issued `age` ago."""
    paths = AgentPaths(root=tmp_path)
    key_pem = private_key_to_pem(generate_private_key())
    paths.key.write_bytes(key_pem)
    paths.cert.write_bytes(issue(key_pem, ttl=ttl, now=datetime.now(UTC) - age))
    paths.ca_cert.write_bytes(certificate_to_pem(CA_CERT))
    return paths


def pair(paths: AgentPaths) -> tuple[bytes, bytes]:
    return paths.key.read_bytes(), paths.cert.read_bytes()


def matches(paths: AgentPaths) -> bool:
    key, cert = pair(paths)
    return certifies_key(load_certificate(cert), load_private_key(key))


def test_a_renewed_pair_replaces_the_old_one(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(hours=1), age=timedelta(0))
    key_pem = private_key_to_pem(generate_private_key())
    cert_pem = issue(key_pem, ttl=timedelta(hours=2), now=datetime.now(UTC))
    save_renewed(paths, key_pem=key_pem, cert_pem=cert_pem)
    assert pair(paths) == (key_pem, cert_pem)
    assert (paths.key.stat().st_mode & 0o777) == 0o600
    assert not paths.next_key.exists() and not paths.next_cert.exists()


def test_a_renewal_cut_short_leaves_one_whole_pair(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(hours=1), age=timedelta(0))
    old = pair(paths)
    new_key = private_key_to_pem(generate_private_key())
    new_cert = issue(new_key, ttl=timedelta(hours=2), now=datetime.now(UTC))

    # Stopped after writing the new key aside: the old pair stays, the lone key goes.
    paths.next_key.write_bytes(new_key)
    finish_renewal(paths)
    assert pair(paths) == old and not paths.next_key.exists()

    # Stopped with both written aside: the next start completes the swap.
    paths.next_key.write_bytes(new_key)
    paths.next_cert.write_bytes(new_cert)
    assert current_certificate(paths).not_valid_after_utc == (
        load_certificate(new_cert).not_valid_after_utc
    )
    assert pair(paths) == (new_key, new_cert) and matches(paths)

    # Stopped between the two moves (the key already in place): the certificate follows.
    newer_key = private_key_to_pem(generate_private_key())
    newer_cert = issue(newer_key, ttl=timedelta(hours=3), now=datetime.now(UTC))
    paths.key.write_bytes(newer_key)
    paths.next_cert.write_bytes(newer_cert)
    check_certificate(paths)
    assert pair(paths) == (newer_key, newer_cert) and matches(paths)


# -- the Renewer, answered by a CA -------------------------------------------------------------


class Hub:
    """Answers renewal requests the way the hub does, by signing them (or refusing `refuse`
    times first)."""

    def __init__(self, renewer: Renewer, *, refuse: int = 0) -> None:
        self.renewer = renewer
        self.refuse = refuse
        self.requests: list[bytes] = []

    def send(self, message: mesh_pb2.ConnectRequest) -> None:
        assert message.WhichOneof("body") == "renew_request"
        csr_pem = message.renew_request.csr_pem
        self.requests.append(csr_pem)
        if self.refuse:
            self.refuse -= 1
            answer = RenewAnswer(certificate_pem=b"", error="a renewal is already in progress")
        else:
            csr = x509.load_pem_x509_csr(csr_pem)
            assert csr.is_signature_valid
            cert = sign_agent_csr(
                ca_key=CA_KEY,
                ca_cert=CA_CERT,
                csr_pem=csr_pem,
                agent_id="a1",
                ttl=timedelta(hours=1),
            )
            answer = RenewAnswer(certificate_pem=certificate_to_pem(cert), error="")
        asyncio.get_running_loop().call_soon(self.renewer.answered, answer)


FAST = Backoff(initial=0.01, multiplier=2.0, jitter=0.2, cap=0.05)


async def run_until(renewer: Renewer, hub: Hub, done: object, timeout: float = 10) -> None:
    task = asyncio.create_task(renewer.run(hub.send))
    try:
        async with asyncio.timeout(timeout):
            while not done():  # type: ignore[operator]
                assert not task.done(), task
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_due_renewal_stores_a_new_key_and_certificate(tmp_path: Path) -> None:
    # 80 % through its life: past the latest moment it would have renewed.
    paths = joined(tmp_path, ttl=timedelta(seconds=100), age=timedelta(seconds=80))
    old_key, old_cert = pair(paths)
    renewer = Renewer(paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST)
    hub = Hub(renewer)
    await run_until(renewer, hub, lambda: paths.cert.read_bytes() != old_cert)
    assert len(hub.requests) == 1
    key_pem, cert_pem = pair(paths)
    assert key_pem != old_key
    cert = load_certificate(cert_pem)
    assert agent_id_of(cert) == "a1"
    assert matches(paths)
    # The request carried the new key.
    csr = x509.load_pem_x509_csr(hub.requests[0])
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    assert csr.public_key().public_bytes(der, spki) == cert.public_key().public_bytes(der, spki)


async def test_a_refused_renewal_is_retried(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(seconds=100), age=timedelta(seconds=80))
    old_cert = paths.cert.read_bytes()
    renewer = Renewer(paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST)
    hub = Hub(renewer, refuse=2)
    await run_until(renewer, hub, lambda: paths.cert.read_bytes() != old_cert)
    assert len(hub.requests) == 3
    assert matches(paths)


async def test_an_unanswered_renewal_is_retried(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(seconds=100), age=timedelta(seconds=80))
    renewer = Renewer(
        paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST, answer_timeout=0.05
    )
    sent: list[bytes] = []
    task = asyncio.create_task(renewer.run(lambda m: sent.append(m.renew_request.csr_pem)))
    try:
        async with asyncio.timeout(10):
            while len(sent) < 3:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(set(sent)) == 3  # a fresh key each time


async def test_a_certificate_for_another_agent_or_key_is_not_stored(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(seconds=100), age=timedelta(seconds=80))
    before = pair(paths)
    renewer = Renewer(paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST)
    stranger_key = private_key_to_pem(generate_private_key())
    wrong = [
        issue(stranger_key, ttl=timedelta(hours=1), now=datetime.now(UTC)),  # another key
        b"junk",
    ]
    sent: list[bytes] = []

    def send(message: mesh_pb2.ConnectRequest) -> None:
        sent.append(message.renew_request.csr_pem)
        pem = wrong[len(sent) - 1] if len(sent) <= len(wrong) else b""
        answer = RenewAnswer(certificate_pem=pem, error="" if pem else "stop")
        asyncio.get_running_loop().call_soon(renewer.answered, answer)

    task = asyncio.create_task(renewer.run(send))
    try:
        async with asyncio.timeout(10):
            while len(sent) < 3:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert pair(paths) == before


async def test_an_expired_certificate_ends_the_renewer_with_one_line(tmp_path: Path) -> None:
    paths = joined(tmp_path, ttl=timedelta(seconds=60), age=timedelta(seconds=61))
    renewer = Renewer(paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST)
    with pytest.raises(ConfigError) as ended:
        await renewer.run(lambda m: None)
    expires = load_certificate(paths.cert.read_bytes()).not_valid_after_utc
    assert str(ended.value) == (
        f"this agent's certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC;"
        f" join again: photon-agent join --token TOKEN --data-dir {tmp_path}"
    )


async def test_renewals_that_keep_failing_end_when_the_certificate_expires(
    tmp_path: Path,
) -> None:
    # Due at once (past 70 % of its life), expiring 1.5 s from now.
    paths = joined(tmp_path, ttl=timedelta(seconds=5), age=timedelta(seconds=3.5))
    renewer = Renewer(paths=paths, agent_id="a1", rng=random.Random(0), backoff=FAST)
    hub = Hub(renewer, refuse=1_000_000)
    with pytest.raises(ConfigError, match="certificate expired at"):
        async with asyncio.timeout(10):
            await renewer.run(hub.send)
    assert len(hub.requests) >= 2
