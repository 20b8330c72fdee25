"""PHOTON's certificates: the CA, hub and agent certificates, and trust-on-pin CA fetch."""

from .._x509 import renewal_time as renewal_time
from ._pin import fetch_ca_by_pin as fetch_ca_by_pin
from ._pki import AGENT_URI_PREFIX as AGENT_URI_PREFIX
from ._pki import HUB_URI as HUB_URI
from ._pki import agent_id_of as agent_id_of
from ._pki import certificate_to_pem as certificate_to_pem
from ._pki import certifies_key as certifies_key
from ._pki import create_ca as create_ca
from ._pki import create_csr as create_csr
from ._pki import fingerprint as fingerprint
from ._pki import generate_private_key as generate_private_key
from ._pki import is_issued_by as is_issued_by
from ._pki import issue_hub_certificate as issue_hub_certificate
from ._pki import load_certificate as load_certificate
from ._pki import load_certificates as load_certificates
from ._pki import load_private_key as load_private_key
from ._pki import not_after as not_after
from ._pki import private_key_to_pem as private_key_to_pem
from ._pki import sign_agent_csr as sign_agent_csr

__all__ = [
    "AGENT_URI_PREFIX",
    "HUB_URI",
    "agent_id_of",
    "certificate_to_pem",
    "certifies_key",
    "create_ca",
    "create_csr",
    "fetch_ca_by_pin",
    "fingerprint",
    "generate_private_key",
    "is_issued_by",
    "issue_hub_certificate",
    "load_certificate",
    "load_certificates",
    "load_private_key",
    "not_after",
    "private_key_to_pem",
    "renewal_time",
    "sign_agent_csr",
]
