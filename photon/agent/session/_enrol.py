"""`photon-agent join`: key made here, hub checked against the pinned CA, certificate fetched."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from pathlib import Path

import grpc
import grpc.aio

from ..._fs import ensure_private_dir, write_atomic
from ..._join_token import JoinToken
from ...errors import CertificateError, ConfigError
from ...v1 import enroll_pb2, enroll_pb2_grpc
from ...wire import CHANNEL_OPTIONS, error_for
from ..config import AgentPaths, Identity
from ._credentials import check_certificate

JOIN_TIMEOUT = 15.0


async def join(
    *, token_text: str, data_dir: Path, name: str = "", labels: Mapping[str, str] | None = None
) -> Identity:
    """Enrol this host. Raises UsageError (bad token), CertificateError (pin mismatch),
    TransportError (hub unreachable), AuthError (token refused), ConfigError (already joined).

    A data dir whose agent can no longer connect (its certificate has expired, or is missing)
    may be joined again: the new agent replaces it there."""
    # Imported here: `photon-agent run` loads this module too (through photon.agent), and
    # cryptography would add ~11 MB to the daemon's resident memory for a step it never runs.
    from ...certs import (
        agent_id_of,
        certificate_to_pem,
        create_csr,
        fetch_ca_by_pin,
        generate_private_key,
        is_issued_by,
        load_certificate,
        private_key_to_pem,
    )

    token = JoinToken.decode(token_text)
    ensure_private_dir(data_dir)
    paths = AgentPaths(root=data_dir)
    if paths.identity.exists() and _still_valid(paths):
        raise ConfigError(
            f"{data_dir} already holds a joined agent; use another --data-dir or remove it"
        )
    address = token.api_addresses[0]
    ca_cert = await asyncio.to_thread(fetch_ca_by_pin, address, token.ca_pin)
    ca_pem = certificate_to_pem(ca_cert)
    key = generate_private_key()
    hostname = socket.gethostname()
    request = enroll_pb2.JoinRequest(
        token_id=token.token_id,
        token_secret=token.secret,
        csr_pem=create_csr(key=key, common_name=name or hostname),
        name=name or hostname,
        labels=dict(labels or {}),
        hostname=hostname,
    )
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS) as channel:
        stub = enroll_pb2_grpc.EnrollServiceStub(channel)
        try:
            response: enroll_pb2.JoinResponse = await stub.Join(request, timeout=JOIN_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_for(exc.code(), exc.details() or "join failed") from None
    cert = load_certificate(response.certificate_pem)
    if not is_issued_by(cert, ca_cert) or agent_id_of(cert) != response.agent_id:
        raise CertificateError("the hub returned a certificate that does not match its CA")
    identity = Identity(
        agent_id=response.agent_id,
        name=name or hostname,
        mesh_addresses=tuple(response.mesh_addresses),
        labels=dict(response.labels),
    )
    write_atomic(paths.key, private_key_to_pem(key), mode=0o600)
    write_atomic(paths.cert, response.certificate_pem, mode=0o644)
    write_atomic(paths.ca_cert, ca_pem, mode=0o644)
    identity.save(paths.identity)
    return identity


def _still_valid(paths: AgentPaths) -> bool:
    """Whether the agent in `paths` could still connect (its certificate has not expired)."""
    try:
        check_certificate(paths)
    except ConfigError:
        return False
    return True
