"""The agent's certificate: checked before each connection, and its mTLS credentials."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from ..._x509 import load_certificate, not_after  # not ...certs: cryptography costs ~11 MB RSS
from ...errors import ConfigError
from ..config import AgentPaths


def check_certificate(paths: AgentPaths) -> None:
    """Raises ConfigError when the agent certificate is missing or has expired."""
    try:
        cert = load_certificate(paths.cert.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{paths.cert} is missing; join again") from None
    expires = not_after(cert)
    if expires <= datetime.now(UTC):
        raise ConfigError(
            f"agent certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC;"
            " join again with a new token (photon-agent join --token ...)"
        )


def channel_credentials(paths: AgentPaths) -> grpc.ChannelCredentials:
    """The agent's key and certificate, and the pinned CA the hub must be signed by."""
    return grpc.ssl_channel_credentials(
        root_certificates=paths.ca_cert.read_bytes(),
        private_key=paths.key.read_bytes(),
        certificate_chain=paths.cert.read_bytes(),
    )
