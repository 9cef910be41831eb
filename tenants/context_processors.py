"""Template context: the current tenant, the user's role and the tenants they can switch to."""

from tenants.models import Membership


def tenancy(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = request.membership or None
    return {
        "tenant": membership.tenant if membership else None,
        "membership": membership,
        "can_change": bool(membership and membership.can_change),
        "user_memberships": Membership.objects.filter(user=user).select_related("tenant"),
    }
