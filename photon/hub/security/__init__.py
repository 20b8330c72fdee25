"""Security: admin credentials and tokens, the RPC policy, the caller of each call, and
enrolment of agents and renewal of their certificates."""

from ._caller import bind_caller as bind_caller
from ._caller import caller as caller
from ._dashboard import DashboardLogins as DashboardLogins
from ._dashboard import WebSession as WebSession
from ._enrolment import Enrolment as Enrolment
from ._enrolment import Joined as Joined
from ._enrolment import JoinRequest as JoinRequest
from ._fair_share import FairShare as FairShare
from ._issuer import AGENT_CERT_TTL as AGENT_CERT_TTL
from ._issuer import MAX_AGENT_CERT_TTL as MAX_AGENT_CERT_TTL
from ._issuer import MAX_CSR_BYTES as MAX_CSR_BYTES
from ._issuer import MIN_AGENT_CERT_TTL as MIN_AGENT_CERT_TTL
from ._issuer import AgentIssuer as AgentIssuer
from ._issuer import check_agent_cert_ttl as check_agent_cert_ttl
from ._policy import POLICY as POLICY
from ._policy import PUBLIC as PUBLIC
from ._policy import required_role as required_role
from ._renewal import Renewal as Renewal
from ._renewal import RenewalGate as RenewalGate
from ._renewal import RenewalRequest as RenewalRequest
from ._renewal import Renewed as Renewed
from ._throttle import Throttle as Throttle
from ._throttle import auth_throttle as auth_throttle
from ._throttle import peer_host as peer_host
from ._tokens import API_KEY_PREFIX as API_KEY_PREFIX
from ._tokens import MAX_TOKEN_TTL as MAX_TOKEN_TTL
from ._tokens import ApiKey as ApiKey
from ._tokens import Principal as Principal
from ._tokens import TokenAuthority as TokenAuthority
from ._tokens import hash_secret as hash_secret
from ._tokens import secret_matches as secret_matches
from ._users import Users as Users
from ._users import parse_role as parse_role

__all__ = [
    "AGENT_CERT_TTL",
    "API_KEY_PREFIX",
    "MAX_AGENT_CERT_TTL",
    "MAX_CSR_BYTES",
    "MAX_TOKEN_TTL",
    "MIN_AGENT_CERT_TTL",
    "POLICY",
    "PUBLIC",
    "AgentIssuer",
    "ApiKey",
    "DashboardLogins",
    "Enrolment",
    "FairShare",
    "JoinRequest",
    "Joined",
    "Principal",
    "Renewal",
    "RenewalGate",
    "RenewalRequest",
    "Renewed",
    "Throttle",
    "TokenAuthority",
    "Users",
    "WebSession",
    "auth_throttle",
    "bind_caller",
    "caller",
    "check_agent_cert_ttl",
    "hash_secret",
    "parse_role",
    "peer_host",
    "required_role",
    "secret_matches",
]
