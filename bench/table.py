"""One table: system x workload medians, PHOTON's targets, PHOTON/floor ratios and a verdict."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .workloads import METRICS

HEADERS = {
    "w1_p50_ms": "W1 p50 ms",
    "w1_p99_ms": "W1 p99 ms",
    "w2_1slot_per_s": "W2 1-slot/s",
    "w2_64slot_per_s": "W2 64-slot/s",
    "w3_ms_per_link": "W3 ms/link",
    "w4_s": "W4 s",
    "hub_rss_mb": "hub RSS MB",
    "agent_rss_mb": "agent RSS MB",
    "startup_s": "agent start s",
}
FORMATS = {
    "w1_p50_ms": "{:.2f}",
    "w1_p99_ms": "{:.2f}",
    "w2_1slot_per_s": "{:,.0f}",
    "w2_64slot_per_s": "{:,.0f}",
    "w3_ms_per_link": "{:.2f}",
    "w4_s": "{:.3f}",
    "hub_rss_mb": "{:.1f}",
    "agent_rss_mb": "{:.1f}",
    "startup_s": "{:.2f}",
}
# PHOTON's targets (issue 3): metric -> (comparison, bound); "floor" bounds are ratios.
TARGETS: dict[str, tuple[str, float]] = {
    "w1_p50_ms": ("<=", 1.0),
    "w1_p99_ms": ("<=", 3.0),
    "w2_1slot_per_s": (">=", 2_500.0),
    "w2_64slot_per_s": (">=floor", 0.70),
    "w3_ms_per_link": ("<=", 1.0),
    "w4_s": ("<=", 0.5),
    "hub_rss_mb": ("<=", 60.0),
    "agent_rss_mb": ("<=", 45.0),
}
NATIVE = "*"


@dataclass
class Results:
    """Every value measured, by system and metric, one per run (None where a run had none)."""

    runs: int
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    by_run: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)
    native: dict[str, set[str]] = field(default_factory=dict)

    def add(self, system: str, run: int, metric: str, value: float | None) -> None:
        if value is None:
            return
        self.values.setdefault(system, {}).setdefault(metric, []).append(value)
        rows = self.by_run.setdefault(system, [])
        while len(rows) <= run:
            rows.append({})
        rows[run][metric] = value

    def note(self, system: str, text: str) -> None:
        self.notes.setdefault(system, []).append(text)

    def median(self, system: str, metric: str) -> float | None:
        values = self.values.get(system, {}).get(metric)
        return statistics.median(values) if values else None

    def ratio(self, metric: str, system: str = "photon", floor: str = "floor") -> float | None:
        """Median over runs of system/floor, each run's pair measured side by side."""
        mine, theirs = self.by_run.get(system, []), self.by_run.get(floor, [])
        ratios = [
            a[metric] / b[metric]
            for a, b in zip(mine, theirs, strict=False)
            if metric in a and metric in b and b[metric]
        ]
        return statistics.median(ratios) if ratios else None


def _cell(metric: str, value: float | None) -> str:
    return "-" if value is None else FORMATS[metric].format(value)


def _target_cell(metric: str) -> str:
    if metric not in TARGETS:
        return ""
    op, bound = TARGETS[metric]
    if op == ">=floor":
        return f">={bound:.0%} floor"
    return f"{op}{FORMATS[metric].format(bound)}"


def verdicts(results: Results) -> dict[str, bool | None]:
    """Whether PHOTON meets each target (None: not measured)."""
    out: dict[str, bool | None] = {}
    for metric, (op, bound) in TARGETS.items():
        if op == ">=floor":
            ratio = results.ratio(metric)
            out[metric] = None if ratio is None else ratio >= bound
            continue
        value = results.median("photon", metric)
        if value is None:
            out[metric] = None
        else:
            out[metric] = value <= bound if op == "<=" else value >= bound
    return out


def render(results: Results, systems: Sequence[str]) -> str:
    """The table as text: one row per system, then PHOTON's targets and PHOTON/floor ratios."""
    header = ["system", *(HEADERS[m] for m in METRICS)]
    rows: list[list[str]] = []
    for system in systems:
        native = results.native.get(system, set())
        row = [system]
        for metric in METRICS:
            cell = _cell(metric, results.median(system, metric))
            if metric in native and cell != "-":
                cell += NATIVE
            row.append(cell)
        rows.append(row)
    rows.append(["PHOTON target", *(_target_cell(m) for m in METRICS)])
    if "photon" in systems and "floor" in systems:
        ratio_row = ["PHOTON/floor"]
        for metric in METRICS:
            ratio = results.ratio(metric)
            ratio_row.append("-" if ratio is None else f"{ratio:.2f}x")
        rows.append(ratio_row)
        checks = verdicts(results)
        rows.append(
            [
                "PHOTON meets",
                *(
                    {True: "yes", False: "NO", None: "?"}[checks[m]] if m in checks else ""
                    for m in METRICS
                ),
            ]
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule]
    for i, row in enumerate(rows):
        if i == len(systems):
            out.append(rule)
        out.append(line(row))
    out.append("")
    out.append(
        f"Medians of {results.runs} interleaved run(s); 2 workers/agents, 1 slot each unless "
        "'64-slot'. W1 and W3 in ms (W3 per link), W4 total s, RSS in MB (10^6 bytes) when idle."
    )
    out.append(
        f"{NATIVE} native dependencies (PHOTON workflows, Ray object refs, Dask futures, Celery "
        "canvas); the floor sends each step after the previous result."
    )
    out.append(
        "PHOTON/floor: median of the per-run ratios (latencies: times slower; throughput: "
        "share of the floor)."
    )
    out.append(
        "hub RSS: Ray = GCS + raylet, Celery = the shared Redis server. agent start: Ray = "
        "ray.init() until both workers ran a task; Ray 64-slot = 2 async actors."
    )
    for system in systems:
        for text in dict.fromkeys(results.notes.get(system, [])):
            out.append(f"note: {system}: {text}")
    return "\n".join(out)
