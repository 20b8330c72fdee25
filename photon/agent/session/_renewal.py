"""`Renewer`: the agent's certificate, renewed over the live stream before it expires."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ..._x509 import Certificate, renewal_time
from ...errors import CertificateError
from ...v1 import mesh_pb2
from ..config import AgentPaths
from ._backoff import Backoff
from ._convert import RenewAnswer, renew_request_to_proto
from ._credentials import check_certificate, expired, save_renewed

log = logging.getLogger(__name__)
ANSWER_TIMEOUT = 30.0  # seconds the hub has to answer a renewal
# A failed renewal is retried soon (the certificate has 30 % of its life left at least), but
# a hub that keeps refusing is not asked more than every few minutes.
RETRY = Backoff(initial=2.0, multiplier=2.0, jitter=0.2, cap=300.0)
# Long waits are cut into steps, each checking the wall clock again: a host that slept (a
# suspended laptop) wakes up with its certificate as old as the calendar says.
MAX_SLEEP = 60.0


class _RenewalFailed(Exception):
    """One renewal attempt did not bring a new certificate (retried later)."""


class Renewer:
    """Renews the agent's certificate at a random point in 50-70 % of its lifetime: a fresh
    key, its request sent on the stream, the hub's certificate checked and stored with the key
    (the next connection uses them; the stream in use keeps going). A failed attempt is
    retried after a jittered backoff until the certificate expires."""

    def __init__(
        self,
        *,
        paths: AgentPaths,
        agent_id: str,
        rng: random.Random,
        backoff: Backoff = RETRY,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        self._paths = paths
        self._agent_id = agent_id
        self._rng = rng
        self._backoff = backoff
        self._answer_timeout = answer_timeout
        self._answer: asyncio.Future[RenewAnswer] | None = None

    def answered(self, answer: RenewAnswer) -> None:
        """The hub's answer to the request in flight (one that comes late is ignored)."""
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(answer)
        else:
            log.debug("ignoring a renewal answer nobody waits for")

    async def run(self, send: Callable[[mesh_pb2.ConnectRequest], None]) -> None:
        """Keep the certificate renewed while this stream lasts (`send` puts a message on it);
        it is scheduled afresh on each stream. Never returns; raises ConfigError with the one
        line the agent stops with once the certificate has expired. Cancelling it abandons a
        request in flight (the certificate files are never left half replaced)."""
        cert = check_certificate(self._paths)
        due = renewal_time(cert, rng=self._rng)
        failures = 0
        log.debug("certificate renewal due at %s", f"{due:%Y-%m-%d %H:%M:%S} UTC")
        while True:
            now = datetime.now(UTC)
            if now >= cert.not_valid_after_utc:
                raise expired(self._paths, cert.not_valid_after_utc)
            if now < due:
                await asyncio.sleep(min((due - now).total_seconds(), MAX_SLEEP))
                continue
            try:
                cert = await self._renew(send)
            except _RenewalFailed as exc:
                failures += 1
                delay = self._backoff.delay(failures, self._rng)
                log.warning("certificate renewal failed: %s; trying again in %.1fs", exc, delay)
                due = datetime.now(UTC) + timedelta(seconds=delay)
                continue
            failures = 0
            due = renewal_time(cert, rng=self._rng)

    async def _renew(self, send: Callable[[mesh_pb2.ConnectRequest], None]) -> Certificate:
        """One attempt: the new certificate, stored. Raises _RenewalFailed."""
        key_pem, csr_pem = await asyncio.to_thread(_key_and_request, self._agent_id)
        self._answer = asyncio.get_running_loop().create_future()
        try:
            send(renew_request_to_proto(csr_pem))
            async with asyncio.timeout(self._answer_timeout):
                answer = await self._answer
        except TimeoutError:
            raise _RenewalFailed(
                f"the hub did not answer within {self._answer_timeout:g}s"
            ) from None
        finally:
            self._answer = None
        if answer.error:
            raise _RenewalFailed(f"the hub refused: {answer.error}")
        # On the event loop, not in a thread: cancelling this task must not leave a thread
        # writing the certificate files while the next connection reads them.
        serial, cert = self._store(key_pem, answer.certificate_pem)
        log.info(
            "certificate renewed: serial %s, valid until %s",
            serial,
            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC",
        )
        return cert

    def _store(self, key_pem: bytes, cert_pem: bytes) -> tuple[str, Certificate]:
        """Check the hub's certificate is for this agent and key, from our CA; then store it.
        Raises _RenewalFailed."""
        from ...certs import (
            agent_id_of,
            certifies_key,
            is_issued_by,
            load_certificate,
            load_private_key,
        )

        try:
            cert = load_certificate(cert_pem)
            ca_cert = load_certificate(self._paths.ca_cert.read_bytes())
            ours = certifies_key(cert, load_private_key(key_pem))
        except (CertificateError, OSError) as exc:
            raise _RenewalFailed(f"cannot check the hub's certificate: {exc}") from None
        if not ours or not is_issued_by(cert, ca_cert) or agent_id_of(cert) != self._agent_id:
            raise _RenewalFailed("the hub's certificate is not for this agent's new key")
        try:
            save_renewed(self._paths, key_pem=key_pem, cert_pem=cert_pem)
        except OSError as exc:
            raise _RenewalFailed(f"cannot store the renewed certificate: {exc}") from None
        return format(cert.serial_number, "x"), Certificate(
            not_valid_before_utc=cert.not_valid_before_utc,
            not_valid_after_utc=cert.not_valid_after_utc,
        )


def _key_and_request(agent_id: str) -> tuple[bytes, bytes]:
    """A fresh P-256 key (PEM) and its certificate request. cryptography is imported only
    here, when a renewal is due: an idle agent does without its ~11 MB."""
    from ...certs import create_csr, generate_private_key, private_key_to_pem

    key = generate_private_key()
    return private_key_to_pem(key), create_csr(key=key, common_name=agent_id)
