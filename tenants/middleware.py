"""Resolves the current tenant of a signed-in user from the session, checked against their memberships."""

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
        return self.get_response(request)
