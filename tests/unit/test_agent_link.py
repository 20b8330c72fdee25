"""The agent's reconnect loop: what it retries, what ends it, and its backoff (no network: each
stream's life is scripted)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from photon.agent import AgentConfig, Identity
from photon.agent.runner import Runner
from photon.agent.session import Backoff, HubLink, Outbox, Reporter
from photon.agent.tools import Toolbox
from photon.certs import (
    certificate_to_pem,
    create_ca,
    create_csr,
    generate_private_key,
    sign_agent_csr,
)
from photon.errors import ConfigError, PermissionDeniedError, TransportError

REMOVED = "agent a1 was removed from this mesh; join again with a new token"


def rpc_error(code: grpc.StatusCode, details: str = "") -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


class RecordingBackoff(Backoff):
    """No waiting; remembers the failure counts it was asked about."""

    def delay(self, failures: int, rng: random.Random) -> float:
        SEEN.append(failures)
        return 0.0


SEEN: list[int] = []


class ScriptedLink(HubLink):
    """A link whose streams end as the script says: True (welcomed, then ended), False (ended
    before a welcome), an exception (raised), or "stop" (stop() is called meanwhile)."""

    def __init__(self, script: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script = script
        self.addresses: list[str] = []

    async def _session(self, address: str) -> bool:
        self.addresses.append(address)
        step = self.script.pop(0)
        if step == "stop":
            self.stop()
            return True
        if isinstance(step, BaseException):
            raise step
        return bool(step)


def write_certificate(config: AgentConfig, *, expired: bool = False) -> None:
    ca_key, ca_cert = create_ca()
    key = generate_private_key()
    now = datetime.now(UTC) - timedelta(days=2) if expired else None
    cert = sign_agent_csr(
        ca_key=ca_key,
        ca_cert=ca_cert,
        csr_pem=create_csr(key=key, common_name="a"),
        agent_id="a1",
        now=now,
    )
    config.paths.cert.write_bytes(certificate_to_pem(cert))


def link(tmp_path: Path, script: list[Any], *, expired: bool = False) -> ScriptedLink:
    SEEN.clear()
    config = AgentConfig(data_dir=tmp_path)
    write_certificate(config, expired=expired)
    toolbox = Toolbox(plugins={}, tools=(), settings={})
    reporter = Reporter(Outbox(config.paths.outbox))
    return ScriptedLink(
        script,
        config=config,
        identity=Identity(agent_id="a1", name="a", mesh_addresses=("h1", "h2"), labels={}),
        tools=(),
        runner=Runner(toolbox=toolbox, workdir=tmp_path, reports=reporter),
        reporter=reporter,
        rng=random.Random(0),
        backoff=RecordingBackoff(),
    )


async def test_transient_failures_are_retried_with_growing_backoff(tmp_path: Path) -> None:
    scripted = link(
        tmp_path,
        [
            rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"),
            TransportError("hub ended the stream before welcoming this agent"),
            TimeoutError(),
            rpc_error(grpc.StatusCode.UNAUTHENTICATED, "client certificate is not an agent's"),
            True,  # welcomed: the count starts again
            rpc_error(grpc.StatusCode.UNAVAILABLE),
            "stop",
        ],
    )
    await scripted.run()
    assert SEEN == [1, 2, 3, 4, 1, 2]
    assert scripted.addresses == ["h1", "h2", "h1", "h2", "h1", "h2", "h1"]
    assert scripted.script == []


@pytest.mark.parametrize(
    "details", [REMOVED, "agent a1 is not a member of this mesh"], ids=["removed", "stranger"]
)
async def test_a_hub_that_refuses_this_agent_ends_the_link(tmp_path: Path, details: str) -> None:
    refused = rpc_error(grpc.StatusCode.PERMISSION_DENIED, details)
    scripted = link(tmp_path, [rpc_error(grpc.StatusCode.UNAVAILABLE), True, refused, True])
    with pytest.raises(PermissionDeniedError) as ended:
        await scripted.run()
    assert str(ended.value) == details
    assert scripted.script == [True], "no reconnect after the refusal"
    assert SEEN == [1, 1]


async def test_an_expired_certificate_ends_the_link(tmp_path: Path) -> None:
    scripted = link(tmp_path, [True], expired=True)
    with pytest.raises(ConfigError) as ended:
        await scripted.run()
    assert re.fullmatch(
        r"this agent's certificate expired at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC;"
        r" join again: photon-agent join --token TOKEN --data-dir (.+)",
        str(ended.value),
    )
    assert str(ended.value).endswith(f"--data-dir {tmp_path}")
    assert scripted.addresses == []


async def test_stop_before_run_ends_it_at_once(tmp_path: Path) -> None:
    scripted = link(tmp_path, [True])
    scripted.stop()
    scripted.stop()
    await scripted.run()
