"""Log formatters: one JSON object a line in production, a readable line in DEBUG.

Log calls pass ids and stable event names through `extra={...}`; never a token, verifier or payload.
"""

import json
import logging
import re

# Some URLs carry a secret in their path: a tenant's webhook URL, and the emailed links (sign-up,
# invitation, "link your Slack account", password reset). Whatever logs a path (Django's 4xx warnings,
# gunicorn's access log, runserver) shows e.g. `/webhooks/freshbooks/<redacted>/` instead: the segment
# after the prefix is the secret (for a password reset, the segment after the user's id; Django's own
# `set-password` step that follows carries none).
SECRET_PATH_PREFIXES = ("/webhooks/freshbooks/", "/accounts/signup/verify/", "/accounts/invitations/",
                        "/accounts/slack/link/", "/accounts/reset/")
_SEGMENT = r"[^/\s\"'?]+"
WEBHOOK_PATH = re.compile(
    rf"(/webhooks/freshbooks/|/accounts/signup/verify/|/accounts/invitations/|/accounts/slack/link/"
    rf"|/accounts/reset/{_SEGMENT}/(?!set-password/)){_SEGMENT}")
WEBHOOK_PATH_REDACTED = r"\1<redacted>"


def _has_secret_path(text: str) -> bool:
    return any(prefix in text for prefix in SECRET_PATH_PREFIXES)


def redact_webhook_tokens(text: str) -> str:
    return WEBHOOK_PATH.sub(WEBHOOK_PATH_REDACTED, text) if _has_secret_path(text) else text


class RedactWebhookTokens(logging.Filter):
    """Rewrites a record's message, arguments and `request` extra so no webhook token reaches a handler.
    On the `django.request` logger (it logs request paths, e.g. "Unauthorized: /webhooks/...")
    and on the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _has_secret_path(message):
            record.msg, record.args = redact_webhook_tokens(message), None
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            # Django passes the request object; formatters would print its repr, path included.
            record.request = redact_webhook_tokens(f"{getattr(request, 'method', '')} {getattr(request, 'path', '')}")
        return True


_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "context"}


def _context(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ReadableFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = _context(record)
        record.context = " ".join(f"{k}={v}" for k, v in ctx.items())
        return super().format(record)
