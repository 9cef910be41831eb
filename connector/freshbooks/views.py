"""FreshBooks pages: overview (with the one-click connect), connect (OAuth), choose business, callbacks, disconnect.

Thin: services and the client do the work; every provider failure becomes a page saying what happened
and offering to try again (never a 500).
"""

import hmac
import json
import logging
import secrets
import time
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from connector.core.crypto import decrypt, encrypt
from connector.core.errors import ApplicationError
from connector.core.events import EVENT_LABELS
from connector.freshbooks import client as fb
from connector.freshbooks import services
from connector.freshbooks.errors import AuthorizationLost, FreshBooksError, RateLimited, Transient
from connector.freshbooks.models import FreshBooksCallback
from connector.freshbooks.selectors import callback_list, connection_live, webhook_rejections_recent
from tenants.models import Role
from tenants.permissions import tenant_view

logger = logging.getLogger(__name__)

STATE_SESSION_KEY = "freshbooks_oauth_state"
PENDING_SESSION_KEY = "freshbooks_oauth_pending"
STATE_MAX_AGE = 600  # seconds a user has to approve at FreshBooks (its authorization code lives 5 min)
PENDING_MAX_AGE = 900  # seconds to pick a business before the received tokens are forgotten
REJECTIONS_WINDOW_DAYS = 7  # the overview shows refused webhooks over this many days

# What each failure means, in words for the person who clicked "Connect".
PROBLEMS = {
    "denied": ("You did not allow access",
               "FreshBooks says the connection was not approved, so nothing was connected. If that was a "
               "mistake, start again and choose Allow on FreshBooks' page."),
    "bad_state": ("This sign-in link is not valid any more",
                  "The answer from FreshBooks did not match a connection started from this browser, or it was "
                  "already used or is too old. Nothing was connected. Start again from this page."),
    "code_refused": ("FreshBooks did not accept the sign-in",
                     "FreshBooks refused the one-time code it gave us (it may have expired). Nothing was "
                     "connected. Please start again."),
    "unreachable": ("FreshBooks could not be reached",
                    "We could not talk to FreshBooks just now (it may be busy or down). Nothing was connected. "
                    "Please try again in a few minutes."),
    "provider_error": ("FreshBooks reported a problem",
                       "FreshBooks answered with an error, so nothing was connected. Please try again; if it "
                       "keeps happening, contact support with the time it happened."),
    "no_business": ("No FreshBooks business found",
                    "The FreshBooks user you signed in with does not belong to any business, so there is "
                    "nothing to connect. Sign in to FreshBooks with the account of the business."),
    "not_configured": ("FreshBooks is not set up on this server",
                       "The operator of this ml-connector has not configured a FreshBooks app "
                       "(FRESHBOOKS_CLIENT_ID and FRESHBOOKS_CLIENT_SECRET). Ask them to set it up."),
}


def _problem(request, key: str, *, status: int = 400, detail: str = ""):
    title, text = PROBLEMS[key]
    logger.info("freshbooks.oauth_problem", extra={"problem": key, "tenant_id": getattr(request.tenant, "pk", None)})
    return render(request, "freshbooks/problem.html", {"title": title, "text": text, "detail": detail},
                  status=status)


def _provider_problem(request, exc: FreshBooksError):
    if isinstance(exc, Transient | RateLimited):
        return _problem(request, "unreachable", status=502)
    if isinstance(exc, AuthorizationLost):
        return _problem(request, "code_refused")
    return _problem(request, "provider_error", status=502)


@tenant_view
def overview(request):
    tenant = request.tenant
    connection = connection_live(tenant=tenant)
    callbacks = list(callback_list(tenant=tenant)) if connection else []
    return render(request, "freshbooks/overview.html", {
        "connection": connection,
        "verified": sum(cb.state == FreshBooksCallback.State.VERIFIED for cb in callbacks),
        "callback_count": len(callbacks),
        "rejections": webhook_rejections_recent(tenant=tenant, days=REJECTIONS_WINDOW_DAYS),
        "rejections_days": REJECTIONS_WINDOW_DAYS,
    })


@tenant_view
def connect(request):
    """One click from the dashboard or the FreshBooks page: a POST (CSRF-checked, admins and owners) goes
    straight to FreshBooks' authorize page. A GET (an old bookmark) lands on the FreshBooks page, which
    explains what connecting does."""
    if request.method != "POST":
        return redirect("freshbooks:overview")
    if not settings.FRESHBOOKS_CLIENT_ID:
        return _problem(request, "not_configured", status=503)
    state = secrets.token_urlsafe(32)
    request.session[STATE_SESSION_KEY] = {"state": state, "tenant_id": request.tenant.pk,
                                          "user_id": request.user.pk, "at": time.time()}
    request.session.pop(PENDING_SESSION_KEY, None)
    return HttpResponseRedirect(fb.authorize_url(state=state, redirect_uri=fb.redirect_uri()))


@tenant_view(role=Role.ADMIN)
def oauth_callback(request):
    expected = request.session.pop(STATE_SESSION_KEY, None)  # single use, whatever happens next
    state = request.GET.get("state", "")
    if not expected or not state or not hmac.compare_digest(str(expected.get("state", "")), state) \
            or expected.get("tenant_id") != request.tenant.pk or expected.get("user_id") != request.user.pk \
            or time.time() - float(expected.get("at", 0)) > STATE_MAX_AGE:
        return _problem(request, "bad_state")
    if request.GET.get("error"):
        if request.GET["error"] == "access_denied":
            return _problem(request, "denied")
        return _problem(request, "provider_error", status=502, detail=request.GET.get("error", "")[:100])
    code = request.GET.get("code", "")
    if not code:
        return _problem(request, "provider_error", status=502)
    try:
        grant = fb.oauth_exchange_code(code=code, redirect_uri=fb.redirect_uri())
        identity = fb.identity_fetch(access_token=grant.access_token)
    except FreshBooksError as exc:
        return _provider_problem(request, exc)
    if not identity.businesses:
        return _problem(request, "no_business")
    if len(identity.businesses) == 1:
        return _finish(request, grant, identity.identity_id, identity.businesses[0])
    request.session[PENDING_SESSION_KEY] = {
        "tenant_id": request.tenant.pk, "user_id": request.user.pk, "at": time.time(),
        # the tokens are secrets: the session store only ever sees them encrypted
        "sealed": encrypt(json.dumps({
            "access_token": grant.access_token, "refresh_token": grant.refresh_token,
            "expires_at": grant.expires_at.isoformat(), "identity_id": identity.identity_id,
            "businesses": [b.__dict__ for b in identity.businesses],
        })),
    }
    return redirect("freshbooks:choose_business")


def _pending(request) -> dict | None:
    pending = request.session.get(PENDING_SESSION_KEY)
    if not pending or pending.get("tenant_id") != request.tenant.pk or pending.get("user_id") != request.user.pk \
            or time.time() - float(pending.get("at", 0)) > PENDING_MAX_AGE:
        return None
    return json.loads(decrypt(pending["sealed"]))


@tenant_view(role=Role.ADMIN)
def choose_business(request):
    pending = _pending(request)
    if pending is None:
        request.session.pop(PENDING_SESSION_KEY, None)
        return _problem(request, "bad_state")
    businesses = [fb.Business(**b) for b in pending["businesses"]]
    error = ""
    if request.method == "POST":
        chosen = next((b for b in businesses if b.business_id == request.POST.get("business_id")), None)
        if chosen is not None:
            request.session.pop(PENDING_SESSION_KEY, None)
            grant = fb.TokenGrant(access_token=pending["access_token"], refresh_token=pending["refresh_token"],
                                  expires_at=datetime.fromisoformat(pending["expires_at"]))
            return _finish(request, grant, pending["identity_id"], chosen)
        error = "Choose one of the businesses listed."
    return render(request, "freshbooks/choose_business.html", {"businesses": businesses, "error": error},
                  status=400 if error else 200)


def _finish(request, grant: fb.TokenGrant, identity_id: str, business: fb.Business):
    tenant = request.tenant
    services.connection_store(tenant=tenant, actor=request.user, grant=grant, account_id=business.account_id,
                              business_id=business.business_id, business_name=business.name,
                              identity_id=identity_id, business_time_zone=business.time_zone)
    messages.success(request, f"FreshBooks business {business.name or business.business_id} is connected.")
    try:
        result = services.callbacks_register(tenant=tenant, actor=request.user)
    except FreshBooksError as exc:
        logger.warning("freshbooks.register_after_connect_failed", extra={"tenant_id": tenant.pk,
                                                                          "error": exc.message})
        messages.error(request, "FreshBooks did not let us register the notifications just now. "
                                "Use \"Set up missing notifications\" below to try again.")
    else:
        if result.failed:
            messages.error(request, f"{len(result.failed)} notification(s) could not be registered; "
                                    "see the list below and try again.")
    return redirect("freshbooks:callbacks")


@tenant_view
def callbacks(request):
    tenant = request.tenant
    rows = [(cb, EVENT_LABELS.get(cb.event, cb.event)) for cb in callback_list(tenant=tenant)]
    return render(request, "freshbooks/callbacks.html", {
        "connection": connection_live(tenant=tenant), "rows": rows, "webhook_url": tenant.webhook_url,
        "waiting": any(cb.state == FreshBooksCallback.State.WAITING for cb, _ in rows),
    })


@tenant_view
@require_POST
def callbacks_register_view(request):
    try:
        result = services.callbacks_register(tenant=request.tenant, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except FreshBooksError as exc:
        messages.error(request, _failure_text(exc))
    else:
        if result.failed:
            messages.error(request, f"{len(result.failed)} callback(s) could not be registered: "
                                    + "; ".join(f"{event}: {msg}" for event, msg in sorted(result.failed.items())))
        else:
            messages.success(request, f"Registered {len(result.registered)} callback(s); "
                                      f"{len(result.kept)} were already in place. FreshBooks now sends a "
                                      "verification code to each new one.")
    return redirect("freshbooks:callbacks")


@tenant_view
@require_POST
def callback_resend(request, pk: int):
    callback = get_object_or_404(FreshBooksCallback.objects.for_tenant(request.tenant), pk=pk)
    try:
        services.callback_resend_verification(tenant=request.tenant, callback=callback, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except FreshBooksError as exc:
        messages.error(request, _failure_text(exc))
    else:
        messages.success(request, f"FreshBooks will send a new verification code for \"{callback.event}\".")
    return redirect("freshbooks:callbacks")


def _failure_text(exc: FreshBooksError) -> str:
    if isinstance(exc, AuthorizationLost):
        return "FreshBooks no longer accepts our access: reconnect FreshBooks, then try again."
    if isinstance(exc, Transient | RateLimited):
        return "FreshBooks could not be reached just now. Please try again in a few minutes."
    return f"FreshBooks refused the request ({exc.message}). Please try again."


@tenant_view
@require_POST
def connection_test_view(request):
    try:
        check = services.connection_test(tenant=request.tenant)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    except FreshBooksError as exc:
        messages.error(request, f"Connection test failed. {_failure_text(exc)}")
    else:
        who = f" as {check.email}" if check.email else ""
        if check.business_still_there:
            messages.success(request, f"FreshBooks answered: connected to {check.business_name}{who}.")
        else:
            messages.error(request, f"FreshBooks answered{who}, but that login no longer belongs to "
                                    f"{check.business_name}. Connect FreshBooks again with a login of the business.")
    return redirect("freshbooks:overview")


@tenant_view
def disconnect(request):
    connection = connection_live(tenant=request.tenant)
    if request.method != "POST":
        return render(request, "freshbooks/disconnect.html", {"connection": connection})
    try:
        problems = services.connection_disconnect(tenant=request.tenant, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("freshbooks:overview")
    messages.success(request, "FreshBooks is disconnected. Past events and deliveries stay in the audit trail.")
    for problem in problems:
        messages.warning(request, problem)
    return redirect("freshbooks:overview")
