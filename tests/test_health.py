import time

import pytest
from django.core.cache import cache

from messsite.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.broker]


def test_health_reports_database_broker_and_storage(client):
    body = client.get("/api/v1/health/").json()
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["database"]["pgvector"].startswith("0.")
    assert checks["broker"]["ok"]
    assert checks["storage"]["ok"]


def test_without_workers_the_node_is_degraded_not_down(client):
    response = client.get("/api/v1/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert "no Celery worker answered" in response.json()["checks"]["workers"]["error"]


def test_with_a_real_worker_everything_is_ok(client, celery_worker_process):
    response = client.get("/api/v1/health/")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok", body
    assert celery_worker_process in body["checks"]["workers"]["names"]


def test_broker_down_makes_the_node_unhealthy(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/v1/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True


def test_the_workers_answer_is_shared_and_refreshed_in_the_background(client, monkeypatch, celery_worker_process):
    """A ping waits out its whole timeout: health requests reuse its answer, and one that
    finds it stale answers with it at once while a single refresh runs behind."""
    from messsite import health

    pings = []
    real_ping = celery_app.control.ping
    monkeypatch.setattr(celery_app.control, "ping", lambda **kw: pings.append(kw) or real_ping(**kw))
    first = client.get("/api/v1/health/").json()["checks"]["workers"]
    assert client.get("/api/v1/health/").json()["checks"]["workers"]["names"] == first["names"]
    assert len(pings) == 1

    names, when = cache.get(health.WORKERS_CACHE_KEY)
    cache.set(health.WORKERS_CACHE_KEY, (["gone@host"], when - health.WORKERS_CACHE_SECONDS - 1), None)
    stale = [client.get("/api/v1/health/").json()["checks"]["workers"] for _ in range(3)]
    assert all(answer["names"] == ["gone@host"] for answer in stale)
    deadline = time.monotonic() + 10
    while cache.get(health.WORKERS_CACHE_KEY)[0] == ["gone@host"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cache.get(health.WORKERS_CACHE_KEY)[0] == names == [celery_worker_process]
    assert len(pings) == 2


def test_health_answers_with_and_without_the_slash(client):
    """Slashed like every other route; the bare form stays for the probes already pointed at it."""
    for path in ("/api/v1/health/", "/api/v1/health"):
        response = client.get(path)
        assert response.status_code == 200 and set(response.json()["checks"]) == {"database", "broker", "storage", "workers"}
