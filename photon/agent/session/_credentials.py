"""The agent's certificate: checked before each connection, replaced when renewed, and its
mTLS credentials."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime

import grpc

from ..._fs import write_atomic
from ..._x509 import Certificate, load_certificate, not_after  # not ...certs: ~11 MB RSS
from ...errors import ConfigError
from ..config import AgentPaths


def current_certificate(paths: AgentPaths) -> Certificate:
    """The certificate the next connection uses (a renewal cut short is finished first).
    Raises ConfigError when it is missing, and CertificateError when it does not parse."""
    finish_renewal(paths)
    try:
        return load_certificate(paths.cert.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{paths.cert} is missing; join again") from None


def check_certificate(paths: AgentPaths) -> Certificate:
    """The agent's certificate, when it is still valid. Raises ConfigError when it is missing
    or has expired."""
    cert = current_certificate(paths)
    expires = not_after(cert)
    if expires <= datetime.now(UTC):
        raise expired(paths, expires)
    return cert


def expired(paths: AgentPaths, expires: datetime) -> ConfigError:
    """The one line an agent whose certificate has expired stops with."""
    return ConfigError(
        f"this agent's certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC; join again:"
        f" photon-agent join --token TOKEN --data-dir {paths.root}"
    )


def save_renewed(paths: AgentPaths, *, key_pem: bytes, cert_pem: bytes) -> None:
    """Replace the agent's key and certificate with renewed ones, so that a crash at any point
    leaves the old pair or the new one (never a key with the other's certificate); raises
    OSError. The new pair is written aside first, the certificate last: once it is there,
    `finish_renewal` completes the swap, also at the next start."""
    write_atomic(paths.next_key, key_pem, mode=0o600)
    write_atomic(paths.next_cert, cert_pem, mode=0o644)
    finish_renewal(paths)


def finish_renewal(paths: AgentPaths) -> None:
    """Complete a renewal `save_renewed` was interrupted in, or drop one it never finished
    writing. Raises OSError."""
    if not paths.next_cert.exists():
        # The certificate is written after the key: a lone key is a renewal cut short.
        with contextlib.suppress(FileNotFoundError):
            paths.next_key.unlink()
        return
    with contextlib.suppress(FileNotFoundError):  # already moved, before a crash
        os.replace(paths.next_key, paths.key)
    os.replace(paths.next_cert, paths.cert)
    dir_fd = os.open(paths.root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def channel_credentials(paths: AgentPaths) -> grpc.ChannelCredentials:
    """The agent's key and certificate, and the pinned CA the hub must be signed by."""
    return grpc.ssl_channel_credentials(
        root_certificates=paths.ca_cert.read_bytes(),
        private_key=paths.key.read_bytes(),
        certificate_chain=paths.cert.read_bytes(),
    )
