"""Trust-on-pin: fetch the hub's CA over unverified TLS, accept it only by fingerprint."""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Any

from cryptography import x509

from ..errors import CertificateError, ConfigError, TransportError
from ._pki import fingerprint, is_issued_by, load_certificate

# Enough of the digest to tell two CAs apart in an error message without a wall of hex.
_SHORT = len("sha256:") + 16


def fetch_ca_by_pin(address: str, pin: str, *, timeout: float = 10.0) -> x509.Certificate:
    """Return the CA certificate the hub at `host:port` presents whose fingerprint is `pin`.

    Raises ConfigError for a malformed address, TransportError if the hub cannot be reached and
    CertificateError if no presented CA matches the pin or it did not sign the hub's certificate.
    """
    host, port = _split_address(address)
    chain = _unverified_chain(address, host, port, timeout=timeout)
    leaf = chain[0]
    pin = pin.strip().lower()
    for cert in chain:
        if fingerprint(cert) != pin:
            continue
        if not _is_ca(cert):
            raise CertificateError(f"the pinned certificate from the hub at {address} is not a CA")
        if not is_issued_by(leaf, cert):
            raise CertificateError(
                f"the hub at {address} presents a certificate not signed by the pinned CA"
            )
        return cert
    presented = next((c for c in chain[1:] if is_issued_by(leaf, c)), chain[-1])
    raise CertificateError(
        f"hub at {address} presents CA {_short(fingerprint(presented))} which does not match "
        f"the pinned {_short(pin)}; the token is for another hub"
    )


def _split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"hub address {address!r} is not host:port")
    return host, int(port)


def _unverified_chain(
    address: str, host: str, port: int, *, timeout: float
) -> list[x509.Certificate]:
    context = ssl.create_default_context()
    # Nothing is trusted yet: the handshake only collects the chain, which is judged by the pin.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # The hub is a gRPC server, which refuses TLS clients that do not offer HTTP/2.
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            raw_chain = _get_unverified_chain(tls)
    except OSError as exc:
        raise TransportError(f"cannot reach hub at {address}: {exc}") from exc
    if not raw_chain:
        raise CertificateError(f"hub at {address} presented no certificate")
    return [load_certificate(item.public_bytes().encode("ascii")) for item in raw_chain]


def _get_unverified_chain(tls: ssl.SSLSocket) -> list[Any] | None:
    if sys.version_info >= (3, 13):
        return tls.get_unverified_chain()
    # Before 3.13 the chain is only reachable on the private _ssl object; same data, same type.
    sslobj: Any = getattr(tls, "_sslobj")  # noqa: B009
    result: list[Any] | None = sslobj.get_unverified_chain()
    return result


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return False


def _short(fp: str) -> str:
    return fp[:_SHORT] + "…"
