"""REST API tenancy: token auth bound to a user and a tenant, and role permissions as in the UI."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from tenants.models import ApiToken, Membership

LAST_USED_RESOLUTION = 60  # seconds: do not write last_used_at on every request


class TenantTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; the key names its user and its tenant."""

    keyword = "Token"

    def authenticate_credentials(self, key):
        token = (ApiToken.objects.select_related("user", "tenant")
                 .filter(key_hash=ApiToken.hash_key(key)).first())
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


class TenantSessionAuthentication(authentication.SessionAuthentication):
    """The web UI's session (with CSRF), for the pages that call the API."""


class TenantSessionScheme(OpenApiAuthenticationExtension):
    """The session as the OpenAPI schema describes it: the web UI's cookie (the API docs page uses it)."""

    target_class = TenantSessionAuthentication
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}


class IsTenantMember(permissions.BasePermission):
    """Resolves request.tenant; reads for every member, changes for admins and owners."""

    message = "Your role in this business does not allow that."

    def has_permission(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return False
        if isinstance(request.auth, ApiToken):
            membership = (Membership.objects.select_related("tenant")
                          .filter(tenant=request.auth.tenant, user=request.user).first())
        else:
            membership = getattr(request._request, "membership", None) or None
        if membership is None:
            return False
        request.tenant = membership.tenant
        request.membership = membership
        if request.method in permissions.SAFE_METHODS:
            return True
        return membership.can_change
