"""POST /slack/events/: Slack's signature on the raw body, url_verification, uninstall and revocation
events (late ones ignored), dedupe on event_id, and no Slack call while answering."""

import json
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from slack_sdk.signature import SignatureVerifier

from connector.slack import events_api
from connector.slack.lifecycle import installation_save
from connector.slack.models import InstallationStatus, SlackInstallation
from tests.factories import SlackInstallationFactory

pytestmark = pytest.mark.django_db

URL = "/slack/events/"
SECRET = "slack-signing-secret"  # settings_test.SLACK_SIGNING_SECRET


def signed_headers(body: bytes, *, timestamp: int | None = None, secret: str = SECRET) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"HTTP_X_SLACK_REQUEST_TIMESTAMP": ts, "HTTP_X_SLACK_SIGNATURE": signature}


def post(client, payload: dict | bytes, **headers):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if not {"HTTP_X_SLACK_REQUEST_TIMESTAMP", "HTTP_X_SLACK_SIGNATURE"} & set(headers):
        headers = {**signed_headers(body), **headers}
    return client.post(URL, data=body, content_type="application/json", **headers)


def uninstalled(team_id="T0TEAM", *, event_id="Ev0001", event_time=None):
    return {"token": "legacy", "team_id": team_id, "api_app_id": "A0APP", "type": "event_callback",
            "event": {"type": "app_uninstalled"}, "event_id": event_id,
            "event_time": int(time.time()) if event_time is None else event_time}


def tokens_revoked(team_id="T0TEAM", *, bot=None, oauth=None, event_id="Ev0002"):
    return {"team_id": team_id, "type": "event_callback", "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "tokens_revoked", "tokens": {"oauth": oauth or [], "bot": bot or []}}}


# --- Signature -------------------------------------------------------------------------------------------

def test_valid_signature_is_accepted_and_url_verification_answered(client):
    response = post(client, {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                             "type": "url_verification"})

    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_timestamp_over_five_minutes_old_is_rejected(client, installation):
    body = json.dumps(uninstalled()).encode()

    response = post(client, body, **signed_headers(body, timestamp=int(time.time()) - 301))

    assert response.status_code == 401
    installation.refresh_from_db()
    assert installation.is_active


def test_timestamp_within_five_minutes_is_accepted(client):
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()

    assert post(client, body, **signed_headers(body, timestamp=int(time.time()) - 290)).status_code == 200


def test_altered_body_is_rejected(client, installation):
    body = json.dumps(uninstalled("T0OTHER")).encode()
    headers = signed_headers(body)

    # Someone replays a signed event for another workspace with our workspace's id put in.
    response = post(client, body.replace(b"T0OTHER", b"T0TEAM"), **headers)

    assert response.status_code == 401
    installation.refresh_from_db()
    assert installation.is_active


@pytest.mark.parametrize("drop", ["HTTP_X_SLACK_REQUEST_TIMESTAMP", "HTTP_X_SLACK_SIGNATURE", "both"])
def test_missing_headers_are_rejected(client, drop):
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()
    headers = signed_headers(body)
    headers = {} if drop == "both" else {k: v for k, v in headers.items() if k != drop}

    response = client.post(URL, data=body, content_type="application/json", **headers)

    assert response.status_code == 401


def test_signature_with_another_secret_or_garbage_timestamp_is_rejected(client):
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()

    assert post(client, body, **signed_headers(body, secret="not-our-secret")).status_code == 401
    headers = {**signed_headers(body), "HTTP_X_SLACK_REQUEST_TIMESTAMP": "yesterday"}
    assert post(client, body, **headers).status_code == 401


def test_only_post(client):
    assert client.get(URL).status_code == 405


def test_oversized_body_is_refused(client):
    body = b"{" + b" " * 300_000 + b"}"

    assert post(client, body).status_code == 413


# --- Events -------------------------------------------------------------------------------------------------

def test_app_uninstalled_marks_revoked_and_a_reinstall_makes_it_active_again(
        client, installation, revoked_signals, reactivated_signals, slack_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, uninstalled())

    assert response.status_code == 200
    installation.refresh_from_db()
    assert installation.status == InstallationStatus.REVOKED and installation.status_reason == "app_uninstalled"
    assert installation.revoked_at is not None
    assert [(c["tenant"], c["reason"]) for c in revoked_signals.calls] == [(installation.tenant, "app_uninstalled")]
    assert slack_api.log == []  # answered without calling Slack

    with django_capture_on_commit_callbacks(execute=True):
        installation_save(tenant=installation.tenant, team_id="T0TEAM", team_name="Acme", bot_token="xoxb-again",
                          bot_user_id="U0BOT", bot_id="B0BOT", scopes="chat:write")

    installation.refresh_from_db()
    assert installation.status == InstallationStatus.ACTIVE and installation.revoked_at is None
    assert [c["was_revoked"] for c in reactivated_signals.calls] == [True]


def test_uninstall_event_older_than_the_latest_install_is_ignored(client, tenant):
    installation = SlackInstallationFactory(tenant=tenant, installed_at=timezone.now())
    an_hour_ago = int((timezone.now() - timedelta(hours=1)).timestamp())

    assert post(client, uninstalled(event_time=an_hour_ago)).status_code == 200

    installation.refresh_from_db()
    assert installation.is_active


def test_uninstall_touches_only_that_workspace(client, installation, other_tenant):
    elsewhere = SlackInstallationFactory(tenant=other_tenant, team_id="T0ELSE")

    post(client, uninstalled("T0TEAM"))

    installation.refresh_from_db()
    elsewhere.refresh_from_db()
    assert not installation.is_active and elsewhere.is_active


def test_tokens_revoked_for_our_bot_marks_revoked(client, installation):
    post(client, tokens_revoked(bot=["U0BOT"]))

    installation.refresh_from_db()
    assert installation.status_reason == "tokens_revoked" and not installation.is_active


def test_tokens_revoked_for_users_or_another_bot_changes_nothing(client, installation):
    post(client, tokens_revoked(oauth=["U0SOMEONE"], event_id="Ev1"))
    post(client, tokens_revoked(bot=["U0OTHERBOT"], event_id="Ev2"))

    installation.refresh_from_db()
    assert installation.is_active


def test_a_redelivered_event_is_handled_once(client, installation, revoked_signals,
                                             django_capture_on_commit_callbacks):
    with mock.patch.object(events_api, "installations_revoke_for_team",
                           wraps=events_api.installations_revoke_for_team) as revoke, \
            django_capture_on_commit_callbacks(execute=True):
        first = post(client, uninstalled(event_id="Ev0REPEAT"))
        second = post(client, uninstalled(event_id="Ev0REPEAT"), HTTP_X_SLACK_RETRY_NUM="1")

    assert (first.status_code, second.status_code) == (200, 200)
    assert revoke.call_count == 1
    assert len(revoked_signals.calls) == 1


def test_unknown_events_and_teams_are_acknowledged(client):
    assert post(client, {"type": "event_callback", "team_id": "T0NOBODY", "event_id": "Ev9",
                         "event": {"type": "channel_rename", "channel": {"id": "C1", "name": "x"}}}).status_code == 200
    assert post(client, uninstalled("T0NOBODY", event_id="Ev10")).status_code == 200
    assert not SlackInstallation.objects.exists()


def test_body_that_is_not_json_is_a_bad_request(client):
    assert post(client, b"not json").status_code == 400


def test_no_signing_secret_configured_refuses(client, settings):
    settings.SLACK_SIGNING_SECRET = ""
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()

    assert post(client, body, **signed_headers(body)).status_code == 503


def test_events_need_no_csrf_token():
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    body = json.dumps({"type": "url_verification", "challenge": "c"}).encode()

    assert post(strict, body).status_code == 200
