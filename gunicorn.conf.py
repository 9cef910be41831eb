"""Gunicorn reads this file from the working directory (Procfile `web`, the stack, the benchmarks): the
access log and gunicorn's own errors go through a logger that redacts webhook tokens from paths."""

logger_class = "connector.core.access_log.RedactingLogger"
