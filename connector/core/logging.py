"""Log formatters: one JSON object a line in production, a readable line in DEBUG.

Log calls pass ids and stable event names through `extra={...}`; never a token, verifier or payload.
"""

import json
import logging

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
