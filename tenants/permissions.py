"""Access rules for UI views: a signed-in member of the current tenant; changes need admin or owner."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from tenants.models import Role

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def tenant_view(view=None, *, change_role: str = Role.ADMIN, role: str | None = None):
    """Wraps a view: requires a signed-in member; unsafe methods (or all, with `role`) need that role.

    The view reads `request.tenant`, and must fetch objects through `Model.objects.for_tenant(request.tenant)`,
    so an object of another tenant is simply not found (404).
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership = request.membership
            if not membership:
                return redirect("tenant_create")
            needed = role or (None if request.method in SAFE_METHODS else change_role)
            if needed and not membership.has_role(needed):
                raise PermissionDenied("Your role in this business does not allow that.")
            return fn(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
