"""Bad credentials get a clear refusal: join tokens, mesh certificates, admin tokens, data dirs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from photon._join_token import JoinToken
from photon.certs import (
    certificate_to_pem,
    create_ca,
    create_csr,
    generate_private_key,
    load_certificate,
    load_private_key,
    private_key_to_pem,
    sign_agent_csr,
)
from photon.v1 import admin_pb2, admin_pb2_grpc, mesh_pb2, mesh_pb2_grpc

from .harness import Mesh


def _join(mesh: Mesh, token: str, name: str = "a") -> tuple[int, str]:
    result = mesh.run(
        "-m",
        "photon.cli.agent",
        "join",
        "--token",
        token,
        "--name",
        name,
        "--data-dir",
        str(mesh.root / f"join-{name}-{time.monotonic_ns()}"),
    )
    return result.returncode, result.stderr.strip()


def _token(mesh: Mesh, *args: str) -> str:
    created = mesh.ctl("join-token", "create", *args)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip()


async def test_join_token_misuse_is_refused(mesh: Mesh) -> None:
    token = _token(mesh)
    assert _join(mesh, token, "first") == (0, "")
    assert _join(mesh, token, "again") == (1, "error: join token has already been used")

    short = _token(mesh, "--ttl", "1s")
    time.sleep(1.2)
    assert _join(mesh, short) == (1, "error: join token has expired")

    revoked = _token(mesh)
    token_id = JoinToken.decode(revoked).token_id
    assert mesh.ctl("join-token", "revoke", token_id).returncode == 0
    assert _join(mesh, revoked) == (1, "error: join token has been revoked")

    genuine = JoinToken.decode(_token(mesh))
    forged = JoinToken(
        api_addresses=genuine.api_addresses,
        ca_pin=genuine.ca_pin,
        token_id=genuine.token_id,
        secret=genuine.secret[:-4] + "AAAA",
    )
    assert _join(mesh, forged.encode()) == (1, "error: join token is invalid")

    assert _join(mesh, "photon1.bm90LWpzb24")[1] == (
        "error: join token is corrupted (copy it again in full)"
    )
    code, message = _join(mesh, "garbage")
    assert code == 2 and message.startswith("error: not a PHOTON join token")


async def test_join_refuses_a_hub_whose_ca_does_not_match_the_pin(mesh: Mesh) -> None:
    genuine = JoinToken.decode(_token(mesh))
    other_pin = "sha256:" + "ab" * 32
    wrong = JoinToken(
        api_addresses=genuine.api_addresses,
        ca_pin=other_pin,
        token_id=genuine.token_id,
        secret=genuine.secret,
    )
    code, message = _join(mesh, wrong.encode())
    assert code == 1
    assert "does not match the pinned sha256:abababababababab" in message
    assert "the token is for another hub" in message
    # The secret was never sent: the genuine token still works.
    assert _join(mesh, genuine.encode())[0] == 0


def _hub_ca(mesh: Mesh):  # type: ignore[no-untyped-def]
    return (
        load_private_key((mesh.hub_dir / "ca.key").read_bytes()),
        load_certificate((mesh.hub_dir / "ca.crt").read_bytes()),
    )


async def _connect(mesh: Mesh, *, key: bytes | None, cert: bytes | None) -> grpc.aio.AioRpcError:
    ca_pem = (mesh.hub_dir / "ca.crt").read_bytes()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=key, certificate_chain=cert
    )
    async with grpc.aio.secure_channel(mesh.serving["mesh"], credentials) as channel:
        call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1)))
            await call.read()
            await call.read()
        return caught.value


async def test_mesh_refuses_bad_client_certificates(mesh: Mesh) -> None:
    ca_key, ca_cert = _hub_ca(mesh)
    key = generate_private_key()
    key_pem = private_key_to_pem(key)

    no_cert = await _connect(mesh, key=None, cert=None)
    assert no_cert.code() == grpc.StatusCode.UNAVAILABLE

    other_key, other_ca = create_ca(common_name="Other CA")
    foreign = sign_agent_csr(
        ca_key=other_key,
        ca_cert=other_ca,
        csr_pem=create_csr(key=key, common_name="x"),
        agent_id="intruder",
    )
    other = await _connect(mesh, key=key_pem, cert=certificate_to_pem(foreign))
    assert other.code() == grpc.StatusCode.UNAVAILABLE

    expired = sign_agent_csr(
        ca_key=ca_key,
        ca_cert=ca_cert,
        csr_pem=create_csr(key=key, common_name="x"),
        agent_id="stale",
        now=datetime.now(UTC) - timedelta(days=2),
    )
    old = await _connect(mesh, key=key_pem, cert=certificate_to_pem(expired))
    assert old.code() == grpc.StatusCode.UNAVAILABLE

    hub_cert = await _connect(
        mesh,
        key=(mesh.hub_dir / "hub.key").read_bytes(),
        cert=(mesh.hub_dir / "hub.crt").read_bytes(),
    )
    # Its EKU is serverAuth only, so the TLS handshake already refuses it as a client.
    assert hub_cert.code() == grpc.StatusCode.UNAVAILABLE

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no-identity")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(minutes=5))
        .not_valid_after(datetime.now(UTC) + timedelta(hours=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    anonymous = builder.sign(ca_key, hashes.SHA256())
    no_identity = await _connect(mesh, key=key_pem, cert=certificate_to_pem(anonymous))
    assert no_identity.code() == grpc.StatusCode.UNAUTHENTICATED
    assert no_identity.details() == "client certificate is not an agent certificate"

    unknown = sign_agent_csr(
        ca_key=ca_key,
        ca_cert=ca_cert,
        csr_pem=create_csr(key=key, common_name="x"),
        agent_id="never-joined",
    )
    stranger = await _connect(mesh, key=key_pem, cert=certificate_to_pem(unknown))
    assert stranger.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "never-joined is not a member" in (stranger.details() or "")


async def test_agent_with_expired_certificate_says_so(mesh: Mesh) -> None:
    data_dir = mesh.join("old")
    ca_key, ca_cert = _hub_ca(mesh)
    agent_key = load_private_key((data_dir / "agent.key").read_bytes())
    agent_id = json.loads((data_dir / "identity.json").read_text())["agent_id"]
    expired = sign_agent_csr(
        ca_key=ca_key,
        ca_cert=ca_cert,
        csr_pem=create_csr(key=agent_key, common_name="old"),
        agent_id=agent_id,
        now=datetime.now(UTC) - timedelta(days=2),
    )
    (data_dir / "agent.crt").write_bytes(certificate_to_pem(expired))
    result = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), timeout=30)
    assert result.returncode == 1
    expires = f"{expired.not_valid_after_utc:%Y-%m-%d %H:%M:%S}"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: this agent's certificate expired at {expires} UTC;"
        f" join again: photon-agent join --token TOKEN --data-dir {data_dir}"
    )


async def _admin_call(mesh: Mesh, token: str | None) -> grpc.aio.AioRpcError:
    ca_pem = (mesh.hub_dir / "ca.crt").read_bytes()
    metadata = (("authorization", f"Bearer {token}"),) if token is not None else ()
    async with grpc.aio.secure_channel(
        mesh.serving["api"], grpc.ssl_channel_credentials(root_certificates=ca_pem)
    ) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await admin_pb2_grpc.AdminServiceStub(channel).ListAgents(
                admin_pb2.ListAgentsRequest(), metadata=metadata
            )
        return caught.value


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_admin_api_refuses_bad_tokens(mesh: Mesh) -> None:
    now = int(time.time())
    claims = {
        "iss": "photon-hub",
        "aud": "photon-admin",
        "sub": "admin",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }

    missing = await _admin_call(mesh, None)
    assert missing.code() == grpc.StatusCode.UNAUTHENTICATED
    assert missing.details() == "missing bearer token; log in first"

    stranger = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    other_key = await _admin_call(mesh, stranger)
    assert other_key.code() == grpc.StatusCode.UNAUTHENTICATED
    assert other_key.details() == "token signature is invalid (not issued by this hub)"

    hub_key = load_pem_private_key((mesh.hub_dir / "jwt.key").read_bytes(), password=None)
    stale = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, hub_key, algorithm="EdDSA")
    expired = await _admin_call(mesh, stale)
    assert expired.code() == grpc.StatusCode.UNAUTHENTICATED
    assert expired.details() == "token has expired; log in again"

    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    none_alg = await _admin_call(mesh, unsigned)
    assert none_alg.code() == grpc.StatusCode.UNAUTHENTICATED
    assert none_alg.details() == "token algorithm is not allowed (EdDSA only)"

    good = jwt.encode(claims, hub_key, algorithm="EdDSA")
    ca_pem = (mesh.hub_dir / "ca.crt").read_bytes()
    async with grpc.aio.secure_channel(
        mesh.serving["api"], grpc.ssl_channel_credentials(root_certificates=ca_pem)
    ) as channel:
        response = await admin_pb2_grpc.AdminServiceStub(channel).ListAgents(
            admin_pb2.ListAgentsRequest(), metadata=(("authorization", f"Bearer {good}"),)
        )
    assert list(response.agents) == []


async def test_forged_and_malformed_tokens_are_refused_one_by_one(mesh: Mesh) -> None:
    now = int(time.time())
    claims = {
        "iss": "photon-hub",
        "aud": "photon-admin",
        "sub": "admin",
        "role": "admin",
        "iat": now,
        "exp": now + 600,
    }
    hub_key = load_pem_private_key((mesh.hub_dir / "jwt.key").read_bytes(), password=None)

    def signed(**changes: object) -> str:
        body = {k: v for k, v in {**claims, **changes}.items() if v is not None}
        return jwt.encode(body, hub_key, algorithm="EdDSA")  # type: ignore[arg-type]

    header, _, signature = signed().split(".")
    swapped = f"{header}.{_b64({**claims, 'sub': 'x'})}.{signature}"
    public_pem = hub_key.public_key().public_bytes(  # type: ignore[union-attr]
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    # HMAC keyed with the hub's public key, the classic algorithm confusion (PyJWT will not
    # make one, so it is made by hand).
    unsigned_hs = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, unsigned_hs.encode(), hashlib.sha256).digest()
    hs256 = f"{unsigned_hs}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"
    forged = {
        "another hub's key": jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "HMAC with the public key": hs256,
        "expired": signed(iat=now - 7200, exp=now - 3600),
        "another audience": signed(aud="someone-else"),
        "another issuer": signed(iss="not-photon"),
        "no expiry": signed(exp=None),
        "a lifetime of a day": signed(exp=now + 86400),
        "no valid role": signed(role="root"),
        "a subject the hub does not know": signed(sub="mallory"),
        "a payload swapped under the signature": swapped,
        "not a token at all": "garbage",
    }
    assert len(forged) == 12
    for what, token in forged.items():
        refused = await _admin_call(mesh, token)
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED, (what, refused.details())
        assert refused.details() and "\n" not in refused.details(), what


async def test_bad_api_key_in_context_gives_one_line(mesh: Mesh) -> None:
    text = mesh.config_path.read_text()
    key = text.split('api-key = "')[1].split('"')[0]
    mesh.config_path.write_text(text.replace(key, key[:-3] + "xyz"))
    result = mesh.ctl("agents", "list")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: API key is invalid"


async def test_loose_data_dir_permissions_are_refused(mesh: Mesh) -> None:
    mesh.hub_dir.chmod(0o755)
    result = mesh.run(
        "-m",
        "photon.cli.hub",
        "serve",
        "--data-dir",
        str(mesh.hub_dir),
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: data dir {mesh.hub_dir} is accessible by other users (mode 0755);"
        f" run: chmod 700 {mesh.hub_dir}"
    )
    mesh.hub_dir.chmod(0o700)

    data_dir = mesh.join("loose")
    os.chmod(data_dir, 0o750)
    agent = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir))
    assert agent.returncode == 1
    assert "is accessible by other users (mode 0750)" in agent.stderr
