"""Resolves the current tenant of a signed-in user from the session, checked against their memberships."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from tenants.selectors import membership_for

SESSION_KEY = "tenant_id"


class CurrentTenantMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        membership = SimpleLazyObject(
            lambda: membership_for(user=request.user, tenant_id=request.session.get(SESSION_KEY))
        )
        request.membership = membership
        request.tenant = SimpleLazyObject(lambda: membership.tenant if membership else None)
        # Every page shows times in the tenant's time zone (connector/templatetags/formats.py writes them).
        zone = tenant_zone(request.tenant) if request.user.is_authenticated and request.tenant else None
        if zone is None:
            return self.get_response(request)
        with timezone.override(zone):
            return self.get_response(request)


def tenant_zone(tenant) -> ZoneInfo:
    try:
        return ZoneInfo(tenant.time_zone)
    except (ValueError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")
