"""GET /healthz: database, Redis and broker status; 503 naming whatever is down."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url

CHECK_TIMEOUT = 2  # seconds per dependency: a health check must answer fast even when one is down


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "down", and we report its type
        return f"{type(exc).__name__}"
    return None


def _check_redis() -> str | None:
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT,
                             socket_connect_timeout=CHECK_TIMEOUT).ping()
    except Exception as exc:  # noqa: BLE001
        return f"cannot reach Redis at {maybe_sanitize_url(settings.REDIS_URL)} ({type(exc).__name__})"
    return None


def _check_broker() -> str | None:
    try:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=CHECK_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        return f"cannot reach the broker at {maybe_sanitize_url(settings.CELERY_BROKER_URL)} ({type(exc).__name__})"
    return None


@require_GET
def healthz(request):
    checks = {"database": _check_database(), "redis": _check_redis(), "broker": _check_broker()}
    body = {name: ({"status": "ok"} if err is None else {"status": "down", "error": err})
            for name, err in checks.items()}
    down = [name for name, err in checks.items() if err]
    body["status"] = "ok" if not down else "down: " + ", ".join(down)
    return JsonResponse(body, status=200 if not down else 503)
