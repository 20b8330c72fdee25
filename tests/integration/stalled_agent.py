"""An agent that connects, heartbeats, and never reads what the hub sends (for flow-control tests).

Usage: python stalled_agent.py DATA_DIR
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import grpc
import grpc.aio

from photon.v1 import common_pb2, mesh_pb2, mesh_pb2_grpc


async def main(data_dir: Path) -> None:
    identity = json.loads((data_dir / "identity.json").read_text())
    credentials = grpc.ssl_channel_credentials(
        (data_dir / "ca.crt").read_bytes(),
        (data_dir / "agent.key").read_bytes(),
        (data_dir / "agent.crt").read_bytes(),
    )
    # Without BDP probing the HTTP/2 window stays at its 64 KiB default, as on a slow link.
    options = [("grpc.http2.bdp_probe", 0)]
    address = identity["mesh_addresses"][0]
    async with grpc.aio.secure_channel(address, credentials, options=options) as channel:
        call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
        echo = common_pb2.ToolCapability(name="echo", available=True, enabled=True)
        await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=100_000, tools=[echo])))
        await call.read()  # the Welcome; nothing is read after it
        print("stalled", flush=True)
        while True:
            beat = mesh_pb2.Heartbeat(metrics=common_pb2.AgentMetrics(free_slots=100_000))
            await call.write(mesh_pb2.ConnectRequest(heartbeat=beat))
            await asyncio.sleep(0.2)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
