"""Rate limits for the doors a stranger can knock on (login, sign-up, password reset, invitations), on
django-ratelimit's counters in the cache (Redis), with a clear 429 and Retry-After.

Rates are settings (README "Security") read at each request, so an operator can change them without code.
"""

import functools
import math

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from connector.core.errors import ApplicationError


def client_ip(request) -> str:
    """The caller's address. Behind a trusted proxy (TRUST_PROXY), the last X-Forwarded-For entry, the
    one the proxy itself appended (earlier entries are whatever the client claimed)."""
    if settings.TRUST_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR") or "unknown"


class RateLimited(ApplicationError):
    def __init__(self, retry_after: int, what: str = "attempts"):
        self.retry_after = retry_after
        super().__init__(f"Too many {what}. Try again in {_in_words(retry_after)}.",
                         {"retry_after": retry_after}, status=429)


def _in_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"


def limit_hit(request=None, *, group: str, rate_setting: str, value: str) -> int:
    """Counts one attempt of `group` for `value` (an IP, an email, a tenant id). Returns 0 while within the
    rate in settings.<rate_setting>, else the seconds until the window ends. (`request` is only passed
    through to django-ratelimit, which needs none when the key is given.)"""
    usage = get_usage(request, group=group, key=lambda _group, _request: value,
                      rate=getattr(settings, rate_setting), increment=True)
    if usage is None or not usage["should_limit"]:
        return 0
    return max(1, int(usage["time_left"]))


def limit_check(*, group: str, rate_setting: str, value: str, what: str = "attempts") -> None:
    """limit_hit that raises RateLimited (for services, which have no request)."""
    wait = limit_hit(group=group, rate_setting=rate_setting, value=value)
    if wait:
        raise RateLimited(wait, what)


def too_many_requests(request, *, retry_after: int, message: str = ""):
    message = message or f"Too many attempts. Try again in {_in_words(retry_after)}."
    if request.path.startswith("/api/"):
        response = JsonResponse({"message": message, "extra": {"retry_after": retry_after}}, status=429)
    else:
        response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def rate_limit(group: str, *, rate_setting: str, fields: tuple[str, ...] = ()):
    """Decorates a view: each POST counts against the caller's IP and against each named form field's
    value (lower-cased, e.g. the email being tried, so spreading attempts over many IPs does not help);
    past the rate the view is not run and the caller gets a 429 with Retry-After."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                values = [f"ip:{client_ip(request)}"]
                values += [f"{name}:{request.POST[name].strip().lower()[:254]}" for name in fields
                           if request.POST.get(name, "").strip()]
                wait = max(limit_hit(request, group=group, rate_setting=rate_setting, value=value)
                           for value in values)
                if wait:
                    return too_many_requests(request, retry_after=wait)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
