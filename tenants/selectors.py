"""Reads for tenants and memberships."""

from tenants.models import Membership


def membership_for(*, user, tenant_id: int | None) -> Membership | None:
    """The user's membership in the tenant with this id, or their first one when the id is not theirs."""
    if user is None or not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
    if tenant_id is not None:
        chosen = memberships.filter(tenant_id=tenant_id).first()
        if chosen:
            return chosen
    return memberships.first()
