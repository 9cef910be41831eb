"""Test settings: PostgreSQL and real Redis (as in production), fast hashing, no outbound network."""

import os
from pathlib import Path

import environ

# A worktree's .env may name its own test database and Redis db (TEST_DATABASE_URL, TEST_REDIS_URL).
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SECRET_KEY", "test-secret-key")
# Two fixed test keys so every run (and every process of an end-to-end test) shares them.
os.environ.setdefault(
    "ENCRYPTION_KEYS", "Udo6FXIdww1OjgGLuj0kDRkghFclvysBDlhHaatEtN0=,pzFYkc5zPYT66OieBKYsTDYqu-T6j3S-RemkCMWy4bM="
)
os.environ.setdefault("ACTIVITY_CHAIN_KEY", "test-activity-chain-key")  # as sandbox/stack.py
# Without TEST_DATABASE_URL, a database named after this checkout, so two checkouts never share one.
_CHECKOUT = "".join(c if c.isalnum() else "_" for c in Path(__file__).resolve().parent.parent.name.lower())
os.environ["DATABASE_URL"] = os.environ.get(
    "TEST_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/mlc_{_CHECKOUT}_test"
)
os.environ["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]

from connector.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = False
FRESHBOOKS_CLIENT_ID = "fb-client-id"
FRESHBOOKS_CLIENT_SECRET = "fb-client-secret"
SLACK_CLIENT_ID = "slack-client-id"
SLACK_CLIENT_SECRET = "slack-client-secret"
SLACK_SIGNING_SECRET = "slack-signing-secret"
PUBLIC_BASE_URL = "https://connector.example.com"
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": "WARNING"}}  # noqa: F405
# Limits high enough that the suite's own traffic never meets them; tests of a limit lower it.
API_THROTTLE_RATE = API_ANON_THROTTLE_RATE = API_BAD_TOKEN_RATE = "100000/m"
LOGIN_RATE = SIGNUP_RATE = SIGNUP_EMAIL_RATE = PASSWORD_RESET_RATE = INVITATION_RATE = "100000/h"
