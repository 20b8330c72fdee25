import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from photon.errors import AuthError, PermissionDeniedError
from photon.hub.security._policy import POLICY, required_role
from photon.hub.security._tokens import (
    AUDIENCE,
    ISSUER,
    ApiKey,
    Principal,
    TokenAuthority,
    hash_secret,
    secret_matches,
)
from photon.model import Role
from photon.v1 import admin_pb2, auth_pb2, enroll_pb2

KEY = Ed25519PrivateKey.generate()
ALICE = Principal(subject="alice", role=Role.OPERATOR)


@pytest.fixture
def authority() -> TokenAuthority:
    return TokenAuthority(KEY)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "mallory",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def _hand_made(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """`header.claims.` with the signature left for the caller to append."""
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _reason(authority: TokenAuthority, token: str) -> str:
    with pytest.raises(AuthError) as info:
        authority.verify(token)
    return str(info.value)


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_issue_verify_round_trip(authority: TokenAuthority, role: Role) -> None:
    before = time.time()
    token, expires = authority.issue(Principal(subject="alice", role=role, token_id="t1"))
    assert authority.verify(token) == Principal(subject="alice", role=role, token_id="t1")
    assert before + 3599 <= expires <= time.time() + 3600
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"


def test_ttl_is_capped_at_one_hour() -> None:
    now = 1_000_000.0
    _, expires = TokenAuthority(KEY, ttl=7200).issue(ALICE, now=now)
    assert expires == now + 3600
    _, expires = TokenAuthority(KEY, ttl=60).issue(ALICE, now=now)
    assert expires == now + 60


def test_another_authority_with_the_same_key_accepts_the_token() -> None:
    token, _ = TokenAuthority(KEY).issue(ALICE)
    verified = TokenAuthority(KEY).verify(token)
    assert (verified.subject, verified.role) == (ALICE.subject, ALICE.role)
    assert len(verified.token_id) == 32  # a fresh id for each token issued


def test_expired_token(authority: TokenAuthority) -> None:
    token, _ = authority.issue(ALICE, now=time.time() - 7200)
    assert _reason(authority, token) == "token has expired; log in again"


def test_token_signed_by_another_key(authority: TokenAuthority) -> None:
    token, _ = TokenAuthority(Ed25519PrivateKey.generate()).issue(ALICE)
    assert "signature" in _reason(authority, token)


def test_tampered_claims_break_the_signature(authority: TokenAuthority) -> None:
    token, _ = authority.issue(Principal(subject="alice", role=Role.VIEWER))
    header, _, signature = token.split(".")
    forged = _b64(json.dumps(_claims(sub="alice", role="admin")).encode())
    assert "signature" in _reason(authority, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(authority: TokenAuthority) -> None:
    token = _hand_made({"alg": "none", "typ": "JWT"}, _claims())
    assert _reason(authority, token) == "token algorithm is not allowed (EdDSA only)"


def test_hs256_signed_with_the_public_key_is_refused(authority: TokenAuthority) -> None:
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    unsigned = _hand_made({"alg": "HS256", "typ": "JWT"}, _claims())[:-1]
    for secret in (
        public_pem,
        KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ):
        mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
        assert _reason(authority, f"{unsigned}.{_b64(mac)}") == (
            "token algorithm is not allowed (EdDSA only)"
        )


def test_lifetime_over_one_hour_is_refused(authority: TokenAuthority) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now, exp=now + 7200), KEY, algorithm="EdDSA")
    assert _reason(authority, token) == "token lifetime exceeds the 1 h maximum"


def test_lifetime_of_exactly_one_hour_is_accepted(authority: TokenAuthority) -> None:
    now = int(time.time())
    token = jwt.encode(_claims(iat=now, exp=now + 3600, role="viewer"), KEY, algorithm="EdDSA")
    verified = authority.verify(token)
    assert (verified.subject, verified.role) == ("mallory", Role.VIEWER)


@pytest.mark.parametrize("claim", ["aud", "iss", "exp", "iat", "sub"])
def test_missing_required_claim(authority: TokenAuthority, claim: str) -> None:
    token = jwt.encode(_claims(**{claim: None}), KEY, algorithm="EdDSA")
    reason = _reason(authority, token)
    assert reason.startswith("invalid token:")
    assert f'"{claim}"' in reason


@pytest.mark.parametrize(
    "override, words",
    [({"aud": "photon-agent"}, "audience"), ({"iss": "someone-else"}, "issuer")],
)
def test_wrong_audience_or_issuer(
    authority: TokenAuthority, override: dict[str, str], words: str
) -> None:
    token = jwt.encode(_claims(**override), KEY, algorithm="EdDSA")
    reason = _reason(authority, token)
    assert reason.startswith("invalid token:")
    assert words in reason.lower()


@pytest.mark.parametrize("role", [None, "root", ""])
def test_token_without_a_valid_role(authority: TokenAuthority, role: str | None) -> None:
    token = jwt.encode(_claims(role=role), KEY, algorithm="EdDSA")
    assert _reason(authority, token) == "token carries no valid role"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x.y.z"])
def test_garbage_tokens(authority: TokenAuthority, garbage: str) -> None:
    assert _reason(authority, garbage).startswith("invalid token:")


# -- API keys ----------------------------------------------------------------------------------


def test_api_key_str_parse_round_trip() -> None:
    key = ApiKey.new()
    text = str(key)
    assert text == f"phk_{key.id}.{key.secret}"
    assert ApiKey.parse(text) == key
    assert ApiKey.parse(f"  {text}\n") == key
    assert key.id == key.id.lower() and len(key.id) == 26
    assert ApiKey.new() != key


@pytest.mark.parametrize(
    "text", ["", "phk_", "phk_abc", "phk_.secret", "phk_abc.", "abc.secret", "PHK_abc.secret"]
)
def test_malformed_api_key(text: str) -> None:
    with pytest.raises(AuthError, match=r"^malformed API key$"):
        ApiKey.parse(text)


def test_secret_hashing() -> None:
    stored = hash_secret("correct horse")
    assert stored == hashlib.sha256(b"correct horse").hexdigest()
    assert "correct horse" not in stored
    assert secret_matches("correct horse", stored)
    assert not secret_matches("correct horse ", stored)
    assert not secret_matches("", stored)


# -- roles and policy --------------------------------------------------------------------------


def test_role_ordering() -> None:
    assert Role.ADMIN.allows(Role.ADMIN)
    assert Role.ADMIN.allows(Role.OPERATOR)
    assert Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.VIEWER)
    assert Role.OPERATOR.allows(Role.OPERATOR)
    assert not Role.OPERATOR.allows(Role.ADMIN)
    assert Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.OPERATOR)
    assert not Role.VIEWER.allows(Role.ADMIN)


SERVICES = [
    (admin_pb2, "AdminService"),
    (auth_pb2, "AuthService"),
    (enroll_pb2, "EnrollService"),
]


def _methods(module: Any, service: str) -> list[str]:
    descriptor = module.DESCRIPTOR.services_by_name[service]
    return [f"/photon.v1.{service}/{m.name}" for m in descriptor.methods]


@pytest.mark.parametrize("module, service", SERVICES)
def test_policy_lists_every_rpc(module: Any, service: str) -> None:
    methods = _methods(module, service)
    assert methods, service
    assert [m for m in methods if m not in POLICY] == []


def test_policy_lists_only_existing_rpcs() -> None:
    served = {m for module, service in SERVICES for m in _methods(module, service)}
    extra = {m for m in POLICY if m.startswith("/photon.v1.")} - served
    assert extra == set()


def test_every_admin_rpc_needs_a_role() -> None:
    for method in _methods(admin_pb2, "AdminService"):
        assert isinstance(required_role(method), Role), method


def test_public_rpcs_carry_their_own_credential() -> None:
    assert required_role("/photon.v1.EnrollService/Join") is None
    assert required_role("/photon.v1.AuthService/Login") is None


def test_writes_need_operator_reads_need_viewer() -> None:
    assert required_role("/photon.v1.AdminService/SubmitTask") is Role.OPERATOR
    assert required_role("/photon.v1.AdminService/CreateJoinToken") is Role.OPERATOR
    assert required_role("/photon.v1.AdminService/ListTasks") is Role.VIEWER


def test_only_admins_change_secrets_and_viewers_cannot_list_them() -> None:
    assert required_role("/photon.v1.AdminService/SetSecret") is Role.ADMIN
    assert required_role("/photon.v1.AdminService/DeleteSecret") is Role.ADMIN
    assert required_role("/photon.v1.AdminService/ListSecrets") is Role.OPERATOR
    assert not Role.VIEWER.allows(Role.OPERATOR)


@pytest.mark.parametrize(
    "method",
    ["/photon.v1.AdminService/DropEverything", "/photon.v1.MeshService/Connect", "", "/x/y"],
)
def test_unlisted_rpc_is_denied(method: str) -> None:
    with pytest.raises(PermissionDeniedError, match="not allowed by the policy"):
        required_role(method)
