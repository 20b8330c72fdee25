"""`Hub`: the composition root. It builds the hub's parts, serves until stopped, and shuts down
in stages.

Start: open the store, load the engines from it, bind the mesh, api and http ports, then
report SERVING (grpc.health on both gRPC ports, /readyz) and set `ready`.

Stop (`stop()`, or a failure nobody can handle): report NOT_SERVING, stop accepting API calls
(those in flight get the grace period), drain the mesh (agents' streams close; they reconnect),
stop the engines, wait for the commits already applied, close the store. After a failure,
`run()` then raises it, so the process exits non-zero and its supervisor restarts it; the new
hub reloads from the store, which holds everything anyone was told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .._address import split_address
from .._fs import check_private_dir, write_atomic
from ..certs import fingerprint, load_certificate, load_private_key
from ..errors import ConfigError, StoreError
from ._config import HubConfig
from .api import ApiServer
from .audit import AuditTrail
from .fleet import Fleet
from .mesh import MeshServer
from .secrets import SecretBox, Secrets, load_key
from .security import AgentIssuer, DashboardLogins, Enrolment, Renewal, TokenAuthority, Users
from .stats import HubStats
from .store import Store, open_store
from .tasks import TaskEngine
from .web import DashboardParts, HubMetrics, WebServer
from .workflows import WorkflowEngine

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)
_WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104
FAILED_GRACE = 2.0  # seconds calls in flight get when the hub stops after a failure


class Hub:
    """Serves agents and admins until `stop()`; `ready` is set once every listener is bound.

    `async with Hub(config) as hub:` starts it and returns once it is ready (raising what kept
    it from starting), and stops it on the way out.
    """

    def __init__(self, config: HubConfig, *, registry: CollectorRegistry | None = None) -> None:
        self._config = config
        self._registry = registry  # None: HubMetrics makes one at the first scrape
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._running: asyncio.Task[None] | None = None
        self.mesh_address = ""
        self.api_address = ""
        self.http_address = ""

    def stop(self) -> None:
        """Shut down gracefully; safe to call twice or before the hub runs."""
        self._stopping.set()

    def fail(self, error: BaseException) -> None:
        """Stop serving because of a failure the hub cannot handle; `run()` raises it."""
        if self._failure is None:
            log.critical("hub stops serving: %s", error)
            self._failure = error
        self._stopping.set()

    async def __aenter__(self) -> Hub:
        self._running = asyncio.create_task(self.run())
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait({self._running, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self._running.done():
            self._running.result()  # raises what kept it from starting
            raise ConfigError("the hub stopped before it was ready")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        if self._running is not None:
            await self._running

    def _advertised(self, listen: str, port: int) -> str:
        host, _ = split_address(listen)
        if host in _WILDCARDS:
            host = self._config.advertise_host or socket.gethostname()
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def run(self) -> None:
        """Serve until stopped. Raises ConfigError when the data dir, its keys or a listen
        address are wrong, and the failure that stopped the hub if one did (StoreError when the
        store could not commit)."""
        config, paths = self._config, self._config.paths
        check_private_dir(config.data_dir)
        try:
            ca_key = load_private_key(paths.ca_key.read_bytes())
            ca_pem = paths.ca_cert.read_bytes()
            hub_key_pem = paths.hub_key.read_bytes()
            hub_chain = paths.hub_cert.read_bytes() + ca_pem
            jwt_key = load_pem_private_key(paths.jwt_key.read_bytes(), password=None)
            box = SecretBox(load_key(paths.secrets_key))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"{exc.filename} is missing; run: photon-hub init --data-dir {config.data_dir}"
            ) from None
        if not isinstance(jwt_key, Ed25519PrivateKey):
            raise ConfigError(f"{paths.jwt_key} is not an Ed25519 key")
        ca_cert = load_certificate(ca_pem)
        authority = TokenAuthority(jwt_key, ttl=config.token_ttl)
        cert_ttl = timedelta(seconds=config.agent_cert_ttl)

        async with contextlib.AsyncExitStack() as stack:
            stats = HubStats()  # counted by the engine, the mesh and the store; /metrics shows it
            store: Store = await open_store(
                config.store_url, default_path=paths.database, stats=stats
            )
            stack.push_async_callback(store.close)
            fleet = Fleet()
            audit = AuditTrail(store, paths.audit_anchor, on_fatal=self.fail)

            def opened(name: str, version: int, purpose: str) -> None:
                detail = {"version": version, "for": purpose}
                audit.record("hub", "secret.open", target=name, detail=detail)

            secrets = Secrets(store=store, box=box, limits=config.limits, on_open=opened)
            await secrets.load()
            engine = TaskEngine(
                store=store,
                fleet=fleet,
                lost_after=config.lost_after,
                failover_grace=config.failover_grace,
                tool_limits=config.tool_limits,
                limits=config.limits,
                secrets=secrets,
                on_fatal=self.fail,
                stats=stats,
            )
            await engine.load()
            workflows = WorkflowEngine(
                store=store, tasks=engine, limits=config.limits, on_fatal=self.fail
            )
            await workflows.load()
            users = Users(store, authority)
            await users.load()
            # Flushed after the engines stop, before the store closes (unwound in reverse).
            stack.push_async_callback(engine.flush)
            stack.push_async_callback(workflows.flush)
            stack.push_async_callback(audit.flush)

            logins = DashboardLogins()
            web = WebServer(
                listen=config.http_listen,
                metrics=HubMetrics(
                    fleet=fleet,
                    stats=stats,
                    queued=engine.queued,
                    registry=self._registry,
                    quota=engine.quota_blocks,
                ),
                ready=self.ready.is_set,
                parts=DashboardParts(
                    fleet=fleet,
                    engine=engine,
                    workflows=workflows,
                    store=store,
                    users=users,
                    audit=audit,
                    logins=logins,
                ),
            )
            http_port = await web.start()
            stack.push_async_callback(web.stop)
            mesh = MeshServer(
                listen=config.mesh_listen,
                key_pem=hub_key_pem,
                chain_pem=hub_chain,
                ca_pem=ca_pem,
                store=store,
                fleet=fleet,
                engine=engine,
                renewal=Renewal(
                    store=store,
                    issuer=AgentIssuer(ca_key=ca_key, ca_cert=ca_cert, ttl=cert_ttl),
                ),
                heartbeat_interval=config.heartbeat_interval,
                send_queue_limit=config.send_queue_limit,
                audit=audit,
                connection_age=config.mesh_connection_age,
                limits=config.limits,
                stats=stats,
            )
            api = ApiServer(
                listen=config.api_listen,
                key_pem=hub_key_pem,
                chain_pem=hub_chain,
                authority=authority,
                users=users,
                audit=audit,
                store=store,
                fleet=fleet,
                engine=engine,
                workflows=workflows,
                secrets=secrets,
                enrolment=Enrolment(
                    store=store,
                    ca_key=ca_key,
                    ca_cert=ca_cert,
                    cert_ttl=cert_ttl,
                    limits=config.limits,
                ),
                limits=config.limits,
                ca_pin=fingerprint(ca_cert),
                api_addresses=lambda: [self.api_address],
                mesh_addresses=lambda: [self.mesh_address],
                logins=logins,
                http_port=lambda: http_port,
            )
            mesh_port = await mesh.start()
            stack.push_async_callback(mesh.stop, 0)
            api_port = await api.start()
            stack.push_async_callback(api.stop, 0)

            self.mesh_address = self._advertised(config.mesh_listen, mesh_port)
            self.api_address = self._advertised(config.api_listen, api_port)
            self.http_address = self._advertised(config.http_listen, http_port)
            _write_serving_file(
                paths.serving, mesh=self.mesh_address, api=self.api_address, http=self.http_address
            )
            stack.callback(paths.serving.unlink, missing_ok=True)
            async with asyncio.TaskGroup() as group:
                engine_task = group.create_task(engine.run())
                workflows_task = group.create_task(workflows.run())
                watch = group.create_task(self._watch(store))
                await asyncio.gather(mesh.set_serving(True), api.set_serving(True))
                self.ready.set()
                log.info(
                    "hub serving: mesh %s, api %s, http %s",
                    self.mesh_address,
                    self.api_address,
                    self.http_address,
                )
                await self._stopping.wait()
                watch.cancel()
                log.info("hub shutting down")
                self.ready.clear()
                await asyncio.gather(mesh.set_serving(False), api.set_serving(False))
                grace = FAILED_GRACE if self._failure else config.shutdown_grace
                await api.stop(grace)
                await mesh.stop(grace)
                workflows.stop()
                engine.stop()
                await workflows_task
                await engine_task
        if self._failure is not None:
            raise self._failure

    async def _watch(self, store: Store) -> None:
        await store.failed.wait()
        self.fail(store.failure or StoreError("the store failed"))


def _write_serving_file(path: Path, **addresses: str) -> None:
    write_atomic(path, json.dumps(addresses).encode(), mode=0o600)
