"""A tenant's Slack installation kept in process for the pipeline: processing an event and posting a
delivery need it every time, and reading it costs a query and the bot token's decryption.

Each entry is stamped with the tenant's *installation version*, a random string in Redis that every save
or delete of the installation replaces (at once and again on commit, so a reader that loaded the old row
between the two sees the second change). A reader compares the stamp with Redis (one GET, much cheaper
than the query) and reloads on any difference; an entry is also reloaded after MAX_AGE whatever Redis
says, and after FALLBACK_AGE when Redis cannot be read or has lost the version (loading makes one when
there is none). Callers get a copy of their own, which they may change (a rotated token, a revocation).
"""

import copy
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
from connector.slack.models import SlackInstallation
from connector.slack.selectors import installation_for
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_AGE = 30.0  # seconds an entry is trusted at most, even if no change was announced
FALLBACK_AGE = 2.0  # seconds an entry is trusted when Redis cannot tell the current version
MAX_ENTRIES = 4096  # tenants kept per process (least recently used dropped first)


@dataclass(frozen=True)
class _Entry:
    installation: SlackInstallation | None  # None: the tenant never connected Slack
    version: str | None  # the version this was loaded under (None: Redis was unreachable)
    loaded_at: float


_entries: OrderedDict[int, _Entry] = OrderedDict()
_lock = threading.Lock()


def version_key(tenant_id: int) -> str:
    return f"mlc:slack:installation:{tenant_id}"


def _version_read(tenant_id: int, *, make: bool = False) -> str | None:
    """The tenant's current version (made when Redis has none and `make`); None when Redis cannot say."""
    try:
        client = redis_quick()
        if make:
            client.set(version_key(tenant_id), uuid.uuid4().hex, nx=True)
        value = client.get(version_key(tenant_id))
    except redis.RedisError:
        return None
    return value.decode() if value is not None else None


def _load(tenant: Tenant) -> _Entry:
    version = _version_read(tenant.pk, make=True)  # before the row: a change after it is seen next time
    entry = _Entry(installation=installation_for(tenant=tenant), version=version, loaded_at=time.monotonic())
    with _lock:
        _entries[tenant.pk] = entry
        _entries.move_to_end(tenant.pk)
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)
    return entry


def _current(entry: _Entry | None, tenant_id: int) -> bool:
    if entry is None:
        return False
    age = time.monotonic() - entry.loaded_at
    if age > MAX_AGE:
        return False
    version = _version_read(tenant_id)
    if version is None or entry.version is None:
        return age <= FALLBACK_AGE
    return version == entry.version


def installation_cached(*, tenant: Tenant) -> SlackInstallation | None:
    """The tenant's installation as installation_for reads it (active or revoked; None when Slack was never
    connected), from this process's copy while no change has been announced."""
    with _lock:
        entry = _entries.get(tenant.pk)
    if not _current(entry, tenant.pk):
        entry = _load(tenant)
    return copy.copy(entry.installation)


def installation_changed(tenant_id: int) -> None:
    """Announces that the tenant's installation may have changed: now, and once the transaction commits."""
    _version_bump(tenant_id)
    transaction.on_commit(lambda: _version_bump(tenant_id))


def _version_bump(tenant_id: int) -> None:
    with _lock:
        _entries.pop(tenant_id, None)  # this process knows at once, whatever Redis says
    try:
        redis_quick().set(version_key(tenant_id), uuid.uuid4().hex)
    except redis.RedisError:  # other processes' entries then live out MAX_AGE at most
        logger.warning("slack.installation_version_unavailable", extra={"tenant_id": tenant_id})


@receiver([post_save, post_delete], sender=SlackInstallation, dispatch_uid="slack.installation_cache")
def _on_installation_change(sender, instance, **kwargs):
    installation_changed(instance.tenant_id)
