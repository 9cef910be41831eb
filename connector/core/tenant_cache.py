"""Per-tenant reads kept in process while no change has been announced (the pipeline's Slack installation
and routing rules, read for every event or post).

Each entry is stamped with the tenant's *version* of that read, a random string in Redis that every change
replaces (at once and again on commit, so a reader that loaded the old rows between the two sees the
second change). A reader compares the stamp with Redis (one GET, much cheaper than a query and its
decryption) and reloads on any difference; an entry is also reloaded after MAX_AGE whatever Redis says,
and after FALLBACK_AGE when Redis cannot be read or has lost the version (loading makes one when there
is none). Callers get a shallow copy of their own.
"""

import copy
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from django.db import transaction

from connector.core.redis_client import redis_quick

logger = logging.getLogger(__name__)

MAX_AGE = 30.0  # seconds an entry is trusted at most, even if no change was announced
FALLBACK_AGE = 2.0  # seconds an entry is trusted when Redis cannot tell the current version
MAX_ENTRIES = 4096  # tenants kept per process and per cache (least recently used dropped first)


@dataclass(frozen=True)
class _Entry:
    value: Any
    version: str | None  # the version this was loaded under (None: Redis was unreachable)
    loaded_at: float


class TenantCache:
    """`load(tenant)` kept per tenant; `changed(tenant_id)` announces a change to every process."""

    def __init__(self, name: str, load: Callable[[Any], Any]):
        self.name, self.load = name, load
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def version_key(self, tenant_id: int) -> str:
        return f"mlc:cache:{self.name}:{tenant_id}"

    def _version_read(self, tenant_id: int, *, make: bool = False) -> str | None:
        """The tenant's current version (made when Redis has none and `make`); None when Redis cannot say."""
        try:
            client = redis_quick()
            if make:
                client.set(self.version_key(tenant_id), uuid.uuid4().hex, nx=True)
            value = client.get(self.version_key(tenant_id))
        except redis.RedisError:
            return None
        return value.decode() if value is not None else None

    def _current(self, entry: _Entry | None, tenant_id: int) -> bool:
        if entry is None:
            return False
        age = time.monotonic() - entry.loaded_at
        if age > MAX_AGE:
            return False
        version = self._version_read(tenant_id)
        if version is None or entry.version is None:
            return age <= FALLBACK_AGE
        return version == entry.version

    def get(self, tenant) -> Any:
        with self._lock:
            entry = self._entries.get(tenant.pk)
        if not self._current(entry, tenant.pk):
            version = self._version_read(tenant.pk, make=True)  # before the rows: a later change is seen next time
            entry = _Entry(value=self.load(tenant), version=version, loaded_at=time.monotonic())
            with self._lock:
                self._entries[tenant.pk] = entry
                self._entries.move_to_end(tenant.pk)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
        return copy.copy(entry.value)

    def changed(self, tenant_id: int) -> None:
        """Announces that the tenant's value may have changed: now, and once the transaction commits."""
        self._bump(tenant_id)
        transaction.on_commit(lambda: self._bump(tenant_id))

    def _bump(self, tenant_id: int) -> None:
        with self._lock:
            self._entries.pop(tenant_id, None)  # this process knows at once, whatever Redis says
        try:
            redis_quick().set(self.version_key(tenant_id), uuid.uuid4().hex)
        except redis.RedisError:  # other processes' entries then live out MAX_AGE at most
            logger.warning("cache.version_unavailable", extra={"cache": self.name, "tenant_id": tenant_id})
