"""PHOTON's PKI: one ECDSA P-256 CA issues hub server certs and agent client certs."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..errors import CertificateError

AGENT_URI_PREFIX = "spiffe://photon/agent/"
HUB_URI = "spiffe://photon/hub"
_HUB_COMMON_NAME = "photon-hub"

# Back-date every certificate so a peer whose clock runs a little behind still accepts it.
_CLOCK_SKEW = timedelta(minutes=5)
# ... but a short-lived leaf by a share of its lifetime only: agents renew at a share of the
# lifetime from notBefore, and five minutes of a one-minute certificate would put that in the past.
_SKEW_SHARE = 0.1


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    """Return a fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_to_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Return `key` as unencrypted PKCS#8 PEM (the file mode is what protects it)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """Parse a PEM private key; raises CertificateError if it is not an unencrypted P-256 key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise CertificateError(f"malformed private key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CertificateError("private key is not an ECDSA P-256 key")
    return key


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    """Return `cert` as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


def load_certificate(pem: bytes) -> x509.Certificate:
    """Parse one PEM certificate; raises CertificateError if it does not parse."""
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CertificateError(f"malformed certificate: {exc}") from exc


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Parse a PEM bundle of certificates; raises CertificateError if it does not parse."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise CertificateError(f"malformed certificate bundle: {exc}") from exc


def create_ca(
    *,
    common_name: str = "PHOTON CA",
    ttl: timedelta = timedelta(days=5 * 365),
    now: datetime | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Return a new self-signed CA key and certificate that may sign leaf certificates only."""
    now = now or datetime.now(UTC)
    key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + ttl)
        # path_length=0: a stolen leaf key can never be used to mint further certificates.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_hub_certificate(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    sans: Sequence[str],
    ttl: timedelta = timedelta(days=365),
    now: datetime | None = None,
) -> x509.Certificate:
    """Return a serverAuth-only hub certificate for IP/DNS `sans`; raises CertificateError."""
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            try:
                names.append(x509.DNSName(san))
            except ValueError as exc:
                raise CertificateError(f"invalid hub name {san!r}: {exc}") from exc
    names.append(x509.UniformResourceIdentifier(HUB_URI))
    return _issue_leaf(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=public_key,
        common_name=_HUB_COMMON_NAME,
        names=names,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        ttl=ttl,
        now=now,
    )


def create_csr(*, key: ec.EllipticCurvePrivateKey, common_name: str) -> bytes:
    """Return a PEM certificate signing request for `key`."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)


def sign_agent_csr(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    csr_pem: bytes,
    agent_id: str,
    ttl: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> x509.Certificate:
    """Return a clientAuth-only cert for `agent_id` over the CSR's key; raises CertificateError.

    Only the CSR's public key is used: the identity comes from `agent_id`, never from the requester.
    """
    try:
        csr = x509.load_pem_x509_csr(csr_pem)
    except ValueError as exc:
        raise CertificateError("malformed CSR") from exc
    try:
        valid = csr.is_signature_valid
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CertificateError("malformed CSR") from exc
    if not valid:
        raise CertificateError("CSR signature is invalid")
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise CertificateError("CSR key is not an ECDSA P-256 key")
    return _issue_leaf(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=public_key,
        common_name=agent_id,
        names=[x509.UniformResourceIdentifier(AGENT_URI_PREFIX + agent_id)],
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        ttl=ttl,
        now=now,
    )


def fingerprint(cert: x509.Certificate) -> str:
    """Return `"sha256:<hex>"` of the certificate's DER encoding."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def agent_id_of(cert: x509.Certificate) -> str | None:
    """Return the agent id of an agent client certificate, or None for any other certificate."""
    try:
        extensions = cert.extensions
        sans = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        ekus = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return None
    try:
        is_ca = extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca or ExtendedKeyUsageOID.CLIENT_AUTH not in ekus:
        return None
    ids = {
        uri.removeprefix(AGENT_URI_PREFIX)
        for uri in sans.get_values_for_type(x509.UniformResourceIdentifier)
        if uri.startswith(AGENT_URI_PREFIX)
    }
    # Two different identities in one certificate is not something we issue; trust neither.
    if len(ids) != 1:
        return None
    (agent_id,) = ids
    return agent_id or None


def is_issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Return whether `ca_cert` issued `cert` and its key made the ECDSA SHA-256 signature."""
    ca_public_key = ca_cert.public_key()
    if cert.issuer != ca_cert.subject or not isinstance(ca_public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        if not isinstance(cert.signature_hash_algorithm, hashes.SHA256):
            return False
        ca_public_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, UnsupportedAlgorithm, ValueError):
        return False
    return True


def certifies_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Return whether `cert` is for `key` (its public half)."""
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)


def not_after(cert: x509.Certificate) -> datetime:
    """Return the certificate's expiry as an aware UTC datetime."""
    return cert.not_valid_after_utc


def _issue_leaf(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    common_name: str,
    names: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
    ttl: timedelta,
    now: datetime | None,
) -> x509.Certificate:
    now = now or datetime.now(UTC)
    # A leaf that outlives its CA would be rejected by peers anyway; make its real limit visible.
    expires = min(now + ttl, ca_cert.not_valid_after_utc)
    if expires <= now:
        raise CertificateError(f"the CA expired at {ca_cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z")
    skew = min(_CLOCK_SKEW, ttl * _SKEW_SHARE)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - skew)
        .not_valid_after(expires)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
