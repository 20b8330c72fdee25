"""Admin authentication: API keys exchanged for short-lived EdDSA JWTs, and the RPC policy table."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .._ids import new_secret, new_ulid
from ..errors import AuthError, PermissionDeniedError
from ..model import Role

ISSUER = "photon-hub"
AUDIENCE = "photon-admin"
MAX_TOKEN_TTL = 3600.0
LEEWAY = 30.0
API_KEY_PREFIX = "phk_"
VERIFIED_CACHE_SIZE = 4096

_ADMIN = "/photon.v1.AdminService/"
PUBLIC = None
# Every RPC served on the api port and the role it needs; PUBLIC ones carry their own credential
# (a join token, an API key) or reveal nothing. An RPC missing here is denied.
POLICY: dict[str, Role | None] = {
    "/photon.v1.EnrollService/Join": PUBLIC,
    "/photon.v1.AuthService/Login": PUBLIC,
    "/grpc.health.v1.Health/Check": PUBLIC,
    "/grpc.health.v1.Health/Watch": PUBLIC,
    "/grpc.health.v1.Health/List": PUBLIC,
    _ADMIN + "CreateJoinToken": Role.OPERATOR,
    _ADMIN + "ListJoinTokens": Role.VIEWER,
    _ADMIN + "RevokeJoinToken": Role.OPERATOR,
    _ADMIN + "ListAgents": Role.VIEWER,
    _ADMIN + "GetAgent": Role.VIEWER,
    _ADMIN + "DrainAgent": Role.OPERATOR,
    _ADMIN + "UndrainAgent": Role.OPERATOR,
    _ADMIN + "RemoveAgent": Role.OPERATOR,
    _ADMIN + "SubmitTask": Role.OPERATOR,
    _ADMIN + "SubmitTasks": Role.OPERATOR,
    _ADMIN + "RunTask": Role.OPERATOR,
    _ADMIN + "GetTask": Role.VIEWER,
    _ADMIN + "ListTasks": Role.VIEWER,
    _ADMIN + "WatchTask": Role.VIEWER,
    _ADMIN + "WaitTasks": Role.VIEWER,
    _ADMIN + "CancelTask": Role.OPERATOR,
    _ADMIN + "SubmitWorkflow": Role.OPERATOR,
    _ADMIN + "GetWorkflow": Role.VIEWER,
    _ADMIN + "ListWorkflows": Role.VIEWER,
    _ADMIN + "CancelWorkflow": Role.OPERATOR,
    _ADMIN + "WatchWorkflow": Role.VIEWER,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    user: str
    role: Role


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """A parsed `phk_<id>.<secret>` credential."""

    id: str
    secret: str

    def __str__(self) -> str:
        return f"{API_KEY_PREFIX}{self.id}.{self.secret}"

    @classmethod
    def new(cls) -> ApiKey:
        return cls(id=new_ulid().lower(), secret=new_secret())

    @classmethod
    def parse(cls, text: str) -> ApiKey:
        """Raises AuthError when the text is not an API key."""
        body = text.strip().removeprefix(API_KEY_PREFIX)
        key_id, sep, secret = body.partition(".")
        if not text.strip().startswith(API_KEY_PREFIX) or not sep or not key_id or not secret:
            raise AuthError("malformed API key")
        return cls(id=key_id, secret=secret)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (256-bit secrets need no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def required_role(method: str) -> Role | None:
    """The role an RPC needs (None: public). Raises PermissionDeniedError for unlisted RPCs."""
    try:
        return POLICY[method]
    except KeyError:
        raise PermissionDeniedError(f"{method} is not allowed by the policy") from None


class TokenAuthority:
    """Issues and verifies the admin API's JWTs (EdDSA only; iss, aud, exp required)."""

    def __init__(self, key: Ed25519PrivateKey, *, ttl: float = MAX_TOKEN_TTL) -> None:
        self._key = key
        self._public = key.public_key()
        self._ttl = min(ttl, MAX_TOKEN_TTL)
        # A signature check costs far more than a call; tokens already verified are remembered
        # until they expire.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, principal: Principal, *, now: float | None = None) -> tuple[str, float]:
        issued = time.time() if now is None else now
        expires = issued + self._ttl
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.user,
            "role": principal.role.value,
            "iat": int(issued),
            "exp": int(expires),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA"), float(int(expires))

    def verify(self, token: str) -> Principal:
        """Raises AuthError with a one-line reason."""
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() <= expires + LEEWAY:
                return principal
            del self._verified[token]
        principal, expires = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["EdDSA"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token has expired; log in again") from None
        except jwt.InvalidAlgorithmError:
            raise AuthError("token algorithm is not allowed (EdDSA only)") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid (not issued by this hub)") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        if claims["exp"] - claims["iat"] > MAX_TOKEN_TTL + LEEWAY:
            raise AuthError("token lifetime exceeds the 1 h maximum")
        try:
            role = Role(claims.get("role", ""))
        except ValueError:
            raise AuthError("token carries no valid role") from None
        return Principal(user=str(claims["sub"]), role=role), float(claims["exp"])
