"""The bit of X.509 the agent reads at every start, without cryptography: a certificate's validity.

cryptography's bindings add about 11 MB to a process's resident memory. The agent needs them only
to join; at every start it just checks that its certificate has not expired, so it reads the
validity period here, straight from the DER (RFC 5280 §4.1). Everything else about certificates
is `photon.certs`.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from .errors import CertificateError

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_SEQUENCE = 0x30
_VERSION = 0xA0  # [0] EXPLICIT, optional
_INTEGER = 0x02
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
# When in its lifetime an agent renews its certificate: a uniformly random point in this share.
RENEW_FROM, RENEW_UNTIL = 0.5, 0.7


class Validity(Protocol):
    """What a certificate's schedule depends on (this module's `Certificate` or
    cryptography's)."""

    @property
    def not_valid_before_utc(self) -> datetime: ...

    @property
    def not_valid_after_utc(self) -> datetime: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Certificate:
    """A certificate's validity period, named as on cryptography's `x509.Certificate`."""

    not_valid_before_utc: datetime
    not_valid_after_utc: datetime


def load_certificate(pem: bytes) -> Certificate:
    """Read the first PEM certificate's validity; raises CertificateError if it does not parse."""
    match = _PEM.search(pem)
    if match is None:
        raise CertificateError("malformed certificate: no PEM certificate found")
    try:
        return _validity(base64.b64decode(b"".join(match.group(1).split()), validate=True))
    except IndexError:  # an element's header runs past the end
        raise CertificateError("malformed certificate: truncated") from None
    except (binascii.Error, ValueError) as exc:
        raise CertificateError(f"malformed certificate: {exc}") from None


def not_after(cert: Certificate) -> datetime:
    """Return the certificate's expiry as an aware UTC datetime."""
    return cert.not_valid_after_utc


def renewal_time(cert: Validity, *, rng: random.Random) -> datetime:
    """A random moment between 50 % and 70 % of the certificate's lifetime."""
    # Jitter spreads renewals so agents enrolled together do not all ask the hub at once.
    start = cert.not_valid_before_utc
    return start + (cert.not_valid_after_utc - start) * rng.uniform(RENEW_FROM, RENEW_UNTIL)


def _validity(der: bytes) -> Certificate:
    """Raises ValueError or IndexError for DER that is not a certificate."""
    cert, _ = _element(der, 0, _SEQUENCE)
    pos, _ = _element(der, cert, _SEQUENCE)  # tbsCertificate
    if der[pos] == _VERSION:
        _, pos = _element(der, pos, _VERSION)
    _, pos = _element(der, pos, _INTEGER)  # serialNumber
    _, pos = _element(der, pos, _SEQUENCE)  # signature algorithm
    _, pos = _element(der, pos, _SEQUENCE)  # issuer
    pos, end = _element(der, pos, _SEQUENCE)  # validity
    not_before, pos = _time(der, pos)
    not_after_, pos = _time(der, pos)
    if pos != end:
        raise ValueError("validity holds more than two times")
    return Certificate(not_valid_before_utc=not_before, not_valid_after_utc=not_after_)


def _element(der: bytes, pos: int, tag: int) -> tuple[int, int]:
    """(start, end) of the contents of the element at `pos`, which must be a `tag`; the next
    element starts at end."""
    if der[pos] != tag:
        raise ValueError(f"expected tag 0x{tag:02x} at byte {pos}, found 0x{der[pos]:02x}")
    size = der[pos + 1]
    start = pos + 2
    if size & 0x80:  # long form: the low bits count the length's bytes
        count = size & 0x7F
        if not 1 <= count <= 4:
            raise ValueError(f"unsupported length at byte {pos}")
        size = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + size > len(der):
        raise ValueError("truncated")
    return start, start + size


def _time(der: bytes, pos: int) -> tuple[datetime, int]:
    """The UTCTime or GeneralizedTime at `pos`, and where the next element starts."""
    tag = der[pos]
    if tag not in (_UTC_TIME, _GENERALIZED_TIME):
        raise ValueError(f"expected a time at byte {pos}, found tag 0x{tag:02x}")
    start, end = _element(der, pos, tag)
    text = der[start:end].decode("ascii")
    digits = 12 if tag == _UTC_TIME else 14
    # RFC 5280 §4.1.2.5: always UTC ("Z") and always with seconds, so one fixed layout each.
    if len(text) != digits + 1 or not text[:digits].isdigit() or text[-1] != "Z":
        raise ValueError(f"unsupported time {text!r}")
    if tag == _UTC_TIME:
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000  # RFC 5280 §4.1.2.5.1
        text = f"{year}{text[2:]}"
    year, month, day, hour, minute, second = (
        int(text[i:j]) for i, j in ((0, 4), (4, 6), (6, 8), (8, 10), (10, 12), (12, 14))
    )
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC), end
