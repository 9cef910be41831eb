"""The Slack client against a local stand-in for slack.com/api: typed errors, no sleeping, token rotation."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from werkzeug import Response

from connector.slack import client, constants
from connector.slack.errors import (
    DestinationBroken,
    InstallationDead,
    OutcomeUnknown,
    PayloadBug,
    RateLimited,
    Transient,
)
from connector.slack.models import InstallationStatus, SlackInstallation
from tests.factories import SlackInstallationFactory
from tests.slack.conftest import request_args

pytestmark = pytest.mark.django_db

POSTED = {"ok": True, "channel": "C0SALES", "ts": "1700000000.000100", "message": {"text": "hi"}}


def _post(installation):
    return client.slack_post_message(installation=installation, channel_id="C0SALES", text="New invoice",
                                     blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
                                     metadata={"delivery_id": 42})


def test_post_message_sends_blocks_text_metadata_and_no_unfurls(slack_api, installation):
    slack_api.expect_oneshot_request("/api/chat.postMessage", method="POST",
                                     headers={"Authorization": "Bearer xoxb-stored-token"}).respond_with_json(POSTED)

    result = _post(installation)

    assert result == client.PostResult(channel="C0SALES", ts="1700000000.000100")
    sent = request_args(slack_api.log[0][0])
    assert sent["channel"] == "C0SALES" and sent["text"] == "New invoice"
    assert sent["unfurl_links"] is False and sent["unfurl_media"] is False
    assert sent["metadata"] == {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": 42}}
    assert sent["blocks"] == [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]


def test_429_is_rate_limited_with_retry_after_and_never_sleeps(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "7"})

    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        _post(installation)

    assert time.monotonic() - started < 1  # no retry handler slept on it
    assert (caught.value.retry_after, caught.value.scope, caught.value.http_status) == (7, "channel", 429)
    assert len(slack_api.log) == 1


def test_429_on_another_method_limits_the_whole_team(slack_api, installation):
    slack_api.expect_request("/api/conversations.list").respond_with_json(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "30"})

    with pytest.raises(RateLimited) as caught:
        client.slack_list_channels(installation=installation)

    assert (caught.value.retry_after, caught.value.scope) == (30, "team")


def test_429_without_retry_after_waits_a_second(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_data("Too many", status=429)

    with pytest.raises(RateLimited) as caught:
        _post(installation)

    assert caught.value.retry_after == constants.DEFAULT_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_transient(slack_api, installation, status):
    slack_api.expect_request("/api/chat.postMessage").respond_with_data("<html>Bad gateway</html>", status=status)

    with pytest.raises(Transient) as caught:
        _post(installation)

    assert type(caught.value) is Transient and caught.value.http_status == status
    assert len(slack_api.log) == 1  # not retried by the SDK


def test_a_body_that_is_not_json_is_transient(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_data("<html>proxy</html>", status=200,
                                                                       content_type="text/html")

    with pytest.raises(Transient) as caught:
        _post(installation)

    assert type(caught.value) is Transient and caught.value.code == "non_json_response"


def test_fatal_error_means_the_post_may_exist(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "fatal_error"})

    with pytest.raises(OutcomeUnknown):
        _post(installation)


def test_channel_not_found_is_a_broken_destination(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "channel_not_found"})

    with pytest.raises(DestinationBroken) as caught:
        _post(installation)

    assert caught.value.code == "channel_not_found"
    installation.refresh_from_db()
    assert installation.is_active  # a channel problem does not touch the installation


def test_invalid_blocks_is_our_bug(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "invalid_blocks"})

    with pytest.raises(PayloadBug):
        _post(installation)


def test_token_revoked_kills_the_installation_and_says_so(slack_api, installation, revoked_signals,
                                                         django_capture_on_commit_callbacks):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "token_revoked"})

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InstallationDead):
        _post(installation)

    installation.refresh_from_db()
    assert installation.status == InstallationStatus.REVOKED and installation.status_reason == "token_revoked"
    assert installation.revoked_at is not None
    assert [c["reason"] for c in revoked_signals.calls] == ["token_revoked"]
    assert revoked_signals.calls[0]["tenant"] == installation.tenant

    # Later calls do not even reach Slack.
    with pytest.raises(InstallationDead):
        _post(installation)
    assert len(slack_api.log) == 1


def test_read_timeout_after_sending_is_outcome_unknown(slack_api, installation, monkeypatch):
    monkeypatch.setattr(constants, "HTTP_TIMEOUT_SECONDS", 0.5)

    received = []

    def slow(request):
        received.append(request.path)
        time.sleep(1.5)
        return Response(json.dumps(POSTED), content_type="application/json")

    slack_api.expect_request("/api/chat.postMessage").respond_with_handler(slow)

    with pytest.raises(OutcomeUnknown) as caught:
        _post(installation)

    assert caught.value.code == "no_response"
    assert received == ["/api/chat.postMessage"]  # it did reach Slack, once: not retried
    # Let the stand-in finish the slow answer, so it is not logged during the next test.
    deadline = time.monotonic() + 5
    while not slack_api.log and time.monotonic() < deadline:
        time.sleep(0.05)


def test_connection_refused_is_transient_not_unknown(settings, installation):
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens on the discard port

    with pytest.raises(Transient) as caught:
        _post(installation)

    assert type(caught.value) is Transient and caught.value.code == "connection_failed"


# --- Token rotation ------------------------------------------------------------------------------------

def _rotating(tenant, *, expires_in: timedelta):
    return SlackInstallationFactory(tenant=tenant, bot_token="xoxe.xoxb-old", refresh_token="xoxe-1-old",
                                    expires_at=timezone.now() + expires_in)


def test_token_expiring_soon_is_rotated_first_and_the_new_pair_saved(slack_api, tenant):
    installation = _rotating(tenant, expires_in=timedelta(minutes=5))
    slack_api.expect_oneshot_request("/api/oauth.v2.access").respond_with_json(
        {"ok": True, "token_type": "bot", "access_token": "xoxe.xoxb-new", "refresh_token": "xoxe-1-new",
         "expires_in": 43200})
    slack_api.expect_oneshot_request("/api/chat.postMessage",
                                     headers={"Authorization": "Bearer xoxe.xoxb-new"}).respond_with_json(POSTED)

    _post(installation)

    refresh = request_args(slack_api.log[0][0])
    assert refresh["grant_type"] == "refresh_token" and refresh["refresh_token"] == "xoxe-1-old"
    stored = SlackInstallation.objects.get(pk=installation.pk)
    assert (stored.bot_token, stored.refresh_token) == ("xoxe.xoxb-new", "xoxe-1-new")
    assert timedelta(hours=11) < stored.expires_at - timezone.now() <= timedelta(hours=12)


def test_token_far_from_expiry_is_used_as_is(slack_api, tenant):
    installation = _rotating(tenant, expires_in=timedelta(hours=6))
    slack_api.expect_oneshot_request("/api/chat.postMessage",
                                     headers={"Authorization": "Bearer xoxe.xoxb-old"}).respond_with_json(POSTED)

    _post(installation)

    assert [r.path for r, _ in slack_api.log] == ["/api/chat.postMessage"]


def test_token_expired_refreshes_once_then_retries(slack_api, tenant):
    installation = _rotating(tenant, expires_in=timedelta(hours=6))  # Slack disagrees with our clock
    slack_api.expect_ordered_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "token_expired"})
    slack_api.expect_ordered_request("/api/oauth.v2.access").respond_with_json(
        {"ok": True, "token_type": "bot", "access_token": "xoxe.xoxb-new", "refresh_token": "xoxe-1-new",
         "expires_in": 43200})
    slack_api.expect_ordered_request("/api/chat.postMessage",
                                     headers={"Authorization": "Bearer xoxe.xoxb-new"}).respond_with_json(POSTED)

    assert _post(installation).ts == POSTED["ts"]
    assert SlackInstallation.objects.get(pk=installation.pk).refresh_token == "xoxe-1-new"


def test_refused_refresh_kills_the_installation(slack_api, tenant):
    installation = _rotating(tenant, expires_in=timedelta(minutes=1))
    slack_api.expect_request("/api/oauth.v2.access").respond_with_json({"ok": False, "error": "invalid_refresh_token"})

    with pytest.raises(InstallationDead):
        _post(installation)

    stored = SlackInstallation.objects.get(pk=installation.pk)
    assert stored.status == InstallationStatus.REVOKED and stored.status_reason == "invalid_refresh_token"
    assert stored.refresh_token == "xoxe-1-old"  # nothing half-saved


def test_token_expired_without_rotation_needs_a_reinstall(slack_api, installation):
    slack_api.expect_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "token_expired"})

    with pytest.raises(InstallationDead):
        _post(installation)

    assert len(slack_api.log) == 1
    assert SlackInstallation.objects.get(pk=installation.pk).status_reason == "token_expired"


# --- Reading channels and history --------------------------------------------------------------------------

def _channel(cid, name, **extra):
    return {"id": cid, "name": name, "is_private": False, "is_archived": False, **extra}


def test_list_channels_pages_through_cursor_and_keeps_private_ones_the_bot_is_in(slack_api, installation):
    slack_api.expect_ordered_request("/api/conversations.list").respond_with_json({
        "ok": True, "channels": [_channel("C2", "sales"), _channel("G1", "board", is_private=True, is_member=False)],
        "response_metadata": {"next_cursor": "page2"}})
    slack_api.expect_ordered_request("/api/conversations.list").respond_with_json({
        "ok": True, "channels": [_channel("G2", "finance", is_private=True, is_member=True)],
        "response_metadata": {"next_cursor": ""}})

    channels = client.slack_list_channels(installation=installation)

    assert [(c["id"], c["name"], c["is_private"]) for c in channels] == [("G2", "finance", True), ("C2", "sales", False)]
    first, second = (request_args(r) for r, _ in slack_api.log)
    assert first["types"] == "public_channel,private_channel" and first["exclude_archived"] in ("1", "true")
    assert second["cursor"] == "page2"

    # Briefly cached: a second look does not call Slack; a forced one does.
    assert client.slack_list_channels(installation=installation) == channels
    assert len(slack_api.log) == 2


def test_find_posted_finds_the_delivery_by_its_metadata(slack_api, installation):
    slack_api.expect_ordered_request("/api/conversations.history").respond_with_json({
        "ok": True, "messages": [
            {"ts": "1.1", "metadata": {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": 7}}},
            {"ts": "1.2", "text": "someone talking"}],
        "response_metadata": {"next_cursor": "more"}})
    slack_api.expect_ordered_request("/api/conversations.history").respond_with_json({
        "ok": True, "messages": [
            {"ts": "1.3", "metadata": {"event_type": "ml_connector_delivery", "event_payload": {"delivery_id": 42}}}],
        "response_metadata": {"next_cursor": ""}})

    assert client.slack_find_posted(installation=installation, channel_id="C0SALES", delivery_id=42,
                                    oldest=1699999999.5) == "1.3"
    sent = request_args(slack_api.log[0][0])
    assert sent["include_all_metadata"] in ("1", "true") and sent["oldest"] == "1699999999.500000"
    assert sent["channel"] == "C0SALES"


def test_find_posted_answers_none_when_absent(slack_api, installation):
    slack_api.expect_request("/api/conversations.history").respond_with_json({"ok": True, "messages": []})

    assert client.slack_find_posted(installation=installation, channel_id="C1", delivery_id=1, oldest=0) is None


@pytest.mark.parametrize(("answer", "usable"), [
    ({"ok": True, "channel": _channel("C1", "sales")}, True),
    ({"ok": True, "channel": _channel("C1", "sales", is_archived=True)}, False),
    ({"ok": True, "channel": _channel("G1", "board", is_private=True, is_member=False)}, False),
    ({"ok": True, "channel": _channel("G1", "board", is_private=True, is_member=True)}, True),
    ({"ok": False, "error": "channel_not_found"}, False),
])
def test_channel_usable(slack_api, installation, answer, usable):
    slack_api.expect_request("/api/conversations.info").respond_with_json(answer)

    assert client.slack_channel_usable(installation=installation, channel_id="C1") is usable


def test_channel_usable_does_not_hide_an_outage(slack_api, installation):
    slack_api.expect_request("/api/conversations.info").respond_with_data("down", status=503)

    with pytest.raises(Transient):
        client.slack_channel_usable(installation=installation, channel_id="C1")


def test_test_connection_reports_slacks_answer(slack_api, installation):
    slack_api.expect_request("/api/auth.test").respond_with_json(
        {"ok": True, "team": "Acme", "team_id": "T0TEAM", "user": "mlconnector", "user_id": "U0BOT",
         "bot_id": "B0BOT", "url": "https://acme.slack.com/"})

    assert client.slack_test_connection(installation=installation) == {
        "team": "Acme", "team_id": "T0TEAM", "user": "mlconnector", "user_id": "U0BOT", "bot_id": "B0BOT",
        "url": "https://acme.slack.com/"}


def test_tokens_and_secrets_never_reach_the_logs(slack_api, tenant, caplog):
    installation = _rotating(tenant, expires_in=timedelta(minutes=1))
    slack_api.expect_ordered_request("/api/oauth.v2.access").respond_with_json(
        {"ok": True, "token_type": "bot", "access_token": "xoxe.xoxb-new", "refresh_token": "xoxe-1-new",
         "expires_in": 43200})
    slack_api.expect_ordered_request("/api/chat.postMessage").respond_with_json({"ok": False, "error": "token_revoked"})

    with caplog.at_level("DEBUG"), pytest.raises(InstallationDead):
        _post(installation)

    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert "slack.call_failed" in logged  # we did log the failure, by code
    for secret in ("xoxe.xoxb-old", "xoxe-1-old", "xoxe.xoxb-new", "xoxe-1-new", "slack-client-secret"):
        assert secret not in logged
