"""POST /webhooks/freshbooks/<token>/ (the URL FreshBooks is given: it must not change): check the input -> find the tenant ->
verify -> count -> persist -> enqueue -> answer. Never calls FreshBooks or Slack. Also receives the
callback.verify handshake.

Guarantees: nothing is persisted before its signature is verified; a verified webhook is persisted before
the 200 (the sweep re-enqueues it if the enqueue is lost); a repeated create or delete answers 200 without
a second row. Bad input (not UTF-8, NUL bytes, lone surrogates, fields longer than their columns) answers
400 before the database is touched.

Abuse: only verified webhooks count against the tenant's cap (FRESHBOOKS_WEBHOOK_RATE_LIMIT a minute);
unsigned, badly signed and malformed posts have their own, tighter count per URL token
(FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT), beyond which they are refused without touching the database; so
are callback.verify posts (FRESHBOOKS_CALLBACK_VERIFY_LIMIT), which in addition never displace a pending
code nor make more than one PUT per callback a minute (freshbooks.services).

Where one signed invoice.create spends its time (`bench/intake.py --mode profile`: requests through the
WSGI handler in one process): the tenant's verifiers are kept in process (connector.freshbooks.
verifier_cache), their version read with the rate count in one Redis round trip; the browser middleware
is skipped (WebhookFastPath); the row goes in with one statement built once (_insert_received: no ORM
compilation, no savepoint, duplicates by ON CONFLICT DO NOTHING) that is also the check of a kept
database connection (no SELECT 1 first); the id goes to the tenant's inbox in a second Redis round trip
(connector.pipeline.inbox). So one PostgreSQL and two Redis round trips a webhook. CPU of the web process
per request, same run (load 10-14 on 2 cores): 1.5-1.8 ms vs 2.1-3.1 ms for a bare view that verifies,
saves the same row through the ORM and pushes its id; before the INSERT and the connection check, both
about 1.5 ms at load 5.
"""

import functools
import logging
import re
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import InterfaceError, OperationalError, connections, transaction
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.models import InboundEvent
from connector.core.events import WEBHOOK_EVENTS, Action
from connector.core.redis_client import redis_quick
from connector.core.text import has_forbidden_chars
from connector.freshbooks import services
from connector.freshbooks.normalise import creation_dedupe_key
from connector.freshbooks.selectors import verifiers_ordered
from connector.freshbooks.signature import form_fields, signature_find_verifier, signature_matches
from connector.freshbooks.tasks import callback_confirm
from connector.freshbooks.verifier_cache import (
    TenantVerifiers,
    verifiers_cached,
    verifiers_current,
    version_key,
)
from connector.pipeline import metrics
from connector.pipeline.inbox import inbox_push
from tenants.models import Tenant

logger = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/webhooks/freshbooks/"
SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
VERIFY_EVENT = "callback.verify"  # the handshake FreshBooks posts when a callback is registered or resent
MAX_BODY_BYTES = 64 * 1024  # a real webhook is ~150 bytes; anything near this is not FreshBooks
RATE_LIMIT_WINDOW = 60  # seconds; the three limits are per minute
# Our tokens are 43 URL-safe characters; anything else is not a webhook URL of ours (404, no query).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")
# Field lengths the ledger and the callbacks store (InboundEvent, FreshBooksCallback.callback_id).
FIELD_LIMITS = {"name": 64, "object_id": 64, "account_id": 32, "business_id": 32, "verifier": 200}
CALLBACK_ID_LIMIT = 32
# Creates and deletes dedupe on (name, object id) at once; updates and sends only once fetched.
DEDUPE_AT_INTAKE = {Action.CREATED, Action.DELETED}


def _answer(status: int, outcome: str, **extra) -> JsonResponse:
    metrics.webhook_received(outcome)
    return JsonResponse({"status": outcome, **extra}, status=status)


def _too_many() -> JsonResponse:
    response = _answer(429, "rate_limited")
    response["Retry-After"] = str(RATE_LIMIT_WINDOW)
    return response


class WebhookFastPath:
    """Middleware, right after SecurityMiddleware (HTTPS redirect, security headers and ALLOWED_HOSTS still apply):
    webhook posts go straight to their view, skipping the browser middleware (sessions, CSRF, auth,
    tenant, messages, static files) that a webhook never uses."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(WEBHOOK_PREFIX):
            request.get_host()  # ALLOWED_HOSTS still holds (CommonMiddleware would have checked it): 400
            try:
                match = resolve(request.path_info)
            except Resolver404:
                return self.get_response(request)  # e.g. a missing trailing slash: the usual handling
            request.resolver_match = match
            return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)


# --- Counting (Redis; fails open: losing FreshBooks events is worse than a missed cap) ---------------

def _window() -> int:
    return int(time.time() // RATE_LIMIT_WINDOW)


def _verified_key(tenant_id: int) -> str:
    return f"mlc:freshbooks:intake:{tenant_id}:{_window()}"


def _unverified_key(token_hash: str) -> str:
    return f"mlc:freshbooks:intake-unverified:{token_hash[:32]}:{_window()}"


def _verify_key(token_hash: str) -> str:
    return f"mlc:freshbooks:intake-verify:{token_hash[:32]}:{_window()}"


def _count(key: str) -> int | None:
    try:
        pipe = redis_quick().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, RATE_LIMIT_WINDOW * 2)
        count, _ = pipe.execute()
    except redis.RedisError:
        logger.warning("freshbooks.intake.rate_limiter_unavailable")
        return None
    return count


def confirmation_enqueue(callback_pk: int) -> None:
    """Queue the PUT of a received verification code back to FreshBooks."""
    try:
        callback_confirm.delay(callback_pk)
    except Exception:  # broker down: the code stays pending; register_callbacks or a resend finishes it
        logger.exception("freshbooks.confirm_enqueue_failed", extra={"callback_id": callback_pk})


def _count_and_version(key: str, tenant_id: int) -> tuple[int | None, str | None, bool]:
    """One round trip: counts this request under `key` and reads the tenant's verifiers version.
    Returns (count, version, whether Redis answered)."""
    try:
        pipe = redis_quick().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, RATE_LIMIT_WINDOW * 2)
        pipe.get(version_key(tenant_id))
        count, _, version = pipe.execute()
    except redis.RedisError:
        logger.warning("freshbooks.intake.rate_limiter_unavailable", extra={"tenant_id": tenant_id})
        return None, None, False
    return count, version.decode() if version is not None else None, True


def _over(count: int | None, limit: int) -> bool:
    return count is not None and count > limit


# --- Input -------------------------------------------------------------------------------------------

def _fields_checked(body: bytes) -> tuple[dict[str, str] | None, str]:
    """(fields, "") or (None, what is wrong) without touching the database."""
    try:
        fields = form_fields(body)
    except UnicodeDecodeError:
        return None, "The body is not UTF-8 form data (FreshBooks sends UTF-8)."
    except ValueError:
        return None, "Too many form fields."
    for key, value in fields.items():
        if has_forbidden_chars(key) or has_forbidden_chars(value):
            shown = f"'{key}'" if key in FIELD_LIMITS else "a field"
            return None, f"{shown} contains a NUL byte or a lone surrogate, which FreshBooks never sends."
    limits = dict(FIELD_LIMITS, object_id=CALLBACK_ID_LIMIT) if fields.get("name") == VERIFY_EVENT else FIELD_LIMITS
    for key, limit in limits.items():
        if len(fields.get(key, "")) > limit:
            return None, f"'{key}' is longer than {limit} characters."
    return fields, ""


# --- The view ----------------------------------------------------------------------------------------

@csrf_exempt
@require_POST
@transaction.non_atomic_requests  # autocommit: one round trip to persist, no BEGIN/COMMIT of our own
def webhook_intake(request, token: str):
    if not TOKEN_SHAPE.fullmatch(token):
        return _answer(404, "unknown_webhook_url")
    token_hash = Tenant.hash_webhook_token(token)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _answer(413, "too_large")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _answer(413, "too_large")
    fields, problem = _fields_checked(body)
    if fields is None:
        if _over(_count(_unverified_key(token_hash)), settings.FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT):
            return _too_many()
        return _answer(400, "malformed", error=problem)
    entry = verifiers_cached(token_hash)
    if entry is None:
        return _answer(404, "unknown_webhook_url")
    name = fields.get("name", "")
    signature = request.headers.get(SIGNATURE_HEADER)
    if name == VERIFY_EVENT:
        return _handshake(entry.tenant_id, token_hash, fields, signature)

    verified = _signed(entry, fields, signature, name)
    key = _verified_key(entry.tenant_id) if verified else _unverified_key(token_hash)
    count, version, version_known = _count_and_version(key, entry.tenant_id)
    current = verifiers_current(token_hash, entry, version, version_known)
    if current is None:  # the token changed since it was kept
        return _answer(404, "unknown_webhook_url")
    if current is not entry and _signed(current, fields, signature, name) != verified:
        verified = not verified  # callbacks changed meanwhile: count it where it now belongs
        count = _count(_verified_key(entry.tenant_id) if verified else _unverified_key(token_hash))
    if not verified:
        if _over(count, settings.FRESHBOOKS_WEBHOOK_UNVERIFIED_LIMIT):
            return _too_many()
        # only the tenant's key is needed here; saves loading the row
        services.webhook_rejection_record(tenant=Tenant(pk=current.tenant_id))
        logger.warning("freshbooks.intake.bad_signature",
                       extra={"tenant_id": current.tenant_id, "event": name[:64], "signed": bool(signature)})
        return _answer(401, "bad_signature")
    if _over(count, settings.FRESHBOOKS_WEBHOOK_RATE_LIMIT):
        return _too_many()
    return _persist(current.tenant_id, fields, body)


def _signed(entry: TenantVerifiers, fields: dict, signature: str | None, name: str) -> bool:
    return bool(entry.rows) and signature_find_verifier(fields, signature, verifiers_ordered(list(entry.rows), name))


def _persist(tenant_id: int, fields: dict, body: bytes) -> JsonResponse:
    name, object_id = fields.get("name", ""), fields.get("object_id", "")
    supported = name in WEBHOOK_EVENTS
    dedupe_key = (creation_dedupe_key(name, object_id)
                  if supported and WEBHOOK_EVENTS[name][1] in DEDUPE_AT_INTAKE else None)
    event_id = _insert_received(
        tenant_id=tenant_id, name=name, object_id=object_id, account_id=fields.get("account_id", ""),
        business_id=fields.get("business_id", ""), raw_body=body.decode("utf-8"),
        status=InboundEvent.Status.RECEIVED if supported else InboundEvent.Status.IGNORED,
        status_reason="" if supported else "The product does not handle this FreshBooks event.",
        dedupe_key=dedupe_key)
    if event_id is None:
        logger.info("freshbooks.intake.duplicate", extra={"tenant_id": tenant_id, "event": name})
        return _answer(200, "duplicate")
    if supported:
        transaction.on_commit(functools.partial(inbox_push, tenant_id, event_id))  # at once when autocommitted
    return _answer(200, "received" if supported else "ignored", id=event_id)


# --- The INSERT ----------------------------------------------------------------------------------------
# One statement, autocommitted: INSERT ... ON CONFLICT DO NOTHING RETURNING id. A repeated create meets
# the unique dedupe index and returns no row: no exception, so no savepoint even inside a transaction.
# Built once from InboundEvent's fields instead of by Model.save(), whose SQL compilation and per-field
# preparation were a third of the intake's CPU (bench/intake.py --mode profile).

@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    columns: tuple[str, ...]  # attnames, in the statement's order
    constants: dict[str, object]  # attname -> prepared value of a column the intake leaves at its default
    timestamps: frozenset[str]  # auto_now / auto_now_add columns: the time of the insert


@functools.cache
def _insert_plan(alias: str) -> _InsertPlan:
    connection = connections[alias]
    meta = InboundEvent._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    filled = {"tenant_id", "name", "object_id", "account_id", "business_id", "raw_body", "signature_valid",
              "status", "status_reason", "dedupe_key"}
    timestamps = frozenset(f.attname for f in fields
                           if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False))
    constants = {}
    for field in fields:
        if field.attname in filled or field.attname in timestamps:
            continue
        if field.has_default() and callable(field.default) and field.default not in (list, dict):
            # a default that changes per row (a time, a random value) cannot be prepared once
            raise ImproperlyConfigured(f"The intake's INSERT must fill InboundEvent.{field.name} itself.")
        constants[field.attname] = field.get_db_prep_save(field.get_default(), connection)
    quote = connection.ops.quote_name  # names from the model only; the values are parameters
    table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
    # the conflict target is the partial unique index inbound_event_dedupe (tenant, dedupe_key)
    sql = (f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "  # noqa: S608
           f"ON CONFLICT ({quote('tenant_id')}, {quote('dedupe_key')}) WHERE {quote('dedupe_key')} IS NOT NULL "
           f"DO NOTHING RETURNING {quote(meta.pk.column)}")
    return _InsertPlan(sql=sql, columns=tuple(f.attname for f in fields), constants=constants, timestamps=timestamps)


def _insert_received(*, raw_body: str, **values) -> int | None:
    """Inserts one verified webhook; its id, or None when its dedupe key was already taken."""
    connection = transaction.get_connection()
    plan = _insert_plan(connection.alias)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    values = {**plan.constants, **values, "signature_valid": True,
              "raw_body": _RAW_BODY.get_db_prep_save(raw_body, connection)}
    params = [now if column in plan.timestamps else values[column] for column in plan.columns]
    # A kept connection (CONN_MAX_AGE) is normally checked with a SELECT 1 before its first query of a
    # request (CONN_HEALTH_CHECKS): a second round trip on every webhook. Here the INSERT is the check:
    # if a kept connection turns out dead, it is closed and the INSERT sent once more on a new one. A
    # failure can only come before the commit, or after it with the answer lost: then the retry finds the
    # create's dedupe key taken (answered as a duplicate; the sweep enqueues the row) or, for an update,
    # adds a twin that processing marks duplicate. Inside a transaction (tests) the usual check runs.
    retry = connection.connection is not None and not connection.in_atomic_block
    if retry:
        connection.health_check_done = True
    try:
        return _insert_execute(connection, plan.sql, params)
    except (OperationalError, InterfaceError):
        if not retry:
            raise
        logger.warning("freshbooks.intake.database_connection_lost")
        connection.close()
        return _insert_execute(connection, plan.sql, params)


def _insert_execute(connection, sql: str, params: list) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


_RAW_BODY = InboundEvent._meta.get_field("raw_body")


def _handshake(tenant_id: int, token_hash: str, fields: dict, signature: str | None) -> JsonResponse:
    """callback.verify: whether FreshBooks signs this POST (and with which key) is unverified, so a
    signature is neither required nor trusted here; what protects us is that FreshBooks must accept the
    code we PUT back before it becomes a verifier, only for a callback this tenant registered and asked
    a code for (services.callback_verification_received), and this per-URL limit."""
    if _over(_count(_verify_key(token_hash)), settings.FRESHBOOKS_CALLBACK_VERIFY_LIMIT):
        return _too_many()
    verifier = fields.get("verifier", "")
    signed_by_its_code = signature_matches(fields, signature, verifier) if signature else None
    with transaction.atomic():
        callback = services.callback_verification_received(
            tenant=Tenant(pk=tenant_id), callback_id=fields.get("object_id", ""), verifier=verifier)
    if callback is not None:
        confirmation_enqueue(callback.pk)
    logger.info("freshbooks.intake.verification_received",
                extra={"tenant_id": tenant_id, "kept": callback is not None, "signed_by_its_code": signed_by_its_code})
    return _answer(200, "verification_received" if callback else "verification_ignored")
