"""A tenant's webhook verifiers, kept in process so that the intake neither queries nor decrypts them on
every webhook.

Each entry is stamped with the tenant's *verifiers version*, a random string in Redis that every change
of a callback, a connection or the tenant's webhook token replaces (at once and again on commit, so a
reader that loaded the old rows between the two sees the second change). The intake reads the version
with its rate-limit counter in one round trip and reloads an entry whose stamp differs; an entry is
also reloaded after MAX_AGE whatever Redis says, and after FALLBACK_AGE when Redis cannot be read or has
lost the version (loading makes one when there is none).
"""

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import redis
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.core.redis_client import redis_quick
from connector.freshbooks.models import FreshBooksCallback, FreshBooksConnection
from connector.freshbooks.selectors import intake_verifiers
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_AGE = 30.0  # seconds an entry is trusted at most, even if no change was announced
FALLBACK_AGE = 2.0  # seconds an entry is trusted when Redis cannot tell the current version
MAX_ENTRIES = 4096  # tenants kept per process (least recently used dropped first)


@dataclass(frozen=True)
class TenantVerifiers:
    tenant_id: int
    rows: tuple[tuple[str, str], ...]  # (event, verifier) of the tenant's verified callbacks
    version: str | None  # the version this was loaded under (None: Redis was unreachable)
    loaded_at: float


_entries: OrderedDict[str, TenantVerifiers] = OrderedDict()
_lock = threading.Lock()


def version_key(tenant_id: int) -> str:
    return f"mlc:freshbooks:verifiers:{tenant_id}"


def _version_read(tenant_id: int) -> str | None:
    """The tenant's current version, made if Redis has none (so that a version missing later means Redis
    lost it, and no entry is trusted on it); None when Redis cannot be read."""
    try:
        client = redis_quick()
        client.set(version_key(tenant_id), uuid.uuid4().hex, nx=True)
        value = client.get(version_key(tenant_id))
    except redis.RedisError:
        return None
    return value.decode() if value is not None else None


def verifiers_load(token_hash: str, tenant_hint: int | None = None) -> TenantVerifiers | None:
    """Reads the tenant's verifiers from the database (None: no tenant has this token) and keeps them,
    stamped with the version read *before* the rows (`tenant_hint`: the tenant this token had before)."""
    version = _version_read(tenant_hint) if tenant_hint is not None else None
    tenant_id, rows = intake_verifiers(token_hash=token_hash)
    if tenant_id is not None and tenant_id != tenant_hint:  # first sight: read the rows again after the version
        version = _version_read(tenant_id)
        tenant_id, rows = intake_verifiers(token_hash=token_hash)
    if tenant_id is None:
        with _lock:
            _entries.pop(token_hash, None)
        return None
    entry = TenantVerifiers(tenant_id=tenant_id, rows=tuple(rows), version=version, loaded_at=time.monotonic())
    with _lock:
        _entries[token_hash] = entry
        _entries.move_to_end(token_hash)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return entry


def verifiers_cached(token_hash: str) -> TenantVerifiers | None:
    """The kept entry for this token if younger than MAX_AGE, else loaded; None for an unknown token."""
    with _lock:
        entry = _entries.get(token_hash)
    if entry is None or time.monotonic() - entry.loaded_at > MAX_AGE:
        return verifiers_load(token_hash, entry.tenant_id if entry else None)
    return entry


def verifiers_current(token_hash: str, entry: TenantVerifiers, version: str | None,
                      version_known: bool) -> TenantVerifiers | None:
    """`entry` if still current given the version the caller read from Redis (None: Redis could not say,
    or lost it), else reloaded."""
    if version_known and version is not None and version == entry.version:
        return entry
    if (not version_known or version is None) and time.monotonic() - entry.loaded_at <= FALLBACK_AGE:
        return entry
    return verifiers_load(token_hash, entry.tenant_id)


def verifiers_changed(tenant_id: int) -> None:
    """Announces that the tenant's verifiers may have changed: now, and once the transaction commits."""
    _version_bump(tenant_id)
    transaction.on_commit(lambda: _version_bump(tenant_id))


def _version_bump(tenant_id: int) -> None:
    try:
        redis_quick().set(version_key(tenant_id), uuid.uuid4().hex)
    except redis.RedisError:  # entries then live out MAX_AGE at most
        logger.warning("freshbooks.verifiers_version_unavailable", extra={"tenant_id": tenant_id})


@receiver([post_save, post_delete], sender=FreshBooksCallback, dispatch_uid="freshbooks.verifiers.callback")
@receiver([post_save, post_delete], sender=FreshBooksConnection, dispatch_uid="freshbooks.verifiers.connection")
def _on_callback_or_connection_change(sender, instance, **kwargs):
    verifiers_changed(instance.tenant_id)


@receiver([post_save, post_delete], sender=Tenant, dispatch_uid="freshbooks.verifiers.tenant")
def _on_tenant_change(sender, instance, created=False, **kwargs):
    if not created:  # a new token or a deleted tenant: the old token must stop resolving
        verifiers_changed(instance.pk)
