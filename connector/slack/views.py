"""Slack pages (status, install, test, channels, uninstall) and the Events API endpoint. Thin: the work
is in services; every Slack failure becomes a page or a message in plain words, never a 500."""

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_sdk.signature import SignatureVerifier

from connector.core.errors import ApplicationError
from connector.core.text import any_forbidden_chars, json_loads_bounded
from connector.slack import constants, services
from connector.slack.errors import SlackError, describe, error_for
from connector.slack.events_api import slack_event_handle
from connector.slack.oauth import (
    oauth_authorize_url,
    oauth_configured,
    oauth_state_consume,
    oauth_state_issue,
)
from connector.slack.selectors import channel_choices, channel_list, installation_for
from tenants.models import Role
from tenants.permissions import tenant_view

logger = logging.getLogger(__name__)

# Why an installation stopped, in words.
REVOKED_WORDS = {
    services.UNINSTALLED: "ml-connector was removed from Slack on this page.",
    "app_uninstalled": "ml-connector was removed from your Slack workspace (in Slack's app settings).",
    "tokens_revoked": "Slack revoked ml-connector's access to your workspace.",
}


def _revoked_words(reason: str) -> str:
    return REVOKED_WORDS.get(reason) or describe(error_for(reason or "token_revoked"))


def _failure(request, *, title: str, reason: str, status: int):
    return render(request, "slack/failure.html", {"title": title, "reason": reason}, status=status)


@tenant_view
def slack_home(request):
    installation = installation_for(tenant=request.tenant)
    return render(request, "slack/home.html", {
        "installation": installation,
        "revoked_words": _revoked_words(installation.status_reason) if installation and not installation.is_active
        else "",
        "channels": channel_list(tenant=request.tenant) if installation and installation.is_active else [],
        "channel_choices": channel_choices(tenant=request.tenant),
        "oauth_configured": oauth_configured(),
    })


@tenant_view(role=Role.ADMIN)
def slack_install(request):
    """"Add to Slack" in one click: a POST (CSRF-checked) goes straight to Slack's authorize page; a GET (an
    old bookmark) lands on the Slack page."""
    if request.method != "POST":
        return redirect("slack:home")
    if not oauth_configured():
        return _failure(request, title="Slack is not set up on this server",
                        reason="The operator has not configured a Slack app (SLACK_CLIENT_ID and "
                               "SLACK_CLIENT_SECRET). Ask them to, or to connect a bot token with connect_slack.",
                        status=503)
    state = oauth_state_issue(session=request.session, tenant=request.tenant)
    return redirect(oauth_authorize_url(state=state))


@tenant_view(role=Role.ADMIN)
def slack_oauth_callback(request):
    if not oauth_state_consume(session=request.session, state=request.GET.get("state", ""), tenant=request.tenant):
        return _failure(request, title="This Slack link is not valid",
                        reason="The link that brought you back from Slack is expired, was already used, or was "
                               "not started from this browser for this business. Nothing was changed. "
                               "Start again from the Slack page.", status=400)
    if request.GET.get("error"):
        reason = ("You chose not to allow ml-connector in Slack, so nothing was connected."
                  if request.GET["error"] == "access_denied"
                  else "Slack did not complete the install.")
        return _failure(request, title="Slack was not connected",
                        reason=f"{reason} (Slack said: {request.GET['error'][:100]})", status=400)
    code = request.GET.get("code", "")
    if not code:
        return _failure(request, title="Slack was not connected",
                        reason="Slack sent you back without an authorisation code. Try again.", status=400)
    try:
        installation = services.slack_install_complete(tenant=request.tenant, code=code, user=request.user)
    except SlackError as exc:
        logger.info("slack.install_failed", extra={"tenant_id": request.tenant.pk, "error_code": exc.code})
        return _failure(request, title="Slack was not connected", reason=describe(exc), status=502)
    except ApplicationError as exc:
        return _failure(request, title="Slack was not connected", reason=exc.message, status=400)
    messages.success(request, f"Connected to the Slack workspace {installation.team_name or installation.team_id}.")
    return redirect("slack:home")


@tenant_view
@require_POST
def slack_connection_test_view(request):
    try:
        answer = services.slack_connection_test(tenant=request.tenant)
    except SlackError as exc:
        messages.error(request, f"Connection test failed. {describe(exc)}")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Slack answered: connected to the workspace {answer['team']} "
                                  f"as @{answer['user']}.")
    return redirect("slack:home")


@tenant_view
@require_POST
def slack_test_message(request):
    try:
        result = services.slack_test_message_send(tenant=request.tenant, channel_id=request.POST.get("channel", ""),
                                                  actor=request.user)
    except SlackError as exc:
        messages.error(request, f"The test message was not sent. {describe(exc)}")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        channel = next((label for cid, label in channel_choices(tenant=request.tenant) if cid == result.channel),
                       result.channel)
        messages.success(request, f"Slack answered: the test message is in {channel}.")
    return redirect("slack:home")


@tenant_view
@require_POST
def slack_channels_refresh_view(request):
    try:
        channels = services.slack_channels_refresh(tenant=request.tenant)
    except SlackError as exc:
        messages.error(request, f"The channel list was not refreshed. {describe(exc)}")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Slack listed {len(channels)} channel{'s' if len(channels) != 1 else ''} "
                                  "ml-connector can post to.")
    return redirect("slack:home")


@tenant_view(role=Role.ADMIN)
def slack_uninstall_view(request):
    installation = installation_for(tenant=request.tenant)
    if installation is None or not installation.is_active:
        messages.info(request, "Slack is not connected.")
        return redirect("slack:home")
    if request.method != "POST":
        return render(request, "slack/uninstall_confirm.html", {"installation": installation})
    try:
        services.slack_uninstall(tenant=request.tenant, actor=request.user)
    except SlackError as exc:
        return _failure(request, title="Slack was not disconnected",
                        reason=f"{describe(exc)} Nothing was changed; try again.", status=502)
    messages.success(request, "ml-connector no longer has access to your Slack workspace. Messages for Slack "
                              "wait until you add it again.")
    return redirect("slack:home")


@csrf_exempt
@require_POST
def slack_events(request):
    """Slack Events API (contract): signed; url_verification, app_uninstalled, tokens_revoked."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > constants.MAX_EVENT_BODY_BYTES:
        return HttpResponse(status=413)
    body = request.body
    if len(body) > constants.MAX_EVENT_BODY_BYTES:
        return HttpResponse(status=413)
    if not settings.SLACK_SIGNING_SECRET:
        logger.error("slack.events_signing_secret_missing")
        return HttpResponse("SLACK_SIGNING_SECRET is not configured", status=503, content_type="text/plain")
    try:
        valid = SignatureVerifier(settings.SLACK_SIGNING_SECRET).is_valid_request(body, dict(request.headers))
    except (TypeError, ValueError):  # a timestamp header that is not a number
        valid = False
    if not valid:
        logger.warning("slack.events_bad_signature")
        return HttpResponse(status=401)
    try:
        payload = json_loads_bounded(body)
    except ValueError:  # not JSON, not UTF-8, or nested deeper than the parser goes
        return HttpResponse(status=400)
    if not isinstance(payload, dict):
        return HttpResponse(status=400)
    if any_forbidden_chars(payload):
        logger.warning("slack.events_forbidden_characters")
        return HttpResponse(status=400)
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": str(payload.get("challenge", ""))})
    if payload.get("type") == "event_callback":
        slack_event_handle(payload=payload)
    return HttpResponse(status=200)
