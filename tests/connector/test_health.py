"""GET /healthz reports each dependency and answers 503 when one is down."""

import pytest


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == {"status": "ok"}
    assert body["redis"] == {"status": "ok"}
    assert body["broker"] == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_names_redis_when_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["status"] == "down"
    assert "redis://127.0.0.1:1/0" in body["redis"]["error"]
    assert "redis" in body["status"]
    assert body["database"] == {"status": "ok"}
