"""photon._x509 reads the validity period cryptography reads, from every kind of certificate."""

import base64
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from photon import _x509
from photon.certs import (
    certificate_to_pem,
    create_ca,
    create_csr,
    generate_private_key,
    issue_hub_certificate,
    sign_agent_csr,
)
from photon.errors import CertificateError

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def _self_signed(
    not_before: datetime, not_after: datetime, *, name_parts: int = 1
) -> x509.Certificate:
    key = generate_private_key()
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "x" * 60)] * (name_parts - 1)
        + [x509.NameAttribute(NameOID.COMMON_NAME, "t")]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )


def _assert_same_validity(cert: x509.Certificate) -> None:
    read = _x509.load_certificate(certificate_to_pem(cert))
    assert read.not_valid_before_utc == cert.not_valid_before_utc
    assert read.not_valid_after_utc == cert.not_valid_after_utc
    assert _x509.not_after(read) == cert.not_valid_after_utc


def test_photon_certificates_read_like_cryptography() -> None:
    ca_key, ca = create_ca(now=NOW)
    hub = issue_hub_certificate(
        ca_key=ca_key,
        ca_cert=ca,
        public_key=generate_private_key().public_key(),
        sans=["127.0.0.1", "hub.example.com"],
        now=NOW,
    )
    agent = sign_agent_csr(
        ca_key=ca_key,
        ca_cert=ca,
        csr_pem=create_csr(key=generate_private_key(), common_name="a"),
        agent_id="agent-1",
        now=NOW,
    )
    for cert in (ca, hub, agent):
        _assert_same_validity(cert)


@pytest.mark.parametrize(
    ("not_before", "not_after"),
    [
        # UTCTime both sides of RFC 5280's 1950/2049 pivot, and GeneralizedTime from 2050 on.
        (datetime(1950, 1, 1), datetime(1999, 12, 31, 23, 59, 59)),
        (datetime(2000, 1, 1), datetime(2049, 12, 31, 23, 59, 59)),
        (datetime(2049, 6, 1, 12, 30, 5), datetime(2050, 1, 1)),
        (datetime(2020, 2, 29), datetime(9999, 12, 31, 23, 59, 59)),
    ],
)
def test_utc_and_generalized_times(not_before: datetime, not_after: datetime) -> None:
    _assert_same_validity(_self_signed(not_before, not_after))


@pytest.mark.parametrize("name_parts", [1, 3, 6])
def test_issuer_length_forms(name_parts: int) -> None:
    # The issuer comes before the validity: its length in DER's short, 1-byte and 2-byte forms.
    _assert_same_validity(_self_signed(NOW, NOW + timedelta(days=1), name_parts=name_parts))


def test_first_certificate_of_a_bundle_after_other_text() -> None:
    first = _self_signed(NOW, NOW + timedelta(days=1))
    second = _self_signed(NOW, NOW + timedelta(days=2))
    pem = b"subject=t\n" + certificate_to_pem(first) + certificate_to_pem(second)
    assert _x509.load_certificate(pem).not_valid_after_utc == first.not_valid_after_utc


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "pem",
    [
        b"",
        b"-----BEGIN GARBAGE-----\nxx\n-----END GARBAGE-----\n",
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        _pem(b"\x02\x01\x00"),  # an INTEGER, not a SEQUENCE
        _pem(b"\x30\x82\xff\xff\x30"),  # a length past the end
        _pem(b"\x30\x03\x30\x01"),  # a header cut short
    ],
)
def test_malformed_certificates_raise(pem: bytes) -> None:
    with pytest.raises(CertificateError, match="malformed certificate"):
        _x509.load_certificate(pem)


def test_truncated_certificate_raises() -> None:
    der = base64.b64decode(b"".join(certificate_to_pem(_self_signed(NOW, NOW)).splitlines()[1:-1]))
    for size in (2, 10, 40, len(der) // 2):
        with pytest.raises(CertificateError, match="malformed certificate"):
            _x509.load_certificate(_pem(der[:size]))
