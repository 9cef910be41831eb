"""A tenant's clock changed: its digests' next sends move to the same local time on the new clock."""

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from digests.models import Digest
from digests.schedule import next_occurrence
from tenants.models import Tenant
from tenants.zones import tenant_zone


@receiver(post_save, sender=Tenant, dispatch_uid="digests_follow_the_tenant_clock")
def digests_follow_the_tenant_clock(sender, instance: Tenant, created: bool, update_fields=None, **kwargs):
    if created or (update_fields is not None and "time_zone" not in update_fields):
        return
    now = timezone.now()
    zone = tenant_zone(instance)
    # A send already due (beat has not caught up yet) stays due; only future sends move.
    for digest in Digest.objects.for_tenant(instance).filter(next_due_at__gt=now):
        following = next_occurrence(frequency=digest.frequency, weekday=digest.weekday, at=digest.time, zone=zone,
                                    after=now)
        if following != digest.next_due_at:
            Digest.objects.filter(pk=digest.pk).update(next_due_at=following)
