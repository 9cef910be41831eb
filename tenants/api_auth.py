"""REST API tenancy: token auth bound to a user and a tenant, and role permissions as in the UI."""

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from connector.core.limits import client_ip, limit_hit
from tenants.models import ApiToken, Membership

LAST_USED_RESOLUTION = 60  # seconds: do not write last_used_at on every request


class TenantTokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`; the key names its user and its tenant."""

    keyword = "Token"

    def authenticate(self, request):
        self.request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key):
        token = (ApiToken.objects.select_related("user", "tenant")
                 .filter(key_hash=ApiToken.hash_key(key)).first())
        if token is None or not token.user.is_active:
            # Guessing keys costs a 429 after API_BAD_TOKEN_RATE misses from one address (DRF's throttles
            # run only after authentication succeeds, so they never see these).
            wait = limit_hit(self.request, group="api_bad_token", rate_setting="API_BAD_TOKEN_RATE",
                             value=client_ip(self.request))
            if wait:
                raise exceptions.Throttled(wait=wait)
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token


class ApiUserThrottle(throttling.UserRateThrottle):
    """Per API token (or session user): settings.API_THROTTLE_RATE, counted in the cache (Redis)."""

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiToken):
            return self.cache_format % {"scope": "token", "ident": request.auth.pk}
        if request.user and request.user.is_authenticated:
            return self.cache_format % {"scope": "user", "ident": request.user.pk}
        return None


class ApiAnonThrottle(throttling.AnonRateThrottle):
    """Per address, for requests without credentials: settings.API_ANON_THROTTLE_RATE."""

    def get_rate(self):
        return settings.API_ANON_THROTTLE_RATE

    def get_ident(self, request):
        return client_ip(request)


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
