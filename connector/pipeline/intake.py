"""POST /webhooks/freshbooks/<token>/ (ARCHITECTURE §1, contract): look up the tenant -> verify -> persist
-> enqueue -> answer. Never calls FreshBooks or Slack. Also receives the callback.verify handshake."""

import contextlib
import functools
import logging
import time

import redis
from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.models import InboundEvent
from connector.core.events import SUPPORTED_EVENTS, Action
from connector.freshbooks import services
from connector.freshbooks.normalise import creation_dedupe_key
from connector.freshbooks.selectors import intake_verifiers, verifiers_ordered
from connector.freshbooks.signature import form_fields, signature_find_verifier, signature_matches
from connector.freshbooks.tasks import callback_confirm
from connector.pipeline.doorbell import inbound_ring
from tenants.models import Tenant

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
VERIFY_EVENT = "callback.verify"  # the handshake FreshBooks posts when a callback is registered or resent
MAX_BODY_BYTES = 64 * 1024  # a real webhook is ~150 bytes; anything near this is not FreshBooks
# Per-tenant cap on posts to the webhook URL: 12,000 a minute (200/s sustained) is far above what one
# business's FreshBooks activity produces, yet stops a flood from filling the database.
RATE_LIMIT_WINDOW = 60  # seconds
RATE_LIMIT_PER_WINDOW = 12_000
RATE_LIMIT_REDIS_TIMEOUT = 0.25  # seconds; if Redis is slower than this, the limiter steps aside
# Field lengths the ledger stores (audit.models.InboundEvent); longer values are not FreshBooks'.
FIELD_LIMITS = {"name": 64, "object_id": 64, "account_id": 32, "business_id": 32}
# Creates and deletes dedupe on (name, object id) at once; updates and sends only once fetched.
DEDUPE_AT_INTAKE = {Action.CREATED, Action.DELETED}


def _answer(status: int, outcome: str, **extra) -> JsonResponse:
    return JsonResponse({"status": outcome, **extra}, status=status)


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=RATE_LIMIT_REDIS_TIMEOUT,
                                socket_connect_timeout=RATE_LIMIT_REDIS_TIMEOUT)


def rate_limit_exceeded(tenant: Tenant) -> bool:
    window = int(time.time() // RATE_LIMIT_WINDOW)
    key = f"mlc:freshbooks:intake:{tenant.pk}:{window}"
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, RATE_LIMIT_WINDOW * 2)
        count, _ = pipe.execute()
    except redis.RedisError:  # fail open: losing FreshBooks events is worse than a missed cap
        logger.warning("freshbooks.intake.rate_limiter_unavailable", extra={"tenant_id": tenant.pk})
        return False
    return count > RATE_LIMIT_PER_WINDOW


def enqueue_processing(inbound_event_id: int) -> None:
    """Rings the doorbell for the pipeline. A lost message is not lost work: the sweep re-enqueues
    every event still `received`."""
    try:
        inbound_ring(inbound_event_id)
    except Exception:
        logger.exception("freshbooks.intake.enqueue_failed", extra={"inbound_event_id": inbound_event_id})


def confirmation_enqueue(callback_pk: int) -> None:
    """Queue the PUT of a received verification code back to FreshBooks."""
    try:
        callback_confirm.delay(callback_pk)
    except Exception:  # broker down: the code stays pending; register_callbacks or a resend finishes it
        logger.exception("freshbooks.confirm_enqueue_failed", extra={"callback_id": callback_pk})


@csrf_exempt
@require_POST
@transaction.non_atomic_requests  # autocommit: one round trip to persist, no BEGIN/COMMIT of our own
def webhook_intake(request, token: str):
    tenant_id, verifiers = intake_verifiers(webhook_token=token)
    if tenant_id is None:
        return _answer(404, "unknown_webhook_url")
    tenant = Tenant(pk=tenant_id)  # only its key is needed on this path; saves loading the row
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY_BYTES:
        return _answer(413, "too_large")
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        return _answer(413, "too_large")
    if rate_limit_exceeded(tenant):
        response = _answer(429, "rate_limited")
        response["Retry-After"] = str(RATE_LIMIT_WINDOW)
        return response
    try:
        fields = form_fields(body)
    except UnicodeDecodeError:
        fields = None
    if fields is None or any(len(fields.get(k, "")) > n for k, n in FIELD_LIMITS.items()):
        services.webhook_rejection_record(tenant=tenant)
        return _answer(400, "malformed")
    name = fields.get("name", "")
    signature = request.headers.get(SIGNATURE_HEADER)
    if name == VERIFY_EVENT:
        return _handshake(tenant, fields, signature)
    if not signature_find_verifier(fields, signature, verifiers_ordered(verifiers, name)):
        services.webhook_rejection_record(tenant=tenant)
        logger.warning("freshbooks.intake.bad_signature",
                       extra={"tenant_id": tenant.pk, "event": name, "signed": bool(signature)})
        return _answer(401, "bad_signature")
    return _persist(tenant, fields, body)


def _persist(tenant: Tenant, fields: dict, body: bytes) -> JsonResponse:
    name, object_id = fields.get("name", ""), fields.get("object_id", "")
    supported = name in SUPPORTED_EVENTS
    dedupe_key = creation_dedupe_key(name, object_id) if supported and SUPPORTED_EVENTS[name][1] in DEDUPE_AT_INTAKE else None
    try:
        # Autocommitted (a savepoint if a caller holds a transaction): a duplicate hits the unique
        # dedupe constraint and nothing else is written.
        with transaction.atomic(savepoint=True) if transaction.get_connection().in_atomic_block \
                else contextlib.nullcontext():
            event = InboundEvent.objects.create(
                tenant=tenant, name=name, object_id=object_id, account_id=fields.get("account_id", ""),
                business_id=fields.get("business_id", ""), raw_body=body.decode("utf-8"), signature_valid=True,
                status=InboundEvent.Status.RECEIVED if supported else InboundEvent.Status.IGNORED,
                status_reason="" if supported else "The product does not handle this FreshBooks event.",
                dedupe_key=dedupe_key,
            )
    except IntegrityError:
        logger.info("freshbooks.intake.duplicate", extra={"tenant_id": tenant.pk, "event": name})
        return _answer(200, "duplicate")
    if supported:
        transaction.on_commit(functools.partial(enqueue_processing, event.pk))  # at once when autocommitted
    return _answer(200, "received" if supported else "ignored", id=event.pk)


def _handshake(tenant: Tenant, fields: dict, signature: str | None) -> JsonResponse:
    """callback.verify: whether FreshBooks signs this POST (and with which key) is unverified, so a
    signature is neither required nor trusted here; what protects us is that FreshBooks must accept the
    code we PUT back before it becomes a verifier, and only for a callback this tenant registered."""
    verifier = fields.get("verifier", "")
    callback_id = fields.get("object_id", "")
    signed_by_its_code = signature_matches(fields, signature, verifier) if signature else None
    with transaction.atomic():
        callback = services.callback_verification_received(tenant=tenant, callback_id=callback_id,
                                                           verifier=verifier)
    if callback is not None:
        confirmation_enqueue(callback.pk)
    logger.info("freshbooks.intake.verification_received",
                extra={"tenant_id": tenant.pk, "known_callback": callback is not None,
                       "signed_by_its_code": signed_by_its_code})
    return _answer(200, "verification_received" if callback else "verification_ignored")
