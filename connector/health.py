"""GET /healthz: database, Redis and broker status; 503 naming whatever is down.

Cheap enough for a load balancer to call every few seconds: it reuses the request's database connection
and one pooled Redis client per URL instead of opening new connections on each call. Anonymous callers
learn only ok/down per dependency; the error details (which name hosts) need
`Authorization: Bearer <HEALTHZ_TOKEN>`.
"""

import functools
import hmac

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

CHECK_TIMEOUT = 2  # seconds per dependency: a health check must answer fast even when one is down


@functools.lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT)


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and we report its type
        return f"{type(exc).__name__}"
    return None


def _check_redis_url(url: str, what: str) -> str | None:
    try:
        _redis_client(url).ping()
    except Exception as exc:  # noqa: BLE001
        return f"cannot reach {what} at {maybe_sanitize_url(url)} ({type(exc).__name__})"
    return None


def _check_broker(redis_error: str | None) -> str | None:
    url = settings.CELERY_BROKER_URL
    if url == settings.REDIS_URL:
        return redis_error and redis_error.replace("cannot reach Redis", "cannot reach the broker", 1)
    if url.startswith(("redis://", "rediss://")):
        return _check_redis_url(url, "the broker")
    try:  # another kind of broker: no pooled client to reuse
        with Connection(url, connect_timeout=CHECK_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return f"cannot reach the broker at {maybe_sanitize_url(url)} ({type(exc).__name__})"
    return None


def _may_see_details(request) -> bool:
    token = settings.HEALTHZ_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@require_GET
def healthz(request):
    redis_error = _check_redis_url(settings.REDIS_URL, "Redis")
    checks = {"database": _check_database(), "redis": redis_error, "broker": _check_broker(redis_error)}
    details = _may_see_details(request)
    body = {name: ({"status": "ok"} if err is None
                   else {"status": "down", **({"error": err} if details else {})})
            for name, err in checks.items()}
    down = [name for name, err in checks.items() if err]
    body["status"] = "ok" if not down else "down: " + ", ".join(down)
    response = JsonResponse(body, status=200 if not down else 503)
    response["Cache-Control"] = "no-store"
    return response
