import pytest

from messsite.celery import app as celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.broker]


def test_health_reports_database_broker_and_storage(client):
    body = client.get("/api/v1/health").json()
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["database"]["pgvector"].startswith("0.")
    assert checks["broker"]["ok"]
    assert checks["storage"]["ok"]


def test_without_workers_the_node_is_degraded_not_down(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert "no Celery worker answered" in response.json()["checks"]["workers"]["error"]


def test_with_a_real_worker_everything_is_ok(client, celery_worker_process):
    response = client.get("/api/v1/health")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok", body
    assert celery_worker_process in body["checks"]["workers"]["names"]


def test_broker_down_makes_the_node_unhealthy(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["database"]["ok"] is True
