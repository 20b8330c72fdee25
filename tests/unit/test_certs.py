import random
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from photon.certs import (
    AGENT_URI_PREFIX,
    HUB_URI,
    agent_id_of,
    certificate_to_pem,
    create_ca,
    create_csr,
    fetch_ca_by_pin,
    fingerprint,
    generate_private_key,
    is_issued_by,
    issue_hub_certificate,
    load_certificate,
    load_certificates,
    load_private_key,
    not_after,
    private_key_to_pem,
    renewal_time,
    sign_agent_csr,
)
from photon.certs._pin import _split_address
from photon.errors import CertificateError, ConfigError, TransportError

NOW = datetime(2030, 1, 1, tzinfo=UTC)
_E = TypeVar("_E", bound=x509.ExtensionType)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pki:
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    hub_key: ec.EllipticCurvePrivateKey
    hub: x509.Certificate


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key, ca = create_ca(now=NOW)
    hub_key = generate_private_key()
    hub = issue_hub_certificate(
        ca_key=ca_key,
        ca_cert=ca,
        public_key=hub_key.public_key(),
        sans=["127.0.0.1", "hub.example.com"],
        now=NOW,
    )
    return Pki(ca_key=ca_key, ca=ca, hub_key=hub_key, hub=hub)


def _ext(cert: x509.Certificate, kind: type[_E]) -> x509.Extension[_E]:
    return cert.extensions.get_extension_for_class(kind)


def _agent_cert(pki: Pki, agent_id: str = "agent-1") -> x509.Certificate:
    csr = create_csr(key=generate_private_key(), common_name=agent_id)
    return sign_agent_csr(
        ca_key=pki.ca_key, ca_cert=pki.ca, csr_pem=csr, agent_id=agent_id, now=NOW
    )


def test_ca_properties(pki: Pki) -> None:
    ca = pki.ca
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "PHOTON CA"
    assert ca.issuer == ca.subject
    basic = _ext(ca, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = _ext(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    _ext(ca, x509.SubjectKeyIdentifier)
    assert ca.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert not_after(ca) == NOW + timedelta(days=5 * 365)
    assert isinstance(ca.signature_hash_algorithm, hashes.SHA256)
    public_key = ca.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    assert isinstance(public_key.curve, ec.SECP256R1)
    assert is_issued_by(ca, ca)
    assert agent_id_of(ca) is None


def test_hub_certificate_sans_and_usage(pki: Pki) -> None:
    hub = pki.hub
    sans = _ext(hub, x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [IPv4Address("127.0.0.1")]
    assert sans.get_values_for_type(x509.DNSName) == ["hub.example.com"]
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [HUB_URI]
    assert list(_ext(hub, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    basic = _ext(hub, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = _ext(hub, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    aki = _ext(hub, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(pki.ca, x509.SubjectKeyIdentifier).value.digest
    assert hub.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "photon-hub"
    assert not_after(hub) == NOW + timedelta(days=365)
    assert is_issued_by(hub, pki.ca)
    assert agent_id_of(hub) is None


def test_agent_certificate_from_csr(pki: Pki) -> None:
    cert = _agent_cert(pki, "agent-7")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "agent-7"
    sans = _ext(cert, x509.SubjectAlternativeName).value
    assert list(sans) == [x509.UniformResourceIdentifier(AGENT_URI_PREFIX + "agent-7")]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not _ext(cert, x509.BasicConstraints).value.ca
    assert _ext(cert, x509.KeyUsage).value.digital_signature
    assert not_after(cert) == NOW + timedelta(hours=24)
    assert is_issued_by(cert, pki.ca)
    assert agent_id_of(cert) == "agent-7"


def test_agent_certificate_ignores_what_the_csr_asks_for(pki: Pki) -> None:
    key = generate_private_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "photon-hub")]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(HUB_URI), x509.DNSName("evil.example.com")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert = sign_agent_csr(
        ca_key=pki.ca_key,
        ca_cert=pki.ca,
        csr_pem=csr.public_bytes(serialization.Encoding.PEM),
        agent_id="agent-2",
        now=NOW,
    )
    assert cert.public_key() == key.public_key()
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "agent-2"
    sans = _ext(cert, x509.SubjectAlternativeName).value
    assert list(sans) == [x509.UniformResourceIdentifier(AGENT_URI_PREFIX + "agent-2")]
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert not _ext(cert, x509.BasicConstraints).value.ca


def test_csr_with_bad_signature_is_rejected(pki: Pki) -> None:
    pem = create_csr(key=generate_private_key(), common_name="agent-x")
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"agent-x", b"agent-y")
    assert tampered != der
    tampered_pem = x509.load_der_x509_csr(tampered).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateError, match="signature"):
        sign_agent_csr(ca_key=pki.ca_key, ca_cert=pki.ca, csr_pem=tampered_pem, agent_id="a")


def test_csr_with_wrong_curve_is_rejected(pki: Pki) -> None:
    pem = create_csr(key=ec.generate_private_key(ec.SECP384R1()), common_name="agent-x")
    with pytest.raises(CertificateError, match="P-256"):
        sign_agent_csr(ca_key=pki.ca_key, ca_cert=pki.ca, csr_pem=pem, agent_id="a")


def test_malformed_csr_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError, match="malformed CSR"):
        sign_agent_csr(ca_key=pki.ca_key, ca_cert=pki.ca, csr_pem=b"junk", agent_id="a")


def test_agent_certificate_is_capped_at_ca_expiry() -> None:
    ca_key, ca = create_ca(ttl=timedelta(hours=1), now=NOW)
    csr = create_csr(key=generate_private_key(), common_name="a")
    cert = sign_agent_csr(ca_key=ca_key, ca_cert=ca, csr_pem=csr, agent_id="a", now=NOW)
    assert not_after(cert) == not_after(ca) == NOW + timedelta(hours=1)
    with pytest.raises(CertificateError, match="CA expired"):
        sign_agent_csr(
            ca_key=ca_key, ca_cert=ca, csr_pem=csr, agent_id="a", now=NOW + timedelta(hours=2)
        )


def test_agent_id_of_cert_without_extensions_is_none() -> None:
    key = generate_private_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    bare = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    assert agent_id_of(bare) is None


def test_is_issued_by_is_false_for_another_ca(pki: Pki) -> None:
    same_name_key, same_name_ca = create_ca(now=NOW)
    _, other_name_ca = create_ca(common_name="Other CA", now=NOW)
    agent = _agent_cert(pki)
    assert is_issued_by(agent, pki.ca)
    assert not is_issued_by(agent, same_name_ca)
    assert not is_issued_by(agent, other_name_ca)
    assert not is_issued_by(pki.ca, same_name_ca)
    del same_name_key


def test_fingerprint_format(pki: Pki) -> None:
    fp = fingerprint(pki.ca)
    assert fp.startswith("sha256:")
    digest = fp.removeprefix("sha256:")
    assert len(digest) == 64 and int(digest, 16) >= 0 and digest == digest.lower()
    assert fp == fingerprint(load_certificate(certificate_to_pem(pki.ca)))
    assert fp != fingerprint(pki.hub)


def test_renewal_time_is_between_50_and_70_percent(pki: Pki) -> None:
    cert = _agent_cert(pki)
    start, end = cert.not_valid_before_utc, not_after(cert)
    fractions = [
        (renewal_time(cert, rng=random.Random(seed)) - start) / (end - start)
        for seed in range(1000)
    ]
    assert all(0.5 <= f <= 0.7 for f in fractions)
    # Jittered, not a constant.
    assert min(fractions) < 0.52 and max(fractions) > 0.68


@pytest.mark.parametrize(
    ("ttl", "back"),
    [
        (timedelta(hours=24), timedelta(minutes=5)),
        (timedelta(hours=1), timedelta(minutes=5)),
        (timedelta(minutes=10), timedelta(minutes=1)),
        (timedelta(seconds=30), timedelta(seconds=3)),
    ],
)
def test_a_short_lived_certificate_is_back_dated_by_a_tenth_of_its_life(
    pki: Pki, ttl: timedelta, back: timedelta
) -> None:
    csr = create_csr(key=generate_private_key(), common_name="a")
    cert = sign_agent_csr(
        ca_key=pki.ca_key, ca_cert=pki.ca, csr_pem=csr, agent_id="a", ttl=ttl, now=NOW
    )
    assert cert.not_valid_before_utc == NOW - back
    assert cert.not_valid_after_utc == NOW + ttl
    # So that its renewal (at 50-70 % of its life) is still ahead when it is issued.
    assert renewal_time(cert, rng=random.Random(0)) > NOW


def test_pem_round_trips_and_garbage(pki: Pki) -> None:
    assert load_private_key(private_key_to_pem(pki.hub_key)).private_numbers() == (
        pki.hub_key.private_numbers()
    )
    bundle = certificate_to_pem(pki.hub) + certificate_to_pem(pki.ca)
    assert load_certificates(bundle) == [pki.hub, pki.ca]
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(CertificateError, match="P-256"):
        load_private_key(private_key_to_pem(p384))
    for load in (load_private_key, load_certificate, load_certificates):
        with pytest.raises(CertificateError, match="malformed"):
            load(b"-----BEGIN GARBAGE-----\nxx\n-----END GARBAGE-----\n")


@pytest.fixture
def hub_address(pki: Pki, tmp_path: Path) -> Iterator[str]:
    """A real TLS server on 127.0.0.1 presenting [hub cert, CA cert], like the hub does."""
    chain = tmp_path / "chain.pem"
    chain.write_bytes(certificate_to_pem(pki.hub) + certificate_to_pem(pki.ca))
    key = tmp_path / "key.pem"
    key.write_bytes(private_key_to_pem(pki.hub_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    context.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_fetch_ca_by_pin_returns_the_pinned_ca(pki: Pki, hub_address: str) -> None:
    ca = fetch_ca_by_pin(hub_address, fingerprint(pki.ca), timeout=5)
    assert ca == pki.ca
    # Pins pasted in upper case still match.
    assert fetch_ca_by_pin(hub_address, fingerprint(pki.ca).upper(), timeout=5) == pki.ca


def test_fetch_ca_by_pin_mismatch(pki: Pki, hub_address: str) -> None:
    _, other = create_ca(now=NOW)
    presented, pinned = fingerprint(pki.ca), fingerprint(other)
    expected = (
        f"hub at {hub_address} presents CA {presented[:23]}… which does not match "
        f"the pinned {pinned[:23]}…; the token is for another hub"
    )
    with pytest.raises(CertificateError) as info:
        fetch_ca_by_pin(hub_address, pinned, timeout=5)
    assert str(info.value) == expected


def test_fetch_ca_by_pin_refuses_a_pinned_leaf(pki: Pki, hub_address: str) -> None:
    with pytest.raises(CertificateError, match="not a CA"):
        fetch_ca_by_pin(hub_address, fingerprint(pki.hub), timeout=5)


def test_fetch_ca_by_pin_closed_port(pki: Pki) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(TransportError, match=rf"cannot reach hub at 127\.0\.0\.1:{port}: "):
        fetch_ca_by_pin(f"127.0.0.1:{port}", fingerprint(pki.ca), timeout=5)


def test_hub_address_parsing() -> None:
    assert _split_address("hub.example.com:7443") == ("hub.example.com", 7443)
    assert _split_address("[::1]:7443") == ("::1", 7443)
    for bad in ("hub.example.com", ":7443", "hub:http", "hub:0", "hub:65536"):
        with pytest.raises(ConfigError, match="is not host:port"):
            fetch_ca_by_pin(bad, "sha256:00")
