"""GET /healthz reports each dependency and answers 503 when one is down."""

import pytest
from django.conf import settings

from connector import health


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
    settings.HEALTHZ_TOKEN = "health-secret"
    response = client.get("/healthz", HTTP_AUTHORIZATION="Bearer health-secret")
    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["status"] == "down"
    assert "redis://127.0.0.1:1/0" in body["redis"]["error"]
    assert "redis" in body["status"]
    assert body["database"] == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_tells_anonymous_callers_what_is_down_but_not_where(client, settings):
    settings.REDIS_URL = "redis://10.1.2.3:1/0"
    settings.CELERY_BROKER_URL = "redis://internal-broker.example:1/0"
    settings.HEALTHZ_TOKEN = "health-secret"

    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"}):
        response = client.get("/healthz", **headers)
        assert response.status_code == 503
        body = response.json()
        assert body["redis"] == {"status": "down"} and body["broker"] == {"status": "down"}
        assert "10.1.2.3" not in response.content.decode() and "internal-broker" not in response.content.decode()


@pytest.mark.django_db
def test_healthz_reuses_its_redis_connection(client):
    health._redis_client.cache_clear()
    for _ in range(5):
        assert client.get("/healthz").status_code == 200

    pool = health._redis_client(settings.REDIS_URL).connection_pool
    assert pool._created_connections == 1  # one connection for five checks (Redis and broker alike)
