"""`AgentIssuer`: the one place agents' certificates are signed, at join and at renewal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ...certs import certificate_to_pem, sign_agent_csr
from ...errors import InvalidArgumentError

AGENT_CERT_TTL = timedelta(hours=24)
# The lifetimes the hub may be configured to give: a certificate renewed every few seconds
# would keep the hub signing, one valid for years would outlive any removal that forgot it.
MIN_AGENT_CERT_TTL = timedelta(seconds=30)
MAX_AGENT_CERT_TTL = timedelta(days=365)
# Ours are about 400 bytes; anything much larger is not a P-256 request.
MAX_CSR_BYTES = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class Issued:
    certificate_pem: bytes
    serial: str  # lower-case hex, as the agent records keep it
    expires_at: float  # seconds since the epoch


def check_agent_cert_ttl(ttl: timedelta) -> None:
    """Raises InvalidArgumentError when `ttl` is outside what the hub may give agents."""
    if not MIN_AGENT_CERT_TTL <= ttl <= MAX_AGENT_CERT_TTL:
        raise InvalidArgumentError(
            f"an agent certificate's lifetime must be from"
            f" {MIN_AGENT_CERT_TTL.total_seconds():g}s to {MAX_AGENT_CERT_TTL.days}d"
        )


class AgentIssuer:
    """Signs agents' certificate requests with the hub's CA, each valid for `ttl`."""

    def __init__(
        self,
        *,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        ttl: timedelta = AGENT_CERT_TTL,
    ) -> None:
        self._ca_key = ca_key
        self._ca_cert = ca_cert
        self.ttl = ttl

    @property
    def ca_certificate_pem(self) -> bytes:
        return certificate_to_pem(self._ca_cert)

    def issue(self, *, csr_pem: bytes, agent_id: str) -> Issued:
        """A certificate for `agent_id` over the request's key; only the key is taken from
        the request, never a name. Raises InvalidArgumentError for a request that is too
        large, does not parse, is not signed by its own key or is not for a P-256 key."""
        if len(csr_pem) > MAX_CSR_BYTES:
            raise InvalidArgumentError(
                f"certificate request refused: larger than {MAX_CSR_BYTES} bytes"
            )
        try:
            cert = sign_agent_csr(
                ca_key=self._ca_key,
                ca_cert=self._ca_cert,
                csr_pem=csr_pem,
                agent_id=agent_id,
                ttl=self.ttl,
            )
        except Exception as exc:  # CertificateError, or a parse error of a foreign CSR
            raise InvalidArgumentError(f"certificate request refused: {exc}") from None
        return Issued(
            certificate_pem=certificate_to_pem(cert),
            serial=format(cert.serial_number, "x"),
            expires_at=cert.not_valid_after_utc.timestamp(),
        )
