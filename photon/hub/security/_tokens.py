"""Admin credentials: API keys, exchanged for short-lived EdDSA JWTs that name a principal."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..._ids import new_secret, new_ulid
from ...errors import AuthError
from ...model import Role

ISSUER = "photon-hub"
AUDIENCE = "photon-admin"
MAX_TOKEN_TTL = 3600.0
LEEWAY = 30.0
API_KEY_PREFIX = "phk_"
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling, as a verified token says: the subject (a user), its role, the token."""

    subject: str
    role: Role
    token_id: str = ""


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


class TokenAuthority:
    """Issues and verifies the admin API's JWTs (EdDSA only; iss, aud, exp required)."""

    def __init__(self, key: Ed25519PrivateKey, *, ttl: float = MAX_TOKEN_TTL) -> None:
        self._key = key
        self._public = key.public_key()
        self._ttl = min(ttl, MAX_TOKEN_TTL)
        # A signature check costs far more than a call; tokens already verified are remembered
        # until they expire.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(
        self, principal: Principal, *, now: float | None = None, ttl: float | None = None
    ) -> tuple[str, float]:
        """A token for `principal`, valid for the authority's lifetime (or `ttl`, never more
        than MAX_TOKEN_TTL), and when it expires."""
        issued = time.time() if now is None else now
        expires = issued + min(self._ttl if ttl is None else ttl, MAX_TOKEN_TTL)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": principal.subject,
            "role": principal.role.value,
            "iat": int(issued),
            "exp": int(expires),
            "jti": principal.token_id or uuid.uuid4().hex,
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
        principal = Principal(
            subject=str(claims["sub"]), role=role, token_id=str(claims.get("jti", ""))
        )
        return principal, float(claims["exp"])
