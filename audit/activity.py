"""Recording and verifying the per-tenant hash-chained activity log.

Each entry's hash is an HMAC-SHA256 under ACTIVITY_CHAIN_KEY (not SECRET_KEY), over the entry and the
previous entry's hash: someone who can write to the database but does not hold the key cannot rewrite
an entry and re-chain the rest. Entries written before the chain was keyed keep their plain SHA-256 and
still verify; once a keyed entry exists, an unkeyed one after it is a break (no downgrade). Rotation:
put a new key first in ACTIVITY_CHAIN_KEY and keep the old ones after it; each entry names its key.
"""

import hashlib
import hmac
import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import ActivityLog
from tenants.models import Tenant

GENESIS = "0" * 64  # prev_hash of a tenant's first entry


def chain_key_id(key: str) -> str:
    """A short public name for a chain key, stored with each entry so verification picks the right key."""
    return hashlib.sha256(b"ml-connector activity chain key id:" + key.encode()).hexdigest()[:12]


def _chain_keys() -> dict[str, bytes]:
    return {chain_key_id(k): k.encode() for k in settings.ACTIVITY_CHAIN_KEYS}


def _entry_hash(*, tenant_id: int, prev_hash: str, actor_label: str, action: str, target: str,
                details: dict, created_at, key: bytes | None) -> str:
    canonical = json.dumps(
        [tenant_id, prev_hash, actor_label, action, target, details, created_at.isoformat()],
        cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"),
    ).encode()
    if key is None:  # an entry from before the chain was keyed
        return hashlib.sha256(canonical).hexdigest()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def activity_record(*, tenant: Tenant, actor, action: str, target: str = "", details: dict | None = None
                    ) -> ActivityLog:
    """Append an entry to the tenant's chain. Serialised per tenant by a row lock on the tenant."""
    details = json.loads(json.dumps(details or {}, cls=DjangoJSONEncoder))
    actor_label = getattr(actor, "email", None) or "system"
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        last = ActivityLog.objects.for_tenant(tenant).order_by("-id").values_list("entry_hash", flat=True).first()
        prev_hash = last or GENESIS
        created_at = timezone.now()
        key = settings.ACTIVITY_CHAIN_KEYS[0]
        entry = ActivityLog(tenant=tenant, actor=actor if getattr(actor, "pk", None) else None,
                            actor_label=actor_label, action=action, target=target[:200], details=details,
                            prev_hash=prev_hash, created_at=created_at, chain_key_id=chain_key_id(key))
        entry.entry_hash = _entry_hash(tenant_id=tenant.pk, prev_hash=prev_hash, actor_label=actor_label,
                                       action=action, target=entry.target, details=details,
                                       created_at=created_at, key=key.encode())
        entry.save()
    return entry


def activity_record_system(*, action: str, details: dict | None = None) -> None:
    """A system-wide event (such as key rotation), recorded in every tenant's chain."""
    for tenant in Tenant.objects.all():
        activity_record(tenant=tenant, actor=None, action=action, details=details)


def activity_verify(*, tenant: Tenant) -> ActivityLog | None:
    """The first entry whose hash or link does not hold, or None when the chain is intact. An entry signed
    by a key no longer in ACTIVITY_CHAIN_KEY cannot be verified, so it counts as a break."""
    keys = _chain_keys()
    prev_hash = GENESIS
    keyed = False
    for entry in ActivityLog.objects.for_tenant(tenant).order_by("id").iterator(chunk_size=1000):
        if entry.chain_key_id:
            key = keys.get(entry.chain_key_id)
            if key is None:
                return entry
            keyed = True
        elif keyed:  # unkeyed after keyed: rewritten by someone without the key
            return entry
        else:
            key = None
        expected = _entry_hash(tenant_id=tenant.pk, prev_hash=entry.prev_hash, actor_label=entry.actor_label,
                               action=entry.action, target=entry.target, details=entry.details,
                               created_at=entry.created_at, key=key)
        if entry.prev_hash != prev_hash or not hmac.compare_digest(entry.entry_hash, expected):
            return entry
        prev_hash = entry.entry_hash
    return None
