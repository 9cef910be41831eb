"""The rules the pipeline matches every event against, kept in process per tenant: every save or delete of
a rule, in any process, announces the change (connector.core.tenant_cache), so an edit applies from the
next event on. The rules are only read (routing.match): callers must not change them."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from connector.core.tenant_cache import TenantCache
from routing.models import Rule
from routing.selectors import rules_enabled
from tenants.models import Tenant

rules = TenantCache("routing-rules", lambda tenant: rules_enabled(tenant=tenant))


def rules_enabled_cached(*, tenant: Tenant) -> list[Rule]:
    """rules_enabled(tenant), from this process's copy while no rule of the tenant has changed."""
    return rules.get(tenant)


@receiver([post_save, post_delete], sender=Rule, dispatch_uid="routing.rule_cache")
def _on_rule_change(sender, instance, **kwargs):
    rules.changed(instance.tenant_id)
