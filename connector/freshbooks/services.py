"""Writes for the FreshBooks side: storing and ending connections, registering and verifying callbacks,
counting rejected webhooks. Every function takes the tenant (or an object of it) explicitly."""

import logging
import zoneinfo
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from audit.activity import activity_record
from connector.core.errors import ApplicationError
from connector.core.events import WEBHOOK_EVENTS
from connector.core.redis_client import redis_quick
from connector.freshbooks import client as fb
from connector.freshbooks.connection_cache import connection_changed
from connector.freshbooks.errors import AuthorizationLost, FreshBooksError, NotFound, RateLimited, Transient
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection, WebhookRejection
from connector.freshbooks.selectors import connection_live
from connector.freshbooks.signals import connection_reactivated
from tenants.models import Tenant

logger = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = Tenant._meta.get_field("time_zone").default
KNOWN_TIME_ZONES = frozenset(zoneinfo.available_timezones())

# A callback.verify POST for a callback already verified is taken only this long after we asked
# FreshBooks for a code (a resend); otherwise it is unsolicited and changes nothing.
VERIFY_SOLICITED_FOR = timedelta(hours=1)
# At most one verification PUT per callback in this many seconds, whatever arrives.
VERIFY_PUT_INTERVAL = 60
# A pending code FreshBooks has neither accepted nor refused for this long (it could not be reached) may
# be replaced by a newer one; before that, a later code never displaces it.
VERIFY_PENDING_STALE = timedelta(minutes=20)

# A callback still unverified this long after it was registered will not be: register it again. Longer
# than the confirmation task's retries (about 20 minutes).
CALLBACK_VERIFY_GRACE = timedelta(minutes=30)


# --- Connections ------------------------------------------------------------------------------------

def connection_store(*, tenant: Tenant, actor, grant: fb.TokenGrant, account_id: str, business_id: str,
                     business_name: str = "", identity_id: str = "",
                     business_time_zone: str = "") -> FreshBooksConnection:
    """Stores a FreshBooks authorisation for the tenant. Reconnecting the same business updates its
    connection in place (and resumes work held while it needed the user); another business replaces it.
    A tenant still on the default time zone takes the business's, when FreshBooks names a known one."""
    reactivated = False
    with transaction.atomic():
        locked = Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one connect at a time
        if locked is not None and locked.time_zone == DEFAULT_TIME_ZONE and business_time_zone in KNOWN_TIME_ZONES:
            locked.time_zone = tenant.time_zone = business_time_zone
            locked.save(update_fields=["time_zone", "updated_at"])
        current = connection_live(tenant=tenant)
        if current and (current.account_id, current.business_id) != (account_id, business_id):
            _connection_end(connection=current, actor=actor, reason="replaced by another business")
            current = None
        connection = current or FreshBooksConnection(tenant=tenant, account_id=account_id, business_id=business_id)
        reactivated = current is not None and current.status == FreshBooksConnection.Status.NEEDS_REAUTH
        connection.access_token = grant.access_token
        connection.refresh_token = grant.refresh_token
        connection.expires_at = grant.expires_at
        connection.business_name = business_name or connection.business_name
        connection.identity_id = identity_id or connection.identity_id
        connection.status = FreshBooksConnection.Status.ACTIVE
        connection.status_reason = ""
        connection.connected_by = actor if getattr(actor, "pk", None) else connection.connected_by
        connection.save()
        activity_record(tenant=tenant, actor=actor, action="freshbooks.connected",
                        target=business_name or business_id,
                        details={"account_id": account_id, "business_id": business_id, "reconnected": current is not None})
        if reactivated:
            transaction.on_commit(lambda: connection_reactivated.send(
                sender=FreshBooksConnection, tenant=tenant, connection=connection))
    return connection


@dataclass(frozen=True)
class ConnectionCheck:
    business_name: str
    email: str  # the FreshBooks login the connection acts as
    business_still_there: bool  # that login still belongs to the connected business


def connection_test(*, tenant: Tenant) -> ConnectionCheck:
    """Asks FreshBooks who our access signs in as (renewing the access first when needed). Raises
    ApplicationError when nothing is connected, FreshBooksError when FreshBooks refuses or cannot be reached
    (AuthorizationLost also marks the connection as needing a reconnect)."""
    connection = connection_live(tenant=tenant)
    if connection is None or connection.status != FreshBooksConnection.Status.ACTIVE:
        raise ApplicationError("FreshBooks is not connected: connect it first.")
    identity = fb.FreshBooksClient(connection).identity_check()
    still_there = any(b.account_id == connection.account_id for b in identity.businesses)
    return ConnectionCheck(business_name=connection.business_name or connection.business_id,
                           email=identity.email, business_still_there=still_there)


def connection_disconnect(*, tenant: Tenant, actor) -> list[str]:
    """Removes the callbacks at FreshBooks, revokes the token where FreshBooks allows, and keeps the
    connection row (tokens wiped) and all history. Returns what could not be done at FreshBooks."""
    connection = connection_live(tenant=tenant)
    if connection is None:
        raise ApplicationError("FreshBooks is not connected.")
    with transaction.atomic():
        return _connection_end(connection=connection, actor=actor, reason="disconnected")


def _connection_end(*, connection: FreshBooksConnection, actor, reason: str) -> list[str]:
    problems: list[str] = []
    if connection.is_active:
        client = fb.FreshBooksClient(connection)
        for callback in connection.callbacks.exclude(callback_id=""):
            try:
                client.callback_delete(callback_id=callback.callback_id)
            except NotFound:
                pass
            except FreshBooksError as exc:
                problems.append(f"Could not remove the {callback.event} callback at FreshBooks ({exc.message}).")
                if isinstance(exc, AuthorizationLost):
                    break
        if client.connection.refresh_token:
            try:
                fb.oauth_revoke(token=client.connection.refresh_token)
            except FreshBooksError as exc:
                problems.append(f"FreshBooks did not confirm the access was revoked ({exc.message}).")
    connection.callbacks.all().delete()
    FreshBooksConnection.objects.filter(pk=connection.pk).update(
        status=FreshBooksConnection.Status.DISCONNECTED, status_reason=reason, access_token="",
        refresh_token="", expires_at=None, disconnected_at=timezone.now(), updated_at=timezone.now())
    connection_changed(connection.tenant_id)
    activity_record(tenant=connection.tenant, actor=actor, action="freshbooks.disconnected",
                    target=connection.business_name or connection.business_id,
                    details={"reason": reason, "problems": problems})
    return problems


# --- Callbacks --------------------------------------------------------------------------------------

@dataclass
class RegisterResult:
    registered: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def callbacks_register(*, tenant: Tenant, actor=None) -> RegisterResult:
    """Makes sure FreshBooks has one callback per supported event pointing at the tenant's webhook URL.
    Keeps the ones already right, replaces those pointing elsewhere or failed, adds the missing ones."""
    connection = connection_live(tenant=tenant)
    if connection is None or not connection.is_active:
        raise ApplicationError("Connect FreshBooks first (or reconnect it) to register callbacks.")
    uri = tenant.webhook_url
    client = fb.FreshBooksClient(connection)
    existing = {cb.event: cb for cb in FreshBooksCallback.objects.for_tenant(tenant).filter(connection=connection)}
    result = RegisterResult()
    for event in WEBHOOK_EVENTS:
        callback = existing.get(event)
        if callback and callback.callback_id and callback.uri == uri \
                and callback.state != FreshBooksCallback.State.FAILED:
            result.kept.append(event)
            continue
        if callback and callback.callback_id:
            try:
                client.callback_delete(callback_id=callback.callback_id)
            except NotFound:
                pass
            except AuthorizationLost:
                raise
            except FreshBooksError as exc:  # a stale registration left behind only costs unverifiable posts
                logger.warning("freshbooks.callback_delete_failed",
                               extra={"tenant_id": tenant.pk, "event": event, "error": exc.message})
        callback = callback or FreshBooksCallback(tenant=tenant, connection=connection, event=event)
        callback.uri = uri
        callback.verifier = ""
        callback.pending_verifier = ""
        callback.verified_at = None
        try:
            created = client.callback_create(event=event, uri=uri)
        except AuthorizationLost:
            raise
        except FreshBooksError as exc:
            callback.callback_id = ""
            callback.state = FreshBooksCallback.State.FAILED
            callback.last_error = exc.message[:300]
            callback.save()
            result.failed[event] = exc.message
            continue
        callback.callback_id = str(created["callbackid"])
        callback.state = FreshBooksCallback.State.WAITING
        callback.last_error = ""
        callback.verification_requested_at = timezone.now()
        callback.save()  # at once: FreshBooks may already be posting the verification code
        result.registered.append(event)
    if result.registered or result.failed:
        activity_record(tenant=tenant, actor=actor, action="freshbooks.callbacks_registered",
                        target=connection.business_name or connection.business_id,
                        details={"registered": result.registered, "failed": sorted(result.failed)})
    return result


def callbacks_repair(*, tenant: Tenant) -> RegisterResult | None:
    """Compares the tenant's callbacks with what FreshBooks holds; registers again those FreshBooks lost
    (deleted on its side), those never verified within CALLBACK_VERIFY_GRACE, and any missing event.
    None when all were in order. Raises the typed FreshBooks errors."""
    connection = connection_live(tenant=tenant)
    if connection is None or not connection.is_active:
        raise ApplicationError("Connect FreshBooks first (or reconnect it) to check callbacks.")
    theirs = {str(c.get("callbackid")): c for c in fb.FreshBooksClient(connection).callbacks_list()}
    ours = list(FreshBooksCallback.objects.for_tenant(tenant).filter(connection=connection))
    overdue = timezone.now() - CALLBACK_VERIFY_GRACE
    broken = []
    for callback in ours:
        at_freshbooks = theirs.get(callback.callback_id)
        if callback.callback_id and at_freshbooks is None:
            broken.append((callback, "FreshBooks no longer has this callback"))
        elif callback.state != FreshBooksCallback.State.VERIFIED and callback.updated_at < overdue:
            broken.append((callback, "FreshBooks never confirmed this callback"))
        elif at_freshbooks is not None and not at_freshbooks.get("verified") and callback.updated_at < overdue:
            broken.append((callback, "FreshBooks shows this callback as unverified"))
    missing = set(WEBHOOK_EVENTS) - {c.event for c in ours}
    if not broken and not missing:
        return None
    for callback, reason in broken:
        # Marked failed, callbacks_register replaces it (and deletes what is left of it at FreshBooks).
        FreshBooksCallback.objects.filter(pk=callback.pk).update(
            state=FreshBooksCallback.State.FAILED, last_error=reason, updated_at=timezone.now())
    logger.warning("freshbooks.callbacks_repair", extra={"tenant_id": tenant.pk, "broken": len(broken),
                                                         "missing": len(missing)})
    return callbacks_register(tenant=tenant)


def callback_verification_received(*, tenant: Tenant, callback_id: str, verifier: str) -> FreshBooksCallback | None:
    """A callback.verify POST arrived (unsigned, so anyone who knows the URL can send one). Only a code
    for a callback of this tenant that is waiting for one (or whose code we asked FreshBooks to resend
    within VERIFY_SOLICITED_FOR) is kept aside (encrypted) for the caller to queue its confirmation; the first code
    kept is never displaced by a later one until FreshBooks has accepted or refused it. Returns the
    callback when the code was kept, else None (nothing changed). Call inside a transaction."""
    if not callback_id or not verifier:
        return None
    callback = (FreshBooksCallback.objects.for_tenant(tenant).select_for_update(of=("self",))
                .filter(callback_id=callback_id, connection__status=FreshBooksConnection.Status.ACTIVE).first())
    if callback is None:
        logger.info("freshbooks.unsolicited_verify", extra={"tenant_id": tenant.pk, "reason": "unknown_callback"})
        return None
    requested = callback.verification_requested_at
    solicited = callback.state == FreshBooksCallback.State.WAITING or (
        requested is not None and timezone.now() - requested <= VERIFY_SOLICITED_FOR)
    pending = callback.pending_verifier and timezone.now() - callback.updated_at <= VERIFY_PENDING_STALE
    if not solicited or pending or verifier == callback.verifier:
        reason = "not_requested" if not solicited else "code_pending" if pending else "already_verified"
        logger.info("freshbooks.unsolicited_verify", extra={"tenant_id": tenant.pk, "reason": reason})
        return None
    callback.pending_verifier = verifier
    callback.save(update_fields=["pending_verifier", "updated_at"])
    return callback


def callback_verification_confirm(*, callback: FreshBooksCallback) -> FreshBooksCallback:
    """PUTs the pending code back to FreshBooks; stores it as the verifier only once FreshBooks accepted.
    Raises Transient / RateLimited / AuthorizationLost (the code stays pending) for the caller to retry."""
    callback.refresh_from_db()
    code = callback.pending_verifier
    if not code:
        return callback
    wait = _verify_put_wait(callback.pk)
    if wait:
        raise RateLimited("one verification PUT per callback a minute", retry_after=wait)
    client = fb.FreshBooksClient(callback.connection)
    try:
        client.callback_verify(callback_id=callback.callback_id, verifier=code)
    except (Transient, RateLimited, AuthorizationLost):
        raise
    except FreshBooksError as exc:
        with transaction.atomic():
            locked = FreshBooksCallback.objects.select_for_update().get(pk=callback.pk)
            if locked.pending_verifier == code:
                locked.pending_verifier = ""
            if locked.verifier != code:  # not merely a second confirmation of the code already accepted
                locked.last_error = f"FreshBooks refused a verification code ({exc.message})"[:300]
            locked.save(update_fields=["pending_verifier", "last_error", "updated_at"])
        logger.warning("freshbooks.verifier_refused", extra={"tenant_id": callback.tenant_id,
                                                             "callback_id": callback.callback_id})
        return locked
    with transaction.atomic():
        locked = FreshBooksCallback.objects.select_for_update().get(pk=callback.pk)
        if locked.pending_verifier == code:
            locked.pending_verifier = ""
        locked.verifier = code
        locked.state = FreshBooksCallback.State.VERIFIED
        locked.verified_at = timezone.now()
        locked.last_error = ""
        locked.save()
        activity_record(tenant=locked.tenant, actor=None, action="freshbooks.callback_verified",
                        target=locked.event, details={"callback_id": locked.callback_id})
    return locked


def _verify_put_wait(callback_pk: int) -> int:
    """0 and the slot taken when this callback may have its verification PUT now, else seconds to wait.
    Fails open when Redis is unavailable (FreshBooks' own rate limit still applies)."""
    key = f"mlc:freshbooks:verify-put:{callback_pk}"
    try:
        if redis_quick().set(key, "1", nx=True, ex=VERIFY_PUT_INTERVAL):
            return 0
        return max(1, int(redis_quick().ttl(key)))
    except redis.RedisError:
        return 0


def callback_resend_verification(*, tenant: Tenant, callback: FreshBooksCallback, actor=None) -> None:
    if callback.tenant_id != tenant.pk or not callback.callback_id:
        raise ApplicationError("This callback is not registered at FreshBooks; re-register it instead.")
    fb.FreshBooksClient(callback.connection).callback_resend_verification(callback_id=callback.callback_id)
    # The code asked for now replaces any still pending (the user asked for a new one).
    FreshBooksCallback.objects.filter(pk=callback.pk).update(
        last_error="", pending_verifier="", verification_requested_at=timezone.now(), updated_at=timezone.now())
    activity_record(tenant=tenant, actor=actor, action="freshbooks.verification_resent", target=callback.event)


# --- Rejected webhooks --------------------------------------------------------------------------------

def webhook_rejection_record(*, tenant: Tenant) -> None:
    """Counts one refused webhook for today (UTC)."""
    today = timezone.now().date()
    rows = WebhookRejection.objects.for_tenant(tenant)
    if rows.filter(day=today).update(count=F("count") + 1, updated_at=timezone.now()):
        return
    try:
        with transaction.atomic():
            WebhookRejection.objects.create(tenant=tenant, day=today, count=1)
    except IntegrityError:  # another request made today's row first
        rows.filter(day=today).update(count=F("count") + 1, updated_at=timezone.now())
