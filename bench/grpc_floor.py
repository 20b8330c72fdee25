"""The floor: a bare grpc.aio bidi echo (mTLS, uvloop) shaped like PHOTON, doing nothing else.

A server process plays the hub and 2 worker processes play the agents; each worker holds one
bidi stream and answers every task message at once. The benchmark process drives the server over
one more bidi stream. The server only forwards: each worker offers N slots (credits) and the
server hands a task to the next worker with a free slot, round robin. No scheduling decisions, no
persistence, no serialisation beyond 9-byte frames. Certificates come from `photon.certs` at run
time, with the same gRPC options (message limits, keepalive) as PHOTON's hub and agents.

    python -m bench.grpc_floor server --certs DIR --port-file FILE
    python -m bench.grpc_floor worker --certs DIR --name NAME --address HOST:PORT --slots N
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import struct
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import uvloop

from photon.wire import CHANNEL_OPTIONS, SERVER_OPTIONS

from .procs import PYTHON, Daemon, rss_mb, wait_until
from .workloads import WORKERS, Footprint, System

SERVICE = "bench.floor.Floor"
WORK = f"/{SERVICE}/Work"  # worker <-> server
DRIVE = f"/{SERVICE}/Drive"  # benchmark <-> server
TASK, RESULT, HELLO, STATUS = b"T", b"R", b"H", b"S"
ID = struct.Struct("!Q")
COUNTS = struct.Struct("!II")
IDLE_SETTLE = 2.0


def make_certs(directory: Path, clients: Sequence[str]) -> None:
    """A CA, a server certificate for 127.0.0.1 and one client certificate per name."""
    # Imported here so the server and worker processes load only grpc and uvloop.
    from photon.certs import (
        certificate_to_pem,
        create_ca,
        create_csr,
        generate_private_key,
        issue_hub_certificate,
        private_key_to_pem,
        sign_agent_csr,
    )

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key, ca_cert = create_ca(common_name="bench floor CA")

    def write(name: str, data: bytes) -> None:
        path = directory / name
        path.write_bytes(data)
        path.chmod(0o600)

    write("ca.crt", certificate_to_pem(ca_cert))
    server_key = generate_private_key()
    server_cert = issue_hub_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=server_key.public_key(),
        sans=["127.0.0.1", "localhost"],
    )
    write("server.key", private_key_to_pem(server_key))
    write("server.crt", certificate_to_pem(server_cert))
    for name in clients:
        key = generate_private_key()
        cert = sign_agent_csr(
            ca_key=ca_key,
            ca_cert=ca_cert,
            csr_pem=create_csr(key=key, common_name=name),
            agent_id=name,
        )
        write(f"{name}.key", private_key_to_pem(key))
        write(f"{name}.crt", certificate_to_pem(cert))


def client_channel(certs: Path, name: str, address: str) -> grpc.aio.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.crt").read_bytes(),
        private_key=(certs / f"{name}.key").read_bytes(),
        certificate_chain=(certs / f"{name}.crt").read_bytes(),
    )
    return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)


# -- server ----------------------------------------------------------------------------------


class _Worker:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.free = slots
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()


class Router:
    """Forwards tasks from the driver to workers with a free slot, and results back."""

    def __init__(self) -> None:
        self._workers: set[_Worker] = set()
        self._ready: collections.deque[_Worker] = collections.deque()
        self._pending: collections.deque[bytes] = collections.deque()
        self._driver: asyncio.Queue[bytes] | None = None

    def _dispatch(self) -> None:
        while self._pending and self._ready:
            worker = self._ready.popleft()
            if worker not in self._workers:
                continue
            worker.free -= 1
            worker.outbox.put_nowait(self._pending.popleft())
            if worker.free > 0:
                self._ready.append(worker)

    async def work(self, requests: AsyncIterator[bytes], context: Any) -> None:
        hello = await anext(requests)
        worker = _Worker(ID.unpack(hello[1:])[0])
        writer = asyncio.create_task(_pump(worker.outbox, context))
        self._workers.add(worker)
        self._ready.append(worker)
        self._dispatch()
        try:
            async for message in requests:
                if self._driver is not None:
                    self._driver.put_nowait(message)
                worker.free += 1
                if worker.free == 1:
                    self._ready.append(worker)
                self._dispatch()
        finally:
            self._workers.discard(worker)
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    async def drive(self, requests: AsyncIterator[bytes], context: Any) -> None:
        outbox: asyncio.Queue[bytes] = asyncio.Queue()
        writer = asyncio.create_task(_pump(outbox, context))
        self._driver = outbox
        try:
            async for message in requests:
                if message[:1] == TASK:
                    self._pending.append(message)
                    self._dispatch()
                else:
                    slots = sum(w.slots for w in self._workers)
                    outbox.put_nowait(STATUS + COUNTS.pack(len(self._workers), slots))
        finally:
            self._driver = None
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)


async def _pump(outbox: asyncio.Queue[bytes], context: Any) -> None:
    while True:
        await context.write(await outbox.get())


async def serve(certs: Path, port_file: Path) -> None:
    router = Router()
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                SERVICE,
                {
                    "Work": grpc.stream_stream_rpc_method_handler(router.work),
                    "Drive": grpc.stream_stream_rpc_method_handler(router.drive),
                },
            ),
        )
    )
    credentials = grpc.ssl_server_credentials(
        [((certs / "server.key").read_bytes(), (certs / "server.crt").read_bytes())],
        root_certificates=(certs / "ca.crt").read_bytes(),
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    await asyncio.to_thread(port_file.write_text, f"127.0.0.1:{port}")
    await server.wait_for_termination()


# -- worker ----------------------------------------------------------------------------------


async def work(certs: Path, name: str, address: str, slots: int) -> None:
    async with client_channel(certs, name, address) as channel:
        call = channel.stream_stream(WORK)()
        await call.write(HELLO + ID.pack(slots))
        async for message in call:
            await call.write(RESULT + message[1:])


# -- the system the benchmark drives ---------------------------------------------------------


class FloorSystem(System[int]):
    name = "floor"

    def __init__(self, *, workdir: Path) -> None:
        self._root = workdir
        self._certs = workdir / "certs"
        self._server: Daemon | None = None
        self._workers: list[Daemon] = []
        self._address = ""
        self._channel: grpc.aio.Channel | None = None
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._results: dict[int, asyncio.Future[None]] = {}
        self._status: asyncio.Future[tuple[int, int]] | None = None

    async def start(self, *, slots: int) -> Footprint:
        names = [f"worker-{i}" for i in range(WORKERS)]
        await asyncio.to_thread(make_certs, self._certs, [*names, "driver"])
        port_file = self._root / "port"
        self._server = Daemon(
            [
                PYTHON,
                "-m",
                "bench.grpc_floor",
                "server",
                "--certs",
                str(self._certs),
                "--port-file",
                str(port_file),
            ],
            self._root / "server.log",
        ).start()
        await wait_until(
            lambda: port_file.exists() or not self._server.running,  # type: ignore[union-attr]
            within=30,
            what="floor server",
        )
        if not port_file.exists():
            raise RuntimeError(f"floor server did not start:\n{self._server.tail()}")
        self._address = port_file.read_text()
        self._channel = client_channel(self._certs, "driver", self._address)
        self._call = self._channel.stream_stream(DRIVE)()
        self._reader = asyncio.create_task(self._read())
        startup = await self._start_workers(slots)
        await asyncio.sleep(IDLE_SETTLE)
        return Footprint(
            hub_rss_mb=rss_mb(self._server.pid),
            agent_rss_mb=rss_mb(self._workers[0].pid),
            startup_s=startup,
        )

    async def _read(self) -> None:
        async for message in self._call:
            if message[:1] == RESULT:
                future = self._results.get(ID.unpack(message[1:])[0])
                if future is not None and not future.done():
                    future.set_result(None)
            elif self._status is not None and not self._status.done():
                self._status.set_result(COUNTS.unpack(message[1:]))

    async def _counts(self) -> tuple[int, int]:
        self._status = asyncio.get_running_loop().create_future()
        await self._call.write(STATUS)
        return await self._status

    async def _start_workers(self, slots: int) -> float:
        t0 = time.monotonic()
        self._workers = [
            Daemon(
                [
                    PYTHON,
                    "-m",
                    "bench.grpc_floor",
                    "worker",
                    "--certs",
                    str(self._certs),
                    "--name",
                    f"worker-{i}",
                    "--address",
                    self._address,
                    "--slots",
                    str(slots),
                ],
                self._root / f"worker-{i}.{slots}.log",
            ).start()
            for i in range(WORKERS)
        ]

        async def connected() -> bool:
            return await self._counts() == (WORKERS, WORKERS * slots)

        await wait_until(connected, within=60, interval=0.005, what="floor workers connected")
        return time.monotonic() - t0

    async def resize(self, *, slots: int) -> None:
        for worker in self._workers:
            await asyncio.to_thread(worker.stop)
        await self._start_workers(slots)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None
        for proc in [*self._workers, *([self._server] if self._server else [])]:
            await asyncio.to_thread(proc.stop)

    async def submit(self) -> int:
        task_id = next(self._ids)
        self._results[task_id] = asyncio.get_running_loop().create_future()
        await self._call.write(TASK + ID.pack(task_id))
        return task_id

    async def submit_many(self, n: int) -> list[int]:
        return [await self.submit() for _ in range(n)]

    async def wait(self, handle: int) -> None:
        await self._results[handle]
        del self._results[handle]

    async def wait_many(self, handles: Sequence[int]) -> None:
        for handle in handles:
            await self.wait(handle)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grpc_floor")
    sub = parser.add_subparsers(dest="role", required=True)
    server = sub.add_parser("server")
    server.add_argument("--certs", type=Path, required=True)
    server.add_argument("--port-file", type=Path, required=True)
    worker = sub.add_parser("worker")
    worker.add_argument("--certs", type=Path, required=True)
    worker.add_argument("--name", required=True)
    worker.add_argument("--address", required=True)
    worker.add_argument("--slots", type=int, default=1)
    args = parser.parse_args()
    try:
        if args.role == "server":
            uvloop.run(serve(args.certs, args.port_file))
        else:
            uvloop.run(work(args.certs, args.name, args.address, args.slots))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
