"""Gunicorn's logger with webhook tokens redacted (gunicorn.conf.py names it as `logger_class`): the
access log line shows `POST /webhooks/freshbooks/<redacted>/`, and so does any error gunicorn logs
about a request."""

from gunicorn.glogging import Logger

from connector.core.logging import redact_webhook_tokens


def _redacted(value):
    return redact_webhook_tokens(value) if isinstance(value, str) else value


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        return {key: _redacted(value) for key, value in super().atoms(resp, req, environ, request_time).items()}

    def _redact_call(self, method, msg, *args, **kwargs):
        method(_redacted(msg), *(_redacted(a) for a in args), **kwargs)

    def critical(self, msg, *args, **kwargs):
        self._redact_call(super().critical, msg, *args, **kwargs)

    def error(self, msg, *args, **kwargs):
        self._redact_call(super().error, msg, *args, **kwargs)

    def warning(self, msg, *args, **kwargs):
        self._redact_call(super().warning, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        self._redact_call(super().info, msg, *args, **kwargs)

    def debug(self, msg, *args, **kwargs):
        self._redact_call(super().debug, msg, *args, **kwargs)

    def exception(self, msg, *args, **kwargs):
        self._redact_call(super().exception, msg, *args, **kwargs)

    def log(self, lvl, msg, *args, **kwargs):
        super().log(lvl, _redacted(msg), *(_redacted(a) for a in args), **kwargs)
