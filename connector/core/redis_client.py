"""One Redis client per process for the request path: short timeouts, so that a slow or missing Redis
costs a request half a second at most and the caller decides what failing open means."""

import functools

import redis
from django.conf import settings

QUICK_TIMEOUT = 0.5  # seconds


@functools.cache
def redis_quick() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=QUICK_TIMEOUT,
                                socket_connect_timeout=QUICK_TIMEOUT)
