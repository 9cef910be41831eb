"""Recording and verifying the per-tenant hash-chained activity log."""

import hashlib
import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import ActivityLog
from tenants.models import Tenant

GENESIS = "0" * 64  # prev_hash of a tenant's first entry


def _entry_hash(*, tenant_id: int, prev_hash: str, actor_label: str, action: str, target: str,
                details: dict, created_at) -> str:
    canonical = json.dumps(
        [tenant_id, prev_hash, actor_label, action, target, details, created_at.isoformat()],
        cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


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
        entry = ActivityLog(tenant=tenant, actor=actor if getattr(actor, "pk", None) else None,
                            actor_label=actor_label, action=action, target=target[:200], details=details,
                            prev_hash=prev_hash, created_at=created_at)
        entry.entry_hash = _entry_hash(tenant_id=tenant.pk, prev_hash=prev_hash, actor_label=actor_label,
                                       action=action, target=entry.target, details=details,
                                       created_at=created_at)
        entry.save()
    return entry


def activity_record_system(*, action: str, details: dict | None = None) -> None:
    """A system-wide event (such as key rotation), recorded in every tenant's chain."""
    for tenant in Tenant.objects.all():
        activity_record(tenant=tenant, actor=None, action=action, details=details)


def activity_verify(*, tenant: Tenant) -> ActivityLog | None:
    """The first entry whose hash or link does not hold, or None when the chain is intact."""
    prev_hash = GENESIS
    for entry in ActivityLog.objects.for_tenant(tenant).order_by("id").iterator(chunk_size=1000):
        expected = _entry_hash(tenant_id=tenant.pk, prev_hash=entry.prev_hash, actor_label=entry.actor_label,
                               action=entry.action, target=entry.target, details=entry.details,
                               created_at=entry.created_at)
        if entry.prev_hash != prev_hash or entry.entry_hash != expected:
            return entry
        prev_hash = entry.entry_hash
    return None
