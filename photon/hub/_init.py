"""`photon-hub init`: CA, hub certificate, JWT and secrets keys, and a first admin credential."""

from __future__ import annotations

import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)

from .._fs import ensure_private_dir, write_atomic
from ..certs import (
    certificate_to_pem,
    create_ca,
    fingerprint,
    generate_private_key,
    issue_hub_certificate,
    load_certificate,
    private_key_to_pem,
)
from ..model import Role
from ._config import HubPaths
from .core import ApiKeyRecord, UserRecord
from .security import ApiKey, hash_secret
from .store import open_store

PRIVATE = 0o600
PUBLIC = 0o644


@dataclass(frozen=True, slots=True, kw_only=True)
class InitResult:
    created_ca: bool
    ca_fingerprint: str
    ca_pem: bytes
    admin_key: str | None  # None when an admin credential already existed


async def init_hub(*, data_dir: Path, sans: list[str], store_url: str = "") -> InitResult:
    """Create what is missing in the data dir; never replaces an existing CA or key.

    Raises ConfigError when the data dir exists with loose permissions.
    """
    ensure_private_dir(data_dir)
    paths = HubPaths(root=data_dir)
    created_ca = not paths.ca_key.exists()
    if created_ca:
        ca_key, ca_cert = create_ca()
        write_atomic(paths.ca_key, private_key_to_pem(ca_key), mode=PRIVATE)
        write_atomic(paths.ca_cert, certificate_to_pem(ca_cert), mode=PUBLIC)
        hub_key = generate_private_key()
        names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), *sans]
        hub_cert = issue_hub_certificate(
            ca_key=ca_key,
            ca_cert=ca_cert,
            public_key=hub_key.public_key(),
            sans=list(dict.fromkeys(names)),
        )
        write_atomic(paths.hub_key, private_key_to_pem(hub_key), mode=PRIVATE)
        write_atomic(paths.hub_cert, certificate_to_pem(hub_cert), mode=PUBLIC)
    if not paths.jwt_key.exists():
        jwt_pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        write_atomic(paths.jwt_key, jwt_pem, mode=PRIVATE)
    if not paths.secrets_key.exists():
        write_atomic(paths.secrets_key, secrets.token_bytes(32), mode=PRIVATE)
    ca_pem = paths.ca_cert.read_bytes()

    store = await open_store(store_url, default_path=paths.database)
    try:
        if await store.count_api_keys():
            admin_key = None
        else:
            key = ApiKey.new()
            now = time.time()
            await store.add_user(
                UserRecord(
                    name="admin", role=Role.ADMIN, created_at=now, created_by="photon-hub init"
                ),
                ApiKeyRecord(
                    id=key.id,
                    user="admin",
                    role=Role.ADMIN,
                    secret_hash=hash_secret(key.secret),
                    created_at=now,
                ),
            )
            admin_key = str(key)
    finally:
        await store.close()

    return InitResult(
        created_ca=created_ca,
        ca_fingerprint=fingerprint(load_certificate(ca_pem)),
        ca_pem=ca_pem,
        admin_key=admin_key,
    )
