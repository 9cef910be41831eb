"""Add to Slack (OAuth v2): the authorize URL and a single-use state bound to the browser session."""

import hmac
import secrets
import time
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from slack_sdk.oauth import AuthorizeUrlGenerator

from connector.slack import constants
from tenants.models import Tenant

SESSION_KEY = "slack_oauth_state"


def oauth_configured() -> bool:
    return bool(settings.SLACK_CLIENT_ID and settings.SLACK_CLIENT_SECRET)


def oauth_redirect_uri() -> str:
    """Where Slack sends the browser back; must be listed in the Slack app's OAuth settings."""
    return f"{settings.PUBLIC_BASE_URL}{reverse('slack:oauth_callback')}"


def oauth_state_issue(*, session, tenant: Tenant) -> str:
    state = secrets.token_urlsafe(32)  # URL-safe: AuthorizeUrlGenerator does not encode it
    session[SESSION_KEY] = {"state": state, "tenant_id": tenant.pk,
                            "expires": time.time() + constants.OAUTH_STATE_TTL_SECONDS}
    return state


def oauth_state_consume(*, session, state: str, tenant: Tenant) -> bool:
    """True once for the state this session was given, for this tenant, before it expired."""
    issued = session.pop(SESSION_KEY, None)
    if not isinstance(issued, dict) or not state:
        return False
    return (hmac.compare_digest(str(issued.get("state", "")), state)
            and issued.get("tenant_id") == tenant.pk
            and float(issued.get("expires", 0)) >= time.time())


def oauth_authorize_url(*, state: str) -> str:
    generator = AuthorizeUrlGenerator(
        client_id=settings.SLACK_CLIENT_ID,
        # The generator pastes it in as is; oauth.v2.access later gets the same value unencoded.
        redirect_uri=quote(oauth_redirect_uri(), safe=""),
        scopes=list(constants.BOT_SCOPES),
        authorization_url=settings.SLACK_OAUTH_URL,
    )
    return generator.generate(state)
