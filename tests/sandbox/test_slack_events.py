"""Slack stand-in: Events API calls to the app, signed as Slack signs them."""

import json
import time

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from tests.sandbox.conftest import SIGNING_SECRET, wait_for


def _verifies(request) -> bool:
    return SignatureVerifier(SIGNING_SECRET).is_valid_request(request.body, dict(request.headers.items()))


def test_sent_events_verify_with_the_sdk_and_carry_slacks_shape(slack, receiver):
    answer = requests.post(f"{slack.url}/_control/events", json={"type": "app_uninstalled"})

    assert answer.json()["status"] == 200
    request = receiver.requests[-1]
    assert request.path == "/slack/events/"
    assert _verifies(request)
    payload = json.loads(request.body)
    assert payload["type"] == "event_callback" and payload["team_id"] == "T0SANDBOX"
    assert payload["event"]["type"] == "app_uninstalled"
    assert payload["event_id"].startswith("Ev") and abs(payload["event_time"] - time.time()) < 5


def test_tokens_revoked_names_the_bot_user(slack, receiver):
    requests.post(f"{slack.url}/_control/events", json={"type": "tokens_revoked"})

    payload = json.loads(receiver.requests[-1].body)
    assert payload["event"]["tokens"] == {"oauth": [], "bot": ["U0SANDBOXBOT"]}
    assert _verifies(receiver.requests[-1])


def test_bad_signature_and_stale_timestamp_do_not_verify(slack, receiver):
    requests.post(f"{slack.url}/_control/events", json={"type": "app_uninstalled", "bad_signature": True})
    requests.post(f"{slack.url}/_control/events", json={"type": "app_uninstalled",
                                                        "timestamp": int(time.time()) - 600})

    assert [_verifies(r) for r in receiver.requests] == [False, False]


def test_uninstall_revokes_tokens_and_sends_both_events(slack, slack_token, receiver):
    result = requests.post(f"{slack.url}/_control/uninstall", json={}).json()

    assert result["revoked"] == 1
    assert [json.loads(r.body)["event"]["type"] for r in receiver.requests] == ["tokens_revoked", "app_uninstalled"]
    assert all(_verifies(r) for r in receiver.requests)
    with pytest.raises(SlackApiError) as raised:
        WebClient(token=slack_token, base_url=f"{slack.url}/api/").auth_test()
    assert raised.value.response["error"] == "token_revoked"


def test_auth_revoke_tells_the_app_with_tokens_revoked(slack, slack_token, receiver):
    WebClient(token=slack_token, base_url=f"{slack.url}/api/").auth_revoke()

    request = wait_for(lambda: receiver.requests)[0]
    assert json.loads(request.body)["event"]["type"] == "tokens_revoked"
    assert _verifies(request)


def test_url_verification_checks_the_challenge_echo(slack, receiver):
    result = requests.post(f"{slack.url}/_control/events", json={"type": "url_verification"}).json()

    payload = json.loads(receiver.requests[-1].body)
    assert payload["type"] == "url_verification" and payload["challenge"]
    assert result["challenge_ok"] is False  # the recording receiver does not echo it


def test_page_buttons_send_events(slack, receiver):
    page = requests.get(f"{slack.url}/").text
    clicked = requests.post(f"{slack.url}/_control/events", data={"type": "tokens_revoked"},
                            headers={"Accept": "text/html"}, allow_redirects=False)

    assert "Send app_uninstalled only" in page and "Uninstall the app" in page
    assert clicked.status_code == 303
    assert json.loads(receiver.requests[-1].body)["event"]["type"] == "tokens_revoked"
