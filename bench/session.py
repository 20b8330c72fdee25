"""One benchmark session: start one system, run every workload once, stop it.

`python -m bench.session SYSTEM --out FILE [--quick]` appends one JSON object per line to FILE:
`{"metric": NAME, "value": X}` as each result is measured, then `{"error": TEXT}` if a phase timed
out or failed. bench.run starts one session per system and run, in its own process group, so a
system that hangs or crashes cannot take the others down with it.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import uvloop

from .workloads import FULL, QUICK, Budgets, PhaseTimeout, System, run_workloads

SYSTEMS = {
    "photon": "bench.photon_system:PhotonSystem",
    "floor": "bench.grpc_floor:FloorSystem",
    "ray": "bench.ray_system:RaySystem",
    "dask": "bench.dask_system:DaskSystem",
    "celery": "bench.celery_system:CelerySystem",
}


def load_system(name: str, workdir: Path) -> System[Any]:
    module, _, attr = SYSTEMS[name].partition(":")
    factory = getattr(importlib.import_module(module), attr)
    system: System[Any] = factory(workdir=workdir)
    return system


async def _session(name: str, workdir: Path, out: Path, quick: bool) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    loop.add_signal_handler(signal.SIGINT, task.cancel)

    def write(entry: dict[str, Any]) -> None:
        with out.open("a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def report(metric: str, value: Any) -> None:
        write({"metric": metric, "value": value})

    system = load_system(name, workdir)
    native = {"w3_ms_per_link": system.native_chain, "w4_s": system.native_fan}
    write({"native": [metric for metric, on in native.items() if on]})
    try:
        await run_workloads(system, QUICK if quick else FULL, Budgets(), report)
        return 0
    except PhaseTimeout as exc:
        write({"error": f"timeout in {exc}"})
        return 1
    except asyncio.CancelledError:
        write({"error": "stopped"})
        raise
    except Exception as exc:
        traceback.print_exc()
        lines = [line for line in str(exc).splitlines() if line.strip()]
        summary = " ... ".join(dict.fromkeys([lines[0], lines[-1]])) if lines else ""
        write({"error": f"{type(exc).__name__}: {summary}"[:300]})
        return 1
    finally:
        # Stopping must not be cut short by a second signal: shield it.
        await asyncio.shield(system.stop())


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.session")
    parser.add_argument("system", choices=sorted(SYSTEMS))
    parser.add_argument("--workdir", type=Path, required=True, help="data dirs and logs go here")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        return uvloop.run(_session(args.system, args.workdir, args.out, args.quick))
    except asyncio.CancelledError:
        return 130


if __name__ == "__main__":
    sys.exit(main())
