"""Agents' certificates renew over the stream, with a real hub giving 30-second certificates
and real agent processes; an agent whose certificate expired while it was stopped says so."""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import grpc.aio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from photon.certs import (
    agent_id_of,
    create_csr,
    generate_private_key,
    load_certificate,
    load_private_key,
)
from photon.model import TaskState
from photon.v1 import mesh_pb2, mesh_pb2_grpc

from .harness import Mesh, free_port, wait_for

TTL = 30.0


def _serial(data_dir: Path) -> int:
    return load_certificate((data_dir / "agent.crt").read_bytes()).serial_number


def _recorded(mesh: Mesh, agent_id: str) -> tuple[str, float]:
    """The serial and expiry the hub's store holds for the agent."""
    with sqlite3.connect(f"file:{mesh.hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT certificate_serial, certificate_expires_at FROM agents WHERE id = ?",
            (agent_id,),
        ).fetchone()
    return str(row[0]), float(row[1])


async def _echo(mesh: Mesh, text: str) -> None:
    async with mesh.client() as client:
        task = await client.submit("echo", inputs={"text": text})
        done = await asyncio.wait_for(client.wait(task.id), 20)
    assert done.state == TaskState.SUCCEEDED, done


async def test_an_agent_stays_on_the_mesh_across_certificate_lifetimes(mesh: Mesh) -> None:
    await _short_lived(mesh)
    data_dir = mesh.join("renewing")
    agent_id = json.loads((data_dir / "identity.json").read_text())["agent_id"]
    first = load_certificate((data_dir / "agent.crt").read_bytes())
    assert first.not_valid_after_utc - first.not_valid_before_utc < timedelta(seconds=TTL * 1.2)
    agent = mesh.start_agent(data_dir)
    await mesh.wait_agent_state("renewing", "connected")

    # Past the first certificate's expiry the stream it opened still carries tasks.
    end_of_first = first.not_valid_after_utc.timestamp()
    await wait_for(lambda: time.time() > end_of_first + 1, timeout=TTL + 5, interval=0.5)
    await _echo(mesh, "after the first expiry")
    # Two lifetimes and more: each certificate renewed before it expired.
    await wait_for(lambda: time.time() > end_of_first + TTL + 2, timeout=TTL + 5, interval=0.5)
    await _echo(mesh, "two lifetimes on")

    output = agent.output()
    assert output.count("connected to hub") == 1, output  # never fell off the mesh
    renewals = re.findall(r"certificate renewed: serial ([0-9a-f]+), valid until", output)
    assert len(renewals) >= 3, output
    assert len(set(renewals)) == len(renewals)
    current = load_certificate((data_dir / "agent.crt").read_bytes())
    assert current.serial_number != first.serial_number
    assert format(current.serial_number, "x") == renewals[-1]
    assert agent_id_of(current) == agent_id
    assert current.not_valid_after_utc > datetime.now(UTC)
    # The new key went with it, and the hub recorded the serial it gave.
    key = load_private_key((data_dir / "agent.key").read_bytes())
    assert key.public_key().public_numbers() == current.public_key().public_numbers()  # type: ignore[union-attr]
    serial, expires_at = _recorded(mesh, agent_id)
    assert serial == format(current.serial_number, "x")
    assert expires_at == current.not_valid_after_utc.timestamp()
    assert mesh.hub.output().count(f"({agent_id}) renewed its certificate: serial") >= 3
    # Each renewal is in the audit trail, with the serial it gave.
    listed = mesh.ctl("audit", "list", "--action", "cert.renew", "--actor", agent_id, "-o", "json")
    audited = [r["detail"]["serial"] for r in json.loads(listed.stdout) if r["outcome"] == "ok"]
    assert audited[: len(renewals)] == renewals, (audited, renewals)

    # A new connection (its first certificate long expired) uses the renewed one.
    assert agent.stop() == 0
    again = mesh.start_agent(data_dir)  # logs to the same file
    await wait_for(lambda: again.output().count("connected to hub") == 2)
    await mesh.wait_agent_state("renewing", "connected")
    await _echo(mesh, "on a new stream")


async def _short_lived(mesh: Mesh) -> None:
    """Restart the fixture's hub so that it gives agents certificates valid for TTL seconds;
    on fixed ports, so that agents find it again after a restart."""
    assert mesh.hub is not None
    mesh.hub.stop()
    if not mesh.mesh_port:
        mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub("--agent-cert-ttl", f"{TTL:g}s")


async def test_a_removed_agent_is_refused_with_its_renewed_certificate(mesh: Mesh) -> None:
    await _short_lived(mesh)
    data_dir = mesh.join("revoked")
    agent_id = json.loads((data_dir / "identity.json").read_text())["agent_id"]
    first = _serial(data_dir)
    agent = mesh.start_agent(data_dir)
    await wait_for(lambda: "certificate renewed" in agent.output(), timeout=TTL)
    renewed = _serial(data_dir)
    assert renewed != first
    assert _recorded(mesh, agent_id)[0] == format(renewed, "x")

    assert mesh.ctl("agents", "remove", "revoked").returncode == 0
    await wait_for(lambda: agent.popen is not None and agent.popen.poll() is not None)
    assert agent.popen is not None and agent.popen.returncode == 1
    # The hub forgets nothing when it restarts: the renewed (and still valid) certificate is
    # refused too.
    await _short_lived(mesh)
    assert load_certificate((data_dir / "agent.crt").read_bytes()).not_valid_after_utc > (
        datetime.now(UTC) + timedelta(seconds=5)
    )
    refused = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), timeout=30)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: agent {agent_id} was removed from this mesh; join again with a new token"
    )


async def test_an_agent_whose_certificate_expired_while_stopped_says_so(mesh: Mesh) -> None:
    await _short_lived(mesh)
    data_dir = mesh.join("sleeper")
    agent = mesh.start_agent(data_dir)
    await mesh.wait_agent_state("sleeper", "connected")
    assert agent.stop() == 0
    expires = load_certificate((data_dir / "agent.crt").read_bytes()).not_valid_after_utc
    # While its certificate is valid, its data dir cannot be joined over.
    token = mesh.ctl("join-token", "create").stdout.strip()
    over = mesh.run("-m", "photon.cli.agent", "join", "--token", token, "--data-dir", str(data_dir))
    assert over.returncode == 1
    assert "already holds a joined agent" in over.stderr
    await wait_for(lambda: datetime.now(UTC) > expires, timeout=TTL + 5, interval=0.5)

    result = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        f"error: this agent's certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC;"
        f" join again: photon-agent join --token TOKEN --data-dir {data_dir}"
    )
    assert result.stderr.count("certificate expired") == 1
    assert "reconnecting" not in result.stderr

    # Doing as the line says brings the machine back (the lapsed member keeps its name).
    token = mesh.ctl("join-token", "create")
    assert token.returncode == 0, token.stderr
    command = lines[-1].split("join again: ", 1)[1].split()
    assert command[:2] == ["photon-agent", "join"]
    command = [token.stdout.strip() if part == "TOKEN" else part for part in command[2:]]
    rejoined = mesh.run("-m", "photon.cli.agent", "join", *command, "--name", "sleeper-2")
    assert rejoined.returncode == 0, rejoined.stderr
    mesh.start_agent(data_dir)
    await mesh.wait_agent_state("sleeper-2", "connected")


async def test_an_agent_whose_certificate_expires_while_the_hub_is_away_stops(mesh: Mesh) -> None:
    await _short_lived(mesh)
    data_dir = mesh.join("stranded")
    agent = mesh.start_agent(data_dir)
    await mesh.wait_agent_state("stranded", "connected")
    assert mesh.hub is not None
    mesh.hub.stop()  # before the agent's first renewal is due (at 13 s at the earliest)
    await wait_for(lambda: "reconnecting in" in agent.output())
    expires = load_certificate((data_dir / "agent.crt").read_bytes()).not_valid_after_utc

    # It stops once its certificate has expired (and not a whole backoff later).
    await wait_for(lambda: agent.popen is not None and agent.popen.poll() is not None, TTL + 10)
    assert agent.popen is not None and agent.popen.returncode == 1
    assert datetime.now(UTC) < expires + timedelta(seconds=5)
    output = agent.output()
    assert output.strip().splitlines()[-1] == (
        f"error: this agent's certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC;"
        f" join again: photon-agent join --token TOKEN --data-dir {data_dir}"
    )
    assert output.count("certificate expired") == 1


async def _answers(mesh: Mesh, data_dir: Path, csrs: list[bytes]) -> list[mesh_pb2.RenewResponse]:
    """Open a stream with the agent's credentials, as the agent would, and send each request in
    turn, waiting for its answer."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(mesh.hub_dir / "ca.crt").read_bytes(),
        private_key=(data_dir / "agent.key").read_bytes(),
        certificate_chain=(data_dir / "agent.crt").read_bytes(),
    )
    answers = []
    async with grpc.aio.secure_channel(mesh.serving["mesh"], credentials) as channel:
        call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
        await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1)))
        assert (await call.read()).WhichOneof("body") == "welcome"
        for csr in csrs:
            await call.write(
                mesh_pb2.ConnectRequest(renew_request=mesh_pb2.RenewRequest(csr_pem=csr))
            )
            while (message := await call.read()).WhichOneof("body") != "renew_response":
                pass
            answers.append(message.renew_response)
        call.cancel()
    return answers


async def test_the_hub_renews_only_for_the_streams_agent_and_refuses_bad_requests(
    mesh: Mesh,
) -> None:
    mine = mesh.join("mine")
    other = mesh.join("other")
    other_id = json.loads((other / "identity.json").read_text())["agent_id"]
    my_id = json.loads((mine / "identity.json").read_text())["agent_id"]
    key = generate_private_key()
    # A request that names the other agent every way a request can.
    claiming = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, other_id)]))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(f"spiffe://photon/agent/{other_id}")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    good = create_csr(key=generate_private_key(), common_name="x")
    answers = await _answers(mesh, mine, [claiming, b"junk", b"-" * 5000, *[good] * 6])
    renewed = load_certificate(answers[0].certificate_pem)
    assert answers[0].error == ""
    assert agent_id_of(renewed) == my_id
    assert [a.error for a in answers[1:3]] == [
        "certificate request refused: malformed CSR",
        "certificate request refused: larger than 4096 bytes",
    ]
    # Six renewals a minute at most (the first three count too).
    assert [bool(a.certificate_pem) for a in answers[3:]] == [True, True, True, False, False, False]
    assert answers[-1].error == "too many renewals: at most 6 in 60 s"
    last = load_certificate(answers[5].certificate_pem)
    assert agent_id_of(last) == my_id
    assert _recorded(mesh, my_id)[0] == format(last.serial_number, "x")
    assert _recorded(mesh, other_id)[0] == format(_serial(other), "x")  # untouched
