"""Django settings, read from the environment (django-environ; `.env` is honoured). See .env.example."""

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import environ
from celery.schedules import crontab
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _dev_encryption_key() -> str:
    """In DEBUG without ENCRYPTION_KEYS, use a key kept in var/ (made once, shared by web, worker, beat)."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / "dev-encryption.key"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    print(f"ml-connector: no ENCRYPTION_KEYS set; generated a development key in {path}", file=sys.stderr)
    return key


SECRET_KEY = env.str("SECRET_KEY", default="")
ENCRYPTION_KEYS = [k.strip() for k in env.list("ENCRYPTION_KEYS", default=[]) if k.strip()]
if not DEBUG:
    missing = [name for name, value in (("SECRET_KEY", SECRET_KEY), ("ENCRYPTION_KEYS", ENCRYPTION_KEYS)) if not value]
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set when DEBUG is off (see .env.example)."
        )
else:
    SECRET_KEY = SECRET_KEY or "dev-only-insecure-secret-key-do-not-use-in-production"
    ENCRYPTION_KEYS = ENCRYPTION_KEYS or [_dev_encryption_key()]

# Key of the blind indexes (exact search on encrypted names and numbers). Empty: derived from SECRET_KEY,
# as before this setting existed. Changing it (or SECRET_KEY while it is empty) needs `manage.py reindex`.
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default="")
# Keys of the activity log's HMAC chain, comma separated: the first signs new entries, each verifies the
# entries it signed. Separate from SECRET_KEY so that a database writer who knows neither cannot rewrite
# the chain. Required when DEBUG is off.
ACTIVITY_CHAIN_KEYS = [k.strip() for k in env.list("ACTIVITY_CHAIN_KEY", default=[]) if k.strip()]
if not ACTIVITY_CHAIN_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("ACTIVITY_CHAIN_KEY must be set when DEBUG is off (see .env.example).")
    ACTIVITY_CHAIN_KEYS = ["dev-only-activity-chain-key-do-not-use-in-production"]

# GET /healthz shows error details (which name internal hosts) only with "Authorization: Bearer <this>".
HEALTHZ_TOKEN = env.str("HEALTHZ_TOKEN", default="")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "csp",
    "connector",
    "tenants",
    "connector.freshbooks",
    "connector.slack",
    "routing",
    "audit",
    "digests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Webhooks skip everything below (sessions, CSRF, auth, messages): they use none of it.
    "connector.pipeline.intake.WebhookFastPath",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "connector.core.middleware.ForbiddenCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.CurrentTenantMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "connector.urls"
WSGI_APPLICATION = "connector.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenancy",
            ],
        },
    },
]

# --- Databases -------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # web, worker and beat share one SQLite file: WAL lets readers run beside the writer, IMMEDIATE
    # transactions take the write lock up front (no deadlock on upgrade), and the timeout waits for it.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Set by the Procfile's worker (connector/workers.py) to its thread count: Celery closes the connection
    # after every task, which with a pool hands it back instead of ending it. Web keeps CONN_MAX_AGE.
    DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=0)
    if DATABASE_POOL_MAX_SIZE:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django's pool refuses persistent connections
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1, "max_size": DATABASE_POOL_MAX_SIZE, "timeout": 30}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and Celery ------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task killed mid-run is redelivered; every task is idempotent
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # do not hoard tasks a paced channel cannot use yet
CELERY_TASK_SOFT_TIME_LIMIT = 60  # seconds; one FreshBooks fetch or one Slack post never needs more
CELERY_TASK_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}  # unacked tasks come back after 10 min
# kombu's Redis transport, hardened so that a Redis restart cannot end the worker (connector/broker.py).
CELERY_BROKER_TRANSPORT = env.str("CELERY_BROKER_TRANSPORT", default="connector.broker:Transport")
# Redis going away is never a reason to stop: retry connecting for ever (the defaults, stated).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TIMEZONE = "UTC"
# Seconds between the beat's sweeps (and its looks for catch-up slots that have come). Only the end-to-end
# stacks (sandbox/stack.py) shorten it, so that their tests see recovery in seconds rather than minutes.
BEAT_SWEEP_SECONDS = env.float("BEAT_SWEEP_SECONDS", default=60.0)
CELERY_BEAT_SCHEDULE = {
    # The database is the truth: re-ring for lost work and release resolved holds.
    "sweep": {"task": "connector.pipeline.tasks.sweep", "schedule": BEAT_SWEEP_SECONDS},
    # Audit trail: daily retention purge (03:17 UTC, off the hour), and re-ringing lost bulk replays.
    "retention-purge": {"task": "audit.tasks.retention_purge", "schedule": crontab(hour=3, minute=17)},
    "bulk-replay-resume": {"task": "connector.pipeline.tasks.bulk_replay_resume", "schedule": 120.0},
    # The daily overdue check (each tenant once a day, from 09:00 its local time) and digests that are due.
    # A tick that beat missed is made up by the next: both look at what is due, not at the tick's minute.
    "overdue-scans": {"task": "connector.pipeline.schedules.overdue_scans_due", "schedule": 300.0},
    "digests": {"task": "connector.pipeline.schedules.digests_send_due", "schedule": 60.0},
}
# Catch-up reads from FreshBooks (webhooks are best effort): minutes between two reads of one tenant (a
# fraction of a minute is allowed: the end-to-end tests use one), 0 turns them off. The beat looks every
# minute for the tenants whose slot has come.
_catch_up_minutes = env.float("CATCH_UP_INTERVAL_MINUTES", default=15)
CATCH_UP_INTERVAL_MINUTES = int(_catch_up_minutes) if _catch_up_minutes.is_integer() else _catch_up_minutes
if CATCH_UP_INTERVAL_MINUTES < 0:
    raise ImproperlyConfigured("CATCH_UP_INTERVAL_MINUTES must be 0 (off) or a number of minutes")
if CATCH_UP_INTERVAL_MINUTES:
    CELERY_BEAT_SCHEDULE["catch-up"] = {"task": "connector.pipeline.tasks.catch_up_beat",
                                        "schedule": BEAT_SWEEP_SECONDS}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Pipeline: seconds between retries of a transient Slack failure, comma separated (empty: the
# product's schedule in connector/pipeline/policy.py). Only the fault soak (bench/soak.py) shortens it.
PIPELINE_SLACK_RETRY_SCHEDULE = [int(s) for s in env.list("PIPELINE_SLACK_RETRY_SCHEDULE", default=[]) if s.strip()]
# Card edits (chat.update, Slack's Tier 3: about 50 a minute per workspace), shared by every worker; and
# the least time between two edits of one card (rapid changes in between are coalesced: the latest wins).
SLACK_EDITS_PER_MINUTE = env.int("SLACK_EDITS_PER_MINUTE", default=50)
CARD_EDIT_INTERVAL_SECONDS = env.float("CARD_EDIT_INTERVAL_SECONDS", default=10.0)
# Seconds the sweep leaves freshly queued work alone (connector/pipeline/policy.py); the end-to-end stacks
# shorten it with the beat's sweep.
PIPELINE_SWEEP_GRACE_SECONDS = env.float("PIPELINE_SWEEP_GRACE_SECONDS", default=60.0)

# --- Webhook intake limits, per tenant URL and per minute (connector/pipeline/intake.py) -----------------
# Verified webhooks: 200/s sustained is far above what one business's FreshBooks activity produces, yet
# stops a flood from filling the database. Only signed traffic counts, so junk cannot spend it.
FRESHBOOKS_WEBHOOK_RATE_LIMIT = env.int("FRESHBOOKS_WEBHOOK_RATE_LIMIT", default=12_000)
# Unsigned, badly signed or malformed posts: refused with 429 beyond this, without touching the database.
FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT = env.int("FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT", default=120)
# callback.verify handshakes (FreshBooks sends one per callback registered or resent).
FRESHBOOKS_CALLBACK_VERIFY_LIMIT = env.int("FRESHBOOKS_CALLBACK_VERIFY_LIMIT", default=60)

# --- Metrics (GET /metrics, connector/pipeline/metrics.py) -----------------------------------------
# Served only when set, to `Authorization: Bearer <METRICS_TOKEN>`. PROMETHEUS_MULTIPROC_DIR (read by
# prometheus-client itself) adds up the counters of every web and worker process of a machine.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# --- Providers (every outbound call goes to these base URLs, so a stand-in can replace either) ---------
FRESHBOOKS_CLIENT_ID = env.str("FRESHBOOKS_CLIENT_ID", default="")
FRESHBOOKS_CLIENT_SECRET = env.str("FRESHBOOKS_CLIENT_SECRET", default="")
FRESHBOOKS_API_URL = env.str("FRESHBOOKS_API_URL", default="https://api.freshbooks.com").rstrip("/")
FRESHBOOKS_AUTH_URL = env.str("FRESHBOOKS_AUTH_URL", default="https://auth.freshbooks.com").rstrip("/")
# FreshBooks' web app, for "Open in FreshBooks" links (empty: derived from FRESHBOOKS_API_URL).
FRESHBOOKS_WEB_URL = env.str("FRESHBOOKS_WEB_URL", default="").rstrip("/")
SLACK_CLIENT_ID = env.str("SLACK_CLIENT_ID", default="")
SLACK_CLIENT_SECRET = env.str("SLACK_CLIENT_SECRET", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
if not SLACK_API_URL.endswith("/"):
    SLACK_API_URL += "/"
SLACK_OAUTH_URL = env.str("SLACK_OAUTH_URL", default="https://slack.com/oauth/v2/authorize")

# --- Auth, sessions, security ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["tenants.auth.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Email goes through Django's one default mailer (MAILERS, Django 6.1), chosen by the EMAIL_BACKEND environment
# variable (an import path). EMAIL_FILE_PATH is where the file-based backends write: Django's (the e2e stack)
# and the sandbox's (connector/core/mailbox.py), which reads it back as MAILBOX_DIR.
SANDBOX_EMAIL_BACKEND = "connector.core.mailbox.SandboxEmailBackend"
_FILE_EMAIL_BACKENDS = ("django.core.mail.backends.filebased.EmailBackend", SANDBOX_EMAIL_BACKEND)
MAILBOX_DIR = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mailbox"))
_EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# A mail server: EMAIL_URL, smtp+tls://user:password@smtp.example.com:587 (STARTTLS) or smtp+ssl://...:465
# (TLS from the start); it replaces EMAIL_BACKEND. A server that stops answering fails the send after
# EMAIL_TIMEOUT seconds instead of holding a web request.
if env.str("EMAIL_URL", default=""):
    _smtp = env.email_url("EMAIL_URL")
    _EMAIL_BACKEND = _smtp["EMAIL_BACKEND"]
    _EMAIL_OPTIONS = {"host": _smtp["EMAIL_HOST"], "port": _smtp["EMAIL_PORT"], "username": _smtp["EMAIL_HOST_USER"],
                      "password": _smtp["EMAIL_HOST_PASSWORD"], "use_tls": _smtp.get("EMAIL_USE_TLS", False),
                      "use_ssl": _smtp.get("EMAIL_USE_SSL", False), "timeout": _EMAIL_TIMEOUT}
else:
    _EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
    if _EMAIL_BACKEND in _FILE_EMAIL_BACKENDS:
        _EMAIL_OPTIONS = {"file_path": MAILBOX_DIR}
    elif _EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":  # a relay on this machine, as Django's default
        _EMAIL_OPTIONS = {"host": "localhost", "timeout": _EMAIL_TIMEOUT}
    else:
        _EMAIL_OPTIONS = {}
MAILERS = {"default": {"BACKEND": _EMAIL_BACKEND, "OPTIONS": _EMAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ml-connector <noreply@localhost>")
# `make run` in sandbox mode sends email to the log and to MAILBOX_DIR, and /sandbox/mailbox/ lists it:
# only with DEBUG on, so a production site never shows anyone's email.
SANDBOX_MAILBOX = DEBUG and _EMAIL_BACKEND == SANDBOX_EMAIL_BACKEND

# Set TRUST_PROXY only behind a reverse proxy that sets X-Forwarded-For and X-Forwarded-Proto: then the
# client address is the proxy's last X-Forwarded-For entry and HTTPS is what the proxy says it was.
TRUST_PROXY = env.bool("TRUST_PROXY", default=False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    if TRUST_PROXY:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# Content-Security-Policy (django-csp): scripts, styles and everything else from this site only; no
# inline code, no eval (htmx runs with allowEval off, see templates/base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        # Forms post here only, or redirect on to the providers' authorize pages ("Connect", "Add to Slack").
        "form-action": ["'self'", *sorted({_origin(FRESHBOOKS_AUTH_URL), _origin(SLACK_OAUTH_URL)})],
        "frame-ancestors": ["'none'"],
    },
}

# --- I18N, static ------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api_auth.TenantTokenAuthentication",
        "tenants.api_auth.TenantSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api_auth.IsTenantMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "connector.core.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "connector.core.pagination.Pagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api_auth.ApiAnonThrottle", "tenants.api_auth.ApiUserThrottle"],
}
# --- Limits (README "Security"). Rates are "<n>/<s|m|h|d>", counted in the cache (Redis) --------------
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=200)  # rows per page of any API list
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/m")  # per API token or session user
API_ANON_THROTTLE_RATE = env.str("API_ANON_THROTTLE_RATE", default="60/m")  # per IP, unauthenticated
API_BAD_TOKEN_RATE = env.str("API_BAD_TOKEN_RATE", default="30/m")  # per IP: wrong tokens, then 429
LOGIN_RATE = env.str("LOGIN_RATE", default="100/h")  # login attempts per IP, and per email address
SIGNUP_RATE = env.str("SIGNUP_RATE", default="20/h")  # sign-ups per IP
SIGNUP_EMAIL_RATE = env.str("SIGNUP_EMAIL_RATE", default="5/h")  # sign-up emails per address
PASSWORD_RESET_RATE = env.str("PASSWORD_RESET_RATE", default="10/h")  # reset requests per IP and per email
INVITATION_RATE = env.str("INVITATION_RATE", default="50/d")  # invitation emails per tenant
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=10000)  # larger CSV exports run as a background job
SPECTACULAR_SETTINGS = {
    "TITLE": "ml-connector API",
    "DESCRIPTION": "Routing rules and the delivery audit trail of one tenant. Authenticate with "
    "`Authorization: Token <key>` (a key from `manage.py apitoken`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page (/api/v1/docs/) runs Swagger UI from static/vendor/swagger-ui (from npm; no CDN).
    "SWAGGER_UI_DIST": f"/{STATIC_URL.lstrip('/')}vendor/swagger-ui",
    "SWAGGER_UI_FAVICON_HREF": f"/{STATIC_URL.lstrip('/')}img/favicon.svg",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": False},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "connector.core.schema.document_errors"],
}

# --- Logging: JSON lines in production, readable lines in DEBUG ------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "connector.core.logging.JsonFormatter"},
        "readable": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s %(context)s",
                     "()": "connector.core.logging.ReadableFormatter"},
    },
    # Webhook URLs carry a tenant's secret token: redacted on the logger of Django's 4xx/5xx warnings (so
    # no handler, test capture included, ever sees it) and on the console handler for anything else.
    "filters": {"redact_webhook_tokens": {"()": "connector.core.logging.RedactWebhookTokens"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "readable" if DEBUG else "json",
                             "filters": ["redact_webhook_tokens"]}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "celery": {"level": "INFO"},
                "django.request": {"filters": ["redact_webhook_tokens"]}},
}
