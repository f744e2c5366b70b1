"""/metrics: Prometheus text for administrators and loopback scrapers only."""

from __future__ import annotations

from django.test import Client

from evim.backoffice.models import User
from evim.gateway.metrics import GatewayMetrics
from tests.fixtures.users import client_for

REMOTE = "203.0.113.5"  # not loopback


def test_loopback_scraper_reads_the_metrics(db: None) -> None:
    response = Client().get("/metrics")  # the test client comes from 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE evim_gateway_sessions_open gauge" in response.content.decode()


def test_remote_access_needs_an_administrator(camille: User, jeanne: User) -> None:
    assert Client().get("/metrics", REMOTE_ADDR=REMOTE).status_code == 403
    colleague = client_for(jeanne)
    assert colleague.get("/metrics", REMOTE_ADDR=REMOTE).status_code == 403
    assert client_for(camille).get("/metrics", REMOTE_ADDR=REMOTE).status_code == 200


def test_exposition_format() -> None:
    metrics = GatewayMetrics(stanzas_to_browser=7)
    metrics.sessions_open["websocket"] = 2
    metrics.upstream_errors['remote-connection-failed"\n'] += 3
    text = metrics.exposition()
    assert 'evim_gateway_sessions_open{transport="websocket"} 2\n' in text
    assert 'evim_gateway_sessions_open{transport="bosh"} 0\n' in text
    assert "evim_gateway_stanzas_to_browser_total 7\n" in text
    # Label values are escaped: one sample per line, whatever the reason says.
    assert 'evim_gateway_upstream_errors_total{reason="remote-connection-failed\\" "} 3' in text
