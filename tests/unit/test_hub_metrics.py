"""HubMetrics on an injected registry: the hub's families beside the process and Python ones."""

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from photon.hub.fleet import Fleet
from photon.hub.stats import HubStats
from photon.hub.web import HubMetrics


def families(body: bytes) -> dict[str, str]:
    return {f.name: f.type for f in text_string_to_metric_families(body.decode())}


def test_a_fresh_registry_gets_every_family() -> None:
    stats = HubStats()
    stats.task_submitted("echo")
    stats.store_committed(0.002)
    metrics = HubMetrics(
        fleet=Fleet(), stats=stats, queued=lambda: {"echo": 2}, registry=CollectorRegistry()
    )
    content_type, body = metrics.scrape()
    assert content_type.startswith("text/plain")
    found = families(body)
    assert found["photon_tasks_submitted"] == "counter"
    assert found["photon_tasks_queued"] == "gauge"
    assert found["photon_store_commit_seconds"] == "histogram"
    assert found["process_resident_memory_bytes"] == "gauge"
    assert "python_info" in found
    assert b'photon_tasks_queued{tool="echo"} 2.0' in body
    assert b'photon_store_commit_seconds_bucket{le="0.0025"} 1.0' in body


def test_the_default_registry_keeps_its_own_process_collector() -> None:
    metrics = HubMetrics(fleet=Fleet(), registry=REGISTRY)  # raised on duplicates before
    try:
        assert "photon_agents" in families(metrics.scrape()[1])
    finally:
        REGISTRY.unregister(metrics._collector)
